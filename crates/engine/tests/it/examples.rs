//! The example manifests in `manifests/` load, and the seed's example produces exactly the
//! vendor page's createTask body.

use std::path::{Path, PathBuf};

use sora_batch_engine::manifest;
use sora_batch_engine::report::Report;

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_example_manifest_is_valid() {
    let folder = repository_root().join("manifests");
    let mut names = Vec::new();
    for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
        let path = entry.path();
        if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            if let Err(errors) = manifest::load(&path) {
                panic!("{} does not load:\n{errors}", path.display());
            }
            names.push(path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    assert!(names.len() >= 3, "examples found: {names:?}");
}

#[test]
fn the_classroom_example_sends_the_vendor_pages_request_exactly() {
    let loaded = match manifest::load(&repository_root().join("manifests/classroom.yaml")) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    assert_eq!(loaded.manifest.jobs.len(), 1);
    let body = serde_json::to_value(loaded.manifest.jobs[0].create_task_request())
        .expect("a request serializes");
    let fixture = std::fs::read_to_string(
        repository_root().join("fixtures/api/seed-create-task-request.json"),
    )
    .expect("the fixture is there");
    let expected: serde_json::Value = serde_json::from_str(&fixture).expect("the fixture is JSON");
    assert_eq!(body, expected);
}

#[test]
fn the_demo_has_a_handful_of_jobs_and_one_the_fake_fails() {
    let loaded = match manifest::load(Path::new(&repository_root().join("manifests/demo.yaml"))) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    let jobs = &loaded.manifest.jobs;
    assert_eq!(jobs.len(), 5);
    let failing = jobs
        .iter()
        .filter(|job| {
            job.input["prompt"]
                .as_str()
                .is_some_and(|p| p.contains("[fail]"))
        })
        .count();
    assert_eq!(failing, 1);
}

#[test]
fn plans_estimate_55_credits_per_5_second_kling_clip_without_sound() {
    let loaded = match manifest::load(&repository_root().join("manifests/launch-matrix.yaml")) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    let report = Report::plan(&loaded.manifest, "manifests/launch-matrix.yaml");
    assert_eq!(report.summary.total, 6);
    assert_eq!(report.summary.pending, 6);
    assert_eq!(report.estimated_credits.map(|c| c.0), Some(330.0));
}

#[test]
fn the_seed_example_is_estimated_at_30_credits_for_its_10_second_clip() {
    let loaded = match manifest::load(&repository_root().join("manifests/classroom.yaml")) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    let report = Report::plan(&loaded.manifest, "manifests/classroom.yaml");
    assert_eq!(report.summary.total, 1);
    assert_eq!(report.estimated_credits.map(|c| c.0), Some(30.0));
}

#[test]
fn every_live_model_example_is_priced_and_under_its_cap() {
    for example in [
        "launch-matrix",
        "seedance-storyboard",
        "banana-posters",
        "model-comparison",
        "storyboard-rows",
        "demo",
    ] {
        let path = repository_root().join(format!("manifests/{example}.yaml"));
        let loaded = match manifest::load(&path) {
            Ok(loaded) => loaded,
            Err(errors) => panic!("{example}: {errors}"),
        };
        let report = Report::plan(&loaded.manifest, "example");
        assert_eq!(
            report.unpriced_jobs, 0,
            "{example} has jobs of unknown price"
        );
        let estimate = report.estimated_credits.unwrap_or_default();
        let cap = loaded.manifest.run.max_credits;
        assert!(
            cap.is_some_and(|cap| estimate <= cap),
            "{example}: estimated {estimate} against a cap of {cap:?}"
        );
    }
}

#[test]
fn the_100k_bench_manifest_is_current_and_has_100000_jobs() {
    let path = repository_root().join("fixtures/manifests/matrix-100k.yaml");
    let generated = crate::support::matrix_100k_yaml();
    if std::env::var_os("UPDATE_FIXTURES").is_some()
        && let Err(error) = std::fs::write(&path, &generated)
    {
        panic!("cannot write {}: {error}", path.display());
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "fixtures/manifests/matrix-100k.yaml is out of date; regenerate it with\n    UPDATE_FIXTURES=1 cargo test -p sora-batch-engine --test it matrix_100k"
    );
    // Counting the combinations is enough here: expanding 100,000 jobs in a debug build
    // would make the suite slow, and the time is measured in release mode, not in tests.
    let axes: Vec<usize> = committed
        .lines()
        .filter(|line| line.starts_with("  ") && line.contains(": ["))
        .map(|line| line.matches(',').count() + 1)
        .collect();
    assert_eq!(axes.iter().product::<usize>(), 100_000, "{axes:?}");
}

#[test]
fn the_complete_example_of_the_reference_makes_six_jobs() {
    let reference =
        std::fs::read_to_string(repository_root().join("docs/manifest.md")).expect("the reference");
    let start = reference
        .find("## A complete example")
        .expect("the reference has its complete example");
    let yaml: String = reference[start..]
        .split("```yaml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .unwrap_or_default()
        .to_owned();
    let loaded = crate::support::load_ok(&yaml);
    assert_eq!(loaded.manifest.jobs.len(), 6);
    assert_eq!(loaded.manifest.name, "launch-teaser");
}

#[test]
fn the_examples_lock_pins_what_the_built_in_snapshot_says() {
    let lock_path = repository_root().join("manifests/sora-batch.lock");
    let lock = match sora_batch_engine::lockfile::read(&lock_path) {
        Ok(Some(lock)) => lock,
        Ok(None) => panic!("manifests/ has no sora-batch.lock"),
        Err(error) => panic!("{error}"),
    };
    assert!(!lock.models.is_empty());
    for (model, entry) in &lock.models {
        let facts = sora_batch_api::snapshot::model(model)
            .unwrap_or_else(|| panic!("{model} is locked but not in the snapshot"));
        let price_text = Some(facts.pricing_desc.as_str()).filter(|text| !text.is_empty());
        assert_eq!(
            entry.content_hash,
            sora_batch_engine::lockfile::content_hash(&facts.input_schema, price_text),
            "{model}: the lock differs from the snapshot; run \
             `sora-batch models lock --from-snapshot manifests/*.yaml`"
        );
        assert_eq!(entry.price_rule, facts.price_rule, "{model}");
    }
}

#[test]
fn the_rows_example_makes_the_jobs_its_documentation_lists() {
    let path = repository_root().join("manifests/storyboard-rows.yaml");
    let loaded = match manifest::load(&path) {
        Ok(loaded) => loaded,
        Err(errors) => panic!("{errors}"),
    };
    let ids: Vec<&str> = loaded
        .manifest
        .jobs
        .iter()
        .map(|job| job.id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "arrival-16-9",
            "arrival-9-16",
            "keeper-16-9",
            "keeper-9-16",
            "storm-16-9"
        ]
    );
    assert_eq!(loaded.manifest.jobs[2].input["duration"], "10");
    let report = Report::plan(&loaded.manifest, "manifests/storyboard-rows.yaml");
    assert_eq!(report.estimated_credits.map(|c| c.0), Some(385.0));
}
