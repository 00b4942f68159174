//! Serde types that mirror Kie.ai's jobs API exactly, field names included.
//!
//! Read [`RecordInfo`] first: it is the shape every poll returns, and the one where the live
//! service departs most from its documentation (JSON strings holding JSON, `failCode` as a
//! string or an integer, states beyond the documented five). Its newer fields (`response`,
//! `successFlag`, a float `creditsConsumed`) and the result shapes of models other than
//! Sora (`resultUrls`, `resultObject`, per-item `data[].audio_url`) are read as
//! `kie-api-notes.md` ("Tasks: newer fields") describes them, behind two accessors:
//! [`RecordInfo::result_urls`] and [`RecordInfo::text_result`]. Every type here is lenient
//! about what the service may send and strict about what we send: a surprising answer is kept
//! as evidence, never turned into a panic.
//!
//! The catalogue's answers (`/api/v1/models...`) are read in [`crate::catalogue`], by hand,
//! so that a wrong shape is reported by the field it concerns.
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
    /// Newer answers carry it beside `taskId`. Kept for reference only: tasks are polled by
    /// `taskId`, never by `recordId`. A string or a number, kept as text; any other shape is
    /// dropped rather than allowed to fail the answer of a task that was created.
    #[serde(
        rename = "recordId",
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub record_id: Option<String>,
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
///
/// Read through [`RecordInfoFields`], which mirrors the answer field by field; the two facts
/// that depend on several fields are settled once, as the record is read:
/// - `state` comes from `state` when the service sends one, else from `successFlag` (0
///   running, 1 success, 3 fail; see [`TaskState::from_success_flag`]);
/// - the result's URLs, whatever the model's result shape ([`RecordInfo::result_urls`]).
///
/// The fields are public to read; a record is not meant to be edited, and the accessors
/// reflect what was read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "RecordInfoFields")]
pub struct RecordInfo {
    pub task_id: String,
    pub model: Option<String>,
    pub state: TaskState,
    /// 0 running, 1 success, 3 fail; sent beside `state` by newer answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_flag: Option<i64>,
    /// The complete createTask request, sent by the service as a JSON string.
    pub param: JsonString<Value>,
    /// The result, a JSON string; null or `""` until the task succeeds.
    pub result_json: JsonString<ResultJson>,
    /// The result again, parsed by the service (newer answers): an object on the wire, and
    /// written back as one. Preferred to `result_json` when it holds a result.
    #[serde(
        skip_serializing_if = "JsonString::is_absent",
        serialize_with = "JsonString::serialize_inline"
    )]
    pub response: JsonString<ResultJson>,
    pub fail_code: FailCode,
    pub fail_msg: Option<String>,
    /// Kept as sent: its unit is inconsistent across Kie's docs (seconds or milliseconds), so
    /// durations are derived from `complete_time - create_time` instead.
    pub cost_time: Option<f64>,
    /// Milliseconds since the epoch.
    pub complete_time: Option<i64>,
    /// Milliseconds since the epoch.
    pub create_time: Option<i64>,
    /// The authoritative charge of the task, a float (`3.0`); 0 for an uncharged failure,
    /// absent until known.
    pub credits_consumed: Option<f64>,
    /// Every result URL, whatever the shape, from `response` or else `result_json`: settled
    /// when the record was read (the engine downloads these).
    #[serde(skip)]
    any_shape_result_urls: Vec<String>,
}

/// The fields of a recordInfo answer exactly as sent, before [`RecordInfo`] settles `state`
/// and the result URLs. Unknown fields (such as `progress`, documented but not filled in) are
/// ignored.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordInfoFields {
    pub task_id: String,
    #[serde(default)]
    pub model: Option<String>,
    /// Missing or null reads as an unknown, empty state, which `successFlag` may settle.
    #[serde(default = "TaskState::missing")]
    pub state: TaskState,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub success_flag: Option<i64>,
    #[serde(default)]
    pub param: JsonString<Value>,
    #[serde(default)]
    pub result_json: JsonString<ResultJson>,
    #[serde(default)]
    pub response: JsonString<ResultJson>,
    #[serde(default)]
    pub fail_code: FailCode,
    #[serde(default)]
    pub fail_msg: Option<String>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub cost_time: Option<f64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub complete_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub create_time: Option<i64>,
    #[serde(default, deserialize_with = "lenient_f64")]
    pub credits_consumed: Option<f64>,
}

impl From<RecordInfoFields> for RecordInfo {
    fn from(fields: RecordInfoFields) -> Self {
        // A documented state wins; successFlag only fills in a missing one, so the Sora 2
        // contract (state alone) reads exactly as before.
        let state = match (&fields.state, fields.success_flag) {
            (TaskState::Unknown(name), Some(flag)) if name.trim().is_empty() => {
                TaskState::from_success_flag(flag).unwrap_or_else(|| fields.state.clone())
            }
            _ => fields.state.clone(),
        };
        let any_shape_result_urls = [&fields.response, &fields.result_json]
            .into_iter()
            .filter_map(JsonString::parsed)
            .map(ResultJson::urls)
            .find(|urls| !urls.is_empty())
            .unwrap_or_default();
        RecordInfo {
            task_id: fields.task_id,
            model: fields.model,
            state,
            success_flag: fields.success_flag,
            param: fields.param,
            result_json: fields.result_json,
            response: fields.response,
            fail_code: fields.fail_code,
            fail_msg: fields.fail_msg,
            cost_time: fields.cost_time,
            complete_time: fields.complete_time,
            create_time: fields.create_time,
            credits_consumed: fields.credits_consumed,
            any_shape_result_urls,
        }
    }
}

impl RecordInfo {
    /// How long the service took, from its own timestamps; `None` until the task is done or
    /// when the timestamps are missing or out of order.
    pub fn generation_millis(&self) -> Option<u64> {
        let (created, completed) = (self.create_time?, self.complete_time?);
        u64::try_from(completed.checked_sub(created)?).ok()
    }

    /// The result URLs of a successful task, in the order the service gave them, whatever the
    /// model's result shape: `resultUrls` (videos, images), then per-item
    /// `data[].audio_url` (music), duplicates dropped. Taken from `response` when it holds
    /// any, else from `resultJson`. Empty for a text result ([`Self::text_result`]).
    pub fn result_urls(&self) -> &[String] {
        &self.any_shape_result_urls
    }

    /// The result of a text task (`resultObject`), as sent, from `response` when it holds
    /// one, else from `resultJson`: for the caller to save as JSON.
    pub fn text_result(&self) -> Option<&Value> {
        [&self.response, &self.result_json]
            .into_iter()
            .filter_map(JsonString::parsed)
            .find_map(|result| result.result_object.as_ref())
    }
}

/// The parsed `resultJson` (or `response`) of a task. Video and image models return
/// `resultUrls`; Sora returns `resultWaterMarkUrls` beside them when the watermark was
/// removed; text models return `resultObject`; music models return one item per track in
/// `data`, each with its `audio_url`. Unknown fields are ignored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ResultJson {
    /// A null list reads as empty (a music or text result may carry one).
    #[serde(rename = "resultUrls", default, deserialize_with = "nullable_list")]
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
    /// Per-item results (music: `[{"audio_url", ...}]`), kept as sent: their other fields
    /// differ by model, and a shape we do not expect must not hide the result's URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl ResultJson {
    /// The `audio_url` of each item of `data`, in order; items without one are skipped.
    pub fn audio_urls(&self) -> Vec<String> {
        let items = self.data.as_ref().and_then(Value::as_array);
        items
            .into_iter()
            .flatten()
            .filter_map(|item| item.get("audio_url").and_then(Value::as_str))
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// `resultUrls`, then the items' audio URLs, each URL once.
    fn urls(&self) -> Vec<String> {
        let mut urls: Vec<String> = Vec::new();
        for url in self.result_urls.iter().cloned().chain(self.audio_urls()) {
            if !urls.contains(&url) {
                urls.push(url);
            }
        }
        urls
    }
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

    /// The state `successFlag` stands for: 0 running (reported as `generating`), 1
    /// `success`, 3 `fail`; any other value says nothing.
    pub fn from_success_flag(flag: i64) -> Option<TaskState> {
        match flag {
            0 => Some(TaskState::Generating),
            1 => Some(TaskState::Success),
            3 => Some(TaskState::Fail),
            _ => None,
        }
    }

    /// What a record without `state` reads as: unknown and empty, so treated as running.
    fn missing() -> TaskState {
        TaskState::Unknown(String::new())
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
///
/// The parsed value lives on the heap: a [`RecordInfo`] travels in the engine's messages,
/// and three of these (`param`, `resultJson`, `response`) stay as small as a string that way.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum JsonString<T> {
    #[default]
    Absent,
    Parsed(Box<T>),
    Unparseable(String),
}

impl<T> JsonString<T> {
    pub fn is_absent(&self) -> bool {
        matches!(self, JsonString::Absent)
    }

    pub fn parsed(&self) -> Option<&T> {
        match self {
            JsonString::Parsed(value) => Some(value.as_ref()),
            JsonString::Absent | JsonString::Unparseable(_) => None,
        }
    }
}

impl<T: Serialize> JsonString<T> {
    /// Writes the parsed value as JSON itself rather than as a string holding it, for a
    /// field the service sends inline (`response`); text that did not parse stays text.
    fn serialize_inline<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonString::Absent => serializer.serialize_none(),
            JsonString::Parsed(value) => value.serialize(serializer),
            JsonString::Unparseable(text) => serializer.serialize_str(text),
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
                Ok(parsed) => JsonString::Parsed(Box::new(parsed)),
                Err(_) => JsonString::Unparseable(text),
            },
            // Documented as a string; an object sent inline is accepted as what it means.
            inline @ Value::Object(_) => match serde_json::from_value::<T>(inline.clone()) {
                Ok(parsed) => JsonString::Parsed(Box::new(parsed)),
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

/// A list that may be sent as null, which reads as empty.
fn nullable_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Accepts a string or a number (as text); anything else, empty text included, is absent.
fn lenient_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(text) if !text.trim().is_empty() => Some(text),
        Value::Number(number) => Some(number.to_string()),
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn record(data: Value) -> RecordInfo {
        serde_json::from_value(data).unwrap_or_else(|error| panic!("a record: {error}"))
    }

    #[test]
    fn success_flag_settles_a_missing_state_and_never_overrides_one() {
        let cases = [
            (
                json!({"taskId": "t", "successFlag": 0}),
                TaskState::Generating,
            ),
            (json!({"taskId": "t", "successFlag": 1}), TaskState::Success),
            (
                json!({"taskId": "t", "state": null, "successFlag": "3"}),
                TaskState::Fail,
            ),
            (
                json!({"taskId": "t", "state": "", "successFlag": 3}),
                TaskState::Fail,
            ),
            (
                json!({"taskId": "t", "successFlag": 2}),
                TaskState::Unknown(String::new()),
            ),
            (json!({"taskId": "t"}), TaskState::Unknown(String::new())),
            (
                json!({"taskId": "t", "state": "queuing", "successFlag": 1}),
                TaskState::Queuing,
            ),
            (
                json!({"taskId": "t", "state": "paused", "successFlag": 3}),
                TaskState::Unknown("paused".into()),
            ),
        ];
        for (data, expected) in cases {
            assert_eq!(record(data.clone()).state, expected, "{data}");
        }
    }

    #[test]
    fn response_is_preferred_when_it_holds_a_result() {
        let both = record(json!({
            "taskId": "t", "state": "success",
            "resultJson": "{\"resultUrls\":[\"https://a/old.mp4\"]}",
            "response": {"resultUrls": ["https://a/new.mp4"]}
        }));
        assert_eq!(both.result_urls(), ["https://a/new.mp4"]);
        let empty_response = record(json!({
            "taskId": "t", "state": "success",
            "resultJson": "{\"resultUrls\":[\"https://a/old.mp4\"]}",
            "response": {}
        }));
        assert_eq!(empty_response.result_urls(), ["https://a/old.mp4"]);
        let text = record(json!({
            "taskId": "t", "state": "success",
            "resultJson": "{\"resultObject\":{\"text\":\"old\"}}",
            "response": {"resultObject": {"text": "new"}}
        }));
        assert_eq!(text.text_result(), Some(&json!({"text": "new"})));
        assert!(text.result_urls().is_empty());
    }

    #[test]
    fn urls_of_every_shape_come_out_once_in_order() {
        let mixed = record(json!({
            "taskId": "t", "state": "success",
            "response": {
                "resultUrls": ["https://a/1.mp3", null],
                "data": [{"audio_url": "https://a/1.mp3"}, {"audio_url": "https://a/2.mp3"},
                         {"title": "no url"}, "odd"]
            }
        }));
        // A null inside resultUrls makes `response` unreadable; resultJson is absent: nothing.
        assert!(mixed.result_urls().is_empty());
        let items = json!({"resultUrls": null, "data": [
            {"audio_url": "https://a/1.mp3"}, {"audio_url": "https://a/2.mp3"},
            {"title": "no url"}, "odd"
        ]});
        let music = record(json!({
            "taskId": "t", "state": "success", "resultJson": items.to_string()
        }));
        assert_eq!(music.result_urls(), ["https://a/1.mp3", "https://a/2.mp3"]);
        let both = record(json!({
            "taskId": "t", "state": "success",
            "response": {
                "resultUrls": ["https://a/1.mp3"],
                "data": [{"audio_url": "https://a/1.mp3"}, {"audio_url": "https://a/2.mp3"}]
            }
        }));
        assert_eq!(both.result_urls(), ["https://a/1.mp3", "https://a/2.mp3"]);
    }

    #[test]
    fn a_record_reads_back_as_it_was_written() {
        let original = record(json!({
            "taskId": "t", "successFlag": 1, "param": "{\"model\":\"m\"}",
            "resultJson": "{\"resultUrls\":[\"https://a/1.mp4\"]}",
            "response": {"resultUrls": ["https://a/1.mp4"]}, "creditsConsumed": 3.0
        }));
        let written = serde_json::to_value(&original).unwrap_or_default();
        assert_eq!(written["state"], "success", "settled from successFlag");
        assert_eq!(
            written["response"],
            json!({"resultUrls": ["https://a/1.mp4"]})
        );
        assert!(written["resultJson"].is_string(), "as the service sends it");
        assert_eq!(record(written), original);
    }

    #[test]
    fn a_record_id_of_any_shape_never_fails_the_answer() {
        for (data, expected) in [
            (json!({"taskId": "t", "recordId": "r1"}), Some("r1")),
            (json!({"taskId": "t", "recordId": 42}), Some("42")),
            (json!({"taskId": "t", "recordId": {"odd": true}}), None),
            (json!({"taskId": "t", "recordId": ""}), None),
            (json!({"taskId": "t"}), None),
        ] {
            let created: CreateTaskData =
                serde_json::from_value(data.clone()).unwrap_or_else(|e| panic!("{data}: {e}"));
            assert_eq!(created.record_id.as_deref(), expected, "{data}");
        }
    }
}
