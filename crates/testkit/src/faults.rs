//! Faults the fake answers instead of (or on top of) the normal answer, and its rate limits.
//!
//! Read [`Fault`] first: one kind of misbehaviour of the live service. Tests queue them per
//! [`Endpoint`] with [`crate::FakeKie::inject`]; [`FaultBook`] keeps those queues and the
//! seeded random faults of [`crate::FakeKieBuilder::random_faults`]. [`RateLimiter`] is the
//! per-endpoint request budget of [`crate::FakeKieBuilder::rate_limit`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::answer::FakeAnswer;

/// The routes of the fake, the unit of fault injection and rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /api/v1/jobs/createTask`
    CreateTask,
    /// `GET /api/v1/jobs/recordInfo?taskId=`
    RecordInfo,
    /// `GET /api/v1/chat/credit`
    Credit,
    /// `POST /api/v1/common/download-url`
    DownloadUrl,
    /// `GET` of a result file on the file host.
    Files,
}

impl Endpoint {
    /// Every endpoint, in a fixed order (used to seed one random generator per endpoint).
    pub const ALL: [Endpoint; 5] = [
        Endpoint::CreateTask,
        Endpoint::RecordInfo,
        Endpoint::Credit,
        Endpoint::DownloadUrl,
        Endpoint::Files,
    ];
}

/// How many requests an injected fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The next request of the endpoint only.
    Once,
    /// The next `n` requests of the endpoint.
    Next(usize),
    /// Every request of the endpoint until [`crate::FakeKie::clear_faults`].
    Always,
}

/// One misbehaviour of the live service, as seen by a client.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 200 with `{"code": code, "msg": msg, "data": null}`: how the live service reports
    /// most errors.
    Code { code: i64, msg: String },
    /// HTTP 429 with `{"code": 429, "msg": ...}` and no Retry-After header, as documented.
    RateLimited,
    /// HTTP 429 with a `Retry-After: secs` header.
    RetryAfter { secs: u64 },
    /// HTTP 200 `{"code": 500, "msg": "This field is required"}`: the live service's answer to
    /// an omitted input field, here on demand.
    FieldRequired,
    /// A body that is not JSON, as text/html (e.g. a 502 proxy page).
    NonJson { status: u16, body: String },
    /// The normal answer, delivered after `delay`. Its side effects happen: a slow createTask
    /// still creates (and charges) the task, whether or not the client waits for the answer.
    Slow { delay: Duration },
    /// HTTP 403 text/plain `error code: 1010`, Cloudflare's answer to a missing User-Agent.
    Cloudflare1010,
}

impl Fault {
    /// A [`Fault::Code`] with a message.
    pub fn code(code: i64, msg: impl Into<String>) -> Fault {
        Fault::Code {
            code,
            msg: msg.into(),
        }
    }

    /// 401: a bad or missing key.
    pub fn unauthorized() -> Fault {
        Fault::code(401, UNAUTHORIZED_MSG)
    }

    /// 402: the account has too few credits.
    pub fn insufficient_credits() -> Fault {
        Fault::code(402, INSUFFICIENT_CREDITS_MSG)
    }

    /// 433: the key's usage cap is reached.
    pub fn usage_cap() -> Fault {
        Fault::code(
            433,
            "The usage limit of this API key has been reached. Please adjust it in the console.",
        )
    }

    /// 455: the service is under maintenance.
    pub fn maintenance() -> Fault {
        Fault::code(455, "Service maintenance, please try again later.")
    }

    /// 505: the model (feature) is disabled.
    pub fn model_disabled() -> Fault {
        Fault::code(505, MODEL_DISABLED_MSG)
    }

    /// 501: the generation failed.
    pub fn generation_failed() -> Fault {
        Fault::code(501, "Generation failed.")
    }

    /// 500: a server error.
    pub fn server_error() -> Fault {
        Fault::code(500, "Server error")
    }

    /// 400: invalid request parameters.
    pub fn bad_request(msg: impl Into<String>) -> Fault {
        Fault::code(400, msg)
    }

    /// 422: parameter validation failed.
    pub fn validation(msg: impl Into<String>) -> Fault {
        Fault::code(422, msg)
    }

    /// A 502 with an HTML page, like a proxy between the client and the service.
    pub fn bad_gateway_html() -> Fault {
        Fault::NonJson {
            status: 502,
            body: BAD_GATEWAY_HTML.to_owned(),
        }
    }

    /// The answer of this fault, or `None` for [`Fault::Slow`], which only delays the normal one.
    pub(crate) fn answer(&self) -> Option<FakeAnswer> {
        match self {
            Fault::Code { code, msg } => Some(FakeAnswer::envelope_error(*code, msg.clone())),
            Fault::RateLimited => Some(FakeAnswer::rate_limited()),
            Fault::RetryAfter { secs } => Some(
                FakeAnswer::json(
                    429,
                    json!({"code": 429, "msg": "Too many requests, please retry later.", "data": null}),
                )
                .with_header("retry-after", secs.to_string()),
            ),
            Fault::FieldRequired => Some(FakeAnswer::envelope_error(500, FIELD_REQUIRED_MSG)),
            Fault::NonJson { status, body } => Some(FakeAnswer::text(
                *status,
                "text/html; charset=utf-8",
                body.clone(),
            )),
            Fault::Slow { .. } => None,
            Fault::Cloudflare1010 => Some(FakeAnswer::cloudflare_1010()),
        }
    }
}

pub(crate) const UNAUTHORIZED_MSG: &str =
    "Unauthorized – Authentication failed. Please check your API key.";
pub(crate) const INSUFFICIENT_CREDITS_MSG: &str =
    "The current credits are insufficient. Please top up.";
pub(crate) const FIELD_REQUIRED_MSG: &str = "This field is required";
pub(crate) const MODEL_DISABLED_MSG: &str = "This feature (model) is currently disabled.";
const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const FILES_UNAVAILABLE_HTML: &str = "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>";

/// A queued injected fault and how many more requests it applies to (`None`: always).
#[derive(Clone, Debug)]
struct InjectedFault {
    fault: Fault,
    remaining: Option<usize>,
}

/// Seeded transient faults: one generator per endpoint, so that the faults of one endpoint
/// depend only on the seed and on how many requests that endpoint received, not on how the
/// client interleaved its calls to the other endpoints.
#[derive(Debug)]
struct RandomFaults {
    rate: f64,
    generator_per_endpoint: HashMap<Endpoint, fastrand::Rng>,
}

impl RandomFaults {
    fn new(rate: f64, seed: u64) -> Self {
        let generator_per_endpoint = Endpoint::ALL
            .iter()
            .enumerate()
            .map(|(position, endpoint)| {
                let endpoint_seed =
                    seed ^ (position as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (*endpoint, fastrand::Rng::with_seed(endpoint_seed))
            })
            .collect();
        RandomFaults {
            rate,
            generator_per_endpoint,
        }
    }

    fn draw(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let generator = self.generator_per_endpoint.get_mut(&endpoint)?;
        if generator.f64() >= self.rate {
            return None;
        }
        if endpoint == Endpoint::Files {
            return Some(Fault::NonJson {
                status: 503,
                body: FILES_UNAVAILABLE_HTML.to_owned(),
            });
        }
        // Only faults that leave no trace in the service: none of these creates a task.
        Some(match generator.usize(0..4) {
            0 => Fault::server_error(),
            1 => Fault::code(455, "Service maintenance"),
            2 => Fault::bad_gateway_html(),
            _ => Fault::RateLimited,
        })
    }
}

/// The injected fault queues (first in, first out, per endpoint) and the random faults.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    injected: HashMap<Endpoint, VecDeque<InjectedFault>>,
    random: Option<RandomFaults>,
}

impl FaultBook {
    pub(crate) fn with_random_faults(rate: f64, seed: u64) -> Self {
        FaultBook {
            injected: HashMap::new(),
            random: Some(RandomFaults::new(rate, seed)),
        }
    }

    pub(crate) fn inject(&mut self, endpoint: Endpoint, fault: Fault, times: Times) {
        let remaining = match times {
            Times::Once => Some(1),
            Times::Next(count) => Some(count),
            Times::Always => None,
        };
        self.injected
            .entry(endpoint)
            .or_default()
            .push_back(InjectedFault { fault, remaining });
    }

    /// Forgets the injected faults; random faults go on.
    pub(crate) fn clear_injected(&mut self) {
        self.injected.clear();
    }

    /// The fault for the next request of `endpoint`, if any: an injected one first, else
    /// possibly a random one.
    pub(crate) fn next_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        if let Some(queue) = self.injected.get_mut(&endpoint) {
            while let Some(front) = queue.front_mut() {
                match &mut front.remaining {
                    None => return Some(front.fault.clone()),
                    Some(0) => {
                        queue.pop_front();
                    }
                    Some(remaining) => {
                        *remaining -= 1;
                        let fault = front.fault.clone();
                        if *remaining == 0 {
                            queue.pop_front();
                        }
                        return Some(fault);
                    }
                }
            }
        }
        self.random
            .as_mut()
            .and_then(|random| random.draw(endpoint))
    }
}

/// A sliding-window request budget per endpoint. Requests refused with 429 do not use up the
/// budget: they had no effect.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    limits: HashMap<Endpoint, SlidingWindow>,
}

#[derive(Debug)]
struct SlidingWindow {
    max_requests: u32,
    window: Duration,
    accepted_at: VecDeque<Instant>,
}

impl RateLimiter {
    pub(crate) fn set_limit(&mut self, endpoint: Endpoint, max_requests: u32, window: Duration) {
        self.limits.insert(
            endpoint,
            SlidingWindow {
                max_requests,
                window,
                accepted_at: VecDeque::new(),
            },
        );
    }

    /// Whether a request of `endpoint` arriving at `now` is within the budget (and counts it).
    pub(crate) fn admit(&mut self, endpoint: Endpoint, now: Instant) -> bool {
        let Some(limit) = self.limits.get_mut(&endpoint) else {
            return true;
        };
        while let Some(oldest) = limit.accepted_at.front() {
            if now.saturating_duration_since(*oldest) >= limit.window {
                limit.accepted_at.pop_front();
            } else {
                break;
            }
        }
        if limit.accepted_at.len() >= limit.max_requests as usize {
            return false;
        }
        limit.accepted_at.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_faults_are_consumed_first_in_first_out() {
        let mut book = FaultBook::default();
        book.inject(Endpoint::CreateTask, Fault::maintenance(), Times::Next(2));
        book.inject(Endpoint::CreateTask, Fault::RateLimited, Times::Once);
        book.inject(Endpoint::CreateTask, Fault::server_error(), Times::Next(0));
        assert_eq!(
            book.next_fault(Endpoint::CreateTask),
            Some(Fault::maintenance())
        );
        assert_eq!(book.next_fault(Endpoint::RecordInfo), None);
        assert_eq!(
            book.next_fault(Endpoint::CreateTask),
            Some(Fault::maintenance())
        );
        assert_eq!(
            book.next_fault(Endpoint::CreateTask),
            Some(Fault::RateLimited)
        );
        assert_eq!(book.next_fault(Endpoint::CreateTask), None);
    }

    #[test]
    fn always_faults_stay_until_cleared() {
        let mut book = FaultBook::default();
        book.inject(Endpoint::Credit, Fault::usage_cap(), Times::Always);
        for _ in 0..5 {
            assert_eq!(book.next_fault(Endpoint::Credit), Some(Fault::usage_cap()));
        }
        book.clear_injected();
        assert_eq!(book.next_fault(Endpoint::Credit), None);
    }

    #[test]
    fn sliding_window_refuses_the_excess_and_recovers_after_the_window() {
        let mut limiter = RateLimiter::default();
        limiter.set_limit(Endpoint::CreateTask, 2, Duration::from_secs(10));
        let start = Instant::now();
        assert!(limiter.admit(Endpoint::CreateTask, start));
        assert!(limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(1)));
        assert!(!limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(2)));
        assert!(limiter.admit(Endpoint::RecordInfo, start));
        assert!(limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(10)));
        assert!(!limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(10)));
    }
}
