//! The JSON Schema of the manifest, generated from the [`RawManifest`] types that YAML
//! deserializes into, so that editors can complete and check manifests as people type.
//!
//! `docs/manifest.schema.json` is a committed copy of [`manifest_schema_json`]; a test keeps
//! it current.

use crate::manifest::raw::RawManifest;

/// The schema as a JSON value.
pub fn manifest_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RawManifest).to_value();
    if let Some(object) = schema.as_object_mut() {
        object.insert(
            "$id".to_owned(),
            "https://github.com/sora-batch/sora-batch/docs/manifest.schema.json".into(),
        );
    }
    schema
}

/// The schema as pretty-printed JSON with a final newline, as committed.
pub fn manifest_schema_json() -> String {
    let mut text = serde_json::to_string_pretty(&manifest_schema()).unwrap_or_default();
    text.push('\n');
    text
}
