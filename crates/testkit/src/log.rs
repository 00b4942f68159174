//! Everything the fake received and what it answered: what tests assert on.
//!
//! Read [`RequestLog`] first: a snapshot taken by [`crate::FakeKie::log`], with the questions
//! tests ask ("how many tasks were created per prompt?", "was the key ever sent to the file
//! host?") as methods, so each test does not re-derive them from raw requests.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;

use crate::faults::Endpoint;

/// Which of the fake's two servers received a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Server {
    /// The API host ([`crate::FakeKie::base_url`]).
    Api,
    /// The file host of result URLs ([`crate::FakeKie::files_base_url`]).
    Files,
}

/// One request received by the fake, and the answer it got.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub server: Server,
    /// `None` when no route matched (see [`RequestLog::unexpected`]).
    pub endpoint: Option<Endpoint>,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// The query's parameters, percent-decoded, in order.
    pub query_pairs: Vec<(String, String)>,
    /// Every header as received, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
    /// The HTTP status answered.
    pub status: u16,
    /// The envelope `code` answered, when the answer was JSON.
    pub code: Option<i64>,
    /// The taskId of the task this createTask created, if it created one.
    pub created_task: Option<String>,
}

impl LoggedRequest {
    /// The first value of query parameter `name`, percent-decoded, if sent.
    pub fn query_parameter(&self, name: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The first value of header `name` (any case), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// A snapshot of every request the fake received so far.
#[derive(Clone, Debug, Default)]
pub struct RequestLog {
    pub(crate) requests: Vec<LoggedRequest>,
    pub(crate) max_in_flight: usize,
}

impl RequestLog {
    /// Every request, in the order the fake handled them.
    pub fn requests(&self) -> &[LoggedRequest] {
        &self.requests
    }

    /// The requests received on `endpoint`, whatever their answer.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<&LoggedRequest> {
        self.requests
            .iter()
            .filter(|request| request.endpoint == Some(endpoint))
            .collect()
    }

    /// How many requests `endpoint` received, whatever their answer.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.requests
            .iter()
            .filter(|request| request.endpoint == Some(endpoint))
            .count()
    }

    /// The body of every createTask received, parsed as JSON; a body that is not JSON appears
    /// as a JSON string of its (lossy UTF-8) text, so the list has one entry per request.
    pub fn create_task_bodies(&self) -> Vec<Value> {
        self.requests
            .iter()
            .filter(|request| request.endpoint == Some(Endpoint::CreateTask))
            .map(|request| {
                serde_json::from_slice(&request.body).unwrap_or_else(|_| {
                    Value::String(String::from_utf8_lossy(&request.body).into_owned())
                })
            })
            .collect()
    }

    /// How many tasks were created (and charged).
    pub fn tasks_created(&self) -> usize {
        self.requests
            .iter()
            .filter(|request| request.created_task.is_some())
            .count()
    }

    /// The taskIds created, in creation order.
    pub fn created_task_ids(&self) -> Vec<String> {
        self.requests
            .iter()
            .filter_map(|request| request.created_task.clone())
            .collect()
    }

    /// How many tasks were created per `input.prompt` (tasks without a string prompt are
    /// counted under the empty string). A prompt with a count above 1 was paid for twice.
    pub fn created_per_prompt(&self) -> BTreeMap<String, usize> {
        let mut created_per_prompt = BTreeMap::new();
        for request in self.requests.iter().filter(|r| r.created_task.is_some()) {
            let prompt = serde_json::from_slice::<Value>(&request.body)
                .ok()
                .and_then(|body| {
                    body.pointer("/input/prompt")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            *created_per_prompt.entry(prompt).or_insert(0) += 1;
        }
        created_per_prompt
    }

    /// The largest number of tasks in flight at once, measured at each creation (the new task
    /// included). A task is in flight from its creation until it is terminal.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// Whether any request to the file host carried an Authorization header (the key must
    /// never leave the API host).
    pub fn authorization_sent_to_files(&self) -> bool {
        self.requests
            .iter()
            .filter(|request| request.server == Server::Files)
            .any(|request| request.header("authorization").is_some())
    }

    /// How many requests (to either server) had no User-Agent, or an empty one.
    pub fn requests_without_user_agent(&self) -> usize {
        self.requests
            .iter()
            .filter(|request| {
                request
                    .header("user-agent")
                    .is_none_or(|user_agent| user_agent.trim().is_empty())
            })
            .count()
    }

    /// The requests no route matched (answered 404). Tests usually assert there were none.
    pub fn unexpected(&self) -> Vec<&LoggedRequest> {
        self.requests
            .iter()
            .filter(|request| request.endpoint.is_none())
            .collect()
    }

    /// How many requests were answered with HTTP 429.
    pub fn rate_limited(&self) -> usize {
        self.requests
            .iter()
            .filter(|request| request.status == 429)
            .count()
    }

    /// Every value of header `name` (any case) across all requests, in order.
    pub fn header_values(&self, name: &str) -> Vec<String> {
        self.requests
            .iter()
            .flat_map(|request| {
                request
                    .headers
                    .iter()
                    .filter(|(header_name, _)| header_name.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.clone())
            })
            .collect()
    }

    /// How many JSON answers carried envelope `code`.
    pub fn answered_code(&self, code: i64) -> usize {
        self.requests
            .iter()
            .filter(|request| request.code == Some(code))
            .count()
    }
}
