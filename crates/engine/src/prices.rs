//! Estimated credits per clip, by model and duration: what `plan` adds up before any money
//! is spent.
//!
//! Read [`PriceTable`]. The built-in figures are estimates from public observations of the
//! service (about 30 credits for a 10-second `sora-2-text-to-video` clip); a manifest's
//! `prices:` section overrides them key by key. A model the table does not know is priced
//! by the price rule of the api crate's built-in snapshot (`sora_batch_api::snapshot`),
//! when it has one. The authoritative charge is the service's
//! `creditsConsumed`, recorded by `run`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

pub use crate::job::Credits;

/// Credits per clip: model, then a price key (see [`PriceTable::estimate`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PriceTable {
    models: BTreeMap<String, BTreeMap<String, Credits>>,
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
    /// The built-in estimates for the Sora 2 family.
    pub fn built_in() -> PriceTable {
        let mut table = PriceTable::default();
        for model in [
            "sora-2-text-to-video",
            "sora-2-image-to-video",
            "sora-2-text-to-video-stable",
            "sora-2-image-to-video-stable",
        ] {
            table.set(model, "10", Credits(30.0));
            table.set(model, "15", Credits(45.0));
        }
        for model in ["sora-2-pro-text-to-video", "sora-2-pro-image-to-video"] {
            table.set(model, "10", Credits(90.0));
            table.set(model, "15", Credits(135.0));
            table.set(model, "10-high", Credits(200.0));
            table.set(model, "15-high", Credits(300.0));
        }
        table
    }

    /// Sets (or overrides) one price.
    pub fn set(&mut self, model: &str, key: &str, credits: Credits) {
        self.models
            .entry(model.to_owned())
            .or_default()
            .insert(key.to_owned(), credits);
    }

    /// The estimated price of one clip: the first of `"{n_frames}-{size}"`, `"{n_frames}"`
    /// and `"*"` that the model's table has; `None` when it has none of them.
    pub fn estimate(&self, model: &str, input: &Map<String, Value>) -> Option<Credits> {
        let Some(prices) = self.models.get(model) else {
            // Not in the table (the Sora 2 family and the manifest's `prices:`): the price
            // rule of the built-in snapshot, written from the model's documentation page.
            return sora_batch_api::snapshot::model(model)
                .and_then(|facts| facts.price(input))
                .map(Credits);
        };
        let seconds = input.get("n_frames").and_then(scalar_text);
        let size = input.get("size").and_then(scalar_text);
        let mut candidates: Vec<String> = Vec::with_capacity(3);
        if let Some(seconds) = &seconds {
            if let Some(size) = &size {
                candidates.push(format!("{seconds}-{size}"));
            }
            candidates.push(seconds.clone());
        }
        candidates.push("*".to_owned());
        candidates
            .iter()
            .find_map(|key| prices.get(key.as_str()))
            .copied()
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
