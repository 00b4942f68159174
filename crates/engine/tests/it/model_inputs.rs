//! Every model of the built-in snapshot, checked through a manifest as a user writes it: its
//! documented example loads, and each kind of mistake (an unknown field, a value outside
//! the allowed ones, a missing required field, a wrong type) is exactly one error at the
//! line and column of the value that caused it. Then conversions and defaults, on the exact
//! input that would be sent.
//!
//! The manifests are generated from the snapshot's files (`crates/api/models/*.json`): one
//! explicit job, its fields one per line, so that each field's place is known.

use std::path::PathBuf;

use serde_json::{Map, Value, json};
use sora_batch_api::snapshot;
use sora_batch_engine::diagnostic::Diagnostic;
use sora_batch_engine::manifest::{self, Loaded};
use sora_batch_engine::models::ModelBook;

use crate::support::{SOURCE_NAME, check, check_with, load_err, load_ok, locked_model};

/// One model of the snapshot, as its file has it.
struct Documented {
    model: String,
    schema: Value,
    example: Map<String, Value>,
}

fn documented_models() -> Vec<Documented> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../api/models");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    let models: Vec<Documented> = paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let file: Value = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            Documented {
                model: file["model"].as_str().unwrap_or_default().to_owned(),
                schema: file["input_schema"].clone(),
                example: file["example_input"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            }
        })
        .collect();
    assert_eq!(
        models.len(),
        snapshot::built_in().len(),
        "every snapshot model is tested"
    );
    models
}

/// The line of a manifest's first input field; each next field is on the next line.
const FIRST_FIELD_LINE: u32 = 4;
/// Where a problem of the whole job points: its first key.
const JOB_AT: (u32, u32) = (3, 5);

/// A manifest of one job of `model` with `fields`, each on its own line (as JSON, which YAML
/// reads as it is) from [`FIRST_FIELD_LINE`] on.
fn manifest_of(model: &str, fields: &[(String, Value)]) -> String {
    let mut yaml = format!("version: 1\njobs:\n  - model: {model}\n");
    for (key, value) in fields {
        let json = serde_json::to_string(value).unwrap_or_default();
        yaml.push_str(&format!("    {key}: {json}\n"));
    }
    yaml
}

/// Where the value of the field on `line` is: after four spaces, the key, `: `.
fn value_at(line: u32, key: &str) -> (u32, u32) {
    (line, key.chars().count() as u32 + 7)
}

fn fields_of(example: &Map<String, Value>) -> Vec<(String, Value)> {
    example
        .iter()
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect()
}

fn properties(schema: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    schema["properties"]
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// `input` with every absent field that has a default filled in.
fn with_defaults(schema: &Value, input: &Map<String, Value>) -> Map<String, Value> {
    let mut complete = input.clone();
    for (name, field) in properties(schema) {
        if let Some(default) = field.get("default")
            && !complete.contains_key(name)
        {
            complete.insert(name.clone(), default.clone());
        }
    }
    complete
}

fn header(diagnostic: &Diagnostic) -> (u32, u32) {
    diagnostic
        .label
        .as_ref()
        .map_or((0, 0), |label| (label.position.line, label.position.column))
}

/// The one error of `yaml`, or why there is not exactly one.
fn the_only_error(yaml: &str) -> Result<Diagnostic, String> {
    match manifest::load_str(SOURCE_NAME, yaml) {
        Ok(loaded) => Err(format!("loaded {} jobs", loaded.manifest.jobs.len())),
        Err(errors) if errors.error_count() == 1 => errors
            .diagnostics
            .into_iter()
            .find(Diagnostic::is_error)
            .ok_or_else(|| "no error".to_owned()),
        Err(errors) => Err(format!("{} errors:\n{errors}", errors.error_count())),
    }
}

/// Checks that `yaml` has exactly one error, at `at`, whose message starts with `message`.
fn expect_one_error(
    failures: &mut Vec<String>,
    model: &str,
    yaml: &str,
    at: (u32, u32),
    message: &str,
) -> Option<Diagnostic> {
    match the_only_error(yaml) {
        Ok(error) if header(&error) == at && error.message.starts_with(message) => Some(error),
        Ok(error) => {
            failures.push(format!(
                "{model}: expected `{message}...` at {at:?}, got:\n{error}"
            ));
            None
        }
        Err(why) => {
            failures.push(format!("{model}: {why}\n{yaml}"));
            None
        }
    }
}

fn assert_no_failures(failures: &[String]) {
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

#[test]
fn every_documented_example_loads_and_is_sent_with_the_defaults_filled_in() {
    let mut failures = Vec::new();
    for documented in documented_models() {
        let yaml = manifest_of(&documented.model, &fields_of(&documented.example));
        match manifest::load_str(SOURCE_NAME, &yaml) {
            Ok(loaded) => {
                let sent = &loaded.manifest.jobs[0].input;
                let expected = with_defaults(&documented.schema, &documented.example);
                if *sent != expected {
                    failures.push(format!(
                        "{}: sends {}\nnot {}",
                        documented.model,
                        Value::Object(sent.clone()),
                        Value::Object(expected)
                    ));
                }
                if !loaded.warnings.is_empty() {
                    failures.push(format!(
                        "{}: warnings {:?}",
                        documented.model, loaded.warnings
                    ));
                }
            }
            Err(errors) => failures.push(format!("{}:\n{errors}", documented.model)),
        }
    }
    assert_no_failures(&failures);
}

#[test]
fn an_unknown_field_is_one_error_at_its_key_with_a_suggestion() {
    let mut failures = Vec::new();
    for documented in documented_models() {
        // Beside the prompt: a misspelled prompt alone would also be a missing one.
        let mut fields = fields_of(&documented.example);
        fields.push(("promt".to_owned(), json!("a fox in the snow")));
        let line = FIRST_FIELD_LINE + fields.len() as u32 - 1;
        let message = format!(
            "unknown field `promt` for model `{}`, did you mean `prompt`?",
            documented.model
        );
        let yaml = manifest_of(&documented.model, &fields);
        expect_one_error(&mut failures, &documented.model, &yaml, (line, 5), &message);
    }
    assert_no_failures(&failures);
}

/// A field that takes only some values, a value it does not take, and how the error
/// begins: the first field with an `enum`; else the first with an `anyOf`; else (Hailuo 02
/// text-to-video pro, whose only limit is its prompt's length) the first with a `maxLength`.
fn restricted_field(model: &str, schema: &Value) -> Option<(String, Value, String)> {
    let fields = properties(schema);
    let with = |keyword: &str| {
        fields
            .iter()
            .find(|(_, field)| field.get(keyword).is_some())
            .map(|(name, field)| (name.clone(), field))
    };
    if let Some((name, _)) = with("enum") {
        let message = format!("invalid value for `{name}`: `not-an-option`");
        return Some((name, json!("not-an-option"), message));
    }
    if let Some((name, _)) = with("anyOf") {
        let message = format!("invalid value for `{name}`: `not an option`");
        return Some((name, json!("not an option"), message));
    }
    let (name, field) = with("maxLength")?;
    let limit = field["maxLength"].as_u64()? as usize;
    let message = format!("`{name}` is too long for model `{model}`");
    Some((name, json!("x".repeat(limit + 1)), message))
}

#[test]
fn a_value_outside_the_allowed_ones_is_one_error_at_the_value() {
    let mut failures = Vec::new();
    let mut without_enum = Vec::new();
    for documented in documented_models() {
        let Some((field, bad, message)) = restricted_field(&documented.model, &documented.schema)
        else {
            failures.push(format!("{}: no field with limits", documented.model));
            continue;
        };
        if properties(&documented.schema)[&field].get("enum").is_none() {
            without_enum.push(documented.model.clone());
        }
        let mut fields = fields_of(&documented.example);
        fields.retain(|(key, _)| *key != field);
        fields.push((field.clone(), bad));
        let line = FIRST_FIELD_LINE + fields.len() as u32 - 1;
        let yaml = manifest_of(&documented.model, &fields);
        if let Some(error) = expect_one_error(
            &mut failures,
            &documented.model,
            &yaml,
            value_at(line, &field),
            &message,
        ) {
            let expected = error.notes.first().map(String::as_str).unwrap_or_default();
            let says_what_fits = expected.starts_with("expected: one of ")
                || expected == "expected: a URI, or an empty string"
                || expected.starts_with("expected: a string of at most");
            if !says_what_fits {
                failures.push(format!("{}: {error}", documented.model));
            }
        }
    }
    assert_no_failures(&failures);
    assert_eq!(
        without_enum,
        [
            "hailuo/02-image-to-video-pro",
            "hailuo/02-text-to-video-pro"
        ],
        "only these models have no field with allowed values"
    );
}

/// The first required field without a default: one a job must always set.
fn required_without_default(schema: &Value) -> Option<String> {
    let fields = properties(schema);
    schema["required"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find(|name| {
            fields
                .get(*name)
                .is_none_or(|field| field.get("default").is_none())
        })
        .map(str::to_owned)
}

/// The fields of which a job must set one (`anyOf: [{required: [a]}, {required: [b]}]`).
fn one_of_required(schema: &Value) -> Vec<String> {
    schema["anyOf"]
        .as_array()
        .map(|choices| {
            choices
                .iter()
                .filter_map(|choice| choice["required"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_missing_required_field_is_one_error_at_the_job_and_defaults_fill_the_rest() {
    let mut failures = Vec::new();
    let mut nothing_required = Vec::new();
    for documented in documented_models() {
        let mut fields = fields_of(&documented.example);
        let model = &documented.model;
        if let Some(field) = required_without_default(&documented.schema) {
            fields.retain(|(key, _)| *key != field);
            let message = format!("missing required field `{field}` for model `{model}`");
            let yaml = manifest_of(model, &fields);
            expect_one_error(&mut failures, model, &yaml, JOB_AT, &message);
            continue;
        }
        let choices = one_of_required(&documented.schema);
        if !choices.is_empty() {
            fields.retain(|(key, _)| !choices.contains(key));
            let message = format!("model `{model}` needs one of");
            let yaml = manifest_of(model, &fields);
            expect_one_error(&mut failures, model, &yaml, JOB_AT, &message);
            continue;
        }
        // Nothing is required: a job of a prompt alone is sent with every default.
        nothing_required.push(model.clone());
        let prompt = documented
            .example
            .get("prompt")
            .cloned()
            .unwrap_or_default();
        let yaml = manifest_of(model, &[("prompt".to_owned(), prompt.clone())]);
        let loaded = load_ok(&yaml);
        let mut alone = Map::new();
        alone.insert("prompt".to_owned(), prompt);
        let expected = with_defaults(&documented.schema, &alone);
        if loaded.manifest.jobs[0].input != expected || expected.len() < 4 {
            failures.push(format!(
                "{model}: sends {:?}, not {expected:?}",
                loaded.manifest.jobs[0].input
            ));
        }
    }
    assert_no_failures(&failures);
    nothing_required.sort();
    assert_eq!(
        nothing_required,
        [
            "bytedance/seedance-2",
            "bytedance/seedance-2-5",
            "bytedance/seedance-2-fast",
            "bytedance/seedance-2-mini"
        ]
    );
}

/// A field and a value of the wrong type for it that does not convert: a boolean field
/// given a word, else the prompt given a list.
fn wrong_type(schema: &Value) -> (String, Value, &'static str) {
    match properties(schema)
        .iter()
        .find(|(_, field)| field["type"] == "boolean")
    {
        Some((name, _)) => (name.clone(), json!("sometimes"), "expected: true or false"),
        None => (
            "prompt".to_owned(),
            json!(["a fox", "a hare"]),
            "expected: a string",
        ),
    }
}

#[test]
fn a_value_of_the_wrong_type_is_one_error_at_the_value_naming_the_type() {
    let mut failures = Vec::new();
    for documented in documented_models() {
        let (field, bad, expected) = wrong_type(&documented.schema);
        let mut fields = fields_of(&documented.example);
        fields.retain(|(key, _)| *key != field);
        fields.push((field.clone(), bad));
        let line = FIRST_FIELD_LINE + fields.len() as u32 - 1;
        let yaml = manifest_of(&documented.model, &fields);
        let message = format!("invalid value for `{field}`");
        if let Some(error) = expect_one_error(
            &mut failures,
            &documented.model,
            &yaml,
            value_at(line, &field),
            &message,
        ) && !error
            .notes
            .first()
            .is_some_and(|note| note.starts_with(expected))
        {
            failures.push(format!("{}: {error}", documented.model));
        }
    }
    assert_no_failures(&failures);
}

// ---- conversions and defaults, on the exact input sent ----

fn sent(loaded: &Loaded) -> Value {
    Value::Object(loaded.manifest.jobs[0].input.clone())
}

#[test]
fn kling_2_6_takes_its_duration_as_a_string_and_fills_in_its_aspect_ratio() {
    let loaded = load_ok(
        "version: 1\nmodel: kling-2.6/text-to-video\njobs:\n  - prompt: a fox\n    sound: \"false\"\n    duration: 10\n",
    );
    assert_eq!(
        sent(&loaded),
        json!({"prompt": "a fox", "sound": false, "duration": "10", "aspect_ratio": "1:1"})
    );
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let price = loaded
        .manifest
        .prices
        .estimate("kling-2.6/text-to-video", &loaded.manifest.jobs[0].input);
    assert_eq!(price.map(|credits| credits.0), Some(110.0));
}

#[test]
fn kling_3_0_single_shot_is_sent_with_every_default() {
    let loaded = load_ok(
        "version: 1\nmodel: kling-3.0/video\nprompt: a fox in the snow\ndefaults:\n  multi_prompt: []\n",
    );
    assert_eq!(
        sent(&loaded),
        json!({
            "prompt": "a fox in the snow", "multi_prompt": [], "sound": false, "duration": "5",
            "aspect_ratio": "16:9", "mode": "pro", "multi_shots": false
        })
    );
    let price = loaded
        .manifest
        .prices
        .estimate("kling-3.0/video", &loaded.manifest.jobs[0].input);
    assert_eq!(price.map(|credits| credits.0), Some(90.0), "pro, 5 s at 18");
}

#[test]
fn seedance_takes_its_duration_as_an_integer_and_minus_one_is_unpriced() {
    let loaded = load_ok(
        "version: 1\nmodel: bytedance/seedance-2\njobs:\n  - {prompt: a fox in the snow, duration: \"8\"}\n  - {prompt: a hare in the snow, duration: \"-1\", resolution: 480p}\n",
    );
    assert_eq!(
        sent(&loaded),
        json!({
            "prompt": "a fox in the snow", "duration": 8, "generate_audio": true,
            "resolution": "720p", "aspect_ratio": "16:9", "nsfw_checker": false,
            "return_last_frame": false
        })
    );
    let jobs = &loaded.manifest.jobs;
    assert_eq!(jobs[1].input["duration"], json!(-1));
    let prices = &loaded.manifest.prices;
    assert_eq!(
        prices
            .estimate("bytedance/seedance-2", &jobs[0].input)
            .map(|c| c.0),
        Some(41.0 * 8.0)
    );
    assert_eq!(
        prices.estimate("bytedance/seedance-2", &jobs[1].input),
        None
    );
}

#[test]
fn a_word_for_an_integer_field_is_an_error_that_says_integer() {
    let errors = load_err(
        "version: 1\nmodel: bytedance/seedance-1.5-pro\nprompt: a fox on a hill\ndefaults:\n  duration: eight\n",
    );
    assert_eq!(errors.error_count(), 1, "{errors}");
    let error = &errors.diagnostics[0];
    assert_eq!(header(error), (5, 13));
    assert_eq!(error.message, "invalid value for `duration`: `eight`");
    assert_eq!(error.notes[0], "expected: an integer from 4 to 12");
    let loaded = load_ok(
        "version: 1\nmodel: bytedance/seedance-1.5-pro\nprompt: a fox on a hill\ndefaults:\n  duration: \"12\"\n",
    );
    assert_eq!(loaded.manifest.jobs[0].input["duration"], json!(12));
}

#[test]
fn a_field_of_integer_or_text_keeps_what_the_manifest_wrote() {
    let loaded = load_ok(
        "version: 1\nmodel: grok-imagine/text-to-video\njobs:\n  - {prompt: a fox, duration: 10}\n  - {prompt: a hare, duration: \"10\"}\n",
    );
    assert_eq!(loaded.manifest.jobs[0].input["duration"], json!(10));
    assert_eq!(loaded.manifest.jobs[1].input["duration"], json!("10"));
}

#[test]
fn a_bad_value_shared_by_a_matrix_is_reported_once() {
    let errors = load_err(
        "version: 1\nmodel: bytedance/seedance-2\ndefaults:\n  duration: five\nprompt: \"{animal} in the snow\"\nmatrix:\n  animal: [a fox, a hare, an owl]\n",
    );
    assert_eq!(errors.error_count(), 1, "{errors}");
    assert_eq!(header(&errors.diagnostics[0]), (4, 13));
}

#[test]
fn every_problem_of_a_file_is_reported_at_once_and_read_well() {
    insta::assert_snapshot!(check(
        r#"version: 1
jobs:
  - model: kling-3.0/video
    prompt: a fox
    mode: 4k
    multi_prompt:
      - {prompt: running, duration: 3}
      - {prompt: leaping, duraton: 20}
  - model: bytedance/seedance-2
    prompt: a hare
    duration: 40
    resolution: 2160p
    first_frame_url: not a url
  - model: kling-2.6/text-to-video
    prompt: an owl
    aspect_ratio: "16:10"
  - model: grok-imagine/image-to-video
    prompt: a heron
  - model: kling-2.6/text-to-vido
    prompt: a crane
"#
    ));
}

#[test]
fn a_deprecated_field_is_a_warning_and_is_sent() {
    let schema = json!({
        "type": "object",
        "properties": {
            "prompt": {"type": "string"},
            "return_last_frame": {"type": "boolean", "default": false, "deprecated": true}
        },
        "required": ["prompt"]
    });
    let book = ModelBook::built_in().with_locked([locked_model("acme/video", Some(schema), None)]);
    let yaml = "version: 1\nmodel: acme/video\njobs:\n  - prompt: a fox\n  - prompt: a hare\n    return_last_frame: true\n";
    insta::assert_snapshot!(check_with(yaml, &book));
    let loaded = match manifest::load_str_with(SOURCE_NAME, yaml, &book) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(
        loaded.manifest.jobs[0].input,
        object(json!({"prompt": "a fox"}))
    );
    assert_eq!(
        loaded.manifest.jobs[1].input["return_last_frame"],
        json!(true)
    );
    assert_eq!(loaded.warnings.len(), 1);
}

#[test]
fn a_locked_schema_that_cannot_be_used_is_an_error_at_the_model() {
    let book = ModelBook::built_in().with_locked([locked_model(
        "acme/video",
        Some(json!({"properties": {"prompt": {"type": "text"}}})),
        None,
    )]);
    let errors = match manifest::load_str_with(
        SOURCE_NAME,
        "version: 1\nmodel: acme/video\nprompt: a fox\n",
        &book,
    ) {
        Ok(_) => panic!("a broken schema checks nothing"),
        Err(errors) => errors,
    };
    assert_eq!(errors.error_count(), 1, "{errors}");
    let error = &errors.diagnostics[0];
    assert_eq!(header(error), (2, 8));
    assert!(
        error.message.starts_with(
            "the input schema of model `acme/video` in sora-batch.lock cannot be used"
        ),
        "{error}"
    );
}

#[test]
fn the_seeds_example_warns_that_sora_2_is_withdrawn() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../manifests/classroom.yaml");
    let loaded = match manifest::load(&path) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(
        warnings,
        [
            "model `sora-2-text-to-video` is withdrawn since 2026-08-31: Kie answers its tasks as not published"
        ]
    );
    assert_eq!(header(&loaded.warnings[0]), (7, 8));
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
