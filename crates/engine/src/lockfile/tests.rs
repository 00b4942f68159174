use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sora_batch_api::snapshot::{PriceRule, PriceTier};

use super::diff::{Change, changes, schema_changes};
use super::*;

fn kling_schema() -> Value {
    json!({
        "type": "object",
        "required": ["prompt"],
        "additionalProperties": false,
        "properties": {
            "prompt": {"type": "string", "maxLength": 2500},
            "sound": {"type": "boolean", "default": false},
            "duration": {"type": "string", "enum": ["5", "10"], "default": "5"},
        }
    })
}

fn per_second(credits: f64) -> PriceRule {
    PriceRule {
        tiers: vec![PriceTier {
            when: serde_json::Map::new(),
            per_task: None,
            per_second: Some(credits),
            plus_seconds_of: None,
        }],
        seconds_field: Some("duration".into()),
        seconds_default: None,
        unknown_seconds: Vec::new(),
    }
}

fn entry(schema: Value, text: &str, rule: Option<PriceRule>, at: &str) -> LockedModel {
    LockedModel::new(
        schema,
        Some(text.to_owned()),
        rule,
        "https://api.kie.ai",
        at.to_owned(),
    )
}

fn sample_lock() -> Lock {
    let mut lock = Lock::default();
    lock.models.insert(
        "kling-2.6/text-to-video".into(),
        entry(
            kling_schema(),
            "A 5-second video costs 55 credits (0.275 USD)",
            Some(per_second(11.0)),
            "2026-11-29T10:04:31Z",
        ),
    );
    lock.models.insert(
        "acme/unpriced".into(),
        entry(
            json!({"properties": {"prompt": {"type": "string"}}}),
            "Priced per video and mode; see the vendor's page",
            None,
            "2026-11-29T10:04:33Z",
        ),
    );
    lock
}

fn problem(text: &str) -> String {
    match read_str("sora-batch.lock", text) {
        Ok(lock) => panic!("read: {lock:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn a_lock_reads_back_as_written_in_a_stable_order() {
    let lock = sample_lock();
    let text = lock.to_text();
    assert_eq!(read_str("sora-batch.lock", &text).ok(), Some(lock.clone()));
    assert_eq!(
        text,
        lock.clone().to_text(),
        "the same lock, the same bytes"
    );
    assert!(
        text.starts_with("{\n  \"version\": 1,\n  \"models\": {\n    \"acme/unpriced\": {"),
        "{text}"
    );
    assert!(text.ends_with("\n  }\n}\n"), "{text}");
    let order = [
        "\"fetched_from\"",
        "\"fetched_at\"",
        "\"content_hash\"",
        "\"price_text\"",
        "\"price_rule\"",
        "\"input_schema\"",
    ];
    let positions: Vec<usize> = order.iter().filter_map(|key| text.find(key)).collect();
    assert_eq!(positions.len(), order.len(), "{text}");
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "{text}");
    // A schema's keys sorted, whatever order they came in.
    let kling = text
        .split_once("\"kling-2.6/text-to-video\"")
        .map_or("", |(_, entry)| entry);
    let duration = kling.find("\"duration\": {").unwrap_or(0);
    let prompt = kling.find("\"prompt\": {").unwrap_or(0);
    assert!(0 < duration && duration < prompt, "{text}");
    assert!(
        text.contains("\"price_rule\": null"),
        "an unread price is null"
    );
    assert!(text.contains("\"fetched_from\": \"https://api.kie.ai\""));
}

#[test]
fn the_content_hash_covers_schema_and_price_text_only() {
    let schema = kling_schema();
    let hash = content_hash(&schema, Some("8 credits"));
    assert!(
        hash.starts_with("sha256:") && hash.len() == 7 + 64,
        "{hash}"
    );
    assert_ne!(hash, content_hash(&schema, Some("9 credits")));
    assert_ne!(hash, content_hash(&schema, None));
    assert_ne!(
        hash,
        content_hash(&json!({"properties": {}}), Some("8 credits"))
    );
    // Key order does not matter; the rule, the time and the URL are not content.
    let reordered: Value = serde_json::from_str(
        r#"{"properties": {"duration": {"default": "5", "enum": ["5", "10"], "type": "string"},
            "sound": {"default": false, "type": "boolean"},
            "prompt": {"maxLength": 2500, "type": "string"}},
            "additionalProperties": false, "required": ["prompt"], "type": "object"}"#,
    )
    .unwrap_or_default();
    assert_eq!(hash, content_hash(&reordered, Some("8 credits")));
}

#[test]
fn merging_adds_updates_keeps_and_prunes() {
    let mut lock = sample_lock();
    let same = entry(
        kling_schema(),
        "A 5-second video costs 55 credits (0.275 USD)",
        Some(per_second(11.0)),
        "2026-12-01T00:00:00Z",
    );
    let new = entry(kling_schema(), "8 credits", None, "2026-12-01T00:00:00Z");
    let fetched = BTreeMap::from([
        ("kling-2.6/text-to-video".to_owned(), same),
        ("nano-banana-2".to_owned(), new.clone()),
    ]);
    let summary = lock.merge(fetched, None);
    assert_eq!(summary.added, ["nano-banana-2"]);
    assert_eq!(summary.unchanged, ["kling-2.6/text-to-video"]);
    assert!(summary.updated.is_empty() && summary.removed.is_empty());
    assert_eq!(
        lock.get("kling-2.6/text-to-video")
            .map(|entry| entry.fetched_at.as_str()),
        Some("2026-11-29T10:04:31Z"),
        "the same knowledge keeps its entry, time included"
    );
    assert!(lock.get("acme/unpriced").is_some(), "other models stay");

    let changed = entry(kling_schema(), "9 credits", None, "2026-12-02T00:00:00Z");
    let keep = BTreeSet::from(["kling-2.6/text-to-video".to_owned()]);
    let summary = lock.merge(
        BTreeMap::from([("kling-2.6/text-to-video".to_owned(), changed.clone())]),
        Some(&keep),
    );
    assert_eq!(summary.updated, ["kling-2.6/text-to-video"]);
    assert_eq!(summary.removed, ["acme/unpriced", "nano-banana-2"]);
    assert!(summary.changed());
    assert_eq!(
        lock.models.keys().collect::<Vec<_>>(),
        ["kling-2.6/text-to-video"]
    );
    assert_eq!(lock.get("kling-2.6/text-to-video"), Some(&changed));
}

#[test]
fn a_lock_that_cannot_be_trusted_is_an_error_at_its_place() {
    let text = sample_lock().to_text();
    // Broken JSON, located.
    let broken = text.replacen("\"fetched_at\"", "fetched_at", 1);
    let message = problem(&broken);
    let broken_line = broken
        .lines()
        .position(|line| line.contains("fetched_at"))
        .map_or(0, |index| index + 1);
    assert!(
        message.starts_with(&format!("sora-batch.lock:{broken_line}:")),
        "{message}"
    );
    assert!(message.contains("not JSON"), "{message}");
    // A newer format.
    let newer = text.replace("\"version\": 1", "\"version\": 2");
    let message = problem(&newer);
    let version_line = newer
        .lines()
        .position(|line| line.contains("\"version\""))
        .map_or(0, |index| index + 1);
    assert!(
        message.starts_with(&format!("sora-batch.lock:{version_line}:3: ")),
        "{message}"
    );
    assert!(
        message.contains("format 2, written by a newer sora-batch"),
        "{message}"
    );
    assert!(message.contains("upgrade sora-batch"), "{message}");
    // No version at all.
    assert!(problem("{\"models\": {}}").contains("no valid `version`"));
    // A missing or unknown key, located by serde.
    let missing = text.replacen("      \"fetched_from\": \"https://api.kie.ai\",\n", "", 1);
    let message = problem(&missing);
    assert!(
        message.contains("missing field `fetched_from`"),
        "{message}"
    );
    assert!(message.starts_with("sora-batch.lock:"), "{message}");
    let unknown = text.replacen("\"fetched_from\"", "\"fetched_by\"", 1);
    assert!(problem(&unknown).contains("unknown field `fetched_by`"));
    // An entry edited by hand: its hash no longer matches.
    let edited = text.replace("(0.275 USD)", "(0.30 USD)");
    let message = problem(&edited);
    let model_line = edited
        .lines()
        .position(|line| line.contains("\"kling-2.6/text-to-video\": {"))
        .map_or(0, |index| index + 1);
    assert!(
        message.starts_with(&format!("sora-batch.lock:{model_line}:5: ")),
        "{message}"
    );
    assert!(message.contains("does not match"), "{message}");
    let bad_time = text.replacen("2026-11-29T10:04:33Z", "yesterday", 1);
    assert!(problem(&bad_time).contains("not an RFC 3339 time"));
}

#[test]
fn written_atomically_and_read_from_beside_the_manifest() {
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let path = path_beside(&folder.path().join("launch.yaml"));
    assert_eq!(path, folder.path().join("sora-batch.lock"));
    assert!(matches!(read(&path), Ok(None)), "no lock yet");
    let lock = sample_lock();
    if let Err(error) = write(&path, &lock) {
        panic!("{error}");
    }
    assert_eq!(read(&path).ok().flatten(), Some(lock));
    let names: Vec<String> = std::fs::read_dir(folder.path())
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["sora-batch.lock"], "no partial file left");
}

#[test]
fn the_base_url_is_recorded_without_credentials() {
    assert_eq!(
        public_base_url("https://user:secret@api.kie.ai/?key=abc#x"),
        "https://api.kie.ai"
    );
    assert_eq!(
        public_base_url("http://127.0.0.1:4010/prefix/"),
        "http://127.0.0.1:4010/prefix"
    );
    let now = now_rfc3339();
    assert!(
        humantime::parse_rfc3339(&now).is_ok() && now.ends_with('Z'),
        "{now}"
    );
}

#[test]
fn the_same_schema_and_price_is_no_change() {
    let locked = entry(
        kling_schema(),
        "8 credits",
        Some(per_second(8.0)),
        "2026-11-29T10:04:31Z",
    );
    assert_eq!(
        changes(
            &locked,
            &kling_schema(),
            Some("8 credits"),
            Some(&per_second(8.0))
        ),
        []
    );
}

#[test]
fn a_changed_enum_a_removed_field_and_a_price_change_are_each_reported() {
    let locked = entry(
        kling_schema(),
        "A 5-second video costs 55 credits (0.275 USD)",
        Some(per_second(11.0)),
        "2026-11-29T10:04:31Z",
    );
    let mut live = kling_schema();
    live["properties"]["duration"]["enum"] = json!(["5", "15"]);
    if let Some(properties) = live["properties"].as_object_mut() {
        properties.remove("sound");
    }
    let found = changes(
        &locked,
        &live,
        Some("A 5-second video costs 60 credits (0.30 USD)"),
        Some(&per_second(12.0)),
    );
    let lines: Vec<String> = found.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "field `duration`: allowed values added: \"15\"",
            "field `duration`: allowed values removed: \"10\"",
            "field `sound` removed",
            "price text: \"A 5-second video costs 55 credits (0.275 USD)\" -> \"A 5-second video costs 60 credits (0.30 USD)\"",
            "price rule: 11 a second of duration -> 12 a second of duration",
        ]
    );
    let unreadable = changes(&locked, &kling_schema(), Some("Ask us"), None);
    assert_eq!(
        unreadable.last().map(ToString::to_string).as_deref(),
        Some("price rule: 11 a second of duration -> none (price unknown)")
    );
}

#[test]
fn required_type_default_and_limits_are_compared() {
    let mut live = kling_schema();
    live["required"] = json!(["prompt", "duration"]);
    live["properties"]["sound"] = json!({"type": "string", "default": "off"});
    live["properties"]["prompt"]["maxLength"] = json!(3000);
    live["properties"]["seed"] = json!({"type": "integer"});
    live["additionalProperties"] = json!(true);
    let lines: Vec<String> = schema_changes(&kling_schema(), &live)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "field `seed` added",
            "field `duration` is now required",
            "field `prompt`: maxLength 2500 -> 3000",
            "field `sound`: type boolean -> string",
            "field `sound`: default false -> \"off\"",
            "field `(input)`: additionalProperties false -> true",
        ]
    );
}

#[test]
fn nested_fields_alternatives_and_other_changes() {
    let before = json!({"oneOf": [
        {"properties": {"prompt": {"type": "string"}}},
        {"properties": {"image_url": {"type": "string"},
                        "shots": {"type": "array", "items": {"type": "object",
                            "properties": {"duration": {"type": "integer", "maximum": 5}}}}}},
    ]});
    let mut after = before.clone();
    after["oneOf"][1]["properties"]["shots"]["items"]["properties"]["duration"]["maximum"] =
        json!(10);
    after["oneOf"][0]["properties"]["negative_prompt"] = json!({"type": "string"});
    let lines: Vec<String> = schema_changes(&before, &after)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        lines,
        [
            "field `negative_prompt` added",
            "field `shots[].duration`: maximum 5 -> 10",
        ]
    );
    let mut described = before.clone();
    described["oneOf"][0]["properties"]["prompt"]["description"] = json!("What to show");
    assert_eq!(
        schema_changes(&before, &described),
        [Change::OtherSchemaChanges]
    );
}
