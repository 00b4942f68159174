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
fn validate_help() {
    insta::assert_snapshot!(help_of(&["validate"]));
}
