//! A batch folder begun by an earlier version, whose keys were computed from requests sent
//! as written (template variables included, no defaults filled in): today's run finds its
//! jobs again through `report.json` and pays for none of them twice.

use serde_json::{Value, json};
use sora_batch_testkit::FakeKie;

use crate::run_support::{Harness, fast_run, quick_schedule, read, write};

const SUBJECTS: [&str; 3] = ["A fox", "A heron", "A lynx"];

fn kling_manifest() -> String {
    format!(
        "version: 1\nmodel: kling-2.6/text-to-video\ndefaults:\n  sound: false\n\
         prompt: \"{{subject}} crosses a frozen river at dawn\"\n\
         matrix:\n  subject: [{}]\n  aspect_ratio: [\"16:9\"]\n{}",
        SUBJECTS.join(", "),
        fast_run(3, "30s")
    )
}

/// A key as an earlier version could have written it: another 64 hex digits.
fn earlier_key(today: &str) -> String {
    today.chars().rev().collect()
}

/// Rewrites the batch folder as the earlier version would have left it: every job under
/// its earlier key, and `report.json` holding the input that version sent (the template
/// variable `subject` in it, the default `duration` not). `edited` names a job whose
/// prompt has changed in the manifest since.
fn as_an_earlier_version_left_it(harness: &Harness, edited: &str) -> Vec<String> {
    let mut report = harness.report();
    let mut journal =
        String::from_utf8_lossy(&read(&harness.out().join("journal.jsonl"))).into_owned();
    let mut earlier_keys = Vec::new();
    let jobs = report["jobs"].as_array_mut().expect("report jobs");
    for job in jobs.iter_mut() {
        let today = job["key"].as_str().expect("key").to_owned();
        let earlier = earlier_key(&today);
        journal = journal.replace(&today, &earlier);
        job["key"] = json!(earlier);
        let is_edited = job["id"] == edited;
        let input = job["input"].as_object_mut().expect("input");
        input.remove("duration");
        let prompt = input["prompt"].as_str().expect("prompt").to_owned();
        let subject = SUBJECTS
            .iter()
            .find(|subject| prompt.starts_with(*subject))
            .expect("a subject");
        input.insert("subject".into(), json!(subject));
        if is_edited {
            input.insert("prompt".into(), json!(format!("{subject} sleeps")));
        }
        earlier_keys.push(earlier);
    }
    write(&harness.out().join("journal.jsonl"), journal.as_bytes());
    write(
        &harness.out().join("report.json"),
        serde_json::to_string_pretty(&report)
            .expect("report")
            .as_bytes(),
    );
    earlier_keys
}

fn rekeyed_records(harness: &Harness) -> Vec<Value> {
    harness
        .journal()
        .into_iter()
        .filter(|record| record["type"] == "rekeyed")
        .collect()
}

#[test]
fn jobs_an_earlier_version_journaled_under_other_keys_are_not_paid_for_again() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&kling_manifest());
    harness.run(&[]).assert_code(0, "first run");
    assert_eq!(harness.fake.log().tasks_created(), 3);
    let edited = "a-heron-16-9";
    let earlier_keys = as_an_earlier_version_left_it(&harness, edited);

    let mut plan = harness.command(&["plan"]);
    plan.arg(harness.manifest_path())
        .arg("--out")
        .arg(harness.out());
    let plan = Harness::finish(plan);
    plan.assert_code(0, "plan");
    assert!(
        plan.stderr
            .contains("2 job(s) journaled by an earlier version"),
        "{}",
        plan.stderr
    );
    // Shown as done: only the edited job is left to do.
    assert_eq!(
        plan.stdout.matches("  succeeded  ").count(),
        2,
        "{}",
        plan.stdout
    );

    let again = harness.run(&[]);
    again.assert_code(0, "the run after the upgrade");
    // The two unchanged jobs continue; the one whose request changed is a new task.
    let log = harness.fake.log();
    assert_eq!(log.tasks_created(), 4, "{:#?}", log.create_task_bodies());
    assert_eq!(
        log.create_task_bodies()[3]["input"]["prompt"],
        "A heron crosses a frozen river at dawn"
    );
    let rekeyed = rekeyed_records(&harness);
    assert_eq!(rekeyed.len(), 2, "{rekeyed:#?}");
    for record in &rekeyed {
        assert!(earlier_keys.iter().any(|key| record["from"] == *key));
    }
    harness.assert_all_videos_complete(3);

    // report.json now holds today's keys only: the journal's records carry the adoption.
    harness.run(&[]).assert_code(0, "a third run");
    assert_eq!(harness.fake.log().tasks_created(), 4);
    assert_eq!(rekeyed_records(&harness).len(), 2);
    let report = harness.report();
    let states: Vec<&str> = report["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|job| job["state"].as_str())
        .collect();
    assert_eq!(states, ["succeeded"; 3]);
}

/// The keys of the jobs `plan --shard K/N` gives shard `k` of `n`.
fn shard_keys(harness: &Harness, k: u32, n: u32) -> Vec<String> {
    let mut plan = harness.command(&["plan"]);
    plan.arg(harness.manifest_path())
        .arg("--out")
        .arg(harness.out())
        .arg("--shard")
        .arg(format!("{k}/{n}"))
        .arg("--json");
    let planned = Harness::finish(plan);
    planned.assert_code(0, "plan --shard");
    let document: Value = serde_json::from_str(&planned.stdout).expect("plan --json");
    document["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|job| job["key"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn a_shard_whose_earlier_jobs_now_belong_to_another_shard_is_refused_and_sends_nothing() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&kling_manifest());
    harness.run(&[]).assert_code(0, "first run");
    let today_keys: Vec<String> = harness.report()["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .filter_map(|job| job["key"].as_str().map(str::to_owned))
        .collect();
    as_an_earlier_version_left_it(&harness, "none");
    // A shard that does not hold every one of the three jobs: some of its folder's
    // earlier jobs are another shard's today.
    let shard = (1..=2)
        .find(|k| {
            let own = shard_keys(&harness, *k, 2);
            today_keys.iter().any(|key| !own.contains(key))
        })
        .expect("a shard without every job");
    let created = harness.fake.log().tasks_created();

    let refused = harness.run(&["--shard", &format!("{shard}/2")]);

    refused.assert_code(2, "a shard run that would pay again");
    assert!(
        refused.stderr.contains("belong to other shards"),
        "{}",
        refused.stderr
    );
    assert_eq!(harness.fake.log().tasks_created(), created);
    assert!(rekeyed_records(&harness).is_empty());
}
