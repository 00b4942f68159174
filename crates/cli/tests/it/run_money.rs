//! Money: the spending cap stops submissions before it is crossed (exit 4), raising it lets
//! the rest through, and a balance too small for what is left is said before anything is sent.

use sora_batch_testkit::{Endpoint, FakeKie};

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
