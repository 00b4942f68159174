//! `sora-batch schema`: JSON, and the same text as the committed docs/manifest.schema.json.

use crate::support::{repository_root, sora_batch, stdout_of};

#[test]
fn schema_is_json_and_matches_the_committed_copy() {
    let output = sora_batch()
        .arg("schema")
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("schema is not JSON: {error}"));
    assert_eq!(schema["title"], "sora-batch manifest");
    let committed = std::fs::read_to_string(repository_root().join("docs/manifest.schema.json"))
        .unwrap_or_default();
    assert!(
        stdout_of(&output) == committed,
        "docs/manifest.schema.json is out of date: cargo run -p sora-batch -- schema > docs/manifest.schema.json"
    );
}
