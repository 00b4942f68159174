//! Serde types that mirror Kie.ai's jobs API exactly, field names included.
//!
//! Read [`RecordInfo`] first: it is the shape every poll returns, and the one where the live
//! service departs most from its documentation (JSON strings holding JSON, `failCode` as a
//! string or an integer, states beyond the documented five). Every type here is lenient about
//! what the service may send and strict about what we send: a surprising answer is kept as
//! evidence, never turned into a panic.
//!
//! These are wire types, not domain types: the engine converts them at its boundary. Nothing
//! here knows about manifests, files or terminals.

use std::fmt;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The body of `POST /api/v1/jobs/createTask`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateTaskRequest {
    /// The model name, e.g. `sora-2-text-to-video`.
    pub model: String,
    /// The model's input fields, sent as given: the caller fills in defaults beforehand
    /// (see [`crate::registry::ModelSpec::complete_input`]).
    pub input: Map<String, Value>,
    /// Where the service POSTs the outcome; omitted from the body when unset.
    #[serde(
        rename = "callBackUrl",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub call_back_url: Option<String>,
}

/// `data` of a successful createTask answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateTaskData {
    #[serde(rename = "taskId")]
    pub task_id: String,
}

/// The body of `POST /api/v1/common/download-url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownloadUrlRequest {
    pub url: String,
}

/// The envelope every answer of the service comes in: `{"code", "msg", "data"}`.
///
/// Some of Kie's examples spell `msg` as `message`; both are accepted. `code` is optional here
/// because a proxy or a broken answer may lack it; the transport then classifies by HTTP
/// status instead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Envelope {
    #[serde(default, deserialize_with = "lenient_i64")]
    pub code: Option<i64>,
    #[serde(default, alias = "message")]
    pub msg: Option<String>,
    #[serde(default)]
    pub data: Value,
}

/// `data` of `GET /api/v1/jobs/recordInfo`: one task as the service sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordInfo {
    pub task_id: String,
    #[serde(default)]
    pub model: Option<String>,
    pub state: TaskState,
    /// The complete createTask request, sent by the service as a JSON string.
    #[serde(default)]
    pub param: JsonString<Value>,
    /// The result, a JSON string; null or `""` until the task succeeds.
    #[serde(default)]
    pub result_json: JsonString<ResultJson>,
    #[serde(default)]
    pub fail_code: FailCode,
    #[serde(default)]
    pub fail_msg: Option<String>,
    /// Kept as sent: its unit is inconsistent across Kie's docs (seconds or milliseconds), so
    /// durations are derived from `complete_time - create_time` instead.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub cost_time: Option<f64>,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub complete_time: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub create_time: Option<i64>,
    /// The authoritative charge of the task; 0 for an uncharged failure, absent until known.
    #[serde(default, deserialize_with = "lenient_f64")]
    pub credits_consumed: Option<f64>,
}

impl RecordInfo {
    /// How long the service took, from its own timestamps; `None` until the task is done or
    /// when the timestamps are missing or out of order.
    pub fn generation_millis(&self) -> Option<u64> {
        let (created, completed) = (self.create_time?, self.complete_time?);
        u64::try_from(completed.checked_sub(created)?).ok()
    }

    /// The result URLs of a successful task, in the order the service gave them.
    pub fn result_urls(&self) -> &[String] {
        match &self.result_json {
            JsonString::Parsed(result) => &result.result_urls,
            JsonString::Absent | JsonString::Unparseable(_) => &[],
        }
    }
}

/// The parsed `resultJson` of a task. Video models return `resultUrls`; Sora returns
/// `resultWaterMarkUrls` beside them when the watermark was removed; text models return
/// `resultObject`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultJson {
    #[serde(rename = "resultUrls", default)]
    pub result_urls: Vec<String>,
    #[serde(
        rename = "resultWaterMarkUrls",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub result_watermark_urls: Option<Vec<String>>,
    #[serde(
        rename = "resultObject",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub result_object: Option<Value>,
}

/// The state of a task. The five documented states, plus any other the service may invent,
/// kept verbatim: an unknown state is treated as running by callers, not as an error.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TaskState {
    Waiting,
    Queuing,
    Generating,
    Success,
    Fail,
    Unknown(String),
}

impl TaskState {
    pub fn as_str(&self) -> &str {
        match self {
            TaskState::Waiting => "waiting",
            TaskState::Queuing => "queuing",
            TaskState::Generating => "generating",
            TaskState::Success => "success",
            TaskState::Fail => "fail",
            TaskState::Unknown(other) => other,
        }
    }

    /// `success` and `fail` are final; everything else, unknown states included, may change.
    pub fn is_terminal(&self) -> bool {
        matches!(self, TaskState::Success | TaskState::Fail)
    }
}

impl From<&str> for TaskState {
    fn from(value: &str) -> Self {
        match value {
            "waiting" => TaskState::Waiting,
            "queuing" => TaskState::Queuing,
            "generating" => TaskState::Generating,
            "success" => TaskState::Success,
            "fail" => TaskState::Fail,
            other => TaskState::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TaskState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TaskState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // A null or missing state is not documented; treat it like any unknown state rather
        // than rejecting the whole record.
        let value = Option::<String>::deserialize(deserializer)?;
        Ok(value.map_or_else(|| TaskState::Unknown(String::new()), |s| s.as_str().into()))
    }
}

/// `failCode`, which the service sends as a string, an integer or null. Kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailCode(pub Option<String>);

impl FailCode {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl Serialize for FailCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for FailCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(FailCode(match Value::deserialize(deserializer)? {
            Value::Null => None,
            Value::String(text) if text.is_empty() => None,
            Value::String(text) => Some(text),
            Value::Number(number) => Some(number.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            other => Some(other.to_string()),
        }))
    }
}

/// A field the service sends as a JSON string that holds JSON (`param`, `resultJson`),
/// exposed parsed. Null and `""` mean absent; text that does not parse as `T` is kept as it
/// came so that a report can show it, instead of failing the whole record.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum JsonString<T> {
    #[default]
    Absent,
    Parsed(T),
    Unparseable(String),
}

impl<T> JsonString<T> {
    pub fn parsed(&self) -> Option<&T> {
        match self {
            JsonString::Parsed(value) => Some(value),
            JsonString::Absent | JsonString::Unparseable(_) => None,
        }
    }
}

impl<T: Serialize> Serialize for JsonString<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonString::Absent => serializer.serialize_none(),
            JsonString::Parsed(value) => {
                let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
                serializer.serialize_str(&text)
            }
            JsonString::Unparseable(text) => serializer.serialize_str(text),
        }
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for JsonString<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => JsonString::Absent,
            Value::String(text) if text.trim().is_empty() => JsonString::Absent,
            Value::String(text) => match serde_json::from_str::<T>(&text) {
                Ok(parsed) => JsonString::Parsed(parsed),
                Err(_) => JsonString::Unparseable(text),
            },
            // Documented as a string; an object sent inline is accepted as what it means.
            inline @ Value::Object(_) => match serde_json::from_value::<T>(inline.clone()) {
                Ok(parsed) => JsonString::Parsed(parsed),
                Err(_) => JsonString::Unparseable(inline.to_string()),
            },
            other => JsonString::Unparseable(other.to_string()),
        })
    }
}

/// Accepts an integer, an integral float, a numeric string or null.
fn lenient_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(number) => number.as_i64().or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    })
}

/// Accepts a number, a numeric string or null.
fn lenient_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok().filter(|f: &f64| f.is_finite()),
        _ => None,
    })
}

/// `data` of `GET /api/v1/chat/credit`: the account's remaining credits.
pub(crate) fn parse_credits(data: &Value) -> Option<f64> {
    match data {
        Value::Number(number) => number.as_f64(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}
