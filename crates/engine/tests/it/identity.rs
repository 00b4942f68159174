//! Identity: keys survive reordering and change exactly where the request changes.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::load_ok;

fn keys_by_id(yaml: &str) -> BTreeMap<String, String> {
    load_ok(yaml)
        .manifest
        .jobs
        .iter()
        .map(|job| (job.id.to_string(), job.key.to_string()))
        .collect()
}

fn keys(yaml: &str) -> BTreeSet<String> {
    keys_by_id(yaml).into_values().collect()
}

const ORIGINAL: &str = r#"version: 1
prompt: "{subject} in the rain"
matrix:
  subject: [a cat, a dog, a fox]
  aspect_ratio: [landscape, portrait]
takes: 2
jobs:
  - id: one
    prompt: First explicit job
  - id: two
    prompt: Second explicit job
  - prompt: Third explicit job
"#;

const REORDERED: &str = r#"version: 1
jobs:
  - prompt: Third explicit job
  - id: two
    prompt: Second explicit job
  - id: one
    prompt: First explicit job
takes: 2
matrix:
  aspect_ratio: [portrait, landscape]
  subject: [a fox, a cat, a dog]
prompt: "{subject} in the rain"
"#;

#[test]
fn reordering_jobs_keys_and_matrix_values_leaves_every_key_unchanged() {
    assert_eq!(keys(ORIGINAL), keys(REORDERED));
    assert_eq!(keys(ORIGINAL).len(), 18);
}

#[test]
fn reordering_matrix_values_leaves_every_id_and_key_unchanged() {
    let values_reordered = ORIGINAL.replace(
        "subject: [a cat, a dog, a fox]",
        "subject: [a fox, a dog, a cat]",
    );
    assert_eq!(keys_by_id(ORIGINAL), keys_by_id(&values_reordered));
}

#[test]
fn editing_one_prompt_changes_exactly_that_jobs_keys() {
    let before = keys_by_id(ORIGINAL);
    let after =
        keys_by_id(&ORIGINAL.replace("Second explicit job", "Second explicit job, at night"));
    let changed: Vec<&String> = before
        .iter()
        .filter(|(id, key)| after.get(*id) != Some(*key))
        .map(|(id, _)| id)
        .collect();
    // Both takes of job `two` are new jobs; nothing else is.
    assert_eq!(changed, ["two", "two-t2"]);
}

#[test]
fn editing_an_option_of_one_combination_changes_only_its_key() {
    let before = keys_by_id(ORIGINAL);
    let after = keys_by_id(&ORIGINAL.replace(
        "  aspect_ratio: [landscape, portrait]\n",
        "  aspect_ratio: [landscape, portrait]\n  include:\n    - {subject: a dog, aspect_ratio: portrait, n_frames: 15}\n",
    ));
    let changed: Vec<&String> = before
        .iter()
        .filter(|(id, key)| after.get(*id) != Some(*key))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(changed, ["a-dog-portrait", "a-dog-portrait-t2"]);
}

#[test]
fn the_callback_url_is_not_part_of_the_key() {
    let with_callback = format!("{ORIGINAL}run:\n  callback_url: https://example.com/hook\n");
    assert_eq!(keys_by_id(ORIGINAL), keys_by_id(&with_callback));
}

#[test]
fn ids_are_unique_and_safe_file_names() {
    let loaded = load_ok(ORIGINAL);
    let ids: BTreeSet<&str> = loaded
        .manifest
        .jobs
        .iter()
        .map(|job| job.id.as_str())
        .collect();
    assert_eq!(ids.len(), loaded.manifest.jobs.len());
    for id in ids {
        assert!(
            sora_batch_engine::manifest::identity::check_explicit_id(id).is_ok(),
            "{id}"
        );
    }
}
