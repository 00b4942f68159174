//! `--help` of every command, as users see it: snapshots, so that a change of wording is
//! reviewed like code.

use crate::support::{sora_batch, stdout_of};

fn help_of(args: &[&str]) -> String {
    let output = sora_batch()
        .args(args)
        .arg("--help")
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0));
    stdout_of(&output)
}

#[test]
fn help() {
    insta::assert_snapshot!(help_of(&[]));
}

#[test]
fn plan_help() {
    insta::assert_snapshot!(help_of(&["plan"]));
}

#[test]
fn run_help() {
    insta::assert_snapshot!(help_of(&["run"]));
}

#[test]
fn status_help() {
    insta::assert_snapshot!(help_of(&["status"]));
}

#[test]
fn task_help() {
    insta::assert_snapshot!(help_of(&["task"]));
}

#[test]
fn models_check_help() {
    insta::assert_snapshot!(help_of(&["models", "check"]));
}

#[test]
fn models_lock_help() {
    insta::assert_snapshot!(help_of(&["models", "lock"]));
}

#[test]
fn validate_help() {
    insta::assert_snapshot!(help_of(&["validate"]));
}

#[test]
fn every_command_names_the_program_in_its_version() {
    for args in [
        &["--version"][..],
        &["run", "--version"],
        &["models", "show", "--version"],
    ] {
        let output = sora_batch().args(args).output().expect("runs");
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            format!("sora-batch {}", env!("CARGO_PKG_VERSION")),
            "{args:?}"
        );
    }
}

#[test]
fn status_of_a_batch_folder_that_is_not_there_is_an_error() {
    let output = sora_batch()
        .args(["status", "manifests/demo.yaml", "--out", "no/such/folder"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("no batch folder at no/such/folder"),
        "{output:?}"
    );
}

/// `--color` reaches clap: help and usage errors are coloured with `always` (even under
/// NO_COLOR, which `sora_batch()` sets: the flag is the more specific wish) and plain with
/// `never`, in either spelling and wherever the flag stands.
#[test]
fn help_and_usage_errors_honour_color() {
    const ESCAPE: &str = "\u{1b}[";
    let run = |args: &[&str]| {
        sora_batch()
            .args(args)
            .output()
            .unwrap_or_else(|error| panic!("{error}"))
    };
    let help = run(&["--color", "always", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(stdout_of(&help).contains(ESCAPE), "coloured help");
    let help = run(&["run", "--help", "--color=never"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(!stdout_of(&help).contains(ESCAPE), "plain help");

    let refused = run(&["run", "--bogus", "--color=always"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = crate::support::stderr_of(&refused);
    assert!(stderr.contains(ESCAPE), "coloured usage error: {stderr:?}");
    assert!(stderr.contains("--bogus"));
    let refused = run(&["--color", "never", "run", "--bogus"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(!crate::support::stderr_of(&refused).contains(ESCAPE));

    // A colour clap does not know is refused, plainly.
    let refused = run(&["--color", "sometimes", "plan", "x.yaml"]);
    assert_eq!(refused.status.code(), Some(2));
    let stderr = crate::support::stderr_of(&refused);
    assert!(
        stderr.contains("sometimes") && !stderr.contains(ESCAPE),
        "{stderr:?}"
    );
}
