//! `sora-batch validate`: exit codes and every problem of every file.

use crate::support::{manifest_file, sora_batch, stderr_of, stdout_of};

#[test]
fn every_example_manifest_validates() {
    let mut command = sora_batch();
    command.arg("validate");
    for entry in std::fs::read_dir(crate::support::repository_root().join("manifests"))
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.path().extension().is_some_and(|ext| ext == "yaml") {
            command.arg(format!("manifests/{}", entry.file_name().to_string_lossy()));
        }
    }
    let output = command.output().unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("manifests/classroom.yaml: ok, 1 job"));
}

#[test]
fn problems_of_all_files_are_listed_and_exit_2() {
    let (_folder, bad) = manifest_file("bad.yaml", "version: 1\npromt: a cat\ntakes: 0\n");
    let (_other, worse) = manifest_file(
        "worse.yaml",
        "version: 1\njobs:\n  - id: ../x\n    prompt: a\n    n_frames: 12\n",
    );
    let output = sora_batch()
        .arg("validate")
        .arg(&bad)
        .arg("manifests/demo.yaml")
        .arg(&worse)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    for expected in [
        "unknown key `promt` in the manifest, did you mean `prompt`?",
        "bad.yaml:2:1",
        "unsafe id `../x`",
        "invalid value for `n_frames`: `12`",
        "worse.yaml:5:15",
        "2 of 3 manifests have problems",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(stdout_of(&output).contains("manifests/demo.yaml: ok, 5 jobs"));
}

#[test]
fn a_missing_file_is_a_manifest_error() {
    let output = sora_batch()
        .args(["validate", "manifests/does-not-exist.yaml"])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("cannot read the manifest"));
}

#[test]
fn validate_needs_a_manifest() {
    let output = sora_batch()
        .arg("validate")
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(2));
}
