//! The committed JSON Schema (`docs/manifest.schema.json`) is the one the code generates.

use std::path::PathBuf;

#[test]
fn the_committed_schema_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/manifest.schema.json");
    let generated = sora_batch_engine::schema::manifest_schema_json();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        if let Err(error) = std::fs::write(&path, &generated) {
            panic!("cannot write {}: {error}", path.display());
        }
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/manifest.schema.json is out of date; regenerate it with\n    UPDATE_SCHEMA=1 cargo test -p sora-batch-engine --test it schema\nor  cargo run -p sora-batch -- schema > docs/manifest.schema.json"
    );
}

#[test]
fn the_schema_lists_every_top_level_key_and_no_other() {
    let schema = sora_batch_engine::schema::manifest_schema();
    let mut properties: Vec<&str> = schema["properties"]
        .as_object()
        .map(|object| object.keys().map(String::as_str).collect())
        .unwrap_or_default();
    properties.sort_unstable();
    let mut known = sora_batch_engine::manifest::raw::TOP_LEVEL_KEYS.to_vec();
    known.sort_unstable();
    assert_eq!(properties, known);
    assert_eq!(schema["additionalProperties"], false);
}
