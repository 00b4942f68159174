//! The built-in snapshot of popular jobs-API models: their input schemas and prices, written
//! from Kie's documentation pages (`crates/api/models/`, one JSON file a model, each citing
//! its page), compiled into the binary so that planning works offline, without a key.
//!
//! Read [`built_in`] and [`PriceRule::price`]. The files have the shape Kie's catalogue calls
//! answer with, plus a `price_rule`: the price as data (per task, or per second of the job's
//! duration, in tiers chosen by its inputs). `crates/api/models/README.md` documents the
//! format and the evidence behind each file.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The snapshot's files, by model id.
const FILES: &[(&str, &str)] = &[
    (
        "bytedance/seedance-1.5-pro",
        include_str!("../models/bytedance__seedance-1.5-pro.json"),
    ),
    (
        "bytedance/seedance-2-5",
        include_str!("../models/bytedance__seedance-2-5.json"),
    ),
    (
        "bytedance/seedance-2-fast",
        include_str!("../models/bytedance__seedance-2-fast.json"),
    ),
    (
        "bytedance/seedance-2-mini",
        include_str!("../models/bytedance__seedance-2-mini.json"),
    ),
    (
        "bytedance/seedance-2",
        include_str!("../models/bytedance__seedance-2.json"),
    ),
    (
        "grok-imagine/image-to-video",
        include_str!("../models/grok-imagine__image-to-video.json"),
    ),
    (
        "grok-imagine/text-to-video",
        include_str!("../models/grok-imagine__text-to-video.json"),
    ),
    (
        "hailuo/02-image-to-video-pro",
        include_str!("../models/hailuo__02-image-to-video-pro.json"),
    ),
    (
        "hailuo/02-image-to-video-standard",
        include_str!("../models/hailuo__02-image-to-video-standard.json"),
    ),
    (
        "hailuo/02-text-to-video-pro",
        include_str!("../models/hailuo__02-text-to-video-pro.json"),
    ),
    (
        "hailuo/02-text-to-video-standard",
        include_str!("../models/hailuo__02-text-to-video-standard.json"),
    ),
    (
        "kling-2.6/image-to-video",
        include_str!("../models/kling-2.6__image-to-video.json"),
    ),
    (
        "kling-2.6/text-to-video",
        include_str!("../models/kling-2.6__text-to-video.json"),
    ),
    (
        "kling-3.0/video",
        include_str!("../models/kling-3.0__video.json"),
    ),
    (
        "nano-banana-2",
        include_str!("../models/nano-banana-2.json"),
    ),
    (
        "seedream/4.5-text-to-image",
        include_str!("../models/seedream__4.5-text-to-image.json"),
    ),
    (
        "wan/2-6-image-to-video",
        include_str!("../models/wan__2-6-image-to-video.json"),
    ),
    (
        "wan/2-6-text-to-video",
        include_str!("../models/wan__2-6-text-to-video.json"),
    ),
];

/// What the snapshot knows of one model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ModelFacts {
    pub model: String,
    #[serde(default)]
    pub title: String,
    /// `video`, `image` or `audio`.
    #[serde(default)]
    pub output: String,
    /// The JSON Schema of the createTask `input` object.
    pub input_schema: Value,
    /// The price as Kie states it, in words.
    #[serde(rename = "pricingDesc", default)]
    pub pricing_desc: String,
    pub price_rule: Option<PriceRule>,
    /// How long a task usually takes, in seconds, where a source says so (`null` otherwise).
    #[serde(default)]
    pub typical_generation_seconds: Option<f64>,
    #[serde(default)]
    pub source: Value,
    /// The largest file the documentation page allows in a field that takes files, by
    /// field; fields the page gives no size for are absent.
    #[serde(default)]
    pub file_limits: std::collections::BTreeMap<String, FileLimit>,
}

/// A size limit the documentation page states for the files of one input field.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FileLimit {
    /// In bytes; a page's "MB" is read as 2^20 bytes.
    pub max_bytes: u64,
    /// The limit as the page states it, e.g. `10 MB`.
    pub stated: String,
}

/// A model's price as data; see `crates/api/models/README.md`. It is written as the
/// README's format (fields without a value left out), in a lock file among others.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PriceRule {
    pub tiers: Vec<PriceTier>,
    /// The input field holding the job's length in seconds, for per-second tiers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_field: Option<String>,
    /// Seconds when that field is absent and the schema has no default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_default: Option<f64>,
    /// Lengths whose price cannot be known beforehand (-1: the model chooses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_seconds: Vec<f64>,
}

/// One price, for the inputs its `when` describes.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct PriceTier {
    #[serde(default)]
    pub when: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_task: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_second: Option<f64>,
    /// Kie also bills the length of the media in this field, which is not known offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plus_seconds_of: Option<String>,
}

impl std::fmt::Display for PriceRule {
    /// The rule in a line: `55 a task when duration "5", sound false; 11 a second of
    /// duration when ...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let seconds_field = self.seconds_field.as_deref().unwrap_or("?");
        for (index, tier) in self.tiers.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            match (tier.per_task, tier.per_second) {
                (Some(credits), _) => write!(f, "{credits} a task")?,
                (None, Some(credits)) => write!(f, "{credits} a second of {seconds_field}")?,
                (None, None) => f.write_str("no price")?,
            }
            if let Some(media) = &tier.plus_seconds_of {
                write!(f, " (and of the media in {media})")?;
            }
            for (position, (field, condition)) in tier.when.iter().enumerate() {
                f.write_str(if position == 0 { " when " } else { ", " })?;
                match condition.get("nonempty").and_then(Value::as_bool) {
                    Some(true) => write!(f, "{field} given")?,
                    Some(false) => write!(f, "{field} not given")?,
                    None => write!(f, "{field} {condition}")?,
                }
            }
        }
        if let Some(seconds) = self.seconds_default {
            write!(f, "; {seconds_field} {seconds} when not given")?;
        }
        Ok(())
    }
}

/// Every model of the snapshot. A file that does not parse is a defect of this crate (a
/// test reads them all); it is left out rather than taking the program down.
pub fn built_in() -> &'static [ModelFacts] {
    static MODELS: OnceLock<Vec<ModelFacts>> = OnceLock::new();
    MODELS.get_or_init(|| {
        FILES
            .iter()
            .filter_map(|(_, text)| serde_json::from_str(text).ok())
            .collect()
    })
}

/// The snapshot's facts of `model`, if it has them.
pub fn model(model: &str) -> Option<&'static ModelFacts> {
    built_in().iter().find(|facts| facts.model == model)
}

/// How long a task of `model` usually takes, where a source says so: the snapshot's
/// `typical_generation_seconds`, or the Sora 2 family's figure in [`crate::registry`]. Only
/// a first guess: a run learns the real times as its tasks finish.
pub fn typical_generation(model: &str) -> Option<std::time::Duration> {
    let seconds = self::model(model)
        .and_then(|facts| facts.typical_generation_seconds)
        .or_else(|| {
            crate::registry::lookup(model)
                .and_then(|spec| spec.typical_generation_seconds)
                .map(f64::from)
        })?;
    (seconds.is_finite() && seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds))
}

impl ModelFacts {
    /// `input` with the schema's defaults filled in for absent fields: what the service
    /// bills (and what should be sent: Kie does not apply documented defaults).
    pub fn with_defaults(&self, input: &Map<String, Value>) -> Map<String, Value> {
        let mut complete = input.clone();
        if let Some(properties) = self
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
        {
            for (name, property) in properties {
                if let Some(default) = property.get("default")
                    && !complete.contains_key(name)
                {
                    complete.insert(name.clone(), default.clone());
                }
            }
        }
        complete
    }

    /// The estimated price of a job with `input`, in credits; `None` when it cannot be
    /// known beforehand.
    pub fn price(&self, input: &Map<String, Value>) -> Option<f64> {
        self.price_rule.as_ref()?.price(&self.with_defaults(input))
    }
}

impl PriceRule {
    /// The price of a job whose complete input (defaults filled in) is `input`: the first
    /// tier whose conditions hold. `None` when none holds, when the length is one of
    /// `unknown_seconds` or cannot be read, or when the tier also bills input media.
    pub fn price(&self, input: &Map<String, Value>) -> Option<f64> {
        let tier = self.tiers.iter().find(|tier| {
            tier.when
                .iter()
                .all(|(field, condition)| holds(input.get(field), condition))
        })?;
        if tier.plus_seconds_of.is_some() {
            return None;
        }
        if let Some(per_task) = tier.per_task {
            return Some(per_task);
        }
        let per_second = tier.per_second?;
        let seconds = match self
            .seconds_field
            .as_deref()
            .and_then(|field| input.get(field))
        {
            Some(Value::Number(number)) => number.as_f64()?,
            Some(Value::String(text)) => text.trim().parse::<f64>().ok()?,
            Some(_) => return None,
            None => self.seconds_default?,
        };
        if !seconds.is_finite() || seconds < 0.0 || self.unknown_seconds.contains(&seconds) {
            return None;
        }
        Some(per_second * seconds)
    }
}

/// Whether a field's value meets a tier's condition: equal to a value (of the same JSON
/// type), one of a list, or `{"nonempty": bool}`. The fake's `pricing::condition_holds`
/// (testkit) reads the same rule independently, to charge by it: change both together.
fn holds(value: Option<&Value>, condition: &Value) -> bool {
    match condition {
        Value::Array(choices) => value.is_some_and(|value| choices.contains(value)),
        Value::Object(test) if test.len() == 1 && test.contains_key("nonempty") => {
            let nonempty = match value {
                None | Some(Value::Null) => false,
                Some(Value::String(text)) => !text.is_empty(),
                Some(Value::Array(items)) => !items.is_empty(),
                Some(_) => true,
            };
            test.get("nonempty") == Some(&Value::Bool(nonempty))
        }
        expected => value == Some(expected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn every_file_parses_and_names_the_model_it_is_filed_under() {
        assert_eq!(
            built_in().len(),
            FILES.len(),
            "a snapshot file does not parse"
        );
        for (id, _) in FILES {
            let facts = model(id).unwrap_or_else(|| panic!("{id} is missing"));
            assert!(facts.price_rule.is_some(), "{id} has no price rule");
            assert!(
                facts.input_schema.get("properties").is_some(),
                "{id} has no input properties"
            );
        }
    }

    #[test]
    fn every_documented_example_has_a_price_unless_it_bills_input_media() {
        for (id, text) in FILES {
            let facts = model(id).unwrap_or_else(|| panic!("{id} is missing"));
            let example = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|file| file.get("example_input").cloned())
                .map(input)
                .unwrap_or_default();
            let bills_media = facts
                .price_rule
                .as_ref()
                .is_some_and(|rule| rule.tiers.iter().any(|tier| tier.plus_seconds_of.is_some()));
            if !bills_media {
                assert!(
                    facts.price(&example).is_some(),
                    "{id}: no price for its documented example {example:?}"
                );
            }
        }
    }

    #[test]
    fn prices_follow_the_tiers_and_the_duration() {
        let kling = model("kling-2.6/text-to-video").expect("in the snapshot");
        assert_eq!(
            kling.price(&input(
                json!({"prompt": "x", "duration": "5", "sound": false})
            )),
            Some(55.0)
        );
        assert_eq!(
            kling.price(&input(
                json!({"prompt": "x", "duration": "10", "sound": true})
            )),
            Some(220.0)
        );
        let grok = model("grok-imagine/text-to-video").expect("in the snapshot");
        assert_eq!(
            grok.price(&input(
                json!({"prompt": "x", "resolution": "720p", "duration": "10"})
            )),
            Some(45.0)
        );
        let banana = model("nano-banana-2").expect("in the snapshot");
        assert_eq!(
            banana.price(&input(json!({"prompt": "x", "resolution": "4K"}))),
            Some(18.0)
        );
    }

    #[test]
    fn unknown_lengths_media_billing_and_unmatched_inputs_have_no_price() {
        let rule = PriceRule {
            tiers: vec![
                PriceTier {
                    when: input(json!({"reference": {"nonempty": true}})),
                    per_task: None,
                    per_second: Some(10.0),
                    plus_seconds_of: Some("reference".into()),
                },
                PriceTier {
                    when: input(json!({"resolution": ["480p", "720p"]})),
                    per_task: None,
                    per_second: Some(2.0),
                    plus_seconds_of: None,
                },
            ],
            seconds_field: Some("duration".into()),
            seconds_default: None,
            unknown_seconds: vec![-1.0],
        };
        let priced = |value| rule.price(&input(value));
        assert_eq!(
            priced(json!({"resolution": "720p", "duration": 5})),
            Some(10.0)
        );
        assert_eq!(
            priced(json!({"resolution": "720p", "duration": "5"})),
            Some(10.0)
        );
        assert_eq!(priced(json!({"resolution": "720p", "duration": -1})), None);
        assert_eq!(
            priced(json!({"resolution": "720p"})),
            None,
            "no length, no default"
        );
        assert_eq!(priced(json!({"resolution": "1080p", "duration": 5})), None);
        assert_eq!(
            priced(json!({"resolution": "720p", "duration": 5, "reference": ["v.mp4"]})),
            None,
            "media of unknown length is billed too"
        );
    }
}
