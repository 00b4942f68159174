//! `sora-batch run` stopped from outside: `kill -9` at random instants, SIGINT, and a second
//! run on a folder that one is already working in.
//!
//! The kill instants are chosen on the fake's request log, not on a clock: a seeded generator
//! picks how many more requests the fake must receive before the run is killed, so kills
//! land right after a createTask was answered, in the middle of polling, during downloads.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Fault, Schedule, Times};

use crate::run_support::{
    Harness, Running, SENTINEL_KEY, fast_run, file_names, manifest_with_jobs, numbered_jobs,
    quick_schedule, read,
};

/// What the journal says of each job: its id, and its task id once one was recorded.
#[derive(Debug, Default)]
struct JournalView {
    id_of_key: BTreeMap<String, String>,
    task_of_key: BTreeMap<String, String>,
}

impl JournalView {
    fn of(harness: &Harness) -> JournalView {
        let mut view = JournalView::default();
        for record in harness.journal() {
            let key = record["key"].as_str().unwrap_or_default().to_owned();
            match record["type"].as_str() {
                Some("intent") => {
                    let id = record["id"].as_str().unwrap_or_default().to_owned();
                    view.id_of_key.insert(key, id);
                }
                Some("submitted") => {
                    let task = record["task_id"].as_str().unwrap_or_default().to_owned();
                    view.task_of_key.insert(key, task);
                }
                _ => {}
            }
        }
        view
    }

    /// The ids of the jobs with a recorded task id.
    fn submitted_ids(&self) -> BTreeSet<String> {
        self.task_of_key
            .keys()
            .filter_map(|key| self.id_of_key.get(key).cloned())
            .collect()
    }

    fn task_of_id(&self, id: &str) -> Option<&String> {
        let key = self
            .id_of_key
            .iter()
            .find(|(_, job_id)| job_id.as_str() == id)
            .map(|(key, _)| key)?;
        self.task_of_key.get(key)
    }
}

/// After a kill: every video under its final name is complete — the service's exact bytes
/// for the task the journal recorded for its job.
fn assert_no_partial_file_under_a_final_name(harness: &Harness) {
    let view = JournalView::of(harness);
    for name in file_names(&harness.out()) {
        let Some(id) = name.strip_suffix(".mp4") else {
            continue;
        };
        if id.starts_with('.') {
            continue;
        }
        let Some(task_id) = view.task_of_id(id) else {
            panic!("{name} exists but the journal records no task for {id}");
        };
        assert!(
            read(&harness.out().join(&name)) == harness.fake.expected_file_bytes(task_id, 0),
            "{name} is incomplete or wrong after a kill"
        );
    }
}

/// The record of one kill: how long the fake's log was then, and which jobs had a task id
/// in the journal.
#[derive(Debug)]
struct Checkpoint {
    log_len: usize,
    submitted: BTreeSet<String>,
}

/// One batch killed at random instants (at most `max_kills` times), then run to completion
/// with `--resubmit-uncertain`; returns how many kills happened.
fn kill_round(seed: u64, max_kills: usize) -> usize {
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(Schedule::Polls {
                waiting: 1,
                queuing: 1,
                generating: 2,
            })
            // Large enough that some kills land in the middle of a download.
            .file_size(512 * 1024)
            // Transient faults on top: retries, and proxy pages that make jobs uncertain.
            .random_faults(0.1, seed),
    );
    let jobs = numbered_jobs(8);
    let prompt_of_id: BTreeMap<String, String> = jobs.iter().cloned().collect();
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut checkpoints = Vec::new();
    let mut kills = 0;

    while kills < max_kills {
        let before = harness.fake.log().requests().len();
        let more = rng.usize(1..=10);
        let mut running = harness.spawn_run(&[]);
        let reached =
            harness.wait_for_log(&mut running, |log| log.requests().len() >= before + more);
        if reached && !running.has_exited() {
            let killed = running.kill_9();
            // It may have finished on its own between the check and the kill.
            if killed.code.is_none() {
                kills += 1;
            }
            assert_no_partial_file_under_a_final_name(&harness);
            checkpoints.push(Checkpoint {
                log_len: harness.fake.log().requests().len(),
                submitted: JournalView::of(&harness).submitted_ids(),
            });
            if killed.code == Some(0) {
                break;
            }
        } else {
            // Finished before the instant came: done, or only uncertain jobs are left.
            let finished = running.wait();
            assert!(
                matches!(finished.code, Some(0 | 5)),
                "a run between kills: {finished:#?}"
            );
            break;
        }
    }

    // Then to completion, resubmitting the uncertain jobs: each such run may pay twice for
    // at most the jobs `status` reported uncertain before it. (A proxy page on one of its
    // own createTasks can leave a job uncertain again: then once more.)
    let mut uncertain = 0;
    for attempt in 1.. {
        let status = harness.status_json();
        uncertain += status["summary"]["uncertain"].as_u64().unwrap_or_default();
        let final_run = harness.run(&["--resubmit-uncertain"]);
        if final_run.code == Some(5) && attempt < 5 {
            continue;
        }
        final_run.assert_code(0, "the run after the kills");
        break;
    }

    let log = harness.fake.log();
    // No job with a journaled task id was submitted again.
    for checkpoint in &checkpoints {
        for request in &log.requests()[checkpoint.log_len.min(log.requests().len())..] {
            if request.endpoint != Some(Endpoint::CreateTask) {
                continue;
            }
            let body: serde_json::Value =
                serde_json::from_slice(&request.body).expect("a JSON createTask body");
            let prompt = body["input"]["prompt"].as_str().expect("a prompt");
            for id in &checkpoint.submitted {
                assert_ne!(
                    prompt_of_id.get(id).map(String::as_str),
                    Some(prompt),
                    "{id} had a task id in the journal and was submitted again (seed {seed})"
                );
            }
        }
    }
    let mut submitted_keys = BTreeSet::new();
    for record in harness.journal() {
        let key = record["key"].as_str().unwrap_or_default().to_owned();
        match record["type"].as_str() {
            Some("submitted") => {
                submitted_keys.insert(key);
            }
            Some("intent") => assert!(
                !submitted_keys.contains(&key),
                "an intent after a task id for {key} (seed {seed})"
            ),
            _ => {}
        }
    }
    // Duplicates at most the jobs reported uncertain.
    let per_prompt = log.created_per_prompt();
    assert_eq!(per_prompt.len(), jobs.len(), "{per_prompt:#?}");
    let duplicates: usize = per_prompt.values().map(|n| n.saturating_sub(1)).sum();
    assert!(
        duplicates as u64 <= uncertain,
        "{duplicates} duplicate tasks but {uncertain} uncertain jobs (seed {seed}): {per_prompt:#?}"
    );
    // Every file whole, checksummed, under its final name; no partial file left.
    harness.assert_all_videos_complete(jobs.len());
    kills
}

/// The environment variable that asks for more kills than the suite's default (`cargo xtask
/// chaos` sets it), and the one that picks the first round's seed.
pub const CHAOS_KILLS_VAR: &str = "SORA_BATCH_CHAOS_KILLS";
pub const CHAOS_SEED_VAR: &str = "SORA_BATCH_CHAOS_SEED";

#[test]
fn killed_at_random_instants_then_run_to_completion_nothing_is_paid_twice_or_lost() {
    let env_number = |name: &str| {
        std::env::var(name)
            .ok()
            .and_then(|value| value.trim().parse::<u64>().ok())
    };
    let wanted = env_number(CHAOS_KILLS_VAR).unwrap_or(12);
    let first_seed = env_number(CHAOS_SEED_VAR).unwrap_or(1);
    let mut kills = 0;
    let mut seed = first_seed;
    while kills < wanted {
        assert!(
            seed - first_seed <= wanted,
            "only {kills} kills in {} rounds",
            seed - first_seed
        );
        kills += kill_round(seed, 7) as u64;
        seed += 1;
    }
}

#[test]
fn sigint_exits_130_and_the_same_command_resumes_cleanly() {
    an_orderly_signal_exits_130_and_the_same_command_resumes_cleanly(Running::interrupt);
}

#[test]
fn sighup_is_an_orderly_stop_as_sigterm_is() {
    an_orderly_signal_exits_130_and_the_same_command_resumes_cleanly(Running::hang_up);
}

fn an_orderly_signal_exits_130_and_the_same_command_resumes_cleanly(signal: fn(&Running)) {
    let harness = Harness::start(FakeKie::builder().schedule(Schedule::Polls {
        waiting: 1,
        queuing: 1,
        generating: 3,
    }));
    let jobs = numbered_jobs(8);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(4, "30s")));

    let mut running = harness.spawn_run(&[]);
    let submitted = harness.wait_for_log(&mut running, |log| log.tasks_created() >= 2);
    assert!(submitted, "the run ended before two tasks were submitted");
    signal(&running);
    let interrupted = running.wait();

    interrupted.assert_code(130, "an orderly signal");
    assert!(
        interrupted.stderr.contains("run the same command again"),
        "{}",
        interrupted.stderr
    );
    let report = harness.report();
    assert!(
        report["summary"]["succeeded"]
            .as_u64()
            .expect("a count of succeeded jobs")
            < 8,
        "{report:#}"
    );
    assert_eq!(report["summary"]["uncertain"], 0, "{report:#}");

    harness.run(&[]).assert_code(0, "the resumed run");

    harness.assert_each_prompt_created_once(8);
    harness.assert_all_videos_complete(8);
}

#[test]
fn a_second_run_on_a_folder_in_use_exits_2_and_sends_nothing() {
    // Tasks that never finish while the test looks: the first run holds the folder.
    let harness = Harness::start(FakeKie::builder().schedule(Schedule::Polls {
        waiting: 1,
        queuing: 0,
        generating: 100_000,
    }));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    let mut first = harness.spawn_run(&[]);
    let working = harness.wait_for_log(&mut first, |log| log.tasks_created() >= 1);
    assert!(working, "the first run ended early");

    let mut second = harness.run_command(&[]);
    second.env("KIE_API_KEY", "sk-second-run-key");
    let refused = Harness::finish(second);

    refused.assert_code(2, "a second run on the same folder");
    assert!(
        refused.stderr.to_lowercase().contains("lock")
            || refused.stderr.to_lowercase().contains("in use")
            || refused.stderr.to_lowercase().contains("another"),
        "{}",
        refused.stderr
    );
    let log = harness.fake.log();
    assert!(
        log.header_values("authorization")
            .iter()
            .all(|value| value == &format!("Bearer {SENTINEL_KEY}")),
        "the second run sent requests"
    );
    let first = first.kill_9();
    assert_eq!(first.code, None, "the first run was still working");
}

/// Someone clears what looks like a stale `.lock` while a run works, and starts a second run
/// on the same folder: it is refused all the same, nothing is paid twice, and the journal is
/// the first run's alone, so the batch resumes.
#[test]
fn deleting_the_lock_file_during_a_run_does_not_let_a_second_run_in() {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    let jobs = numbered_jobs(12);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    // The first createTask creates its task at once but is answered only much later: the
    // first run cannot end while the test works, whatever else it finishes meanwhile.
    harness.fake.inject(
        Endpoint::CreateTask,
        Fault::Slow {
            delay: Duration::from_secs(30),
        },
        Times::Once,
    );
    let mut first = harness.spawn_run(&[]);
    // An intent is durable before its createTask leaves: a task at the fake means the
    // journal holds an intent, and the first run holds the folder.
    let working = harness.wait_for_log(&mut first, |log| log.tasks_created() >= 1);
    assert!(working, "the first run ended before submitting");

    let lock_file = harness.out().join(".lock");
    match std::fs::remove_file(&lock_file) {
        Ok(()) => {}
        // Nothing to delete when the lock is not a file in the folder.
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot remove {}: {error}", lock_file.display()),
    }
    let mut second = harness.run_command(&[]);
    second.env("KIE_API_KEY", "sk-second-run-key");
    let refused = Harness::finish(second);

    let per_prompt = harness.fake.log().created_per_prompt();
    let paid_twice = per_prompt.values().filter(|n| **n > 1).count();
    assert_eq!(
        refused.code,
        Some(2),
        "the second run was let in; {paid_twice} of 12 jobs paid twice so far\n--- stderr\n{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("another sora-batch run") && refused.stderr.contains("lock"),
        "{}",
        refused.stderr
    );
    let log = harness.fake.log();
    assert!(
        log.header_values("authorization")
            .iter()
            .all(|value| value == &format!("Bearer {SENTINEL_KEY}")),
        "the second run sent requests"
    );
    // Still working after the second run came and went: it was refused by a live lock.
    let first = first.kill_9();
    assert_eq!(first.code, None, "the first run was still working");

    // The journal reads back and the same command carries on: the abandoned createTask's
    // job is uncertain, every other job done, none submitted twice.
    harness.status_json();
    harness
        .run(&[])
        .assert_code(5, "the resumed run leaves the uncertain job alone");
    let mut intents = BTreeMap::<String, usize>::new();
    for record in harness.journal() {
        if record["type"] == "intent" {
            let key = record["key"].as_str().unwrap_or_default().to_owned();
            *intents.entry(key).or_default() += 1;
        }
    }
    assert_eq!(intents.len(), 12, "{intents:#?}");
    assert!(intents.values().all(|n| *n == 1), "{intents:#?}");
    // The createTask cut off by the kill may not have reached the service (on a loaded
    // machine the kill can come first): its job is uncertain either way, and no prompt was
    // paid for twice.
    let per_prompt = harness.fake.log().created_per_prompt();
    assert!(per_prompt.values().all(|n| *n == 1), "{per_prompt:#?}");
    let summary = &harness.report()["summary"];
    let (succeeded, uncertain) = (
        summary["succeeded"].as_u64().unwrap_or_default(),
        summary["uncertain"].as_u64().unwrap_or_default(),
    );
    assert!(uncertain >= 1, "{summary}");
    assert_eq!(succeeded + uncertain, 12, "{summary}");
    assert!(per_prompt.len() as u64 >= succeeded, "{per_prompt:#?}");
}

#[test]
fn a_second_signal_waits_briefly_for_answers_a_third_exits_at_once_and_the_journal_stays_consistent()
 {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    let jobs = numbered_jobs(3);
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(1, "30s")));
    // The first createTask creates its task at once but is answered only much later: a call
    // under way when the signals come.
    harness.fake.inject(
        Endpoint::CreateTask,
        Fault::Slow {
            delay: Duration::from_secs(20),
        },
        Times::Once,
    );
    let mut running = harness.spawn_run(&[]);
    assert!(harness.wait_for_log(&mut running, |log| log.tasks_created() >= 1));

    // SIGTERM (a CI cancel) first: no new submissions, calls under way may settle.
    running.terminate();
    assert!(
        running.wait_for_stderr("interrupted:"),
        "{}",
        running.stderr_so_far()
    );
    // Then Ctrl-C: the run says it waits (briefly) for the one createTask on the wire...
    running.interrupt();
    assert!(
        running.wait_for_stderr("for the answers to 1 createTask(s) already sent"),
        "{}",
        running.stderr_so_far()
    );
    // ...and a third is out at once, without waiting for the slow call.
    running.interrupt();
    let finished = running.wait();

    finished.assert_code(130, "a third signal");
    assert!(
        finished.stderr.contains("interrupted a third time"),
        "{}",
        finished.stderr
    );
    // The journal reads back: the abandoned createTask's job is uncertain, the rest pending.
    let status = harness.status_json();
    assert_eq!(status["summary"]["uncertain"], 1, "{status:#}");
    assert_eq!(status["summary"]["pending"], 2, "{status:#}");

    // The same command does the rest and leaves the uncertain job alone...
    let resumed = harness.run(&[]);
    resumed.assert_code(5, "an uncertain job is outstanding");
    assert!(
        resumed.stderr.contains("--resubmit-uncertain"),
        "{}",
        resumed.stderr
    );
    let per_prompt = harness.fake.log().created_per_prompt();
    assert!(per_prompt.values().all(|n| *n == 1), "{per_prompt:#?}");
    // ...until asked: then it pays at most once more, for the one uncertain job.
    harness
        .run(&["--resubmit-uncertain"])
        .assert_code(0, "resubmitting the uncertain job");
    let per_prompt = harness.fake.log().created_per_prompt();
    let duplicates: usize = per_prompt.values().map(|n| n - 1).sum();
    assert_eq!(per_prompt.len(), 3);
    assert!(duplicates <= 1, "{per_prompt:#?}");
    harness.assert_all_videos_complete(3);
}

#[test]
fn a_journal_cut_short_by_a_kill_at_the_first_instant_is_repaired() {
    for leftover in [&b""[..], &b"{\"type\":\"hea"[..]] {
        let harness = Harness::start(FakeKie::builder());
        harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
        std::fs::create_dir_all(harness.out()).unwrap_or_else(|e| panic!("{e}"));
        crate::run_support::write(&harness.out().join("journal.jsonl"), leftover);

        harness.run(&[]).assert_code(0, "a run over a torn journal");
        harness.run(&[]).assert_code(0, "and again");

        let journal = harness.journal();
        assert_eq!(journal[0]["type"], "header", "{journal:#?}");
        harness.assert_each_prompt_created_once(2);
        harness.assert_all_videos_complete(2);
    }
}
