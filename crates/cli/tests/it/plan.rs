//! `sora-batch plan`: the table, the JSON document and its estimates.

use serde_json::Value;

use crate::support::{manifest_file, sora_batch, stderr_of, stdout_of};

fn plan_json(args: &[&str]) -> Value {
    let output = sora_batch()
        .arg("plan")
        .args(args)
        .arg("--json")
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("plan --json is not JSON: {error}\n{}", stdout_of(&output)))
}

#[test]
fn plan_json_is_the_report_document_with_every_job_pending() {
    let plan = plan_json(&["manifests/launch-matrix.yaml"]);
    assert_eq!(plan["version"], 1);
    assert_eq!(plan["name"], "launch-teaser");
    assert_eq!(plan["manifest"], "manifests/launch-matrix.yaml");
    assert_eq!(plan["summary"]["total"], 6);
    assert_eq!(plan["summary"]["pending"], 6);
    let jobs = plan["jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 6);
    for job in &jobs {
        assert_eq!(job["state"], "pending");
        assert_eq!(job["task_id"], Value::Null);
        assert_eq!(job["files"], Value::Array(Vec::new()));
        for field in [
            "id",
            "key",
            "take",
            "model",
            "input",
            "fail_code",
            "fail_msg",
            "credits",
            "duration_ms",
        ] {
            assert!(job.get(field).is_some(), "{field} missing in {job}");
        }
    }
}

#[test]
fn plan_json_estimates_exactly_30_credits_per_10_second_clip() {
    let (_folder, path) = manifest_file(
        "ten.yaml",
        "version: 1\nmodel: sora-2-text-to-video\nprompt: \"{animal} on a skateboard\"\ndefaults: {n_frames: 10}\nmatrix:\n  animal: [a cat, a dog, a goat]\n",
    );
    let plan = plan_json(&[&path.display().to_string()]);
    assert_eq!(plan["estimated_credits"], 90);
    let jobs = plan["jobs"].as_array().expect("a jobs array");
    assert_eq!(jobs.len(), 3);
    for job in jobs {
        assert_eq!(job["estimated_credits"], 30);
        assert_eq!(job["input"]["n_frames"], "10");
    }
    let classroom = plan_json(&["manifests/classroom.yaml"]);
    assert_eq!(classroom["estimated_credits"], 30);
}

#[test]
fn manifest_prices_override_the_built_in_ones_and_unpriced_jobs_are_counted_apart() {
    // Seedance's `duration: -1` lets the model choose the length: no price beforehand.
    let (_folder, path) = manifest_file(
        "prices.yaml",
        "version: 1\nprices:\n  sora-2-text-to-video: {\"15\": 50}\njobs:\n  - {prompt: a, n_frames: 15}\n  - {prompt: b, n_frames: 10}\n  - {prompt: a fox, model: bytedance/seedance-2, duration: -1}\n  - {prompt: a hare, model: kling-2.6/text-to-video, sound: false}\n",
    );
    let plan = plan_json(&[&path.display().to_string()]);
    assert_eq!(plan["estimated_credits"], 80 + 55);
    assert_eq!(plan["unpriced_jobs"], 1);
}

#[test]
fn an_unknown_model_is_an_error_with_a_suggestion_and_a_hint_to_lock_it() {
    let (_folder, path) = manifest_file(
        "unknown.yaml",
        "version: 1\nmodel: kling-2.6/text-to-vido\nprompt: a fox\n",
    );
    let output = sora_batch()
        .arg("plan")
        .arg(&path)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = stderr_of(&output);
    assert!(
        stderr.contains(
            "unknown model `kling-2.6/text-to-vido`, did you mean `kling-2.6/text-to-video`?"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("sora-batch models lock"), "{stderr}");
}

#[test]
fn plan_prints_a_table_with_totals() {
    let output = sora_batch()
        .args([
            "plan",
            "manifests/launch-matrix.yaml",
            "--out",
            "somewhere/else",
        ])
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!(stdout_of(&output));
}

#[test]
fn plan_of_an_invalid_manifest_exits_2() {
    let (_folder, path) = manifest_file("bad.yaml", "version: 1\nprompt: \"{nope}\"\n");
    let output = sora_batch()
        .arg("plan")
        .arg(&path)
        .output()
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("undefined template variable `nope`"));
}
