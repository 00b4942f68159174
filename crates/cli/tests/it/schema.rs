//! `sora-batch schema`: JSON, and the same text as the committed docs/manifest.schema.json.

use crate::support::{manifest_file, repository_root, sora_batch, stderr_of, stdout_of};

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

/// Writes a lock of one model, `acme/video-1`, into a fresh folder.
fn lock_of_one_model() -> (tempfile::TempDir, std::path::PathBuf) {
    let (folder, path) = manifest_file("sora-batch.lock", "");
    let mut lock = sora_batch_engine::lockfile::Lock::default();
    lock.models.insert(
        "acme/video-1".to_owned(),
        sora_batch_engine::lockfile::LockedModel::new(
            serde_json::json!({"type": "object", "properties": {"prompt": {"type": "string"}}}),
            None,
            None,
            "https://api.kie.ai",
            "2026-11-29T12:00:00Z".to_owned(),
        ),
    );
    if let Err(error) = sora_batch_engine::lockfile::write(&path, &lock) {
        panic!("cannot write the lock: {error}");
    }
    (folder, path)
}

fn schema_of(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("schema is not JSON: {error}"))
}

fn knows(schema: &serde_json::Value, model: &str) -> bool {
    schema["properties"]["model"]["enum"]
        .as_array()
        .is_some_and(|names| names.contains(&serde_json::json!(model)))
}

#[test]
fn a_lock_adds_its_models_given_or_found_in_the_current_folder() {
    let (folder, lock) = lock_of_one_model();
    let given = sora_batch()
        .args(["schema", "--lock"])
        .arg(&lock)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    let schema = schema_of(&given);
    assert!(knows(&schema, "acme/video-1") && knows(&schema, "kling-2.6/text-to-video"));
    assert_eq!(
        schema["$defs"]["values.acme__video-1"]["properties"]["prompt"]["else"]["type"],
        serde_json::json!(["string", "number"])
    );
    assert!(stderr_of(&given).is_empty(), "{}", stderr_of(&given));

    let found = sora_batch()
        .arg("schema")
        .current_dir(folder.path())
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert!(knows(&schema_of(&found), "acme/video-1"));
    assert!(
        stderr_of(&found).contains("note: the schema knows the models of sora-batch.lock"),
        "{}",
        stderr_of(&found)
    );
}

#[test]
fn a_lock_that_is_missing_or_not_a_lock_is_an_error() {
    let (folder, not_json) = manifest_file("sora-batch.lock", "models: {}\n");
    for lock in [not_json.clone(), folder.path().join("missing.lock")] {
        let output = sora_batch()
            .args(["schema", "--lock"])
            .arg(&lock)
            .output()
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
        assert!(output.stdout.is_empty());
        assert!(
            stderr_of(&output).contains(&lock.display().to_string()),
            "{}",
            stderr_of(&output)
        );
    }
}
