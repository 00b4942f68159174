//! Generation times across batches, and polls counted as the account counts them: a run
//! leaves what it saw in the generation-time cache and `plan` uses it; a damaged cache is
//! ignored; the cache is never the user's own in a test; the client's own retries of
//! recordInfo go through the run's poll limit.

use std::time::Duration;

use serde_json::Value;
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Times};

use crate::run_support::{
    Harness, fast_run, manifest_with_jobs, numbered_jobs, parse_json, quick_schedule, read,
};

/// The cache's file in `harness`'s cache folder.
fn cache_file(harness: &Harness) -> std::path::PathBuf {
    harness.cache_dir().join("generation-times.json")
}

/// `plan MANIFEST --out OUT --json`, parsed.
fn plan_json(harness: &Harness, out: &std::path::Path) -> Value {
    let mut command = harness.command(&["plan"]);
    command
        .arg(harness.manifest_path())
        .arg("--out")
        .arg(out)
        .arg("--json");
    let finished = Harness::finish(command);
    finished.assert_code(0, "plan --json");
    parse_json(&finished.stdout_bytes, "plan --json")
}

#[test]
fn a_run_remembers_generation_times_and_plan_expects_them() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(3), &fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "three jobs");

    let cache = parse_json(&read(&cache_file(&harness)), "the cache");
    assert_eq!(cache["format"], 1);
    let class = &cache["classes"]["sora-2-text-to-video n_frames=10"];
    assert_eq!(class["tasks"], 3.0, "{cache:#}");

    // The same folder: every job is done, and its times come from its own journal.
    let same = plan_json(&harness, &harness.out());
    assert_eq!(
        same["expected_from"],
        serde_json::json!(["journal"]),
        "{same:#}"
    );
    assert_eq!(same["expected_wall_ms"], 0);

    // A new batch of the same model, in a new folder: from the cache, not the snapshot's
    // two minutes.
    let other: Vec<(String, String)> = numbered_jobs(2)
        .into_iter()
        .map(|(id, prompt)| (id, format!("{prompt}, again")))
        .collect();
    harness.write_manifest(&manifest_with_jobs(&other, &fast_run(3, "30s")));
    let fresh = plan_json(&harness, &harness.dir.path().join("elsewhere"));
    assert_eq!(
        fresh["expected_from"],
        serde_json::json!(["cache"]),
        "{fresh:#}"
    );
    let expected = fresh["jobs"][0]["expected_duration_ms"]
        .as_u64()
        .expect("an expected time");
    assert!(
        expected < 60_000,
        "the fake's times, not the live ones: {expected} ms"
    );
    assert!(fresh["expected_wall_ms"].as_u64().is_some());
}

#[test]
fn a_damaged_cache_is_ignored_and_replaced() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    std::fs::create_dir_all(harness.cache_dir()).expect("the cache folder");
    std::fs::write(cache_file(&harness), b"{\"format\": 1, \"classes\": [trunc")
        .expect("a damaged cache");
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness
        .run(&[])
        .assert_code(0, "the cache is advice, never a failure");
    let cache = parse_json(&read(&cache_file(&harness)), "the rewritten cache");
    assert_eq!(
        cache["classes"]["sora-2-text-to-video n_frames=10"]["tasks"],
        2.0
    );
}

#[test]
fn without_a_cache_folder_nothing_is_written_under_home() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(1), &fast_run(1, "30s")));
    let home = harness.dir.path().join("home");
    std::fs::create_dir_all(&home).expect("a home");
    let mut off = harness.run_command(&[]);
    off.env("SORA_BATCH_CACHE_DIR", "")
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME");
    Harness::finish(off).assert_code(0, "no cache");
    assert!(
        !home.join(".cache").exists(),
        "an empty variable turns the cache off"
    );

    // Unset, the platform's folder under HOME is used (here a temporary one).
    let mut platform = harness.command(&["plan"]);
    platform
        .arg(harness.manifest_path())
        .env_remove("SORA_BATCH_CACHE_DIR")
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME");
    Harness::finish(platform).assert_code(0, "plan reads whatever is there");
    let mut again = harness.run_command(&["--retry-failed"]);
    again
        .env_remove("SORA_BATCH_CACHE_DIR")
        .env("XDG_CACHE_HOME", harness.dir.path().join("xdg"))
        .env("HOME", &home);
    Harness::finish(again).assert_code(0, "nothing left to do");
}

#[test]
fn retries_of_record_info_go_through_the_poll_limit() {
    // The service allows 4 recordInfo per 500 ms; the manifest asks for 2. Every poll of
    // the first four fails twice with a 500 before it gets through, and the client retries
    // after a millisecond: unpaced, one poll's three requests and the next poll's would
    // exceed the service's limit within a few milliseconds.
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()).rate_limit(
        Endpoint::RecordInfo,
        4,
        Duration::from_millis(500),
    ));
    harness
        .fake
        .inject(Endpoint::RecordInfo, Fault::server_error(), Times::Next(8));
    let run_section = fast_run(4, "60s")
        .replace(
            "poll_limit: {requests: 50, per: 1s}",
            "poll_limit: {requests: 2, per: 500ms}",
        )
        .replace("base_delay: 5ms", "base_delay: 1ms");
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(4), &run_section));

    harness
        .run(&[])
        .assert_code(0, "every job gets through the faults");

    let log = harness.fake.log();
    assert_eq!(log.answered_code(500), 8, "the faults were met");
    assert_eq!(
        log.rate_limited(),
        0,
        "the retries went through the poll limit: no 429"
    );
    harness.assert_all_videos_complete(4);
}
