//! The Sora 2 family as the seed's contract knows it: checked by the api crate's registry,
//! priced by the estimates the seed observed, and withdrawn.
//!
//! Read [`seed_contract`]. The fields live in `sora_batch_api::registry`; what is here is
//! what the registry does not say: the price estimates (about 30 credits for a 10-second
//! `sora-2-text-to-video` clip, from public observations of the service) and the
//! withdrawal, from `kie-api-notes.md`.

use serde_json::{Map, Value, json};
use sora_batch_api::registry::SORA_2_MODELS;
use sora_batch_api::snapshot::{PriceRule, PriceTier};

use super::{KnowledgeSource, ModelKnowledge, OutputKind, Withdrawn};

/// Since when Kie's Sora slugs answer "temporarily paused".
const PAUSED_SINCE: &str = "2026-08-31";

/// Credits per clip: (`n_frames`, `size` or `None` for any size, credits). The first row
/// that matches a job prices it.
type Estimates = &'static [(&'static str, Option<&'static str>, f64)];

const STANDARD: Estimates = &[("10", None, 30.0), ("15", None, 45.0)];
const PRO: Estimates = &[
    ("10", Some("high"), 200.0),
    ("15", Some("high"), 300.0),
    ("10", None, 90.0),
    ("15", None, 135.0),
];

/// The six models of the registry, withdrawn, with their estimates.
pub(super) fn seed_contract() -> Vec<ModelKnowledge> {
    SORA_2_MODELS
        .iter()
        .map(|spec| {
            let estimates = if spec.name.starts_with("sora-2-pro-") {
                PRO
            } else {
                STANDARD
            };
            ModelKnowledge {
                model: spec.name.to_owned(),
                output: Some(OutputKind::Video),
                input_schema: None,
                price_text: describe(estimates),
                price_rule: Some(rule(estimates)),
                source: KnowledgeSource::SeedContract,
                withdrawn: Some(Withdrawn {
                    since: PAUSED_SINCE.to_owned(),
                    answer: "not published".to_owned(),
                    reason: "OpenAI shut down the Sora 2 models on 2026-09-24".to_owned(),
                }),
                file_limits: std::collections::BTreeMap::new(),
            }
        })
        .collect()
}

fn rule(estimates: Estimates) -> PriceRule {
    let tiers = estimates
        .iter()
        .map(|&(n_frames, size, credits)| {
            let mut when = Map::new();
            when.insert("n_frames".to_owned(), Value::String(n_frames.to_owned()));
            if let Some(size) = size {
                when.insert("size".to_owned(), json!(size));
            }
            PriceTier {
                when,
                per_task: Some(credits),
                per_second: None,
                plus_seconds_of: None,
            }
        })
        .collect();
    PriceRule {
        tiers,
        seconds_field: None,
        seconds_default: None,
        unknown_seconds: Vec::new(),
    }
}

fn describe(estimates: Estimates) -> String {
    let parts: Vec<String> = estimates
        .iter()
        .map(|&(n_frames, size, credits)| match size {
            Some(size) => format!("{n_frames} s {size} {credits} credits"),
            None => format!("{n_frames} s {credits} credits"),
        })
        .collect();
    format!(
        "Estimated from observations while it ran: {}.",
        parts.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_estimates_price_by_length_and_size() {
        let models = seed_contract();
        let price = |model: &str, job: Value| {
            models
                .iter()
                .find(|knowledge| knowledge.model == model)
                .and_then(|knowledge| knowledge.price_rule.as_ref())
                .and_then(|rule| rule.price(&input(job)))
        };
        assert_eq!(
            price("sora-2-text-to-video", json!({"n_frames": "10"})),
            Some(30.0)
        );
        assert_eq!(
            price("sora-2-image-to-video-stable", json!({"n_frames": "15"})),
            Some(45.0)
        );
        assert_eq!(
            price(
                "sora-2-pro-text-to-video",
                json!({"n_frames": "15", "size": "high"})
            ),
            Some(300.0)
        );
        assert_eq!(
            price(
                "sora-2-pro-image-to-video",
                json!({"n_frames": "10", "size": "standard"})
            ),
            Some(90.0)
        );
        assert_eq!(
            price("sora-2-text-to-video", json!({"n_frames": "12"})),
            None
        );
    }
}
