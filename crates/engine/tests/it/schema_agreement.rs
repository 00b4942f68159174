//! The manifest's JSON Schema against the tool: every manifest fixture goes through
//! `sora_batch_engine::load` and through the schema (checked with the `jsonschema` crate,
//! formats included, as an editor would check it), and every difference is listed.
//!
//! `fixtures/manifests/invalid/` holds one manifest per kind of mistake the tool refuses;
//! `fixtures/manifests/valid/` and `manifests/` hold manifests it accepts, each checked with
//! the schema of the models it can use (the built-in ones and those of the lock beside it,
//! as `sora-batch schema` in its folder makes). A difference is allowed only when it is in
//! one of the lists below, with its reason; an entry that is no longer a difference fails
//! the test too, so that the lists stay true.
//!
//! YAML that an editor's YAML parser refuses (a syntax error, a duplicate key, a file that
//! is not UTF-8) counts as refused: the editor reports it before any schema is consulted.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sora_batch_engine::manifest::model_book_beside;
use sora_batch_engine::models::{KnowledgeSource, ModelBook, ModelKnowledge};
use sora_batch_engine::schema::{manifest_schema, manifest_schema_for};

/// Refused by the tool, accepted by the schema: what a JSON Schema cannot say.
const SCHEMA_CANNOT_EXPRESS: &[(&str, &str)] = &[
    // A JSON Schema validates one document; yaml-language-server checks each document of
    // a file on its own.
    (
        "several-documents.yaml",
        "several YAML documents: each is checked on its own",
    ),
    // Limits of the YAML reader, not of the document: the JSON the schema sees is the same.
    (
        "nested-too-deep.yaml",
        "the reader's nesting limit (24 levels) is not a schema keyword",
    ),
    (
        "alias-bomb.yaml",
        "the reader's limit on aliases replayed is not a schema keyword",
    ),
    // Comparisons between values, and values computed from the whole manifest.
    (
        "poll-interval-out-of-order.yaml",
        "comparing two durations (min_interval <= max_interval)",
    ),
    (
        "exclude-key-not-an-axis.yaml",
        "an exclude key must name a sibling key of `matrix`",
    ),
    ("matrix-too-large.yaml", "the product of the axes' lengths"),
    (
        "too-many-jobs.yaml",
        "the number of jobs the matrix and takes make",
    ),
    (
        "duplicate-id.yaml",
        "uniqueness of one property across the items of a list",
    ),
    (
        "identical-jobs.yaml",
        "two combinations making the same request (an unused variable)",
    ),
    // Templates: the syntax is a pattern; what a name refers to is not.
    (
        "undefined-template-variable.yaml",
        "a `{name}` must be a key of `vars` or of the matrix",
    ),
    (
        "template-variable-not-a-scalar.yaml",
        "the value a `{name}` refers to is a list",
    ),
    // A table's name is a pattern; the file is not in the document.
    (
        "rows-table-missing.yaml",
        "whether the file `rows:` names exists beside the manifest",
    ),
    // A duration's grammar is a pattern; its size is not.
    (
        "duration-overflows.yaml",
        "a number too large for a duration (digits are not bounded)",
    ),
];

/// Accepted by the tool, refused by the schema on purpose.
const SCHEMA_STRICTER: &[(&str, &str)] = &[(
    "quoted-numbers.yaml",
    "numbers written as quoted text: the reader converts them; the schema asks for numbers",
)];

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn yaml_files(folder: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(folder)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()));
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What the schema says of a file: `None` when it accepts it, else why not.
fn schema_refusal(validator: &jsonschema::Validator, path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    let Ok(text) = String::from_utf8(bytes) else {
        return Some("YAML: not UTF-8".to_owned());
    };
    let options = serde_saphyr::options! { strict_booleans: true };
    let documents: Vec<Value> = match serde_saphyr::from_multiple_with_options(&text, options) {
        Ok(documents) => documents,
        Err(error) => return Some(format!("YAML: {}", error.without_snippet())),
    };
    // An empty file is one document, `null`.
    let documents = if documents.is_empty() {
        vec![Value::Null]
    } else {
        documents
    };
    documents.iter().find_map(|document| {
        let reasons: Vec<String> = validator
            .iter_errors(document)
            .flat_map(|e| reasons(&e))
            .collect();
        (!reasons.is_empty()).then(|| format!("schema: {}", reasons.join("; ")))
    })
}

/// The errors under an error: the failed branches of an `anyOf` rather than "not valid
/// under any of the schemas", leaving out a branch that only says the value is not `null`
/// (the "or nothing" of an optional section).
fn reasons(error: &jsonschema::ValidationError<'_>) -> Vec<String> {
    use jsonschema::error::{TypeKind, ValidationErrorKind};
    match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => context
            .iter()
            .filter(|branch| {
                !matches!(branch.as_slice(), [only] if matches!(only.kind(), ValidationErrorKind::Type { kind: TypeKind::Single(_) }) && only.to_string().ends_with("\"null\""))
            })
            .flat_map(|branch| branch.iter().flat_map(reasons))
            .collect(),
        _ => vec![format!("{error} at {}", error.instance_path())],
    }
}

fn validator_for(schema: &Value) -> jsonschema::Validator {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
        .unwrap_or_else(|error| panic!("the schema does not compile: {error}"))
}

#[test]
fn every_invalid_fixture_is_refused_by_both_or_listed_with_its_reason() {
    let validator = validator_for(&manifest_schema());
    let folder = repository_root().join("fixtures/manifests/invalid");
    let mut differences: Vec<String> = Vec::new();
    let mut unexplained: Vec<String> = Vec::new();
    let mut seen_allowed: Vec<&str> = Vec::new();
    let mut agreements: Vec<String> = Vec::new();
    let files = yaml_files(&folder);
    assert!(files.len() >= 80, "only {} invalid fixtures", files.len());
    for path in files {
        let name = file_name(&path);
        let tool = sora_batch_engine::load(&path);
        let schema = schema_refusal(&validator, &path);
        let listed = |list: &[(&'static str, &'static str)]| {
            list.iter()
                .find(|(file, _)| *file == name)
                .map(|(file, why)| (*file, *why))
        };
        let difference = match (&tool, &schema) {
            (Err(_), Some(why)) => {
                agreements.push(format!("{name}: {why}"));
                None
            }
            (Err(errors), None) => {
                let first = errors
                    .diagnostics
                    .iter()
                    .find(|d| d.is_error())
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                Some((
                    SCHEMA_CANNOT_EXPRESS,
                    format!("{name}: the tool refuses it ({first}), the schema accepts it"),
                ))
            }
            (Ok(_), Some(why)) => {
                unexplained.push(format!(
                    "{name}: the schema refuses it ({why}), the tool accepts it"
                ));
                continue;
            }
            (Ok(_), None) => {
                unexplained.push(format!(
                    "{name}: both accept it: it is not an invalid manifest"
                ));
                continue;
            }
        };
        let Some((list, line)) = difference else {
            continue;
        };
        match listed(list) {
            Some((file, why)) => {
                seen_allowed.push(file);
                differences.push(format!("{line}\n    allowed: {why}"));
            }
            None => unexplained.push(line),
        }
    }
    for (file, _) in SCHEMA_CANNOT_EXPRESS {
        if !seen_allowed.contains(file) {
            unexplained.push(format!("{file}: listed as a difference, but the tool and the schema agree on it now (or it is gone): remove it from the list"));
        }
    }
    // Seen with `--nocapture`: why the schema refuses each fixture, and the differences.
    println!("refused by both:\n{}", agreements.join("\n"));
    println!(
        "{} allowed differences:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(
        unexplained.is_empty(),
        "differences between the tool and the schema:\n{}",
        unexplained.join("\n")
    );
}

#[test]
fn every_valid_manifest_is_accepted_by_both() {
    let root = repository_root();
    let mut files = yaml_files(&root.join("fixtures/manifests/valid"));
    files.extend(yaml_files(&root.join("manifests")));
    assert!(files.len() >= 8, "only {} valid manifests", files.len());
    let mut problems = Vec::new();
    let mut stricter_seen = Vec::new();
    for path in &files {
        let name = file_name(path);
        if let Err(errors) = sora_batch_engine::load(path) {
            problems.push(format!(
                "{}: the tool refuses it:\n{errors}",
                path.display()
            ));
        }
        let book = model_book_beside(path).unwrap_or_else(|errors| panic!("{errors}"));
        let validator = validator_for(&manifest_schema_for(&book));
        let stricter = SCHEMA_STRICTER.iter().find(|(file, _)| *file == name);
        match (schema_refusal(&validator, path), stricter) {
            (Some(_), Some((file, _))) => stricter_seen.push(*file),
            (Some(why), None) => problems.push(format!("{}: the schema refuses it: {why}", path.display())),
            (None, Some((file, _))) => problems.push(format!("{file}: listed as refused by the schema, but it is accepted: remove it from the list")),
            (None, None) => {}
        }
    }
    // The 100,000-job matrix that `plan` is timed on: the schema alone (the tool's reading
    // of it is timed by `cargo xtask bench`, not here).
    let large = root.join("fixtures/manifests/matrix-100k.yaml");
    if let Some(why) = schema_refusal(&validator_for(&manifest_schema()), &large) {
        problems.push(format!("{}: the schema refuses it: {why}", large.display()));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(stricter_seen.len(), SCHEMA_STRICTER.len());
}

/// The manifest of one explicit job of `model` with `input`.
fn one_job(model: &str, input: &Value) -> Value {
    let mut job = input.clone();
    job["model"] = json!(model);
    json!({"version": 1, "jobs": [job]})
}

#[test]
fn each_built_in_model_s_documented_example_passes_and_its_mistakes_do_not() {
    let validator = validator_for(&manifest_schema());
    let folder = repository_root().join("crates/api/models");
    let mut checked = 0;
    for path in std::fs::read_dir(&folder)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
    {
        if path.extension().is_none_or(|ext| ext != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let facts: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let model = facts["model"].as_str().unwrap_or_default();
        let example = &facts["example_input"];
        let schema = &facts["input_schema"];
        let manifest = one_job(model, example);
        let errors: Vec<String> = validator
            .iter_errors(&manifest)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{model}: its example is refused: {errors:?}"
        );

        let mut typo = example.clone();
        typo["promptt"] = json!("a cat");
        assert!(
            !validator.is_valid(&one_job(model, &typo)),
            "{model}: an unknown field passes"
        );

        let properties = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        if let Some((field, _)) = properties.iter().find(|(_, p)| p["enum"].is_array()) {
            let mut bad = example.clone();
            bad[field.as_str()] = json!("not-one-of-them");
            assert!(
                !validator.is_valid(&one_job(model, &bad)),
                "{model}: a bad `{field}` passes"
            );
        }
        let required_without_default = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|field| {
                properties
                    .get(*field)
                    .is_some_and(|p| p.get("default").is_none())
            });
        if let Some(field) = required_without_default {
            let mut missing = example.clone();
            if let Some(object) = missing.as_object_mut() {
                object.remove(field);
            }
            assert!(
                !validator.is_valid(&one_job(model, &missing)),
                "{model}: a job without `{field}` passes"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, sora_batch_api::snapshot::built_in().len());
}

fn locked(model: &str, input_schema: Value) -> ModelKnowledge {
    ModelKnowledge {
        model: model.to_owned(),
        output: None,
        input_schema: Some(input_schema),
        price_text: String::new(),
        price_rule: None,
        source: KnowledgeSource::Lock {
            path: PathBuf::from("sora-batch.lock"),
            fetched_at: "2026-11-29T12:00:00Z".to_owned(),
            fetched_from: "https://api.kie.ai".to_owned(),
        },
        withdrawn: None,
        file_limits: Default::default(),
    }
}

#[test]
fn a_locked_model_is_known_its_fields_are_checked_and_it_replaces_a_built_in_one() {
    let book = ModelBook::built_in().with_locked([
        locked("acme/video-1", json!({
            "type": "object",
            "properties": {"prompt": {"type": "string"}, "seconds": {"type": "integer", "enum": [4, 8]}},
            "required": ["prompt", "seconds"],
        })),
        locked("kling-2.6/text-to-video", json!({
            "type": "object",
            "properties": {"prompt": {"type": "string"}, "sound": {"type": "boolean"}, "camera": {"type": "string"}},
        })),
    ]);
    let built_in = validator_for(&manifest_schema());
    let with_lock = validator_for(&manifest_schema_for(&book));
    let acme_ok = one_job("acme/video-1", &json!({"prompt": "a cat", "seconds": "8"}));
    // Kie's schema leaves the input open; the tool refuses unlisted fields all the same.
    let acme_typo = one_job(
        "acme/video-1",
        &json!({"prompt": "a cat", "seconds": 8, "secs": 4}),
    );
    let acme_missing = one_job("acme/video-1", &json!({"prompt": "a cat"}));
    assert!(with_lock.is_valid(&acme_ok));
    assert!(!with_lock.is_valid(&acme_typo));
    assert!(!with_lock.is_valid(&acme_missing));
    // Without the lock the model is unknown, as `validate` says.
    assert!(!built_in.is_valid(&acme_ok));
    // The lock's Kling has `camera` and no required fields.
    let kling = one_job(
        "kling-2.6/text-to-video",
        &json!({"prompt": "a cat", "camera": "pan"}),
    );
    assert!(with_lock.is_valid(&kling));
    assert!(!built_in.is_valid(&kling));
}

#[test]
fn the_schema_is_one_an_editor_can_load() {
    let schema = manifest_schema();
    assert_eq!(schema["$id"], sora_batch_engine::schema::SCHEMA_ID);
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    // Every model id is offered where a model is written, and no other.
    let names = schema["properties"]["model"]["enum"]
        .as_array()
        .map(Vec::len);
    assert_eq!(
        names,
        Some(ModelBook::built_in().ids().count() + 1),
        "the ids and null"
    );
}
