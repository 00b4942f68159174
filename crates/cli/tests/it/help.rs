//! `--help`, as users see it.

use crate::support::{sora_batch, stdout_of};

#[test]
fn help() {
    let output = sora_batch()
        .arg("--help")
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout_of(&output));
}

#[test]
fn plan_help() {
    let output = sora_batch()
        .args(["plan", "--help"])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout_of(&output));
}
