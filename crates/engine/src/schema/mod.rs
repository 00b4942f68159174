//! The JSON Schema of the manifest, so that editors complete and check manifests as people
//! type: the structure generated from the [`RawManifest`] types that YAML deserializes into,
//! and each model of a [`ModelBook`] with its input fields as conditionals on `model`.
//!
//! Read [`manifest_schema_for`]. The aim is that the schema refuses what `validate` refuses
//! wherever a JSON Schema can say it, and never refuses what `validate` accepts; the
//! engine's test `schema_agreement` runs every manifest fixture through both and lists the
//! differences, each one that a JSON Schema cannot express with its reason. The models'
//! fields come from [`models`], their conditionals from [`rules`].
//!
//! `docs/manifest.schema.json` is a committed copy of [`manifest_schema_json`] (the
//! built-in book); a test keeps it current.

mod models;
mod rules;

use serde_json::{Value, json};

use crate::manifest::raw::RawManifest;
use crate::models::ModelBook;

/// The schema's `$id`: a name, not an address. Nothing serves it; editors are pointed at a
/// file (`sora-batch schema > manifest.schema.json`, see docs/manifest.md).
pub const SCHEMA_ID: &str = "urn:sora-batch:manifest:1";

/// The schema with the built-in models: the snapshot and the Sora 2 family.
pub fn manifest_schema() -> Value {
    manifest_schema_for(&ModelBook::built_in())
}

/// The schema for the models of `book` (the built-in book, or one with a lock's entries
/// over it): a manifest may name these models and no other, and each one's input fields are
/// checked where a job of it is known.
pub fn manifest_schema_for(book: &ModelBook) -> Value {
    let mut schema = schemars::schema_for!(RawManifest).to_value();
    let models = models::known_models(book);
    let Some(root) = schema.as_object_mut() else {
        return schema;
    };
    root.insert("$id".to_owned(), SCHEMA_ID.into());
    let ids: Vec<Value> = models.iter().map(|model| json!(model.id)).collect();
    let mut ids_or_none = ids.clone();
    ids_or_none.push(Value::Null);
    // A model the book does not know is an error of `validate`: the names are an enum.
    if let Some(model) = root
        .get_mut("properties")
        .and_then(|properties| properties.get_mut("model"))
    {
        name_models(model, &ids_or_none);
    }
    let mut root_rules = vec![defines_jobs()];
    {
        let definitions = root
            .entry("$defs")
            .or_insert_with(|| json!({}))
            .as_object_mut();
        let Some(definitions) = definitions else {
            return schema;
        };
        rules::shared_definitions(definitions);
        for model in &models {
            rules::model_definitions(model, definitions);
            root_rules.push(json!({"$ref": format!("#/$defs/rules.{}", model.slug)}));
        }
        if let Some(job) = definitions.get_mut("Job") {
            job["allOf"] = models.iter().map(rules::own_model_rule).collect();
            name_models(&mut job["properties"]["model"], &ids_or_none);
        }
        if let Some(matrix) = definitions.get_mut("Matrix") {
            name_models(&mut matrix["properties"]["model"]["items"], &ids);
            let entry = &mut matrix["properties"]["include"]["items"];
            name_models(&mut entry["properties"]["model"], &ids);
            entry["allOf"] = models.iter().map(rules::include_entry_rule).collect();
        }
    }
    root.insert("allOf".to_owned(), Value::Array(root_rules));
    schema
}

/// Makes a `model` value's schema the list of the book's models (and `null` where a model
/// may be left out), keeping its description.
fn name_models(schema: &mut Value, names: &[Value]) {
    if let Some(object) = schema.as_object_mut() {
        object.remove("type");
        object.remove("pattern");
        object.insert("enum".to_owned(), Value::Array(names.to_vec()));
    }
}

/// A manifest defines at least one job: matrix jobs (a prompt, an axis or an include
/// entry), or an explicit job.
fn defines_jobs() -> Value {
    json!({"anyOf": [
        {"$ref": "#/$defs/when.matrix-jobs"},
        {"required": ["jobs"], "properties": {"jobs": {"type": "array", "minItems": 1}}},
    ]})
}

/// The schema as pretty-printed JSON with a final newline, as committed.
pub fn manifest_schema_json() -> String {
    schema_text(&manifest_schema())
}

/// [`manifest_schema_for`] as pretty-printed JSON with a final newline.
pub fn manifest_schema_json_for(book: &ModelBook) -> String {
    schema_text(&manifest_schema_for(book))
}

fn schema_text(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}
