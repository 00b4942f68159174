//! What a task costs on the fake: its model's price rule applied to the input as sent, as
//! the live service charges each model by its own price list.
//!
//! Read [`Pricing::charge_of`]. The price rules are the built-in snapshot's
//! (`crates/api/models/*.json`, format in its README), applied by this crate's own code
//! rather than the api crate's, so that a client's estimate is checked against a charge it
//! did not compute. Where a rule leaves the price open the fake decides as the service
//! would, concretely: a length the model chooses (`unknown_seconds`, Seedance's `-1`) is
//! [`MODEL_CHOSEN_SECONDS`], and each input medium a tier also bills (`plus_seconds_of`)
//! lasts [`INPUT_MEDIUM_SECONDS`]. A model without a rule (the Sora 2 family, models the
//! fake does not know) or whose input no tier prices costs
//! [`crate::FakeKieBuilder::price_per_task`]. A test sets a model's charge apart from its
//! rule with [`crate::FakeKieBuilder::charge`]: a price that changed, or a charge that
//! recordInfo never reports.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::schemas::snapshot_field;

/// The length, in seconds, the fake's models choose when asked to (`duration: -1`).
pub const MODEL_CHOSEN_SECONDS: f64 = 8.0;

/// The length, in seconds, of each input medium a price tier bills beside the output
/// (Seedance's reference videos); the fake does not open the files.
pub const INPUT_MEDIUM_SECONDS: f64 = 5.0;

/// What the tasks of one model cost instead of its price rule; see
/// [`crate::FakeKieBuilder::charge`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Charge {
    /// Every task costs this many credits, whatever its input: a price changed since the
    /// snapshot was written, for instance.
    PerTask(f64),
    /// Every task costs this many credits, and recordInfo never says so: its answers have
    /// no `creditsConsumed`, like the service's answers from before that field.
    Unreported(f64),
}

/// A task's cost, decided at its creation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TaskCharge {
    pub(crate) credits: f64,
    /// Whether recordInfo reports it as `creditsConsumed`.
    pub(crate) reported: bool,
}

/// The charges of every model.
#[derive(Clone, Debug)]
pub(crate) struct Pricing {
    price_per_task: f64,
    charges: HashMap<String, Charge>,
}

impl Pricing {
    pub(crate) fn new(price_per_task: f64, charges: HashMap<String, Charge>) -> Pricing {
        Pricing {
            price_per_task,
            charges,
        }
    }

    /// The cost of a task of `model` with `input` (as sent).
    pub(crate) fn charge_of(&self, model: &str, input: &Map<String, Value>) -> TaskCharge {
        let (credits, reported) = match self.charges.get(model) {
            Some(Charge::PerTask(credits)) => (*credits, true),
            Some(Charge::Unreported(credits)) => (*credits, false),
            None => (
                rule_price(&snapshot_field(model, "price_rule"), input)
                    .unwrap_or(self.price_per_task),
                true,
            ),
        };
        TaskCharge { credits, reported }
    }
}

/// The price of `input` by `rule` (a snapshot `price_rule`): the first tier whose `when`
/// holds; `None` when there is no rule or no tier holds, or when the length cannot be read.
pub(crate) fn rule_price(rule: &Value, input: &Map<String, Value>) -> Option<f64> {
    let tier = rule.get("tiers")?.as_array()?.iter().find(|tier| {
        tier.get("when")
            .and_then(Value::as_object)
            .is_none_or(|when| {
                when.iter()
                    .all(|(field, condition)| condition_holds(input.get(field), condition))
            })
    })?;
    if let Some(per_task) = tier.get("per_task").and_then(Value::as_f64) {
        return Some(per_task);
    }
    let per_second = tier.get("per_second").and_then(Value::as_f64)?;
    let asked = match rule
        .get("seconds_field")
        .and_then(Value::as_str)
        .and_then(|field| input.get(field))
    {
        Some(Value::Number(number)) => number.as_f64()?,
        Some(Value::String(text)) => text.trim().parse::<f64>().ok()?,
        Some(_) => return None,
        None => rule.get("seconds_default").and_then(Value::as_f64)?,
    };
    let chosen_by_model = rule
        .get("unknown_seconds")
        .and_then(Value::as_array)
        .is_some_and(|unknown| unknown.iter().any(|value| value.as_f64() == Some(asked)));
    let mut seconds = if chosen_by_model {
        MODEL_CHOSEN_SECONDS
    } else {
        asked
    };
    if let Some(media) = tier
        .get("plus_seconds_of")
        .and_then(Value::as_str)
        .and_then(|field| input.get(field))
    {
        let count = match media {
            Value::Array(items) => items.len(),
            Value::String(url) if !url.is_empty() => 1,
            _ => 0,
        };
        seconds += INPUT_MEDIUM_SECONDS * count as f64;
    }
    (seconds.is_finite() && seconds >= 0.0).then_some(per_second * seconds)
}

/// Whether a field's value meets a tier's condition: equal (same JSON type), one of a list,
/// or `{"nonempty": bool}`. The api crate's `snapshot::holds` reads the same rule for the
/// client's estimates; the fake keeps its own reading (it depends on none of our crates,
/// and charges must not share the estimate's mistakes): a change to the rule's format is
/// made in both.
fn condition_holds(value: Option<&Value>, condition: &Value) -> bool {
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
    use serde_json::json;

    use super::*;

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn charge(pricing: &Pricing, model: &str, value: Value) -> TaskCharge {
        pricing.charge_of(model, &input(value))
    }

    #[test]
    fn snapshot_models_cost_what_their_rule_says_of_the_input_as_sent() {
        let pricing = Pricing::new(30.0, HashMap::new());
        let kling = |duration: &str, sound: bool| {
            charge(
                &pricing,
                "kling-2.6/text-to-video",
                json!({"prompt": "x", "aspect_ratio": "1:1", "duration": duration, "sound": sound}),
            )
            .credits
        };
        assert_eq!(kling("5", false), 55.0);
        assert_eq!(kling("5", true), 110.0);
        assert_eq!(kling("10", true), 220.0);
        let mini = |duration: Value, extra: Value| {
            let mut sent = json!({"prompt": "xyz", "resolution": "480p", "duration": duration});
            if let (Some(sent), Some(extra)) = (sent.as_object_mut(), extra.as_object()) {
                sent.extend(extra.clone());
            }
            charge(&pricing, "bytedance/seedance-2-mini", sent).credits
        };
        assert!((mini(json!(5), json!({})) - 19.0).abs() < 1e-9);
        assert!(
            (mini(json!(-1), json!({})) - 3.8 * MODEL_CHOSEN_SECONDS).abs() < 1e-9,
            "the model chooses its length"
        );
        let with_video = mini(
            json!(5),
            json!({"reference_video_urls": ["https://x/v.mp4"]}),
        );
        assert!((with_video - 2.4 * (5.0 + INPUT_MEDIUM_SECONDS)).abs() < 1e-9);
        let banana = charge(
            &pricing,
            "nano-banana-2",
            json!({"prompt": "x", "resolution": "4K"}),
        );
        assert_eq!(
            banana,
            TaskCharge {
                credits: 18.0,
                reported: true
            }
        );
    }

    #[test]
    fn models_without_a_rule_or_a_matching_tier_cost_the_price_per_task() {
        let pricing = Pricing::new(30.0, HashMap::new());
        let sora = charge(&pricing, "sora-2-text-to-video", json!({"n_frames": "10"}));
        assert_eq!(sora.credits, 30.0);
        assert_eq!(charge(&pricing, "veo3", json!({})).credits, 30.0);
        // Hailuo 02 image-to-video standard has no price at 768P for 6 s.
        let unpriced = charge(
            &pricing,
            "hailuo/02-image-to-video-standard",
            json!({"prompt": "x", "image_url": "https://x/a.png", "duration": "6", "resolution": "768P"}),
        );
        assert_eq!(unpriced.credits, 30.0);
    }

    #[test]
    fn a_test_sets_a_models_charge_apart_from_its_rule() {
        let pricing = Pricing::new(
            30.0,
            HashMap::from([
                ("kling-2.6/text-to-video".to_owned(), Charge::PerTask(70.0)),
                (
                    "bytedance/seedance-2-mini".to_owned(),
                    Charge::Unreported(25.0),
                ),
            ]),
        );
        let kling = json!({"prompt": "x", "duration": "5", "sound": false});
        assert_eq!(
            charge(&pricing, "kling-2.6/text-to-video", kling),
            TaskCharge {
                credits: 70.0,
                reported: true
            }
        );
        assert_eq!(
            charge(
                &pricing,
                "bytedance/seedance-2-mini",
                json!({"duration": 5})
            ),
            TaskCharge {
                credits: 25.0,
                reported: false
            }
        );
    }
}
