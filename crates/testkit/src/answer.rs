//! What the fake answers, before it becomes a wiremock response.
//!
//! Read [`FakeAnswer`] first. Handlers build one of these instead of a
//! [`wiremock::ResponseTemplate`] so that the request log can record the HTTP status and the
//! envelope `code` that were answered, which a `ResponseTemplate` does not let us read back.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::ResponseTemplate;

/// The body of an answer.
#[derive(Clone, Debug)]
pub(crate) enum AnswerBody {
    Json(Value),
    Text {
        content_type: &'static str,
        text: String,
    },
    Bytes {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
}

/// One answer of the fake: status, body, extra headers and an optional delay.
#[derive(Clone, Debug)]
pub(crate) struct FakeAnswer {
    pub(crate) status: u16,
    pub(crate) body: AnswerBody,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) delay: Option<Duration>,
}

impl FakeAnswer {
    /// HTTP 200 with the envelope `{"code": code, "msg": msg, "data": null}`: how the live
    /// service reports most errors.
    pub(crate) fn envelope_error(code: i64, msg: impl Into<String>) -> Self {
        Self::json(200, json!({"code": code, "msg": msg.into(), "data": null}))
    }

    /// HTTP 200 with `{"code": 200, "msg": "success", "data": data}`.
    pub(crate) fn success(data: Value) -> Self {
        Self::json(200, json!({"code": 200, "msg": "success", "data": data}))
    }

    pub(crate) fn json(status: u16, body: Value) -> Self {
        FakeAnswer {
            status,
            body: AnswerBody::Json(body),
            headers: Vec::new(),
            delay: None,
        }
    }

    pub(crate) fn text(status: u16, content_type: &'static str, text: impl Into<String>) -> Self {
        FakeAnswer {
            status,
            body: AnswerBody::Text {
                content_type,
                text: text.into(),
            },
            headers: Vec::new(),
            delay: None,
        }
    }

    /// What Cloudflare answers a request without a User-Agent, before the service sees it.
    pub(crate) fn cloudflare_1010() -> Self {
        Self::text(403, "text/plain; charset=UTF-8", "error code: 1010")
    }

    /// The documented rate-limit answer: HTTP 429, no Retry-After header.
    pub(crate) fn rate_limited() -> Self {
        Self::json(
            429,
            json!({"code": 429, "msg": "Too many requests, please slow down.", "data": null}),
        )
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub(crate) fn with_delay(mut self, delay: Option<Duration>) -> Self {
        if delay.is_some() {
            self.delay = delay;
        }
        self
    }

    /// The envelope `code` of a JSON answer, for the request log.
    pub(crate) fn envelope_code(&self) -> Option<i64> {
        match &self.body {
            AnswerBody::Json(body) => body.get("code").and_then(Value::as_i64),
            AnswerBody::Text { .. } | AnswerBody::Bytes { .. } => None,
        }
    }

    /// The envelope `msg` of a JSON answer.
    #[cfg(test)]
    pub(crate) fn envelope_msg(&self) -> Option<String> {
        match &self.body {
            AnswerBody::Json(body) => body.get("msg").and_then(Value::as_str).map(str::to_owned),
            AnswerBody::Text { .. } | AnswerBody::Bytes { .. } => None,
        }
    }

    pub(crate) fn into_response_template(self) -> ResponseTemplate {
        // A status outside 100..=999 would make wiremock panic; it can only come from a test's
        // own `Fault::NonJson`, and a 500 says "the fake was misused" well enough.
        let status = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut template = ResponseTemplate::new(status);
        for (name, value) in self.headers {
            template = template.insert_header(name, value.as_str());
        }
        template = match self.body {
            AnswerBody::Json(body) => template.set_body_json(body),
            AnswerBody::Text { content_type, text } => {
                template.set_body_raw(text.into_bytes(), content_type)
            }
            AnswerBody::Bytes {
                content_type,
                bytes,
            } => template.set_body_raw(bytes, content_type),
        };
        match self.delay {
            Some(delay) => template.set_delay(delay),
            None => template,
        }
    }
}
