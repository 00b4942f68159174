//! `sora-batch completions SHELL`: a script for every supported shell, valid bash for bash.

use crate::support::sora_batch;

#[test]
fn every_shell_gets_a_script_that_knows_the_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let output = sora_batch()
            .args(["completions", shell])
            .output()
            .expect("the binary runs");
        assert!(output.status.success(), "{shell}: {output:?}");
        let script = String::from_utf8_lossy(&output.stdout);
        for command in ["validate", "plan", "run", "status", "task", "schema"] {
            assert!(script.contains(command), "{shell} script lacks `{command}`");
        }
    }
}

#[test]
fn the_bash_script_is_valid_bash() {
    let output = sora_batch()
        .args(["completions", "bash"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success() && !output.stdout.is_empty());
    let folder = tempfile::tempdir().expect("temp dir");
    let script = folder.path().join("sora-batch.bash");
    std::fs::write(&script, &output.stdout).expect("writes");
    let checked = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .expect("bash runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn an_unknown_shell_is_a_usage_error() {
    sora_batch().args(["completions", "tcsh"]).assert().code(2);
}
