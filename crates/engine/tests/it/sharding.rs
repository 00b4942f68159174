//! `--shard K/N`: disjoint shards that cover the batch and stay put under edits.

use std::collections::BTreeSet;

use sora_batch_engine::manifest::{self, Manifest};
use sora_batch_engine::shard::Shard;

use crate::support::SOURCE_NAME;

fn batch(edited_subject: &str) -> Manifest {
    let yaml = format!(
        "version: 1\nprompt: \"{{subject}} waves at the camera, {{time}}\"\nmatrix:\n  \
         subject: [a cat, a dog, a fox, an owl, {edited_subject}, a bee, a cow]\n  \
         time: [at dawn, at noon, at dusk, at night]\n  \
         aspect_ratio: [landscape, portrait]\n"
    );
    match manifest::load_str(SOURCE_NAME, &yaml) {
        Ok(loaded) => loaded.manifest,
        Err(errors) => panic!("the manifest is valid: {errors}"),
    }
}

fn members(manifest: &Manifest, shard: Shard) -> BTreeSet<String> {
    manifest
        .jobs
        .iter()
        .filter(|job| shard.contains(&job.key))
        .map(|job| job.key.as_str().to_owned())
        .collect()
}

fn shards(count: u32) -> Vec<Shard> {
    (1..=count)
        .map(|index| Shard::new(index, count).expect("valid shard"))
        .collect()
}

#[test]
fn three_shards_are_disjoint_and_cover_the_batch() {
    let manifest = batch("a pig");
    let all: BTreeSet<String> = manifest
        .jobs
        .iter()
        .map(|j| j.key.as_str().to_owned())
        .collect();
    assert_eq!(all.len(), 56);
    let parts: Vec<BTreeSet<String>> = shards(3)
        .into_iter()
        .map(|s| members(&manifest, s))
        .collect();
    for (i, left) in parts.iter().enumerate() {
        assert!(!left.is_empty(), "shard {} is empty", i + 1);
        for right in &parts[i + 1..] {
            assert!(left.is_disjoint(right));
        }
    }
    let union: BTreeSet<String> = parts.into_iter().flatten().collect();
    assert_eq!(union, all);
}

#[test]
fn editing_one_job_moves_no_other_job_between_shards() {
    let before = batch("a pig");
    let after = batch("a goat");
    for shard in shards(3) {
        let kept_before = members(&before, shard);
        let kept_after = members(&after, shard);
        // Only the edited jobs (those with the new subject) may differ.
        let edited: BTreeSet<String> = after
            .jobs
            .iter()
            .filter(|job| {
                job.input["prompt"]
                    .as_str()
                    .is_some_and(|p| p.contains("a goat"))
            })
            .map(|job| job.key.as_str().to_owned())
            .collect();
        let removed: BTreeSet<String> = before
            .jobs
            .iter()
            .filter(|job| {
                job.input["prompt"]
                    .as_str()
                    .is_some_and(|p| p.contains("a pig"))
            })
            .map(|job| job.key.as_str().to_owned())
            .collect();
        let unchanged_before: BTreeSet<&String> = kept_before.difference(&removed).collect();
        let unchanged_after: BTreeSet<&String> = kept_after.difference(&edited).collect();
        assert_eq!(unchanged_before, unchanged_after, "shard {shard}");
    }
}
