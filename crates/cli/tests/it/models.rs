//! `sora-batch models list|show|lock|check`: the live catalogue through the fake, the built-in
//! snapshot offline, and the lock beside the manifests written from the catalogue and
//! compared with it.
//!
//! The fake serves the catalogue under the live limit of one request per second unless a
//! test says otherwise. The binary paces its own catalogue calls a second apart, so within
//! one command the limit is never met; tests that run several commands in a row give the
//! fake a short window instead, since nothing paces two processes against each other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use sora_batch_testkit::{Endpoint, FakeKie, FakeKieBuilder};

use crate::run_support::{Finished, Harness, SENTINEL_KEY};
use crate::support::{sora_batch, stdout_of};

const KLING: &str = "kling-2.6/text-to-video";
const BANANA: &str = "nano-banana-2";

/// A fake whose catalogue limit no sequence of commands meets (each command still paces
/// itself at one request per second).
fn unhurried_fake() -> FakeKieBuilder {
    FakeKie::builder().catalogue_rate_limit(1, Duration::from_millis(1))
}

/// A manifest with a Kling matrix and a Nano Banana job.
const TWO_MODELS: &str = "\
version: 1
model: kling-2.6/text-to-video
prompt: a fox in the {place}
matrix:
  place: [snow, sand]
jobs:
  - id: poster
    model: nano-banana-2
    prompt: a poster of a fox
";

fn run(harness: &Harness, args: &[&str]) -> Finished {
    Harness::finish(harness.command(args))
}

fn lock_path(harness: &Harness) -> PathBuf {
    harness.dir.path().join("sora-batch.lock")
}

fn read_text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

fn lock_json(harness: &Harness) -> Value {
    serde_json::from_str(&read_text(&lock_path(harness))).unwrap_or_else(|error| {
        panic!("the lock is not JSON: {error}");
    })
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

#[test]
fn show_reads_the_built_in_snapshot_with_no_key_and_no_network() {
    // No KIE_BASE_URL and no key: a call to the network would fail the command.
    let output = sora_batch()
        .args(["models", "show", KLING])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let text = stdout_of(&output);
    for expected in [
        "duration",
        "\"5\", \"10\"",
        "sound",
        "55 credits",
        "rule    55 a task when duration \"5\", sound false",
        "built-in snapshot, from https://docs.kie.ai/",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn list_asks_the_catalogue_once_and_filters_by_what_models_make() {
    let harness = Harness::start(unhurried_fake());
    let videos = run(&harness, &["models", "list", "--type", "video"]);
    videos.assert_code(0, "models list --type video");
    for model in [KLING, "bytedance/seedance-2-mini", "wan/2-6-text-to-video"] {
        assert!(videos.stdout.contains(model), "{model}:\n{}", videos.stdout);
    }
    assert!(!videos.stdout.contains(BANANA), "{}", videos.stdout);
    assert!(
        videos.stderr.contains("asking the catalogue") && !videos.stderr.contains("error"),
        "a progress line, not an error: {}",
        videos.stderr
    );

    let images = run(&harness, &["models", "list", "--type", "image"]);
    images.assert_code(0, "models list --type image");
    assert!(images.stdout.contains(BANANA), "{}", images.stdout);
    assert!(!images.stdout.contains(KLING), "{}", images.stdout);

    let by_task_and_words = run(
        &harness,
        &[
            "models",
            "list",
            "--type",
            "image-to-video",
            "seedance mini",
        ],
    );
    by_task_and_words.assert_code(0, "models list --type image-to-video QUERY");
    let listed: Vec<&str> = by_task_and_words.stdout.lines().skip(1).collect();
    assert_eq!(listed.len(), 1, "{}", by_task_and_words.stdout);
    assert!(listed[0].starts_with("bytedance/seedance-2-mini"));

    // Filtered here, as the notes advise: the catalogue is asked for everything.
    let log = harness.fake.log();
    let lists = log.requests_to(Endpoint::ListModels);
    assert_eq!(lists.len(), 3);
    assert!(lists.iter().all(|request| request.query_pairs.is_empty()));
}

#[test]
fn show_live_asks_the_catalogue_and_reads_its_price() {
    let harness = Harness::start(unhurried_fake());
    let shown = run(&harness, &["models", "show", KLING, "--live"]);
    shown.assert_code(0, "models show --live");
    for expected in [
        "the live catalogue",
        "prompt",
        "price   A 5-second video costs 55 credits (0.275 USD)",
        "rule    11 a second of duration",
    ] {
        assert!(
            shown.stdout.contains(expected),
            "{expected:?} in\n{}",
            shown.stdout
        );
    }
}

#[test]
fn lock_fetches_each_model_under_the_catalogue_limit_and_check_finds_it_current() {
    // The live limit: one catalogue request per second.
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(TWO_MODELS);
    let locked = run(&harness, &["models", "lock", "batch.yaml"]);
    locked.assert_code(0, "models lock");
    for expected in [
        "[1/2] kling-2.6/text-to-video: asking the catalogue",
        "[2/2] nano-banana-2: asking the catalogue",
        "sora-batch.lock: 2 added, 0 updated, 0 unchanged, 0 removed",
    ] {
        assert!(
            locked.stderr.contains(expected),
            "{expected:?} in\n{}",
            locked.stderr
        );
    }
    let log = harness.fake.log();
    assert_eq!(log.count(Endpoint::ModelSchema), 2);
    assert_eq!(log.count(Endpoint::ModelPrice), 2);
    assert_eq!(log.rate_limited(), 0, "{:#?}", log.requests());
    assert_eq!(log.answered_code(429), 0, "{:#?}", log.requests());

    let text = read_text(&lock_path(&harness));
    assert!(!text.contains(SENTINEL_KEY), "the key reached the lock");
    let lock = lock_json(&harness);
    assert_eq!(lock["version"], 1);
    let kling = &lock["models"][KLING];
    assert_eq!(
        kling["fetched_from"],
        harness.fake.base_url().trim_end_matches('/')
    );
    assert_eq!(
        kling["price_text"],
        "A 5-second video costs 55 credits (0.275 USD)"
    );
    assert_eq!(
        kling["price_rule"],
        json!({"tiers": [{"when": {}, "per_second": 11.0}], "seconds_field": "duration"})
    );
    assert_eq!(
        kling["input_schema"]["properties"]["duration"]["enum"],
        json!(["5", "10"])
    );
    assert!(
        kling["content_hash"]
            .as_str()
            .is_some_and(|hash| hash.starts_with("sha256:"))
    );
    assert_eq!(
        lock["models"][BANANA]["price_rule"]["tiers"][2]["per_task"],
        18.0
    );
}

#[test]
fn locking_again_without_a_change_rewrites_nothing_and_check_passes() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest(TWO_MODELS);
    run(&harness, &["models", "lock", "batch.yaml"]).assert_code(0, "first lock");
    let first = read_text(&lock_path(&harness));
    let again = run(&harness, &["models", "lock", "batch.yaml"]);
    again.assert_code(0, "second lock");
    assert!(again.stderr.contains("2 unchanged"), "{}", again.stderr);
    assert!(again.stderr.contains("(not rewritten)"), "{}", again.stderr);
    assert_eq!(read_text(&lock_path(&harness)), first, "the same bytes");

    let checked = run(&harness, &["models", "check", "batch.yaml"]);
    checked.assert_code(0, "models check");
    assert!(
        checked
            .stdout
            .contains("kling-2.6/text-to-video: up to date")
            && checked.stdout.contains("nano-banana-2: up to date"),
        "{}",
        checked.stdout
    );
}

#[test]
fn check_reports_a_changed_enum_a_removed_field_and_a_price_change_each() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest("version: 1\nmodel: kling-2.6/text-to-video\nprompt: a fox\n");
    run(&harness, &["models", "lock", "batch.yaml"]).assert_code(0, "lock");
    let check = || run(&harness, &["models", "check", "batch.yaml"]);
    let input_of = |document: &mut Value| -> Value {
        document["components"]["schemas"]["KlingTextToVideoInput"].take()
    };
    let relock = || run(&harness, &["models", "lock", "batch.yaml"]).assert_code(0, "relock");

    // An allowed value changed.
    harness.fake.edit_model_openapi(KLING, |document| {
        let mut input = input_of(document);
        input["properties"]["duration"]["enum"] = json!(["5", "15"]);
        document["components"]["schemas"]["KlingTextToVideoInput"] = input;
    });
    let changed = check();
    changed.assert_code(7, "check after an enum changed");
    assert_eq!(
        changed.stdout,
        "kling-2.6/text-to-video: out of date\n  \
         - field `duration`: allowed values added: \"15\"\n  \
         - field `duration`: allowed values removed: \"10\"\n"
    );
    assert!(
        changed.stderr.contains(
            "sora-batch.lock is out of date: 1 of 1 model(s) differ from the catalogue; run \
             `sora-batch models lock batch.yaml` and commit the lock"
        ),
        "{}",
        changed.stderr
    );
    relock();
    check().assert_code(0, "check after the lock caught up");

    // A field removed.
    harness.fake.edit_model_openapi(KLING, |document| {
        let mut input = input_of(document);
        if let Some(properties) = input["properties"].as_object_mut() {
            properties.remove("sound");
        }
        document["components"]["schemas"]["KlingTextToVideoInput"] = input;
    });
    let removed = check();
    removed.assert_code(7, "check after a field was removed");
    assert_eq!(
        removed.stdout,
        "kling-2.6/text-to-video: out of date\n  - field `sound` removed\n"
    );
    relock();

    // The price.
    harness
        .fake
        .set_model_price(KLING, "A 5-second video costs 60 credits (0.30 USD)");
    let repriced = check();
    repriced.assert_code(7, "check after a price change");
    assert_eq!(
        repriced.stdout,
        "kling-2.6/text-to-video: out of date\n  \
         - price text: \"A 5-second video costs 55 credits (0.275 USD)\" -> \"A 5-second video costs 60 credits (0.30 USD)\"\n  \
         - price rule: 11 a second of duration -> 12 a second of duration\n"
    );
    relock();
    check().assert_code(0, "check after the last relock");
    assert_eq!(
        lock_json(&harness)["models"][KLING]["price_rule"]["tiers"][0]["per_second"],
        12.0
    );
}

#[test]
fn check_without_a_lock_or_with_a_model_missing_is_out_of_date_without_asking() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest(TWO_MODELS);
    let mut command = harness.command(&["models", "check", "batch.yaml"]);
    command.env_remove("KIE_API_KEY");
    let no_lock = Harness::finish(command);
    no_lock.assert_code(7, "check with no lock");
    assert!(
        no_lock.stderr.contains(
            "there is no lock at sora-batch.lock: run `sora-batch models lock batch.yaml`"
        ),
        "{}",
        no_lock.stderr
    );
    assert!(harness.fake.log().requests().is_empty());

    harness.write_manifest("version: 1\nmodel: nano-banana-2\nprompt: a poster\n");
    run(&harness, &["models", "lock", "batch.yaml"]).assert_code(0, "lock");
    harness.write_manifest(TWO_MODELS);
    let missing = run(&harness, &["models", "check", "batch.yaml"]);
    missing.assert_code(7, "check with a model not locked");
    assert!(
        missing
            .stdout
            .contains("kling-2.6/text-to-video: out of date\n  - not in the lock\n"),
        "{}",
        missing.stdout
    );
    assert!(missing.stdout.contains("nano-banana-2: up to date"));
}

#[test]
fn lock_refuses_models_it_cannot_run_and_writes_nothing() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest(
        "\
version: 1
model: kling-2.6/text-to-video
jobs:
  - {prompt: a, model: veo3_fast}
  - {prompt: b, model: acme/no-such-model}
  - {prompt: c}
",
    );
    let refused = run(&harness, &["models", "lock", "batch.yaml"]);
    refused.assert_code(2, "lock of unrunnable models");
    for expected in [
        "veo3_fast does not run through the jobs API's createTask (its own paths: /api/v1/veo/generate)",
        "acme/no-such-model is not in the catalogue of the jobs API",
        "2 model(s) cannot be locked; sora-batch.lock was left as it was",
    ] {
        assert!(
            refused.stderr.contains(expected),
            "{expected:?} in\n{}",
            refused.stderr
        );
    }
    assert!(!lock_path(&harness).exists(), "nothing written");
}

#[test]
fn a_refused_model_in_one_lock_leaves_every_lock_unwritten() {
    let harness = Harness::start(unhurried_fake());
    let folder = harness.dir.path();
    for (sub, model) in [
        ("a", "kling-2.6/text-to-video"),
        ("b", "acme/no-such-model"),
    ] {
        std::fs::create_dir_all(folder.join(sub)).expect("a folder");
        write(
            &folder.join(sub).join("batch.yaml"),
            &format!("version: 1\nmodel: {model}\nprompt: a fox\n"),
        );
    }
    let refused = run(
        &harness,
        &["models", "lock", "a/batch.yaml", "b/batch.yaml"],
    );
    refused.assert_code(2, "one lock's model refused");
    assert!(
        refused
            .stderr
            .contains("acme/no-such-model is not in the catalogue"),
        "{}",
        refused.stderr
    );
    for sub in ["a", "b"] {
        assert!(
            !folder.join(sub).join("sora-batch.lock").exists(),
            "{sub}'s lock was written"
        );
    }
}

#[test]
fn manifests_of_one_folder_share_a_lock_and_prune_keeps_only_theirs() {
    let harness = Harness::start(unhurried_fake());
    let folder = harness.dir.path();
    write(
        &folder.join("kling.yaml"),
        "version: 1\nmodel: kling-2.6/text-to-video\nprompt: a fox\n",
    );
    write(
        &folder.join("posters.yaml"),
        "version: 1\nmodel: nano-banana-2\nprompt: a poster\n",
    );
    run(&harness, &["models", "lock", "kling.yaml"]).assert_code(0, "lock kling.yaml");
    let second = run(&harness, &["models", "lock", "posters.yaml"]);
    second.assert_code(0, "lock posters.yaml");
    assert!(second.stderr.contains("1 added"), "{}", second.stderr);
    let models = |harness: &Harness| -> Vec<String> {
        lock_json(harness)["models"]
            .as_object()
            .map(|models| models.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(
        models(&harness),
        [KLING, BANANA],
        "the other manifest's model stays"
    );

    let pruned = run(&harness, &["models", "lock", "--prune", "posters.yaml"]);
    pruned.assert_code(0, "lock --prune");
    assert!(pruned.stderr.contains("1 removed"), "{}", pruned.stderr);
    assert_eq!(models(&harness), [BANANA]);
}

#[test]
fn a_broken_manifest_or_lock_is_located_and_nothing_is_asked() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest("version: 1\nmodel: [kling\n");
    let broken = run(&harness, &["models", "lock", "batch.yaml"]);
    broken.assert_code(2, "lock of broken YAML");
    assert!(
        broken.stderr.contains("--> batch.yaml:"),
        "{}",
        broken.stderr
    );

    harness.write_manifest("version: 1\nmodel: kling-2.6/text-to-video\nprompt: a fox\n");
    write(
        &lock_path(&harness),
        "{\n  \"version\": 2,\n  \"models\": {}\n}\n",
    );
    for args in [
        &["models", "lock", "batch.yaml"][..],
        &["models", "check", "batch.yaml"],
        &["models", "show", KLING],
    ] {
        let newer = run(&harness, args);
        newer.assert_code(2, &args.join(" "));
        assert!(
            newer.stderr.contains(
                "sora-batch.lock:2:3: the lock is of format 2, written by a newer sora-batch"
            ) && newer.stderr.contains("upgrade sora-batch"),
            "{args:?}: {}",
            newer.stderr
        );
    }
    assert!(harness.fake.log().requests().is_empty());
}

#[test]
fn show_reads_the_lock_it_is_run_beside_without_the_network() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest(TWO_MODELS);
    run(&harness, &["models", "lock", "batch.yaml"]).assert_code(0, "lock");
    let asked = harness.fake.log().requests().len();

    let mut command = harness.command(&["models", "show", KLING]);
    command.env_remove("KIE_API_KEY");
    let shown = Harness::finish(command);
    shown.assert_code(0, "models show beside the lock");
    let expected_source = format!(
        "source  the lock sora-batch.lock, fetched {} from {}",
        lock_json(&harness)["models"][KLING]["fetched_at"]
            .as_str()
            .unwrap_or_default(),
        harness.fake.base_url().trim_end_matches('/')
    );
    assert!(shown.stdout.contains(&expected_source), "{}", shown.stdout);
    assert!(shown.stdout.contains("rule    11 a second of duration"));
    assert_eq!(harness.fake.log().requests().len(), asked, "no request");

    // A model the lock lacks comes from the snapshot; a lock that is not there is an error.
    let elsewhere = run(&harness, &["models", "show", "grok-imagine/text-to-video"]);
    elsewhere.assert_code(0, "a model of the snapshot");
    assert!(elsewhere.stdout.contains("source  the built-in snapshot"));
    let missing = run(
        &harness,
        &["models", "show", KLING, "--lock", "no/such.lock"],
    );
    missing.assert_code(2, "--lock of a file that is not there");
    assert!(missing.stderr.contains("there is no lock at no/such.lock"));
}

/// A model of the fake's catalogue that the built-in snapshot does not have.
fn catalogue_only_model() -> FakeKieBuilder {
    let summary = json!({
        "model": "acme/clip-maker",
        "title": "Clip Maker",
        "provider": "acme",
        "taskType": ["text-to-video"],
        "pricingDesc": "A 4-second video costs 20 credits (0.10 USD)",
    });
    let openapi = json!({
        "openapi": "3.1.0",
        "paths": {"/api/v1/jobs/createTask": {"post": {"requestBody": {"content": {
            "application/json": {"schema": {
                "type": "object",
                "properties": {"model": {"type": "string"}, "input": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["prompt"],
                    "properties": {
                        "prompt": {"type": "string", "maxLength": 1000},
                        "duration": {"type": "string", "enum": ["4", "8"], "default": "4"},
                        "resolution": {"type": "string", "enum": ["480p", "720p"]},
                    }
                }}
            }}
        }}}}}
    });
    unhurried_fake().catalogue_model(
        summary,
        openapi,
        "A 4-second video costs 20 credits (0.10 USD)",
    )
}

#[test]
fn a_model_only_the_catalogue_knows_is_locked_with_its_schema_and_price() {
    let harness = Harness::start(catalogue_only_model());
    // `duration` written as numbers: the schema says strings, so they are sent as "4", "8".
    harness.write_manifest(
        "version: 1\nmodel: acme/clip-maker\nprompt: a fox\nmatrix:\n  duration: [4, 8]\nrun:\n  poll: {first_after: 20ms, min_interval: 10ms, max_interval: 100ms}\n",
    );
    let unknown = run(&harness, &["validate", "batch.yaml"]);
    unknown.assert_code(2, "a model neither the snapshot nor a lock knows");
    assert!(
        unknown.stderr.contains("unknown model") && unknown.stderr.contains("models lock"),
        "{}",
        unknown.stderr
    );

    run(&harness, &["models", "lock", "batch.yaml"]).assert_code(0, "lock");
    let entry = &lock_json(&harness)["models"]["acme/clip-maker"];
    assert_eq!(
        entry["input_schema"]["properties"]["duration"]["enum"],
        json!(["4", "8"])
    );
    assert_eq!(
        entry["price_rule"],
        json!({"tiers": [{"when": {}, "per_second": 5.0}], "seconds_field": "duration"})
    );

    // Offline: no key, and an API host where nothing listens.
    let requests_before = harness.fake.log().requests().len();
    let offline = |args: &[&str]| {
        let mut command = harness.command(args);
        command
            .env_remove("KIE_API_KEY")
            .env("KIE_BASE_URL", "http://127.0.0.1:9");
        Harness::finish(command)
    };
    offline(&["validate", "batch.yaml"]).assert_code(0, "validate with the lock");
    let plan = offline(&["plan", "batch.yaml", "--json"]);
    plan.assert_code(0, "plan with the lock");
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan --json is JSON");
    let credits: Vec<Option<f64>> = plan["jobs"]
        .as_array()
        .map(|jobs| {
            jobs.iter()
                .map(|job| job["estimated_credits"].as_f64())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(credits, [Some(20.0), Some(40.0)], "{plan:#}");
    assert_eq!(harness.fake.log().requests().len(), requests_before);

    // The run sends exactly the schema's fields, in the schema's types.
    run(&harness, &["run", "batch.yaml", "--out", "out"]).assert_code(0, "the run");
    let mut durations: Vec<Value> = harness
        .fake
        .log()
        .requests_to(Endpoint::CreateTask)
        .iter()
        .map(|request| {
            let body: Value = serde_json::from_slice(&request.body).expect("a JSON body");
            assert_eq!(body["model"], "acme/clip-maker");
            let input = body["input"].as_object().cloned().unwrap_or_default();
            let mut fields: Vec<&String> = input.keys().collect();
            fields.sort();
            assert_eq!(fields, ["duration", "prompt"], "{body}");
            input["duration"].clone()
        })
        .collect();
    durations.sort_by_key(Value::to_string);
    assert_eq!(durations, [json!("4"), json!("8")]);
}

#[test]
fn a_manifest_of_sora_models_only_has_nothing_to_lock_and_needs_no_key() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest("version: 1\nprompt: a fox\n");
    let mut command = harness.command(&["models", "lock", "batch.yaml"]);
    command.env_remove("KIE_API_KEY");
    let locked = Harness::finish(command);
    locked.assert_code(0, "lock of a Sora 2 manifest");
    assert!(
        locked
            .stderr
            .contains("sora-2-text-to-video: the Sora 2 family is built into sora-batch"),
        "{}",
        locked.stderr
    );
    assert!(
        locked.stderr.contains("nothing to record: not written"),
        "{}",
        locked.stderr
    );
    assert!(!lock_path(&harness).exists());
    assert!(harness.fake.log().requests().is_empty());
}

#[test]
fn a_lock_from_the_snapshot_needs_no_key_and_names_the_documentation_page() {
    let harness = Harness::start(unhurried_fake());
    harness.write_manifest("version: 1\nmodel: nano-banana-2\nprompt: a poster of a fox\n");
    let mut command = harness.command(&["models", "lock", "--from-snapshot", "batch.yaml"]);
    command.env_remove("KIE_API_KEY");
    Harness::finish(command).assert_code(0, "lock from the snapshot");
    let entry = &lock_json(&harness)["models"]["nano-banana-2"];
    assert!(
        entry["fetched_from"]
            .as_str()
            .is_some_and(|page| page.starts_with("https://docs.kie.ai/")),
        "{entry}"
    );
    assert_eq!(entry["price_rule"]["tiers"][0]["per_task"], json!(8.0));
    assert!(harness.fake.log().requests().is_empty(), "no network");

    harness.write_manifest("version: 1\nmodel: acme/clip-maker\nprompt: a fox\n");
    let refused = run(
        &harness,
        &["models", "lock", "--from-snapshot", "batch.yaml"],
    );
    assert_ne!(refused.code, Some(0));
    assert!(
        refused
            .stderr
            .contains("not in sora-batch's built-in snapshot"),
        "{}",
        refused.stderr
    );
}
