//! Estimated credits per job, by model and input: what `plan` adds up and the spending cap
//! counts before any money is spent.
//!
//! Read [`PriceTable`]. Each model is priced by the price rule the [`ModelBook`] has for it
//! (a locked entry's, the built-in snapshot's, or the Sora 2 family's estimates from public
//! observations of the service); a manifest's `prices:` section overrides that key by key.
//! The authoritative charge is the service's `creditsConsumed`, recorded by `run`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sora_batch_api::snapshot::PriceRule;

pub use crate::job::Credits;
use crate::models::ModelBook;

/// What each model's jobs are estimated to cost.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    /// The manifest's `prices:`: credits per job by model, then a price key (see
    /// [`PriceTable::estimate`]).
    overrides: BTreeMap<String, BTreeMap<String, Credits>>,
    /// Each model's price rule, from the book.
    rules: BTreeMap<String, PriceRule>,
}

/// Whether a price key is well formed: `*`, a duration in seconds (`10`), or a duration and
/// a size (`10-high`).
pub fn is_price_key(key: &str) -> bool {
    if key == "*" {
        return true;
    }
    let (seconds, size) = match key.split_once('-') {
        Some((seconds, size)) => (seconds, Some(size)),
        None => (key, None),
    };
    !seconds.is_empty()
        && seconds.bytes().all(|b| b.is_ascii_digit())
        && size.is_none_or(|size| {
            !size.is_empty() && size.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

impl PriceTable {
    /// The price rules of every model of `book` that has one.
    pub fn from_book(book: &ModelBook) -> PriceTable {
        PriceTable {
            overrides: BTreeMap::new(),
            rules: book
                .models()
                .filter_map(|knowledge| {
                    let rule = knowledge.price_rule.clone()?;
                    Some((knowledge.model.clone(), rule))
                })
                .collect(),
        }
    }

    /// The prices of the built-in book: the snapshot's and the Sora 2 family's.
    pub fn built_in() -> PriceTable {
        PriceTable::from_book(&ModelBook::built_in())
    }

    /// Sets (or overrides) one price, as the manifest's `prices:` does.
    pub fn set(&mut self, model: &str, key: &str, credits: Credits) {
        self.overrides
            .entry(model.to_owned())
            .or_default()
            .insert(key.to_owned(), credits);
    }

    /// The estimated price of one job whose complete input (defaults filled in) is `input`:
    /// the manifest's price for the first of `"{seconds}-{size}"`, `"{seconds}"` and `"*"`
    /// it has for the model, where seconds are the job's `n_frames`, else its rule's length
    /// field, else its `duration`; else the model's price rule. `None` when neither prices it.
    pub fn estimate(&self, model: &str, input: &Map<String, Value>) -> Option<Credits> {
        let rule = self.rules.get(model);
        if let Some(prices) = self.overrides.get(model) {
            let seconds = ["n_frames"]
                .into_iter()
                .chain(rule.and_then(|rule| rule.seconds_field.as_deref()))
                .chain(["duration"])
                .find_map(|field| input.get(field).and_then(scalar_text));
            let size = input.get("size").and_then(scalar_text);
            let mut candidates: Vec<String> = Vec::with_capacity(3);
            if let Some(seconds) = &seconds {
                if let Some(size) = &size {
                    candidates.push(format!("{seconds}-{size}"));
                }
                candidates.push(seconds.clone());
            }
            candidates.push("*".to_owned());
            if let Some(credits) = candidates.iter().find_map(|key| prices.get(key.as_str())) {
                return Some(*credits);
            }
        }
        rule.and_then(|rule| rule.price(input)).map(Credits)
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

/// Jobs whose requests should cost the same: one model, and the same input but for what
/// cannot change a price (the prompt's words, the seed). Without a price rule for a model,
/// the charge of one job of a class is the best estimate of the others. Conservative on
/// purpose: any other difference (a duration, a resolution, an input file) makes another
/// class, priced on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PriceClass(u64);

impl PriceClass {
    pub fn of(model: &str, input: &Map<String, Value>) -> PriceClass {
        use std::hash::{Hash, Hasher};
        let mut relevant: Vec<(&String, &Value)> = input
            .iter()
            .filter(|(key, _)| {
                let key = key.to_ascii_lowercase();
                !key.contains("prompt") && key != "seed" && key != "seeds"
            })
            .collect();
        relevant.sort_unstable_by(|left, right| left.0.cmp(right.0));
        // SipHash with fixed keys: the same request gives the same class in every run.
        let mut hasher = std::hash::DefaultHasher::new();
        model.hash(&mut hasher);
        for (key, value) in relevant {
            key.hash(&mut hasher);
            value.to_string().hash(&mut hasher);
        }
        PriceClass(hasher.finish())
    }
}

/// The sum of estimates over some jobs; jobs without a price are counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    pub credits: Credits,
    pub priced_jobs: u64,
    pub unpriced_jobs: u64,
}

impl Estimate {
    pub fn add(&mut self, price: Option<Credits>) {
        match price {
            Some(credits) => {
                self.credits.0 += credits.0;
                self.priced_jobs += 1;
            }
            None => self.unpriced_jobs += 1,
        }
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
    fn built_in_prices_by_duration_and_size() {
        let table = PriceTable::built_in();
        let ten = input(json!({"n_frames": "10"}));
        assert_eq!(
            table.estimate("sora-2-text-to-video", &ten),
            Some(Credits(30.0))
        );
        let pro_high = input(json!({"n_frames": "15", "size": "high"}));
        assert_eq!(
            table.estimate("sora-2-pro-text-to-video", &pro_high),
            Some(Credits(300.0))
        );
        let pro_standard = input(json!({"n_frames": "15", "size": "standard"}));
        assert_eq!(
            table.estimate("sora-2-pro-text-to-video", &pro_standard),
            Some(Credits(135.0))
        );
        assert_eq!(table.estimate("veo3", &ten), None);
    }

    #[test]
    fn models_of_the_built_in_snapshot_are_priced_by_their_rule_unless_the_manifest_says() {
        let mut table = PriceTable::built_in();
        let five_seconds = input(json!({"prompt": "x", "duration": "5", "sound": false}));
        assert_eq!(
            table.estimate("kling-2.6/text-to-video", &five_seconds),
            Some(Credits(55.0))
        );
        table.set("kling-2.6/text-to-video", "*", Credits(60.0));
        assert_eq!(
            table.estimate("kling-2.6/text-to-video", &five_seconds),
            Some(Credits(60.0)),
            "the manifest's `prices:` override the snapshot"
        );
    }

    #[test]
    fn a_manifest_price_for_one_length_leaves_the_rule_for_the_others() {
        let mut table = PriceTable::built_in();
        table.set("kling-2.6/text-to-video", "10", Credits(100.0));
        table.set("sora-2-text-to-video", "15", Credits(50.0));
        let kling = |duration: &str| {
            table.estimate(
                "kling-2.6/text-to-video",
                &input(json!({"prompt": "x", "duration": duration, "sound": false})),
            )
        };
        assert_eq!(
            kling("10"),
            Some(Credits(100.0)),
            "keyed by the rule's length field"
        );
        assert_eq!(kling("5"), Some(Credits(55.0)));
        let sora = |n_frames: &str| {
            table.estimate(
                "sora-2-text-to-video",
                &input(json!({"n_frames": n_frames})),
            )
        };
        assert_eq!(sora("15"), Some(Credits(50.0)));
        assert_eq!(sora("10"), Some(Credits(30.0)));
    }

    #[test]
    fn locked_models_are_priced_by_their_locked_rule() {
        use crate::models::{KnowledgeSource, ModelKnowledge};
        use sora_batch_api::snapshot::PriceTier;
        let mut cheaper = ModelBook::built_in()
            .get("kling-2.6/text-to-video")
            .cloned()
            .expect("in the snapshot");
        cheaper.source = KnowledgeSource::Lock {
            path: "sora-batch.lock".into(),
            fetched_at: "2026-11-29T12:00:00Z".into(),
            fetched_from: "https://api.kie.ai".into(),
        };
        cheaper.price_rule = Some(PriceRule {
            tiers: vec![PriceTier {
                when: Map::new(),
                per_task: Some(40.0),
                per_second: None,
                plus_seconds_of: None,
            }],
            seconds_field: None,
            seconds_default: None,
            unknown_seconds: Vec::new(),
        });
        let mut unpriced: ModelKnowledge = cheaper.clone();
        unpriced.model = "acme/new-video-model".into();
        unpriced.price_rule = None;
        let table = PriceTable::from_book(&ModelBook::built_in().with_locked([cheaper, unpriced]));
        let job = input(json!({"prompt": "x", "duration": "5", "sound": false}));
        assert_eq!(
            table.estimate("kling-2.6/text-to-video", &job),
            Some(Credits(40.0))
        );
        assert_eq!(table.estimate("acme/new-video-model", &job), None);
    }

    #[test]
    fn jobs_differing_in_prompt_or_seed_share_a_price_class_and_no_others() {
        let one = input(json!({"prompt": "a cat", "duration": "5", "seed": 1}));
        let other_words = input(json!({"prompt": "a dog", "duration": "5", "seed": 7}));
        let longer = input(json!({"prompt": "a cat", "duration": "10", "seed": 1}));
        let class = PriceClass::of("kling-2.6/text-to-video", &one);
        assert_eq!(
            class,
            PriceClass::of("kling-2.6/text-to-video", &other_words)
        );
        assert_ne!(class, PriceClass::of("kling-2.6/text-to-video", &longer));
        assert_ne!(class, PriceClass::of("kling-3.0/text-to-video", &one));
    }

    #[test]
    fn price_keys_are_durations_with_an_optional_size() {
        assert!(is_price_key("10") && is_price_key("15-high") && is_price_key("*"));
        assert!(!is_price_key("ten") && !is_price_key("10-") && !is_price_key(""));
    }
}
