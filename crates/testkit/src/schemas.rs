//! The input schemas the fake enforces on createTask, as the live service enforces each
//! model's own.
//!
//! Read [`InputSchemas::check`]. A model's schema comes from, first to last: a model a test
//! put in the catalogue ([`crate::FakeKieBuilder::catalogue_model`]: the test means it), the
//! built-in snapshot of `crates/api/models/` (written from Kie's documentation pages; the
//! files are compiled in here too, read by this crate's own code, not the api crate's), then
//! the catalogue fixtures of `fixtures/api/catalogue/` (small reconstructions whose limits
//! are illustrative, so the snapshot wins where both know a model). A model none of them
//! knows, or whose catalogue document has no createTask schema, is not checked: the jobs API
//! serves many models.
//!
//! What a request meets, like the live service (`kie-api-notes.md`): a field the schema
//! requires, or one it gives a `default`, that is absent (or null) answers code 500 "This
//! field is required" — Kie does not apply defaults; any other violation (a wrong type, a
//! value outside an `enum` or a range, a field `additionalProperties: false` does not allow)
//! answers code 422 with a message naming the field. The checking itself is the
//! `jsonschema` crate's (draft 2020-12, formats asserted), not ours.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::answer::FakeAnswer;
use crate::catalogue::Catalogue;
use crate::faults::FIELD_REQUIRED_MSG;

/// The built-in snapshot's files, by model id: the same files the api crate compiles in.
pub(crate) const SNAPSHOT_FILES: &[(&str, &str)] = &[
    (
        "bytedance/seedance-1.5-pro",
        include_str!("../../api/models/bytedance__seedance-1.5-pro.json"),
    ),
    (
        "bytedance/seedance-2-5",
        include_str!("../../api/models/bytedance__seedance-2-5.json"),
    ),
    (
        "bytedance/seedance-2-fast",
        include_str!("../../api/models/bytedance__seedance-2-fast.json"),
    ),
    (
        "bytedance/seedance-2-mini",
        include_str!("../../api/models/bytedance__seedance-2-mini.json"),
    ),
    (
        "bytedance/seedance-2",
        include_str!("../../api/models/bytedance__seedance-2.json"),
    ),
    (
        "grok-imagine/image-to-video",
        include_str!("../../api/models/grok-imagine__image-to-video.json"),
    ),
    (
        "grok-imagine/text-to-video",
        include_str!("../../api/models/grok-imagine__text-to-video.json"),
    ),
    (
        "hailuo/02-image-to-video-pro",
        include_str!("../../api/models/hailuo__02-image-to-video-pro.json"),
    ),
    (
        "hailuo/02-image-to-video-standard",
        include_str!("../../api/models/hailuo__02-image-to-video-standard.json"),
    ),
    (
        "hailuo/02-text-to-video-pro",
        include_str!("../../api/models/hailuo__02-text-to-video-pro.json"),
    ),
    (
        "hailuo/02-text-to-video-standard",
        include_str!("../../api/models/hailuo__02-text-to-video-standard.json"),
    ),
    (
        "kling-2.6/image-to-video",
        include_str!("../../api/models/kling-2.6__image-to-video.json"),
    ),
    (
        "kling-2.6/text-to-video",
        include_str!("../../api/models/kling-2.6__text-to-video.json"),
    ),
    (
        "kling-3.0/video",
        include_str!("../../api/models/kling-3.0__video.json"),
    ),
    (
        "nano-banana-2",
        include_str!("../../api/models/nano-banana-2.json"),
    ),
    (
        "seedream/4.5-text-to-image",
        include_str!("../../api/models/seedream__4.5-text-to-image.json"),
    ),
    (
        "wan/2-6-image-to-video",
        include_str!("../../api/models/wan__2-6-image-to-video.json"),
    ),
    (
        "wan/2-6-text-to-video",
        include_str!("../../api/models/wan__2-6-text-to-video.json"),
    ),
];

/// A snapshot file's field `name`, or null. The files are part of the repository: one that
/// does not parse is a defect the unit tests below catch.
pub(crate) fn snapshot_field(model: &str, name: &str) -> Value {
    SNAPSHOT_FILES
        .iter()
        .find(|(id, _)| *id == model)
        .and_then(|(_, text)| serde_json::from_str::<Value>(text).ok())
        .and_then(|file| file.get(name).cloned())
        .unwrap_or(Value::Null)
}

/// How deep a chain of `$ref`s may go before the document is taken as not understood.
const MAX_REF_HOPS: usize = 16;

/// One model's compiled input schema.
pub(crate) struct InputSchema {
    validator: jsonschema::Validator,
    /// The input's top-level fields that must be present: required, or with a default.
    must_be_present: Vec<String>,
    /// The input's top-level fields that take files (`format: uri`): `(name, is a list)`.
    file_fields: Vec<(String, bool)>,
}

impl std::fmt::Debug for InputSchema {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("InputSchema")
            .field("must_be_present", &self.must_be_present)
            .field("file_fields", &self.file_fields)
            .finish_non_exhaustive()
    }
}

impl InputSchema {
    /// Compiles a schema document (`root`) whose `input` schema sits at JSON pointer
    /// `pointer` (empty: the root itself). `None` when the document cannot be compiled.
    fn compile(root: &Value, pointer: &str) -> Option<InputSchema> {
        let input_schema = resolve(root, root.pointer(pointer)?)?;
        let is_uri = |schema: &Value| {
            resolve(root, schema)
                .and_then(|schema| schema.get("format"))
                .and_then(Value::as_str)
                == Some("uri")
        };
        let file_fields: Vec<(String, bool)> = input_schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, property)| {
                let property = resolve(root, property)?;
                if is_uri(property) {
                    return Some((name.clone(), false));
                }
                let items = property.get("items")?;
                is_uri(items).then(|| (name.clone(), true))
            })
            .collect();
        let mut must_be_present: Vec<String> = input_schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
        if let Some(properties) = input_schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                // A default may stand beside a `$ref` or in what it points to.
                let has_default = property.get("default").is_some()
                    || resolve(root, property)
                        .is_some_and(|target| target.get("default").is_some());
                if has_default && !must_be_present.contains(name) {
                    must_be_present.push(name.clone());
                }
            }
        }
        // The document is the schema; a `$ref` beside its other members (which the
        // validator ignores as unknown keywords) makes the input's part of it apply.
        let mut document = root.clone();
        if !pointer.is_empty()
            && let Some(members) = document.as_object_mut()
        {
            members.insert("$ref".to_owned(), Value::String(format!("#{pointer}")));
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&document)
            .ok()?;
        Some(InputSchema {
            validator,
            must_be_present,
            file_fields,
        })
    }

    /// Every http(s) URL in a field that takes files, with where it is (`image_urls[0]`):
    /// the files the service would fetch for the task.
    pub(crate) fn file_urls(&self, input: &Map<String, Value>) -> Vec<(String, String)> {
        let mut urls = Vec::new();
        let mut push = |at: String, value: &Value| {
            if let Some(url) = value.as_str()
                && (url.starts_with("http://") || url.starts_with("https://"))
            {
                urls.push((at, url.to_owned()));
            }
        };
        for (name, list) in &self.file_fields {
            match (input.get(name), list) {
                (Some(Value::Array(items)), true) => {
                    for (index, item) in items.iter().enumerate() {
                        push(format!("{name}[{index}]"), item);
                    }
                }
                (Some(value), false) => push(name.clone(), value),
                _ => {}
            }
        }
        urls
    }

    /// The live service's answer to `input`, when it refuses it.
    pub(crate) fn check(&self, input: &Map<String, Value>) -> Result<(), FakeAnswer> {
        let missing = self
            .must_be_present
            .iter()
            .any(|field| input.get(field).is_none_or(Value::is_null));
        if missing {
            return Err(FakeAnswer::envelope_error(500, FIELD_REQUIRED_MSG));
        }
        let instance = Value::Object(input.clone());
        let errors: Vec<_> = self.validator.iter_errors(&instance).collect();
        if errors.iter().any(|error| {
            matches!(
                error.kind(),
                jsonschema::error::ValidationErrorKind::Required { .. }
            )
        }) {
            // A required field further down (in a list's items, say) is missing.
            return Err(FakeAnswer::envelope_error(500, FIELD_REQUIRED_MSG));
        }
        match errors.first() {
            None => Ok(()),
            Some(error) => {
                let location = error.instance_path().as_str();
                let field = if location.is_empty() {
                    "input".to_owned()
                } else {
                    format!("input{}", location.replace('/', "."))
                };
                // Masked: the message says what is wrong without echoing a long value.
                Err(FakeAnswer::envelope_error(
                    422,
                    format!("{field}: {}", error.masked()),
                ))
            }
        }
    }
}

/// Follows `value`'s `$ref` (local, `#/...`) to what it points at, hop by hop; `value`
/// itself when it has none. `None` for a reference that leads nowhere or goes round.
fn resolve<'a>(root: &'a Value, mut value: &'a Value) -> Option<&'a Value> {
    for _ in 0..MAX_REF_HOPS {
        match value.get("$ref").and_then(Value::as_str) {
            None => return Some(value),
            Some(reference) => value = root.pointer(reference.strip_prefix('#')?)?,
        }
    }
    None
}

/// Where the createTask `input` schema sits in a model's OpenAPI document: a JSON pointer
/// into it, through the request body and the `$ref`s on the way. `None` when the document
/// has no createTask path or no `input` property (a model of its own path).
fn input_pointer(openapi: &Value) -> Option<String> {
    // `/` in a path becomes `~1` in a pointer.
    let mut pointer = "/paths/~1api~1v1~1jobs~1createTask/post/requestBody".to_owned();
    let follow = |pointer: &mut String| -> Option<()> {
        for _ in 0..MAX_REF_HOPS {
            let value = openapi.pointer(pointer)?;
            match value.get("$ref").and_then(Value::as_str) {
                None => return Some(()),
                Some(reference) => *pointer = reference.strip_prefix('#')?.to_owned(),
            }
        }
        None
    };
    follow(&mut pointer)?;
    pointer.push_str("/content/application~1json/schema");
    follow(&mut pointer)?;
    pointer.push_str("/properties/input");
    openapi.pointer(&pointer)?;
    Some(pointer)
}

/// Every model's compiled schema, compiled when first needed.
#[derive(Debug, Default)]
pub(crate) struct InputSchemas {
    compiled: HashMap<String, Option<Arc<InputSchema>>>,
}

impl InputSchemas {
    /// The schema `model`'s input is held to, if the fake knows one.
    pub(crate) fn of(&mut self, model: &str, catalogue: &Catalogue) -> Option<Arc<InputSchema>> {
        if let Some(known) = self.compiled.get(model) {
            return known.clone();
        }
        let compiled = Self::compile(model, catalogue).map(Arc::new);
        self.compiled.insert(model.to_owned(), compiled.clone());
        compiled
    }

    fn compile(model: &str, catalogue: &Catalogue) -> Option<InputSchema> {
        let from_catalogue = |openapi: &Value| {
            let pointer = input_pointer(openapi)?;
            InputSchema::compile(openapi, &pointer)
        };
        if let Some(given) = catalogue.given_by_test(model) {
            return from_catalogue(&given.openapi);
        }
        let snapshot_schema = snapshot_field(model, "input_schema");
        if !snapshot_schema.is_null() {
            return InputSchema::compile(&snapshot_schema, "");
        }
        from_catalogue(&catalogue.model(model)?.openapi)
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

    fn code(result: Result<(), FakeAnswer>) -> Option<i64> {
        result.err().and_then(|answer| answer.envelope_code())
    }

    #[test]
    fn every_snapshot_file_compiles_and_its_documented_example_is_accepted() {
        let mut schemas = InputSchemas::default();
        let catalogue = Catalogue::from_fixtures();
        for (id, _) in SNAPSHOT_FILES {
            let schema = schemas
                .of(id, &catalogue)
                .unwrap_or_else(|| panic!("{id}: no schema compiled"));
            let example = input(snapshot_field(id, "example_input"));
            // The examples leave out some defaulted fields, which Kie wants sent.
            let mut complete = example.clone();
            let properties = snapshot_field(id, "input_schema")["properties"].clone();
            for (name, property) in properties.as_object().into_iter().flatten() {
                if let Some(default) = property.get("default") {
                    complete
                        .entry(name.clone())
                        .or_insert_with(|| default.clone());
                }
            }
            assert_eq!(code(schema.check(&complete)), None, "{id}: {complete:?}");
        }
    }

    #[test]
    fn the_snapshot_list_is_every_file_of_the_models_folder() {
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../api/models");
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .expect("the models folder")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        files.sort();
        let mut listed: Vec<String> = SNAPSHOT_FILES
            .iter()
            .map(|(id, _)| format!("{}.json", id.replace('/', "__")))
            .collect();
        listed.sort();
        assert_eq!(files, listed);
        for (id, _) in SNAPSHOT_FILES {
            assert_eq!(snapshot_field(id, "model"), json!(id));
        }
    }

    #[test]
    fn kling_absent_sound_is_required_and_bad_values_are_422_naming_the_field() {
        let mut schemas = InputSchemas::default();
        let kling = schemas
            .of("kling-2.6/text-to-video", &Catalogue::from_fixtures())
            .expect("the snapshot knows Kling 2.6");
        let valid =
            json!({"prompt": "a cat", "sound": false, "aspect_ratio": "16:9", "duration": "5"});
        assert_eq!(code(kling.check(&input(valid.clone()))), None);
        for absent in ["sound", "duration", "prompt"] {
            let mut partial = input(valid.clone());
            partial.remove(absent);
            assert_eq!(code(kling.check(&partial)), Some(500), "{absent}");
        }
        for (field, value) in [
            ("duration", json!(5)),
            ("duration", json!("7")),
            ("sound", json!("yes")),
            ("prompt", json!("x".repeat(1001))),
            ("sond", json!(true)),
        ] {
            let mut wrong = input(valid.clone());
            wrong.insert(field.to_owned(), value);
            let refusal = kling.check(&wrong).expect_err(field);
            assert_eq!(refusal.envelope_code(), Some(422), "{field}");
            let message = refusal.envelope_msg().unwrap_or_default();
            assert!(message.contains(field), "{field}: {message}");
        }
    }

    #[test]
    fn a_catalogue_document_is_read_through_its_refs_and_its_defaults_count_as_required() {
        let catalogue = Catalogue::from_fixtures();
        let kling = catalogue
            .model("kling-2.6/text-to-video")
            .expect("a fixture model");
        let pointer = input_pointer(&kling.openapi).expect("a createTask input");
        assert_eq!(
            pointer,
            "/components/schemas/CreateTaskRequest/properties/input"
        );
        let schema = InputSchema::compile(&kling.openapi, &pointer).expect("compiles");
        // `aspect_ratio`'s default is in the schema its `$ref` points to.
        assert!(schema.must_be_present.contains(&"aspect_ratio".to_owned()));
        let complete =
            json!({"prompt": "a cat", "sound": false, "aspect_ratio": "16:9", "duration": "5"});
        assert_eq!(code(schema.check(&input(complete.clone()))), None);
        let mut no_ratio = input(complete.clone());
        no_ratio.remove("aspect_ratio");
        assert_eq!(code(schema.check(&no_ratio)), Some(500));
        let mut square = input(complete);
        square.insert("aspect_ratio".into(), json!("4:3"));
        assert_eq!(code(schema.check(&square)), Some(422));

        let banana = catalogue.model("nano-banana-2").expect("a fixture model");
        assert_eq!(
            input_pointer(&banana.openapi).as_deref(),
            Some(
                "/components/requestBodies/CreateTask/content/application~1json/schema/properties/input"
            )
        );
        let veo = catalogue.model("veo3_fast").expect("a fixture model");
        assert_eq!(input_pointer(&veo.openapi), None, "a model of its own path");
    }

    #[test]
    fn the_snapshot_wins_over_a_fixture_and_a_test_given_model_over_both() {
        let mut catalogue = Catalogue::from_fixtures();
        let mut schemas = InputSchemas::default();
        // The fixture allows a 2,500-character Kling prompt; the snapshot 1,000.
        let long = json!({"prompt": "x".repeat(2000), "sound": false, "aspect_ratio": "1:1", "duration": "5"});
        let snapshot = schemas
            .of("kling-2.6/text-to-video", &catalogue)
            .expect("compiled");
        assert_eq!(code(snapshot.check(&input(long.clone()))), Some(422));

        let mut openapi = catalogue
            .model("kling-2.6/text-to-video")
            .expect("a fixture model")
            .openapi
            .clone();
        openapi["components"]["schemas"]["KlingTextToVideoInput"]["properties"]["prompt"]["maxLength"] =
            json!(3000);
        catalogue.insert(crate::catalogue::CatalogueModel {
            id: "kling-2.6/text-to-video".into(),
            summary: json!({"model": "kling-2.6/text-to-video"}),
            openapi,
            pricing_desc: json!("55"),
            given_by_test: true,
        });
        let mut schemas = InputSchemas::default();
        let given = schemas
            .of("kling-2.6/text-to-video", &catalogue)
            .expect("compiled");
        assert_eq!(code(given.check(&input(long))), None);
        assert!(
            schemas.of("veo3", &catalogue).is_none(),
            "unknown: not checked"
        );
    }
}
