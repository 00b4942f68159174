//! Expansion: matrix with include and exclude, templates, takes and explicit jobs, each as
//! a snapshot of the jobs a manifest becomes.

use sora_batch_engine::models::ModelBook;

use crate::support::{check, check_with, locked_model};

#[test]
fn a_prompt_alone_is_one_job_with_the_seed_defaults() {
    insta::assert_snapshot!(check("version: 1\nprompt: A cat plays the piano\n"));
}

#[test]
fn matrix_with_include_and_exclude_follows_github_actions() {
    insta::assert_snapshot!(check(
        r#"version: 1
name: fruit
prompt: "{subject} on a kitchen table"
matrix:
  subject: [an apple, a pear]
  aspect_ratio: [landscape, portrait]
  include:
    # merged into every combination: no original value is overwritten
    - n_frames: 15
    # merged into the portrait ones, overwriting the n_frames added above
    - {n_frames: 10, aspect_ratio: portrait}
    # merged into the apples only
    - {subject: an apple, remove_watermark: false}
    # matches no combination (no banana axis value): a combination of its own
    - subject: a banana
    # not merged into the banana above (added combinations are not original ones)
    - {subject: a banana, aspect_ratio: portrait}
"#
    ));
}

#[test]
fn exclude_removes_partial_matches_and_include_can_add_back() {
    insta::assert_snapshot!(check(
        r#"version: 1
prompt: "{subject} waves, {style} style"
matrix:
  subject: [a professor, a chef]
  style: [watercolor, noir]
  aspect_ratio: [landscape, portrait]
  exclude:
    - subject: a chef          # a partial match: every chef combination goes
    - {style: noir, aspect_ratio: portrait}
  include:
    - {subject: a chef, style: noir, aspect_ratio: landscape}
"#
    ));
}

#[test]
fn templates_take_vars_axes_and_include_keys_with_escaped_braces() {
    insta::assert_snapshot!(check(
        r#"version: 1
vars:
  brand: Kie AI
  year: 2026
prompt: "{subject} announces Sora 2 on {brand} in {year} {{live}}, {tone}"
matrix:
  subject: [a professor, a robot]
  include:
    - tone: calmly                          # added to both combinations
    - {subject: a robot, tone: excitedly}   # overwrites an added value, not an original one
"#
    ));
}

#[test]
fn takes_make_one_job_per_video_with_t2_suffixes() {
    insta::assert_snapshot!(check(
        r#"version: 1
takes: 2
prompt: "{subject} juggles"
matrix:
  subject: [a clown, a cat]
jobs:
  - id: intro
    prompt: A sunrise over the sea
    takes: 3
    n_frames: 15
"#
    ));
}

#[test]
fn explicit_jobs_merge_defaults_and_derive_ids_from_prompts() {
    insta::assert_snapshot!(check(
        r#"version: 1
name: storyboard
defaults:
  aspect_ratio: portrait
  n_frames: "15"
  remove_watermark: false
jobs:
  - prompt: A lighthouse keeper climbs the stairs at dawn, candle in hand
  - id: scene-2
    prompt: The lamp turns; ships pass in the fog
    aspect_ratio: landscape
  - model: sora-2-pro-text-to-video
    prompt: The storm breaks
    size: high
"#
    ));
}

#[test]
fn colliding_derived_ids_get_a_key_suffix() {
    insta::assert_snapshot!(check(
        r#"version: 1
jobs:
  - prompt: A red fox runs through snow, slow motion
  - prompt: A red fox runs through snow, slow motion at dusk
  - id: a-red-fox-runs-through-snow
    prompt: A red fox runs through snow at noon
"#
    ));
}

#[test]
fn a_model_axis_and_a_model_without_schema_passes_through_with_a_warning() {
    let book =
        ModelBook::built_in().with_locked([locked_model("acme/new-video-model", None, None)]);
    insta::assert_snapshot!(check_with(
        r#"version: 1
prompt: A paper boat on a river
matrix:
  model: [sora-2-text-to-video, acme/new-video-model]
  aspect_ratio: [landscape]
"#,
        &book
    ));
}

#[test]
fn an_unknown_model_on_an_axis_is_an_error_with_a_suggestion() {
    insta::assert_snapshot!(check(
        r#"version: 1
prompt: A paper boat on a river
matrix:
  model: [kling-2.6/text-to-vido, veo3-fast]
  sound: [false]
"#
    ));
}

#[test]
fn n_frames_given_as_a_number_is_sent_as_a_string() {
    let loaded = crate::support::load_ok("version: 1\nprompt: x y z\ndefaults: {n_frames: 15}\n");
    assert_eq!(
        loaded.manifest.jobs[0].input.get("n_frames"),
        Some(&serde_json::json!("15"))
    );
}

#[test]
fn run_settings_and_their_defaults() {
    let loaded = crate::support::load_ok(
        "version: 1\nprompt: x\nrun:\n  concurrency: 8\n  timeout: 1h 30m\n  max_credits: 600\n  callback_url: https://example.com/hook\n  create_limit: {requests: 10, per: 10s}\n",
    );
    let run = &loaded.manifest.run;
    assert_eq!(run.concurrency, 8);
    assert_eq!(run.timeout.as_secs(), 5400);
    assert_eq!(
        run.max_credits,
        Some(sora_batch_engine::job::Credits(600.0))
    );
    assert_eq!(run.create_limit.requests, 10);
    assert_eq!(run.poll_limit.requests, 8);
    let job = &loaded.manifest.jobs[0];
    assert_eq!(
        job.call_back_url.as_deref(),
        Some("https://example.com/hook")
    );
    let body = serde_json::to_value(job.create_task_request()).unwrap_or_default();
    assert_eq!(body["callBackUrl"], "https://example.com/hook");
    let defaults = crate::support::load_ok("version: 1\nprompt: x\n");
    assert_eq!(defaults.manifest.run.timeout.as_secs(), 2400);
    assert_eq!(defaults.manifest.run.concurrency, 4);
}

/// Each matrix job knows its place in the matrix (axes, then include keys, as text, in the
/// manifest's order) for the gallery's grid; explicit jobs have none. The values are not
/// part of the key, and report.json carries them.
#[test]
fn matrix_jobs_carry_their_axis_values_into_the_report() {
    let yaml = r#"version: 1
prompt: "{subject} waves, {style} style, take {n}"
matrix:
  subject: [a professor, "<b>a \"chef\"</b>"]
  style: [noir]
  n: [10]
  include:
    - {subject: a professor, mood: calm}
jobs:
  - id: lighthouse
    prompt: A lighthouse
"#;
    let loaded = sora_batch_engine::manifest::load_str(crate::support::SOURCE_NAME, yaml)
        .expect("the manifest is valid");
    let values: Vec<Vec<(String, String)>> = loaded
        .manifest
        .jobs
        .iter()
        .map(|job| {
            job.matrix
                .iter()
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
        .collect();
    let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    };
    assert_eq!(
        values,
        vec![
            pairs(&[
                ("subject", "a professor"),
                ("style", "noir"),
                ("n", "10"),
                ("mood", "calm")
            ]),
            pairs(&[
                ("subject", "<b>a \"chef\"</b>"),
                ("style", "noir"),
                ("n", "10")
            ]),
            pairs(&[]),
        ]
    );
    let report = sora_batch_engine::report::Report::plan(&loaded.manifest, "m.yaml");
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(
        json["jobs"][0]["matrix"],
        serde_json::json!({"subject": "a professor", "style": "noir", "n": "10", "mood": "calm"})
    );
    assert!(json["jobs"][2].get("matrix").is_none(), "{json}");
    // Read back from text, as report.json is: in the manifest's order, which a
    // `serde_json::Value` (sorted keys) would lose.
    let text = serde_json::to_string(&report).expect("serializes");
    let back: sora_batch_engine::report::Report = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, report);
}
