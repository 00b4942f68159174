//! What a run writes to a CI log (stderr not a terminal): a line per thing worth knowing and
//! a closing status line, snapshotted with timings and temporary paths redacted.

use sora_batch_testkit::{FakeKie, Schedule};

use crate::run_support::{Harness, fast_run, manifest_with_jobs};

/// Replaces what changes from run to run: durations, the temporary folder.
fn redact(text: &str, harness: &Harness) -> String {
    let folder = harness.dir.path().display().to_string();
    let mut out = String::new();
    for line in text.replace(&folder, "[tmp]").lines() {
        let mut words: Vec<String> = Vec::new();
        let mut previous = "";
        for word in line.split(' ') {
            let is_duration = previous == "in"
                && word.trim_end_matches(',').ends_with('s')
                && word.chars().next().is_some_and(|c| c.is_ascii_digit());
            words.push(if is_duration {
                format!("[time]{}", if word.ends_with(',') { "," } else { "" })
            } else {
                word.to_owned()
            });
            previous = word;
        }
        out.push_str(&words.join(" "));
        out.push('\n');
    }
    out
}

#[test]
fn a_run_in_a_ci_log() {
    // One job at a time and one poll to finish, so the order of the lines is fixed.
    let harness = Harness::start(
        FakeKie::builder()
            .schedule(Schedule::Polls {
                waiting: 0,
                queuing: 0,
                generating: 1,
            })
            .fail_prompts_containing("REFUSE", "400", "Your prompt was flagged by moderation."),
    );
    let jobs = [
        ("harbour".to_owned(), "A harbour at night".to_owned()),
        ("refused".to_owned(), "REFUSE this one".to_owned()),
        ("meadow".to_owned(), "A meadow in the wind".to_owned()),
    ];
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(1, "30s")));
    let first = harness.run(&[]);
    first.assert_code(1, "one job is refused");
    assert_eq!(first.stdout, "", "a run writes nothing to stdout");
    let again = harness.run(&[]);
    again.assert_code(1, "the same outcome, from the journal");
    insta::assert_snapshot!(format!(
        "--- first run\n{}--- the same command again\n{}",
        redact(&first.stderr, &harness),
        redact(&again.stderr, &harness)
    ));
}
