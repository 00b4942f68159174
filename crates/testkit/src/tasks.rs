//! Fake tasks: what createTask accepts, and what recordInfo says about a task.
//!
//! Read [`FakeTask`] first: one created task with its exact request, its timeline and, once
//! terminal, its completion. [`validate_create_task`] is the live service's strictness (no
//! defaults filled in for Sora 2 models). [`TaskView`] is the public read-only copy for tests.

use std::collections::BTreeSet;
use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::answer::FakeAnswer;
use crate::catalogue::Catalogue;
use crate::faults::{FIELD_REQUIRED_MSG, MODEL_DISABLED_MSG};
use crate::schedule::{Phase, TaskTimeline};
use crate::schemas::InputSchemas;

/// The longest prompt the live service accepts, in characters.
pub const MAX_PROMPT_CHARS: usize = 10_000;

/// A Sora 2 model the fake validates strictly, and which input fields it requires.
#[derive(Clone, Copy, Debug)]
struct SoraModel {
    name: &'static str,
    /// The `-stable` variants have no `remove_watermark`.
    has_remove_watermark: bool,
    /// Image-to-video models need exactly one `image_urls` entry.
    needs_image: bool,
}

const SORA_MODELS: [SoraModel; 6] = [
    SoraModel {
        name: "sora-2-text-to-video",
        has_remove_watermark: true,
        needs_image: false,
    },
    SoraModel {
        name: "sora-2-image-to-video",
        has_remove_watermark: true,
        needs_image: true,
    },
    SoraModel {
        name: "sora-2-pro-text-to-video",
        has_remove_watermark: true,
        needs_image: false,
    },
    SoraModel {
        name: "sora-2-pro-image-to-video",
        has_remove_watermark: true,
        needs_image: true,
    },
    SoraModel {
        name: "sora-2-text-to-video-stable",
        has_remove_watermark: false,
        needs_image: false,
    },
    SoraModel {
        name: "sora-2-image-to-video-stable",
        has_remove_watermark: false,
        needs_image: true,
    },
];

/// A createTask request that passed validation.
#[derive(Clone, Debug)]
pub(crate) struct AcceptedRequest {
    /// The whole request body, as the service keeps it for `param`.
    pub(crate) request: Value,
    pub(crate) model: String,
    pub(crate) prompt: Option<String>,
    pub(crate) remove_watermark: bool,
    pub(crate) callback_url: Option<String>,
}

/// Checks a createTask body like the live service: a 422 for a malformed request or a wrong
/// value, a 500 "This field is required" for an omitted input field (Sora 2's by hand, other
/// models' by their schema, see `schemas.rs`), a 505 for a disabled model. Models the fake
/// has no schema for are accepted with any `input`, because the jobs API serves many models.
pub(crate) fn validate_create_task(
    body: &[u8],
    disabled_models: &BTreeSet<String>,
    schemas: &mut InputSchemas,
    catalogue: &Catalogue,
) -> Result<AcceptedRequest, FakeAnswer> {
    let request: Value = serde_json::from_slice(body)
        .map_err(|error| FakeAnswer::envelope_error(422, format!("Invalid JSON body: {error}")))?;
    let Some(fields) = request.as_object() else {
        return Err(FakeAnswer::envelope_error(
            422,
            "The request body must be a JSON object",
        ));
    };
    let model = match fields.get("model") {
        Some(Value::String(model)) if !model.is_empty() => model.clone(),
        Some(_) => return Err(FakeAnswer::envelope_error(422, "model must be a string")),
        None => return Err(FakeAnswer::envelope_error(422, "model is required")),
    };
    let input = match fields.get("input") {
        Some(Value::Object(input)) => input,
        Some(_) => return Err(FakeAnswer::envelope_error(422, "input must be an object")),
        None => return Err(FakeAnswer::envelope_error(422, "input is required")),
    };
    let callback_url = match fields.get("callBackUrl") {
        None | Some(Value::Null) => None,
        Some(Value::String(url)) => Some(url.clone()),
        Some(_) => {
            return Err(FakeAnswer::envelope_error(
                422,
                "callBackUrl must be a string",
            ));
        }
    };
    if disabled_models.contains(&model) {
        return Err(FakeAnswer::envelope_error(505, MODEL_DISABLED_MSG));
    }
    if let Some(sora_model) = SORA_MODELS.iter().find(|known| known.name == model) {
        validate_sora_input(sora_model, input)?;
    } else if let Some(schema) = schemas.of(&model, catalogue) {
        schema.check(input)?;
    }
    Ok(AcceptedRequest {
        model,
        prompt: input
            .get("prompt")
            .and_then(Value::as_str)
            .map(str::to_owned),
        remove_watermark: input.get("remove_watermark") == Some(&Value::Bool(true)),
        callback_url,
        request,
    })
}

fn validate_sora_input(model: &SoraModel, input: &Map<String, Value>) -> Result<(), FakeAnswer> {
    // Presence first: the live service does not fill in documented defaults.
    let mut required = vec!["prompt", "aspect_ratio", "n_frames"];
    if model.has_remove_watermark {
        required.push("remove_watermark");
    }
    if model.needs_image {
        required.push("image_urls");
    }
    if required
        .iter()
        .any(|field| input.get(*field).is_none_or(Value::is_null))
    {
        return Err(FakeAnswer::envelope_error(500, FIELD_REQUIRED_MSG));
    }
    let invalid = |msg: String| Err(FakeAnswer::envelope_error(422, msg));
    match input.get("prompt") {
        Some(Value::String(prompt)) if prompt.trim().is_empty() => {
            return invalid("prompt must not be empty".to_owned());
        }
        Some(Value::String(prompt)) if prompt.chars().count() > MAX_PROMPT_CHARS => {
            return invalid(format!(
                "prompt is too long: at most {MAX_PROMPT_CHARS} characters"
            ));
        }
        Some(Value::String(_)) => {}
        _ => return invalid("prompt must be a string".to_owned()),
    }
    check_string_enum(input, "aspect_ratio", &["portrait", "landscape"])?;
    // The live service wants the STRING "10" or "15": the number 10 is refused.
    check_string_enum(input, "n_frames", &["10", "15"])?;
    if model.has_remove_watermark && !input.get("remove_watermark").is_some_and(Value::is_boolean) {
        return invalid("remove_watermark must be a boolean".to_owned());
    }
    if model.needs_image {
        let single_url = input
            .get("image_urls")
            .and_then(Value::as_array)
            .is_some_and(|urls| urls.len() == 1 && urls[0].is_string());
        if !single_url {
            return invalid("image_urls must hold exactly one image URL".to_owned());
        }
    }
    if input.get("size").is_some() {
        check_string_enum(input, "size", &["standard", "high"])?;
    }
    if input.get("upload_method").is_some() {
        check_string_enum(input, "upload_method", &["s3", "oss"])?;
    }
    if let Some(characters) = input.get("character_id_list") {
        let within_limit = characters.as_array().is_some_and(|ids| ids.len() <= 5);
        if !within_limit {
            return invalid("character_id_list must be a list of at most 5 ids".to_owned());
        }
    }
    Ok(())
}

fn check_string_enum(
    input: &Map<String, Value>,
    field: &str,
    allowed: &[&str],
) -> Result<(), FakeAnswer> {
    match input.get(field) {
        Some(Value::String(value)) if allowed.contains(&value.as_str()) => Ok(()),
        _ => Err(FakeAnswer::envelope_error(
            422,
            format!("{field} must be one of: {}", allowed.join(", ")),
        )),
    }
}

/// How a task ends.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PlannedOutcome {
    Success,
    Fail {
        /// As the live service sends it: sometimes a string, sometimes an integer.
        fail_code: Value,
        fail_msg: String,
    },
}

/// What a task has once terminal.
#[derive(Clone, Debug)]
pub(crate) struct Completion {
    pub(crate) complete_time_ms: i64,
    pub(crate) result_urls: Vec<String>,
    pub(crate) watermark_urls: Vec<String>,
    /// A text model's result (`resultObject`), sent instead of result URLs.
    pub(crate) text_result: Option<Value>,
}

/// One task created by createTask.
#[derive(Clone, Debug)]
pub(crate) struct FakeTask {
    pub(crate) task_id: String,
    pub(crate) accepted: AcceptedRequest,
    pub(crate) created_at: Instant,
    pub(crate) create_time_ms: i64,
    pub(crate) timeline: TaskTimeline,
    pub(crate) outcome: PlannedOutcome,
    /// The credits taken at creation; refunded (and reported as 0) if the task fails.
    pub(crate) price: f64,
    /// Whether recordInfo reports the charge as `creditsConsumed` ([`crate::Charge`]).
    pub(crate) charge_reported: bool,
    pub(crate) polls_answered: u32,
    pub(crate) unknown_polls_answered: u32,
    pub(crate) last_reported_state: Option<String>,
    pub(crate) completion: Option<Completion>,
}

impl FakeTask {
    pub(crate) fn is_terminal(&self) -> bool {
        self.completion.is_some()
    }

    pub(crate) fn state_name(&self, phase: Phase, unknown_state_name: &str) -> String {
        match phase {
            Phase::Waiting => "waiting",
            Phase::Unknown => unknown_state_name,
            Phase::Queuing => "queuing",
            Phase::Generating => "generating",
            Phase::Terminal => match self.outcome {
                PlannedOutcome::Success => "success",
                PlannedOutcome::Fail { .. } => "fail",
            },
        }
        .to_owned()
    }

    /// What the task has cost the account so far: its price from creation on, 0 once it
    /// failed (refunded).
    pub(crate) fn charged(&self) -> f64 {
        match (&self.completion, &self.outcome) {
            (Some(_), PlannedOutcome::Fail { .. }) => 0.0,
            _ => self.price,
        }
    }

    /// `creditsConsumed` as recordInfo reports it: the charge once terminal (0 after a
    /// failure), never when the model's charge is unreported.
    pub(crate) fn credits_consumed(&self) -> Option<f64> {
        self.completion
            .as_ref()
            .filter(|_| self.charge_reported)
            .map(|_| self.charged())
    }

    /// The `data` of a recordInfo answer reporting `state`.
    pub(crate) fn record_info_data(&self, state: &str) -> Value {
        // The service stores the request as a JSON string, and `resultJson` likewise.
        let param = self.accepted.request.to_string();
        // `response` is the same result parsed (newer answers carry both); `successFlag` says
        // 0 running, 1 success, 3 fail.
        let (result_json, response, success_flag, fail_code, fail_msg) =
            match (&self.completion, &self.outcome) {
                (Some(completion), PlannedOutcome::Success) => {
                    let mut result = match &completion.text_result {
                        Some(text) => json!({"resultObject": text}),
                        None => json!({"resultUrls": completion.result_urls}),
                    };
                    if self.accepted.remove_watermark {
                        result["resultWaterMarkUrls"] = json!(completion.watermark_urls);
                    }
                    (
                        Value::String(result.to_string()),
                        result,
                        1,
                        Value::Null,
                        Value::Null,
                    )
                }
                (
                    Some(_),
                    PlannedOutcome::Fail {
                        fail_code,
                        fail_msg,
                    },
                ) => (
                    Value::Null,
                    Value::Null,
                    3,
                    fail_code.clone(),
                    json!(fail_msg),
                ),
                (None, _) => (Value::Null, Value::Null, 0, Value::Null, Value::Null),
            };
        let complete_time = self.completion.as_ref().map(|c| c.complete_time_ms);
        let mut data = json!({
            "taskId": self.task_id,
            "model": self.accepted.model,
            "state": state,
            "successFlag": success_flag,
            "param": param,
            "resultJson": result_json,
            "response": response,
            "failCode": fail_code,
            "failMsg": fail_msg,
            // The vendor's page says milliseconds; clients should use completeTime - createTime.
            "costTime": complete_time.map(|complete| complete - self.create_time_ms),
            "completeTime": complete_time,
            "createTime": self.create_time_ms,
            "creditsConsumed": self.credits_consumed().map(credits_json),
            // Documented, and not filled in by the live service.
            "progress": Value::Null,
        });
        if !self.charge_reported
            && let Some(fields) = data.as_object_mut()
        {
            // Like an answer from before the field existed.
            fields.remove("creditsConsumed");
        }
        data
    }

    pub(crate) fn view(&self, current_state: String) -> TaskView {
        let completion = self.completion.as_ref();
        let (fail_code, fail_msg) = match &self.outcome {
            PlannedOutcome::Fail {
                fail_code,
                fail_msg,
            } if completion.is_some() => (
                Some(match fail_code {
                    Value::String(code) => code.clone(),
                    other => other.to_string(),
                }),
                Some(fail_msg.clone()),
            ),
            _ => (None, None),
        };
        TaskView {
            task_id: self.task_id.clone(),
            model: self.accepted.model.clone(),
            prompt: self.accepted.prompt.clone(),
            request: self.accepted.request.clone(),
            callback_url: self.accepted.callback_url.clone(),
            state: current_state,
            last_reported_state: self.last_reported_state.clone(),
            polls: self.polls_answered,
            price: self.price,
            credits_consumed: self.credits_consumed(),
            text_result: completion.and_then(|c| c.text_result.clone()),
            result_urls: completion
                .map(|c| c.result_urls.clone())
                .unwrap_or_default(),
            watermark_urls: completion
                .map(|c| c.watermark_urls.clone())
                .unwrap_or_default(),
            fail_code,
            fail_msg,
            create_time_ms: self.create_time_ms,
            complete_time_ms: completion.map(|c| c.complete_time_ms),
        }
    }
}

/// Credits as JSON: an integer when whole (as the live service shows them), else a decimal.
pub(crate) fn credits_json(credits: f64) -> Value {
    if credits.fract() == 0.0 && credits.abs() < 9.0e15 {
        json!(credits as i64)
    } else {
        json!(credits)
    }
}

/// A read-only copy of a fake task, for tests.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskView {
    pub task_id: String,
    pub model: String,
    /// `input.prompt`, when it is a string.
    pub prompt: Option<String>,
    /// The exact createTask body.
    pub request: Value,
    pub callback_url: Option<String>,
    /// The state now: for a [`crate::Schedule::Polls`] task the state the last poll revealed
    /// (`waiting` before any), for a time-based one the state by the clock (the unknown state
    /// aside).
    pub state: String,
    /// The state the last recordInfo answered, if any poll was answered.
    pub last_reported_state: Option<String>,
    /// How many recordInfo polls of this task were answered.
    pub polls: u32,
    /// The credits taken at creation.
    pub price: f64,
    /// `creditsConsumed` as recordInfo reports it: `None` until terminal (and always, for a
    /// model whose charge is [`crate::Charge::Unreported`]), 0 after a failure.
    pub credits_consumed: Option<f64>,
    /// A text model's result (`resultObject`), once the task succeeded.
    pub text_result: Option<Value>,
    pub result_urls: Vec<String>,
    pub watermark_urls: Vec<String>,
    /// The fail code as text (the wire value may be an integer).
    pub fail_code: Option<String>,
    pub fail_msg: Option<String>,
    pub create_time_ms: i64,
    pub complete_time_ms: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: Value) -> Result<AcceptedRequest, Option<i64>> {
        validate_create_task(
            body.to_string().as_bytes(),
            &BTreeSet::new(),
            &mut InputSchemas::default(),
            &Catalogue::from_fixtures(),
        )
        .map_err(|answer| answer.envelope_code())
    }

    fn sora(input: Value) -> Value {
        json!({"model": "sora-2-text-to-video", "input": input})
    }

    #[test]
    fn a_complete_sora_request_is_accepted() {
        let accepted = check(sora(json!({
            "prompt": "a cat", "aspect_ratio": "landscape", "n_frames": "10", "remove_watermark": true
        })));
        assert!(accepted.is_ok_and(|a| a.remove_watermark && a.prompt.as_deref() == Some("a cat")));
    }

    #[test]
    fn each_missing_sora_field_is_this_field_is_required() {
        for missing in ["prompt", "aspect_ratio", "n_frames", "remove_watermark"] {
            let mut input = json!({
                "prompt": "a cat", "aspect_ratio": "landscape", "n_frames": "10", "remove_watermark": false
            });
            if let Some(fields) = input.as_object_mut() {
                fields.remove(missing);
            }
            assert_eq!(check(sora(input)).err(), Some(Some(500)), "{missing}");
        }
    }

    #[test]
    fn stable_models_need_no_remove_watermark() {
        let body = json!({"model": "sora-2-text-to-video-stable", "input": {
            "prompt": "a cat", "aspect_ratio": "portrait", "n_frames": "15"
        }});
        assert!(check(body).is_ok());
    }

    #[test]
    fn wrong_values_are_422() {
        let base = json!({
            "prompt": "a cat", "aspect_ratio": "landscape", "n_frames": "10", "remove_watermark": true
        });
        for (field, value) in [
            ("aspect_ratio", json!("square")),
            ("n_frames", json!(10)),
            ("n_frames", json!("12")),
            ("remove_watermark", json!("true")),
            ("prompt", json!("x".repeat(MAX_PROMPT_CHARS + 1))),
            ("prompt", json!(42)),
        ] {
            let mut input = base.clone();
            input[field] = value;
            assert_eq!(check(sora(input)).err(), Some(Some(422)), "{field}");
        }
    }

    #[test]
    fn malformed_bodies_are_422_and_unknown_models_pass_through() {
        assert_eq!(
            validate_create_task(
                b"not json",
                &BTreeSet::new(),
                &mut InputSchemas::default(),
                &Catalogue::from_fixtures()
            )
            .err()
            .and_then(|a| a.envelope_code()),
            Some(422)
        );
        assert_eq!(check(json!({"input": {}})).err(), Some(Some(422)));
        assert_eq!(
            check(json!({"model": "m", "input": []})).err(),
            Some(Some(422))
        );
        assert!(check(json!({"model": "veo3", "input": {"anything": 1}})).is_ok());
    }
}
