//! Money: the spending cap stops submissions before it is crossed (exit 4), raising it lets
//! the rest through, and a balance too small for what is left is said before anything is sent.
//! With live models: a known price, a price that moved, a price learned from the first
//! charge (also after a kill), and a charge never reported.

use sora_batch_testkit::{Charge, Endpoint, FakeKie, Fault, Times};

use crate::run_support::{Harness, fast_run, manifest_with_jobs, numbered_jobs};

#[test]
fn a_cap_of_100_at_30_per_clip_submits_3_of_5_then_raising_it_completes_the_rest() {
    let harness = Harness::start(FakeKie::builder().price_per_task(30.0));
    let run_section = format!("{}  max_credits: 100\n", fast_run(2, "30s"));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(5), &run_section));

    let capped = harness.run(&[]);
    capped.assert_code(4, "the cap stops the run");
    assert_eq!(
        harness.fake.log().tasks_created(),
        3,
        "3 x 30 fits in 100, a 4th would not"
    );
    assert!(capped.stderr.contains("spending cap"), "{}", capped.stderr);
    let report = harness.report();
    assert_eq!(report["summary"]["succeeded"], 3);
    assert_eq!(report["summary"]["pending"], 2);
    assert_eq!(report["summary"]["credits"], 90);

    let raised = harness.run(&["--max-credits", "200"]);
    raised.assert_code(0, "a higher cap lets the rest through");
    assert_eq!(harness.fake.log().tasks_created(), 5);
    harness.assert_each_prompt_created_once(5);
    harness.assert_all_videos_complete(5);
    assert_eq!(harness.report()["summary"]["credits"], 150);
}

#[test]
fn a_cap_too_small_for_one_clip_submits_nothing() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    let finished = harness.run(&["--max-credits", "10"]);
    finished.assert_code(4, "nothing fits under the cap");
    assert_eq!(harness.fake.log().count(Endpoint::CreateTask), 0);
}

#[test]
fn a_short_balance_is_announced_before_the_first_submission() {
    let harness = Harness::start(FakeKie::builder().credits(50.0).price_per_task(30.0));
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(3), &fast_run(1, "30s")));
    let finished = harness.run(&[]);
    // One clip fits in 50 credits; the second createTask meets the 402.
    finished.assert_code(3, "the account runs out");
    assert!(
        finished.stderr.contains(
            "the account has 50 credits, and the jobs left to submit are estimated at 90"
        ),
        "{}",
        finished.stderr
    );
    let log = harness.fake.log();
    let first_create = log
        .requests()
        .iter()
        .position(|r| r.endpoint == Some(Endpoint::CreateTask))
        .expect("a createTask was sent");
    let balance = log
        .requests()
        .iter()
        .position(|r| r.endpoint == Some(Endpoint::Credit))
        .expect("the balance was read");
    assert!(balance < first_create, "the balance is read first");
    assert_eq!(log.tasks_created(), 1);
}

#[test]
fn a_finished_batch_does_not_even_read_the_balance() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness.run(&[]).assert_code(0, "first run");
    let before = harness.fake.log().requests().len();
    harness.run(&[]).assert_code(0, "second run");
    assert_eq!(harness.fake.log().requests().len(), before);
}

// Live models of the built-in snapshot, on a fake that holds each input to the model's
// schema and charges it by the model's price rule. The inputs send every field the schema
// requires or defaults, in the schema's types, as the live service wants them.

/// A manifest of `count` jobs of `model` with the input fields `fields` (YAML lines under
/// `defaults:`), each job with its own prompt, then `run_section`.
fn model_manifest(model: &str, fields: &[&str], count: usize, run_section: &str) -> String {
    let mut text = format!("version: 1\nname: live-model\nmodel: {model}\ndefaults:\n");
    for field in fields {
        text.push_str(&format!("  {field}\n"));
    }
    text.push_str("jobs:\n");
    for (id, prompt) in numbered_jobs(count) {
        text.push_str(&format!("  - id: {id}\n    prompt: \"{prompt}\"\n"));
    }
    text.push_str(run_section);
    text
}

/// Kling 2.6, 5 s without sound: 55 credits by the snapshot's price.
const KLING_FIELDS: &[&str] = &["sound: false", "aspect_ratio: \"16:9\"", "duration: \"5\""];

/// Seedance 2 mini at 480p with `duration: -1` (the model chooses): no price before the
/// charge; the fake's model chooses 8 s, 3.8 × 8 = 30.4 credits.
const SEEDANCE_CHOOSES_FIELDS: &[&str] = &[
    "generate_audio: false",
    "resolution: \"480p\"",
    "aspect_ratio: \"16:9\"",
    "duration: -1",
    "nsfw_checker: false",
];

const SEEDANCE: &str = "bytedance/seedance-2-mini";

fn capped(max_credits: u32, concurrency: u32) -> String {
    format!(
        "{}  max_credits: {max_credits}\n",
        fast_run(concurrency, "30s")
    )
}

/// The charges recordInfo reported, summed from the fake's answers as the run saw them
/// (report.json's per-job `credits`), and what the account really paid (the fake's own sum).
fn charges(harness: &Harness) -> (f64, f64) {
    let report = harness.report();
    let reported: f64 = report["jobs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|job| job["credits"].as_f64())
        .sum();
    (reported, harness.fake.charged_credits())
}

#[test]
fn eight_kling_jobs_at_55_under_a_cap_of_100_charge_55_and_exit_4() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&model_manifest(
        "kling-2.6/text-to-video",
        KLING_FIELDS,
        8,
        &capped(100, 4),
    ));

    let finished = harness.run(&[]);
    finished.assert_code(4, "the spending cap stops the run");
    assert!(
        finished.stderr.contains("spending cap"),
        "{}",
        finished.stderr
    );
    assert_eq!(
        harness.fake.log().tasks_created(),
        1,
        "55 fits in 100, 110 does not"
    );
    let (reported, paid) = charges(&harness);
    assert_eq!((reported, paid), (55.0, 55.0));
    assert_eq!(harness.report()["summary"]["pending"], 7);
    // What was sent is what the schema wants: the fake refused nothing.
    let refused = harness
        .fake
        .log()
        .requests()
        .iter()
        .filter(|r| r.endpoint == Some(Endpoint::CreateTask) && r.code != Some(200))
        .count();
    assert_eq!(refused, 0);
}

#[test]
fn a_price_that_went_up_is_learned_from_the_first_charge_and_the_cap_holds() {
    // The snapshot says 55; the service now charges 70. Without learning from the first
    // charge, a third job (70 + 70 + 55 = 195 estimated) would be sent and 210 paid.
    let harness =
        Harness::start(FakeKie::builder().charge("kling-2.6/text-to-video", Charge::PerTask(70.0)));
    harness.write_manifest(&model_manifest(
        "kling-2.6/text-to-video",
        KLING_FIELDS,
        4,
        &capped(200, 1),
    ));

    let finished = harness.run(&[]);
    finished.assert_code(4, "the spending cap stops the run");
    assert_eq!(harness.fake.log().tasks_created(), 2, "{}", finished.stderr);
    assert_eq!(charges(&harness), (140.0, 140.0));
    assert!(
        finished
            .stderr
            .contains("price      job-01 cost 70 credits"),
        "{}",
        finished.stderr
    );
}

#[test]
fn an_unpriced_job_goes_alone_and_its_charge_prices_the_jobs_like_it() {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&model_manifest(
        SEEDANCE,
        SEEDANCE_CHOOSES_FIELDS,
        8,
        &capped(100, 4),
    ));

    let finished = harness.run(&[]);
    finished.assert_code(4, "the spending cap stops the run");
    assert!(
        finished.stderr.contains("8 job(s) have no known price"),
        "{}",
        finished.stderr
    );
    // job-01 alone, charged 30.4; then two more at 30.4 (91.2); a fourth would be 121.6.
    let log = harness.fake.log();
    assert_eq!(log.tasks_created(), 3, "{}", finished.stderr);
    let first_creates = log
        .requests()
        .iter()
        .filter(|r| {
            r.endpoint == Some(Endpoint::CreateTask) || r.endpoint == Some(Endpoint::RecordInfo)
        })
        .take_while(|r| r.endpoint == Some(Endpoint::CreateTask))
        .count();
    assert_eq!(
        first_creates, 1,
        "nothing else was sent before job-01's charge was known"
    );
    let (reported, paid) = charges(&harness);
    assert!(
        (reported - 91.2).abs() < 1e-6 && (paid - 91.2).abs() < 1e-6,
        "{reported} {paid}"
    );
    assert!(paid <= 100.0);
    assert!(
        finished
            .stderr
            .contains("price      job-01 cost 30.40 credits"),
        "{}",
        finished.stderr
    );
    // The first charge is journaled with its task's end: a later run learns it again.
    let first_finished = harness
        .journal()
        .into_iter()
        .find(|record| record["type"] == "finished")
        .expect("a finished record");
    assert!((first_finished["credits"].as_f64().unwrap_or(0.0) - 30.4).abs() < 1e-9);
}

#[test]
fn a_learned_price_is_rebuilt_from_the_journal_after_a_kill() {
    // Downloads hang, so the first run is still at work when it is killed.
    let harness = Harness::start(FakeKie::builder());
    harness.fake.inject(
        Endpoint::Files,
        Fault::Slow {
            delay: std::time::Duration::from_secs(300),
        },
        Times::Always,
    );
    harness.write_manifest(&model_manifest(
        SEEDANCE,
        SEEDANCE_CHOOSES_FIELDS,
        8,
        &capped(100, 4),
    ));

    let mut first = harness.spawn_run(&[]);
    assert!(
        first.wait_for_stderr("no more submissions"),
        "{}",
        first.stderr_so_far()
    );
    // Every task sent is journaled as submitted (it is polled only after that).
    assert!(harness.wait_for_log(&mut first, |log| {
        let polled: std::collections::BTreeSet<_> = log
            .requests()
            .iter()
            .filter(|r| r.endpoint == Some(Endpoint::RecordInfo))
            .filter_map(|r| r.query.clone())
            .collect();
        polled.len() == 3
    }));
    let killed = first.kill_9();
    assert_eq!(killed.code, None, "killed, not ended: {}", killed.stderr);
    assert_eq!(harness.fake.log().tasks_created(), 3);
    harness.fake.clear_faults();

    let second = harness.run(&["--max-credits", "200"]);
    second.assert_code(4, "the raised cap stops the run again");
    assert!(
        second
            .stderr
            .contains("price      job-01 was charged 30.40 credits"),
        "{}",
        second.stderr
    );
    assert!(
        !second.stderr.contains("no known price"),
        "every job is priced from the journal: {}",
        second.stderr
    );
    // 91.2 spent, then three more at 30.4: 182.4; a seventh would be 212.8.
    assert_eq!(harness.fake.log().tasks_created(), 6, "{}", second.stderr);
    let (reported, paid) = charges(&harness);
    assert!(
        (reported - 182.4).abs() < 1e-6 && (paid - 182.4).abs() < 1e-6,
        "{reported} {paid}"
    );
    harness.assert_each_prompt_created_once(6);
}

#[test]
fn a_charge_never_reported_stops_submissions_and_says_why() {
    let harness = Harness::start(FakeKie::builder().charge(SEEDANCE, Charge::Unreported(30.4)));
    harness.write_manifest(&model_manifest(
        SEEDANCE,
        SEEDANCE_CHOOSES_FIELDS,
        8,
        &capped(100, 4),
    ));

    let finished = harness.run(&[]);
    finished.assert_code(4, "the cap cannot be kept");
    assert_eq!(harness.fake.log().tasks_created(), 1, "{}", finished.stderr);
    assert!(harness.fake.charged_credits() <= 100.0);
    assert!(
        finished.stderr.contains("cannot be kept")
            && finished
                .stderr
                .contains("has not reported its task's charge"),
        "{}",
        finished.stderr
    );
    assert_eq!(harness.report()["summary"]["succeeded"], 1);
    assert_eq!(harness.report()["summary"]["pending"], 7);
}
