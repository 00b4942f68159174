//! Shared helpers of the integration tests: a reqwest client that behaves like a good Kie
//! client (User-Agent and bearer key set), and calls of each fake endpoint.
//!
//! Read [`KieCalls`] first. Helpers return the HTTP status and the parsed body so that each
//! test states the exact answer it expects.

use std::time::Duration;

use serde_json::{Value, json};
use sora_batch_testkit::FakeKie;

pub const USER_AGENT: &str = "sora-batch-testkit-tests/0.1";
pub const API_KEY: &str = "test-key";

fn install_crypto_provider() {
    // reqwest is built with `rustls-no-provider`: without this, building a client panics.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub fn client_builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder().user_agent(USER_AGENT)
}

pub fn client() -> reqwest::Client {
    client_builder().build().expect("a reqwest client builds")
}

/// A client sending no User-Agent at all (reqwest's default).
pub fn client_without_user_agent() -> reqwest::Client {
    install_crypto_provider();
    reqwest::Client::builder()
        .build()
        .expect("a reqwest client builds")
}

/// A complete `sora-2-text-to-video` createTask body, every documented field explicit.
pub fn sora_body(prompt: &str) -> Value {
    json!({
        "model": "sora-2-text-to-video",
        "input": {
            "prompt": prompt,
            "aspect_ratio": "landscape",
            "n_frames": "10",
            "remove_watermark": false,
        }
    })
}

/// An HTTP answer: status and body (JSON when it parses, else a JSON string of the text).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Answer {
    pub fn code(&self) -> Option<i64> {
        self.body.get("code").and_then(Value::as_i64)
    }

    pub fn msg(&self) -> &str {
        self.body.get("msg").and_then(Value::as_str).unwrap_or("")
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn task_id(&self) -> String {
        self.data()["taskId"]
            .as_str()
            .expect("a taskId in the answer")
            .to_owned()
    }

    pub fn state(&self) -> &str {
        self.data()["state"].as_str().unwrap_or("")
    }
}

pub async fn into_answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        content_type,
        body,
        headers,
    }
}

/// Calls of the fake's endpoints with one client.
pub struct KieCalls {
    pub client: reqwest::Client,
    pub base_url: String,
    pub authorization: Option<String>,
}

impl KieCalls {
    pub fn new(fake: &FakeKie) -> Self {
        KieCalls::with_client(fake, client())
    }

    pub fn with_client(fake: &FakeKie, client: reqwest::Client) -> Self {
        KieCalls {
            client,
            base_url: fake.base_url(),
            authorization: Some(format!("Bearer {API_KEY}")),
        }
    }

    fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.authorization {
            Some(authorization) => request.header(reqwest::header::AUTHORIZATION, authorization),
            None => request,
        }
    }

    pub async fn try_create_task(&self, body: &Value) -> reqwest::Result<Answer> {
        let request = self
            .client
            .post(format!("{}/api/v1/jobs/createTask", self.base_url))
            .json(body);
        Ok(into_answer(self.authorize(request).send().await?).await)
    }

    pub async fn create_task(&self, body: &Value) -> Answer {
        self.try_create_task(body)
            .await
            .expect("createTask gets an answer")
    }

    pub async fn create_task_raw(&self, body: &'static str) -> Answer {
        let request = self
            .client
            .post(format!("{}/api/v1/jobs/createTask", self.base_url))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        into_answer(
            self.authorize(request)
                .send()
                .await
                .expect("createTask gets an answer"),
        )
        .await
    }

    /// Creates a task that must be accepted, and returns its taskId.
    pub async fn create_ok(&self, prompt: &str) -> String {
        let answer = self.create_task(&sora_body(prompt)).await;
        assert_eq!(
            (answer.status, answer.code()),
            (200, Some(200)),
            "{answer:?}"
        );
        answer.task_id()
    }

    pub async fn record_info(&self, task_id: &str) -> Answer {
        let request = self
            .client
            .get(format!("{}/api/v1/jobs/recordInfo", self.base_url))
            .query(&[("taskId", task_id)]);
        into_answer(
            self.authorize(request)
                .send()
                .await
                .expect("recordInfo gets an answer"),
        )
        .await
    }

    pub async fn credit(&self) -> Answer {
        let request = self
            .client
            .get(format!("{}/api/v1/chat/credit", self.base_url));
        into_answer(
            self.authorize(request)
                .send()
                .await
                .expect("credit gets an answer"),
        )
        .await
    }

    pub async fn download_url(&self, url: &str) -> Answer {
        let request = self
            .client
            .post(format!("{}/api/v1/common/download-url", self.base_url))
            .json(&json!({ "url": url }));
        into_answer(
            self.authorize(request)
                .send()
                .await
                .expect("download-url gets an answer"),
        )
        .await
    }

    /// A GET of `path_and_query` on the API host, e.g. `/api/v1/models?taskType=x`.
    pub async fn get(&self, path_and_query: &str) -> Answer {
        let request = self
            .client
            .get(format!("{}{path_and_query}", self.base_url));
        into_answer(
            self.authorize(request)
                .send()
                .await
                .expect("the API host answers"),
        )
        .await
    }

    /// Polls until the task is `success` or `fail` (bounded), returning every state seen and
    /// the terminal answer. `pause` is the wait between polls of a time-based schedule.
    pub async fn poll_until_terminal(
        &self,
        task_id: &str,
        max_polls: usize,
        pause: Duration,
    ) -> (Vec<String>, Answer) {
        let mut states = Vec::new();
        for _ in 0..max_polls {
            let answer = self.record_info(task_id).await;
            assert_eq!(answer.code(), Some(200), "{answer:?}");
            let state = answer.state().to_owned();
            states.push(state.clone());
            if state == "success" || state == "fail" {
                return (states, answer);
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        panic!("task {task_id} not terminal after {max_polls} polls: {states:?}");
    }

    /// GETs a URL (on the file host) with this client but without the API key.
    pub async fn download(&self, url: &str) -> (u16, Option<String>, Vec<u8>) {
        let response = self.client.get(url).send().await.expect("a file answer");
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let bytes = response.bytes().await.expect("a file body").to_vec();
        (status, content_type, bytes)
    }
}

/// The result URLs in a terminal recordInfo answer (`resultJson` is a JSON string).
pub fn result_urls(answer: &Answer, key: &str) -> Vec<String> {
    let result_json = answer.data()["resultJson"]
        .as_str()
        .expect("resultJson is a JSON string");
    let result: Value = serde_json::from_str(result_json).expect("resultJson parses");
    result[key]
        .as_array()
        .map(|urls| {
            urls.iter()
                .filter_map(|url| url.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}
