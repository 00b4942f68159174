//! The price texts read here are of three kinds: the forms Kie's catalogue uses in
//! `kie-api-notes.md` ("A 5-second video costs 160 credits (0.80 USD)") and in the fake's
//! fixtures, the `pricingDesc` of every file of the built-in snapshot (`crates/api/models/`),
//! and forms written for these tests to pin one rule each (marked as such). No other copy of
//! Kie's live `pricingDesc` texts was found among the stored pages searched.

use serde_json::{Map, Value, json};

use super::parse;
use crate::snapshot::{self, PriceRule, PriceTier};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn tier(when: Value, per_task: Option<f64>, per_second: Option<f64>) -> PriceTier {
    PriceTier {
        when: object(when),
        per_task,
        per_second,
        plus_seconds_of: None,
    }
}

fn per_task(when: Value, credits: f64) -> PriceTier {
    tier(when, Some(credits), None)
}

fn per_second(when: Value, credits: f64) -> PriceTier {
    tier(when, None, Some(credits))
}

fn rule(tiers: Vec<PriceTier>, seconds_field: Option<&str>) -> PriceRule {
    PriceRule {
        tiers,
        seconds_field: seconds_field.map(str::to_owned),
        seconds_default: None,
        unknown_seconds: Vec::new(),
    }
}

/// A video model like Kling 2.6's: string durations, a sound switch, a resolution.
fn video_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "prompt": {"type": "string"},
            "duration": {"type": "string", "enum": ["5", "10"], "default": "5"},
            "sound": {"type": "boolean"},
            "resolution": {"type": "string", "enum": ["720p", "1080p"], "default": "720p"},
            "mode": {"type": "string", "enum": ["std", "pro", "4K"]},
        }
    })
}

/// An image model like Nano Banana 2's: sizes, no length.
fn image_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "prompt": {"type": "string"},
            "resolution": {"type": "string", "enum": ["1K", "2K", "4K"], "default": "1K"},
        }
    })
}

fn parsed(text: &str, schema: &Value) -> Option<PriceRule> {
    parse(text, schema)
}

#[test]
fn a_price_per_task() {
    let expected = rule(vec![per_task(json!({}), 8.0)], None);
    for text in [
        "8 credits per image",
        "Costs 8 credits per image.",
        "8 credits",
        "Per task: 8 credits.",
        "Per image: 8 credits, any resolution.",
    ] {
        assert_eq!(
            parsed(text, &image_schema()),
            Some(expected.clone()),
            "{text}"
        );
    }
}

#[test]
fn a_price_per_second_of_the_jobs_length() {
    let expected = |credits| rule(vec![per_second(json!({}), credits)], Some("duration"));
    for (text, credits) in [
        ("3.8 credits per second", 3.8),
        ("About 3.8 credits per second.", 3.8),
        ("19 credits/s", 19.0),
        ("Per second of output: 2.4 credits.", 2.4),
        // Written for these tests: a price per several seconds.
        ("10 credits per 5 seconds", 2.0),
    ] {
        assert_eq!(
            parsed(text, &video_schema()),
            Some(expected(credits)),
            "{text}"
        );
    }
}

#[test]
fn a_video_of_one_stated_length_is_priced_per_second_of_it() {
    // kie-api-notes.md's example, and the fake's fixture texts.
    assert_eq!(
        parsed(
            "A 5-second video costs 160 credits (0.80 USD)",
            &video_schema()
        ),
        Some(rule(vec![per_second(json!({}), 32.0)], Some("duration")))
    );
    assert_eq!(
        parsed(
            "A 5-second video costs 55 credits (0.275 USD)",
            &video_schema()
        ),
        Some(rule(vec![per_second(json!({}), 11.0)], Some("duration")))
    );
    // A model without a length field makes videos of one length: the price is the task's.
    assert_eq!(
        parsed("A 6-second video costs 57 credits", &image_schema()),
        Some(rule(vec![per_task(json!({}), 57.0)], None))
    );
    // Several lengths listed are tiers of their own, not a rate to extrapolate.
    assert_eq!(
        parsed("5s: 55 credits; 10s: 120 credits", &video_schema()),
        Some(rule(
            vec![
                per_task(json!({"duration": "5"}), 55.0),
                per_task(json!({"duration": "10"}), 120.0),
            ],
            None
        ))
    );
}

#[test]
fn tiers_by_an_allowed_value() {
    let sizes = rule(
        vec![
            per_task(json!({"resolution": "1K"}), 8.0),
            per_task(json!({"resolution": "2K"}), 12.0),
            per_task(json!({"resolution": "4K"}), 18.0),
        ],
        None,
    );
    // The fake's fixture text, and the snapshot's.
    assert_eq!(
        parsed(
            "8 credits per image at 1K, 12 at 2K, 18 at 4K",
            &image_schema()
        ),
        Some(sizes.clone())
    );
    assert_eq!(
        parsed("Per image: 1K 8 credits, 2K 12, 4K 18.", &image_schema()),
        Some(sizes)
    );
    // Written for these tests: a head per group, and words that are allowed values.
    assert_eq!(
        parsed(
            "720p: 12 credits per second; 1080p: 20 credits per second",
            &video_schema()
        ),
        Some(rule(
            vec![
                per_second(json!({"resolution": "720p"}), 12.0),
                per_second(json!({"resolution": "1080p"}), 20.0),
            ],
            Some("duration")
        ))
    );
    assert_eq!(
        parsed("std 14 credits per second, pro 18", &video_schema()),
        Some(rule(
            vec![
                per_second(json!({"mode": "std"}), 14.0),
                per_second(json!({"mode": "pro"}), 18.0),
            ],
            Some("duration")
        ))
    );
    // Only the stated resolution is priced; the others stay unknown.
    let only_480p = parsed(
        "About 3.8 credits per second at 480p",
        &json!({"properties": {
            "resolution": {"type": "string", "enum": ["480p", "720p"]},
            "duration": {"type": "integer"}
        }}),
    );
    assert_eq!(
        only_480p,
        Some(rule(
            vec![per_second(json!({"resolution": "480p"}), 3.8)],
            Some("duration")
        ))
    );
}

#[test]
fn tiers_by_sound_and_length() {
    let expected = rule(
        vec![
            per_task(json!({"duration": "5", "sound": false}), 55.0),
            per_task(json!({"duration": "5", "sound": true}), 110.0),
            per_task(json!({"duration": "10", "sound": false}), 110.0),
            per_task(json!({"duration": "10", "sound": true}), 220.0),
        ],
        None,
    );
    assert_eq!(
        parsed(
            "Per task: 5 s 55 credits without sound, 110 with sound; 10 s 110 without sound, 220 with sound.",
            &video_schema()
        ),
        Some(expected)
    );
    // Written for these tests: sound named as audio, with and without a unit per item; a
    // plain price beside one "with audio" puts the specific one first.
    assert_eq!(
        parsed(
            "Without audio 10 credits per second, with audio 20 credits per second.",
            &video_schema()
        ),
        Some(rule(
            vec![
                per_second(json!({"sound": false}), 10.0),
                per_second(json!({"sound": true}), 20.0),
            ],
            Some("duration")
        ))
    );
    assert_eq!(
        parsed("8 credits per second; 12 with audio", &video_schema()),
        Some(rule(
            vec![
                per_second(json!({"sound": true}), 12.0),
                per_second(json!({}), 8.0),
            ],
            Some("duration")
        ))
    );
}

#[test]
fn a_list_of_bare_prices_follows_the_list_before_it() {
    let schema = json!({"properties": {
        "resolution": {"type": "string", "enum": ["480p", "720p", "1080p"]},
        "duration": {"type": "integer"},
        "generate_audio": {"type": "boolean", "default": false},
    }});
    let text = "Per second of output: without sound 480p 1.75, 720p 3.5, 1080p 7.5 credits; with sound 3.5, 7, 15.";
    let tiers = [
        (false, "480p", 1.75),
        (false, "720p", 3.5),
        (false, "1080p", 7.5),
        (true, "480p", 3.5),
        (true, "720p", 7.0),
        (true, "1080p", 15.0),
    ]
    .into_iter()
    .map(|(sound, resolution, credits)| {
        per_second(
            json!({"generate_audio": sound, "resolution": resolution}),
            credits,
        )
    })
    .collect();
    assert_eq!(parsed(text, &schema), Some(rule(tiers, Some("duration"))));
    // A list of another length is no parallel: its bare prices conflict.
    assert_eq!(
        parsed(
            "Per second: without sound 480p 1.75, 720p 3.5; with sound 3.5, 7, 15.",
            &schema
        ),
        None
    );
}

#[test]
fn a_bare_with_and_media_billed_as_well() {
    let schema = json!({"properties": {
        "resolution": {"type": "string", "enum": ["480p", "720p"]},
        "duration": {"type": "integer"},
        "reference_video_urls": {"type": "array", "items": {"type": "string"}},
        "generate_audio": {"type": "boolean"},
    }});
    let text = "Per second of output: 480p 3.8 credits/s without reference video, 2.4 with; 720p 8.2 credits/s without reference video, 5 with. With reference videos the input videos' seconds are billed as well.";
    let with_video = |resolution: &str, credits| PriceTier {
        plus_seconds_of: Some("reference_video_urls".into()),
        ..per_second(
            json!({"resolution": resolution, "reference_video_urls": {"nonempty": true}}),
            credits,
        )
    };
    let without_video = |resolution: &str, credits| {
        per_second(
            json!({"resolution": resolution, "reference_video_urls": {"nonempty": false}}),
            credits,
        )
    };
    assert_eq!(
        parsed(text, &schema),
        Some(rule(
            vec![
                without_video("480p", 3.8),
                with_video("480p", 2.4),
                without_video("720p", 8.2),
                with_video("720p", 5.0),
            ],
            Some("duration")
        ))
    );
    // A bare "with" with nothing before it to refer to.
    assert_eq!(parsed("3.8 credits per second, 2.4 with", &schema), None);
}

#[test]
fn a_name_in_parentheses_and_descriptions_every_price_shares() {
    // Kling 3.0: its modes are called by the resolution they make, which is no field.
    let text = "Per second of output: 720p (std) 14 credits without sound, 20 with sound; 1080p (pro) 18 / 27; 4K 67 with or without sound.";
    assert_eq!(
        parsed(text, &video_schema_without_resolution()),
        Some(rule(
            vec![
                per_second(json!({"mode": "std", "sound": false}), 14.0),
                per_second(json!({"mode": "std", "sound": true}), 20.0),
                per_second(json!({"mode": "pro", "sound": false}), 18.0),
                per_second(json!({"mode": "pro", "sound": true}), 27.0),
                per_second(json!({"mode": "4K"}), 67.0),
            ],
            Some("duration")
        ))
    );
    // Hailuo 02 standard: 768p is its only resolution, and it has no field for it.
    assert_eq!(
        parsed(
            "Per task at 768p: 6 s 30 credits, 10 s 50.",
            &json!({"properties": {"duration": {"type": "string", "enum": ["6", "10"]}}})
        ),
        Some(rule(
            vec![
                per_task(json!({"duration": "6"}), 30.0),
                per_task(json!({"duration": "10"}), 50.0),
            ],
            None
        ))
    );
    // Hailuo 02 pro: length and resolution fixed, neither a field.
    assert_eq!(
        parsed(
            "Per task: 57 credits (6 s at 1080p).",
            &json!({"properties": {}})
        ),
        Some(rule(vec![per_task(json!({}), 57.0)], None))
    );
    // A resolution the schema has no field for, differing between prices: unreadable.
    assert_eq!(
        parsed(
            "1080p: 20 credits, 720p: 10 credits",
            &json!({"properties": {}})
        ),
        None
    );
}

fn video_schema_without_resolution() -> Value {
    let mut schema = video_schema();
    if let Some(properties) = schema["properties"].as_object_mut() {
        properties.remove("resolution");
    }
    schema
}

#[test]
fn the_length_condition_takes_the_length_fields_type() {
    let integer = json!({"properties": {"duration": {"type": "integer", "minimum": 4}}});
    let either = json!({"properties": {"duration": {"anyOf": [
        {"type": "integer"}, {"type": "string"}
    ]}}});
    let text = "5 s 20 credits, 10 s 40 credits";
    assert_eq!(
        parsed(text, &integer),
        Some(rule(
            vec![
                per_task(json!({"duration": 5}), 20.0),
                per_task(json!({"duration": 10}), 40.0)
            ],
            None
        ))
    );
    assert_eq!(
        parsed(text, &either),
        Some(rule(
            vec![
                per_task(json!({"duration": [5, "5"]}), 20.0),
                per_task(json!({"duration": [10, "10"]}), 40.0)
            ],
            None
        ))
    );
}

#[test]
fn sentences_that_state_no_price_are_read_when_harmless() {
    assert_eq!(
        parsed(
            "Per task: 512p 6 s 12 credits, 10 s 20. The price list has no row for 512p 8 s.",
            &json!({"properties": {
                "duration": {"type": "string", "enum": ["6", "8", "10"]},
                "resolution": {"type": "string", "enum": ["512P"]},
            }})
        ),
        Some(rule(
            vec![
                per_task(json!({"resolution": "512P", "duration": "6"}), 12.0),
                per_task(json!({"resolution": "512P", "duration": "10"}), 20.0),
            ],
            None
        ))
    );
    assert_eq!(
        parsed("Per image: 6.5 credits, either quality.", &image_schema()),
        Some(rule(vec![per_task(json!({}), 6.5)], None))
    );
}

#[test]
fn what_cannot_be_read_whole_is_no_rule() {
    for text in [
        // The fake's Veo fixture: priced elsewhere.
        "Priced per video and mode; see the Veo 3.1 page",
        // Money, not credits.
        "$0.05 per second",
        "0.25 USD per video",
        // A lower or upper bound is not a price.
        "From 8 credits",
        "Up to 20 credits per image",
        // Units that are not the task or the second.
        "2 credits per minute",
        "12 credits per 1000 characters",
        // Two prices for the same inputs.
        "1K 8 credits, 1K 9 credits",
        "with sound 10, 20",
        // A sentence that changes prices in a way not read here.
        "8 credits per second. Prices double with audio.",
        // No price at all, or words that are no allowed value.
        "",
        "Free",
        "Kling 2.6: 55 credits",
    ] {
        assert_eq!(parsed(text, &video_schema()), None, "{text:?}");
    }
    // Per second, for a model with no length field.
    assert_eq!(parsed("3 credits per second", &image_schema()), None);
    // A value the model does not allow, where prices differ by it.
    assert_eq!(
        parsed("2K 12 credits, 8K 40 credits", &image_schema()),
        None
    );
    // A value allowed by two fields is ambiguous.
    assert_eq!(
        parsed(
            "high 10 credits, low 5 credits",
            &json!({"properties": {
                "quality_level": {"type": "string", "enum": ["high", "low"]},
                "detail": {"type": "string", "enum": ["high", "low"]},
            }})
        ),
        None
    );
}

/// The fake's fixture texts with the fixture schemas they are served with.
#[test]
fn the_fake_catalogues_texts_with_their_schemas() {
    let fixture_schema = |text: &str| -> Value {
        let answer: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        crate::catalogue::parse_model_schema("fixture", &answer["data"])
            .ok()
            .and_then(|schema| schema.input_schema().cloned())
            .unwrap_or(Value::Null)
    };
    let kling = fixture_schema(include_str!(
        "../../../../fixtures/api/catalogue/models/kling-2.6/text-to-video/schema.json"
    ));
    let seedance = fixture_schema(include_str!(
        "../../../../fixtures/api/catalogue/models/bytedance/seedance-2-mini/schema.json"
    ));
    let banana = fixture_schema(include_str!(
        "../../../../fixtures/api/catalogue/models/nano-banana-2/schema.json"
    ));
    assert_eq!(
        parse("A 5-second video costs 55 credits (0.275 USD)", &kling),
        Some(rule(vec![per_second(json!({}), 11.0)], Some("duration")))
    );
    assert_eq!(
        parse("About 3.8 credits per second at 480p", &seedance),
        Some(rule(
            vec![per_second(json!({"resolution": "480p"}), 3.8)],
            Some("duration")
        ))
    );
    let sizes = parse("8 credits per image at 1K, 12 at 2K, 18 at 4K", &banana);
    assert!(
        sizes.as_ref().is_some_and(|rule| rule.tiers.len() == 3),
        "{sizes:?} from {banana}"
    );
}

/// Every file of the snapshot: its `pricingDesc` read with its schema agrees with its
/// hand-written `price_rule`, compared by the prices both give over the inputs that matter.
///
/// Known differences, each on purpose:
/// - `grok-imagine/*`: the hand rule assumes 6 s when `duration` is not given (the pages
///   give no default); the text states no such thing, so the parsed rule prices no job
///   without a `duration`.
/// - `kling-3.0/video`: the hand rule prices multi-shot jobs as with sound, because the page
///   says sound defaults to true in multi-shot mode; the text says nothing of shots, so
///   the parsed rule prices a multi-shot job with `sound: false` at the silent price.
#[test]
fn every_snapshot_text_agrees_with_its_hand_written_rule() {
    let mut report = Vec::new();
    for facts in snapshot::built_in() {
        let Some(hand) = &facts.price_rule else {
            continue;
        };
        let Some(read) = parse(&facts.pricing_desc, &facts.input_schema) else {
            report.push(format!(
                "{}: not read: {:?}",
                facts.model, facts.pricing_desc
            ));
            continue;
        };
        for input in inputs_that_matter(facts, hand, &read) {
            let complete = facts.with_defaults(&input);
            let (expected, got) = (hand.price(&complete), read.price(&complete));
            if expected != got && !known_difference(&facts.model, &complete) {
                report.push(format!(
                    "{}: {} gives {expected:?} by hand, {got:?} read\n  read: {read}",
                    facts.model,
                    Value::Object(input.clone())
                ));
            }
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

fn known_difference(model: &str, input: &Map<String, Value>) -> bool {
    match model {
        "grok-imagine/text-to-video" | "grok-imagine/image-to-video" => {
            !input.contains_key("duration")
        }
        "kling-3.0/video" => {
            input.get("multi_shots") == Some(&Value::Bool(true))
                && input.get("sound") == Some(&Value::Bool(false))
        }
        _ => false,
    }
}

/// Every combination of the values of the fields either rule looks at: each field absent
/// and each of its allowed values, booleans, empty and non-empty media, and a few lengths.
fn inputs_that_matter(
    facts: &snapshot::ModelFacts,
    hand: &PriceRule,
    read: &PriceRule,
) -> Vec<Map<String, Value>> {
    let mut fields: Vec<String> = Vec::new();
    for rule in [hand, read] {
        for tier in &rule.tiers {
            fields.extend(tier.when.keys().cloned());
        }
        fields.extend(rule.seconds_field.iter().cloned());
    }
    fields.sort();
    fields.dedup();
    let properties = facts.input_schema["properties"].clone();
    let mut inputs = vec![Map::new()];
    for field in &fields {
        let property = &properties[field];
        let mut values: Vec<Option<Value>> = vec![None];
        let enumerated = super::allowed_values(property);
        values.extend(enumerated.iter().cloned().map(Some));
        if super::is_boolean(property) {
            values.extend([Some(json!(true)), Some(json!(false))]);
        }
        if property["type"] == "array" {
            values.extend([Some(json!([])), Some(json!(["https://example.com/a.mp4"]))]);
        }
        if enumerated.is_empty() && !super::is_boolean(property) && property["type"] != "array" {
            for seconds in [5, 6, 10, 15] {
                values.extend([Some(json!(seconds)), Some(json!(seconds.to_string()))]);
            }
        }
        inputs = inputs
            .into_iter()
            .flat_map(|input| {
                values.iter().map(move |value| {
                    let mut input = input.clone();
                    if let Some(value) = value {
                        input.insert(field.clone(), value.clone());
                    }
                    input
                })
            })
            .collect();
    }
    inputs
}
