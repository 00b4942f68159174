//! `rows:` end to end: a CSV of prompts crossed with a matrix axis runs on the fake, and
//! what an edit of the table reruns is exactly what changed; `validate` and `plan` read the
//! table offline.

use crate::run_support::{Harness, fast_run, quick_schedule};
use crate::support::{sora_batch, stderr_of, stdout_of};
use sora_batch_testkit::FakeKie;

const PROMPTS: &str = "id,prompt\n\
fox,A red fox runs through fresh snow\n\
boat,\"A paper boat, folded from a map, drifts\"\n\
owl,An owl blinks twice on a branch\n\
city,A city wakes up under a pink sky\n\
bee,A bee visits a lavender flower\n";

fn manifest() -> String {
    format!(
        "version: 1
name: rows
model: kling-2.6/text-to-video
defaults:
  duration: \"5\"
  sound: false
rows: prompts.csv
matrix:
  aspect_ratio: [\"16:9\", \"9:16\"]
{}",
        fast_run(4, "30s")
    )
}

fn write_table(harness: &Harness, text: &str) {
    if let Err(error) = std::fs::write(harness.dir.path().join("prompts.csv"), text) {
        panic!("cannot write the table: {error}");
    }
}

#[test]
fn five_rows_times_two_ratios_run_ten_jobs_and_an_edit_reruns_that_rows_jobs_only() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest());
    write_table(&harness, PROMPTS);
    harness.run(&[]).assert_code(0, "first run");
    assert_eq!(harness.fake.log().tasks_created(), 10);
    harness.assert_all_videos_complete(10);
    let report = harness.report();
    let ids: Vec<&str> = report["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|job| job["id"].as_str())
        .collect();
    assert!(ids.contains(&"boat-9-16"), "{ids:?}");
    let boat = report["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|job| job["id"] == "boat-16-9")
        .cloned()
        .unwrap_or_default();
    assert_eq!(boat["matrix"]["id"], "boat");
    assert_eq!(boat["matrix"]["aspect_ratio"], "16:9");

    // One cell edited: that row's two jobs, and nothing else.
    write_table(
        &harness,
        &PROMPTS.replace("An owl blinks twice", "An owl blinks three times"),
    );
    harness.run(&[]).assert_code(0, "run after the edit");
    let bodies = harness.fake.log().create_task_bodies();
    assert_eq!(bodies.len(), 12, "two new createTask calls");
    let mut ratios: Vec<&str> = bodies[10..]
        .iter()
        .map(|body| {
            assert_eq!(
                body["input"]["prompt"], "An owl blinks three times on a branch",
                "{body}"
            );
            body["input"]["aspect_ratio"].as_str().unwrap_or_default()
        })
        .collect();
    ratios.sort_unstable();
    assert_eq!(ratios, ["16:9", "9:16"]);

    // Rows and columns reordered: the same requests, nothing new.
    write_table(
        &harness,
        "prompt,id\n\
A bee visits a lavender flower,bee\n\
An owl blinks three times on a branch,owl\n\
A city wakes up under a pink sky,city\n\
\"A paper boat, folded from a map, drifts\",boat\n\
A red fox runs through fresh snow,fox\n",
    );
    harness.run(&[]).assert_code(0, "run after reordering");
    assert_eq!(harness.fake.log().tasks_created(), 12, "no new task");
    harness.assert_all_videos_complete(10);
}

#[test]
fn validate_locates_every_problem_of_a_malformed_table_at_once() {
    let output = sora_batch()
        .args(["validate", "fixtures/rows/malformed.yaml"])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(2), "{}", stdout_of(&output));
    insta::assert_snapshot!(stderr_of(&output));
}

#[test]
fn plan_lists_the_jobs_of_the_rows_offline() {
    let output = sora_batch()
        .args(["plan", "manifests/storyboard-rows.yaml"])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    for id in [
        "arrival-16-9",
        "arrival-9-16",
        "keeper-16-9",
        "keeper-9-16",
        "storm-16-9",
    ] {
        assert!(stdout.contains(id), "{id} missing in:\n{stdout}");
    }
    assert!(!stdout.contains("storm-9-16"), "{stdout}");
}
