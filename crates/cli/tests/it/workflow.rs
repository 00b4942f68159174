//! The README's GitHub Actions recipe (`examples/github-actions/videos.yml`), replayed against
//! the fake service: its render step's own shell script runs the built binary, and its cache
//! and artifact steps are played by copying what they name. A run that leaves work
//! outstanding, a run from the saved folder, and a run from the record artifact alone must
//! together submit each job exactly once.
//!
//! Read [`Workflow`] first: it reads from the workflow file what the replay needs, so a change
//! to the file that would lose the record of paid tasks fails here.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sora_batch_testkit::{Endpoint, FakeKie, Fault, Schedule, Times};

use crate::run_support::{
    Finished, Harness, SENTINEL_KEY, fast_run, file_names, manifest_with_jobs, numbered_jobs, read,
    write,
};

/// The workflow file, relative to this crate.
const WORKFLOW: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/github-actions/videos.yml"
);

/// What the replay takes from the workflow file.
#[derive(Debug)]
struct Workflow {
    /// The `run:` script of the step that runs sora-batch.
    render_script: String,
    /// The batch folder the cache steps restore and save (`${{ env.OUT }}`), as written.
    cached_path: String,
    /// What the record artifact keeps, as written (`${{ env.OUT }}/journal.jsonl`, ...).
    record_paths: Vec<String>,
}

impl Workflow {
    fn read() -> Workflow {
        let text = String::from_utf8(read(Path::new(WORKFLOW))).expect("the workflow is UTF-8");
        let document: Value = serde_saphyr::from_str(&text).expect("the workflow is YAML");
        let steps = document["jobs"]["render"]["steps"]
            .as_array()
            .expect("the render job has steps");
        let step_using = |action: &str| -> &Value {
            let mut found = steps.iter().filter(|step| {
                step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with(action))
            });
            found
                .next()
                .unwrap_or_else(|| panic!("no step uses {action}"))
        };
        let restore = step_using("actions/cache/restore@");
        let save = step_using("actions/cache/save@");
        assert_eq!(
            save["if"], "always()",
            "the batch folder must be saved whatever the run's outcome"
        );
        assert_eq!(restore["with"]["path"], save["with"]["path"]);
        assert_eq!(
            restore["with"]["key"], save["with"]["key"],
            "the save's key must be one the next restore finds by its restore-keys prefix"
        );
        let restore_prefix = restore["with"]["restore-keys"]
            .as_str()
            .expect("the restore has restore-keys");
        assert!(
            save["with"]["key"]
                .as_str()
                .is_some_and(|key| key.starts_with(restore_prefix.trim())),
            "the next run's restore must find this run's save"
        );
        let record = steps
            .iter()
            .find(|step| {
                step["with"]["name"]
                    .as_str()
                    .is_some_and(|name| name.starts_with("videos-record-"))
            })
            .expect("a step uploads the record of paid tasks");
        assert_eq!(
            record["if"], "always()",
            "the record must be kept whatever the run's outcome"
        );
        let render = steps
            .iter()
            .find(|step| {
                step["run"]
                    .as_str()
                    .is_some_and(|script| script.contains("sora-batch run"))
            })
            .expect("a step runs sora-batch");
        Workflow {
            render_script: render["run"].as_str().unwrap_or_default().to_owned(),
            cached_path: save["with"]["path"].as_str().unwrap_or_default().to_owned(),
            record_paths: record["with"]["path"]
                .as_str()
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// The files of the batch folder the record artifact keeps.
    fn record_file_names(&self) -> Vec<String> {
        let prefix = format!("{}/", self.cached_path);
        self.record_paths
            .iter()
            .map(|path| {
                path.strip_prefix(&prefix)
                    .unwrap_or_else(|| panic!("{path} is not inside the batch folder"))
                    .to_owned()
            })
            .collect()
    }
}

/// One replayed run of the render job: the step's script, with the runner's environment.
struct Replay<'h> {
    harness: &'h Harness,
    workflow: &'h Workflow,
}

impl Replay<'_> {
    /// Runs the render step's script in bash; returns its result and the exit code of
    /// sora-batch it wrote to `$GITHUB_OUTPUT`.
    fn render(&self) -> (Finished, i32) {
        let root = self.harness.dir.path();
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).expect("bin folder");
        let linked = bin.join("sora-batch");
        if !linked.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_sora-batch"), &linked)
                .expect("link the binary");
        }
        let outputs = root.join("github-output");
        write(&outputs, b"");
        let mut command = Command::new("bash");
        command
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(&self.workflow.render_script)
            .current_dir(root)
            .env("MANIFEST", self.harness.manifest_path())
            .env("OUT", self.harness.out())
            .env("SHARD", "1")
            .env("SHARDS", "1")
            .env("GITHUB_OUTPUT", &outputs)
            .env("KIE_BASE_URL", self.harness.fake.base_url())
            .env("KIE_API_KEY", SENTINEL_KEY)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        let finished = Harness::finish(command);
        let written = String::from_utf8(read(&outputs)).expect("outputs are UTF-8");
        let code = written
            .lines()
            .find_map(|line| line.strip_prefix("exit-code="))
            .and_then(|code| code.trim().parse().ok())
            .unwrap_or_else(|| panic!("the step wrote no exit code: {written:?}\n{finished:?}"));
        (finished, code)
    }

    /// `actions/cache/save`: the whole batch folder.
    fn save_cache(&self, cache: &Path) {
        copy_folder(&self.harness.out(), cache, |_| true);
    }

    /// `actions/upload-artifact` of the record: only the files the workflow names.
    fn keep_record(&self, artifact: &Path) {
        let kept = self.workflow.record_file_names();
        copy_folder(&self.harness.out(), artifact, |name| {
            kept.iter().any(|file| file == name)
        });
    }

    /// A fresh runner: the batch folder is whatever the restore steps put there.
    fn restore_from(&self, saved: &Path) {
        let out = self.harness.out();
        if out.exists() {
            std::fs::remove_dir_all(&out).expect("clear the batch folder");
        }
        copy_folder(saved, &out, |_| true);
    }
}

fn copy_folder(from: &Path, to: &Path, keep: impl Fn(&str) -> bool) {
    std::fs::create_dir_all(to).expect("create the copy");
    for name in file_names(from) {
        if keep(&name) {
            let source: PathBuf = from.join(&name);
            if source.is_file() {
                std::fs::copy(&source, to.join(&name)).expect("copy a file");
            }
        }
    }
}

#[test]
fn the_workflow_never_pays_twice_across_a_saved_folder_and_a_record_artifact() {
    let workflow = Workflow::read();
    assert_eq!(
        workflow.record_file_names(),
        ["journal.jsonl", "report.json", "report.md"],
        "the record artifact keeps the journal and the reports"
    );
    // Each task is done at its 30th poll; the first run allows 200 ms, in which polls at
    // least 10 ms apart (`fast_run`'s `min_interval`) reach 21 at most, however fast the
    // machine: its tasks outlive it on any machine.
    let harness = Harness::start(FakeKie::builder().schedule(Schedule::Polls {
        waiting: 0,
        queuing: 0,
        generating: 30,
    }));
    let replay = Replay {
        harness: &harness,
        workflow: &workflow,
    };
    let jobs = numbered_jobs(4);
    let root = harness.dir.path().to_owned();

    // Run 1: the tasks outlive the run. The step passes (5 is "collect later").
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(4, "200ms")));
    let (first, code) = replay.render();
    assert_eq!(code, 5, "{first:?}");
    first.assert_code(0, "exit 5 does not fail the workflow's step");
    assert!(first.stdout.contains("::notice::"), "{first:?}");
    assert_eq!(harness.fake.log().count(Endpoint::CreateTask), 4);
    replay.save_cache(&root.join("cache-1"));
    replay.keep_record(&root.join("record-1"));

    // Run 2, from the saved folder: the tasks finish, but the file host refuses every
    // download, so the videos are still to collect.
    replay.restore_from(&root.join("cache-1"));
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(4, "30s")));
    harness.fake.inject(
        Endpoint::Files,
        Fault::NonJson {
            status: 503,
            body: "<html>503</html>".to_owned(),
        },
        Times::Always,
    );
    let (second, code) = replay.render();
    assert_eq!(code, 5, "{second:?}");
    assert_eq!(
        harness.fake.log().count(Endpoint::CreateTask),
        4,
        "the saved folder's tasks were polled, not submitted again"
    );
    replay.save_cache(&root.join("cache-2"));
    replay.keep_record(&root.join("record-2"));

    // Run 3: the cache is gone; only the record artifact of run 2 is left.
    harness.fake.clear_faults();
    replay.restore_from(&root.join("record-2"));
    assert!(
        file_names(&harness.out())
            .iter()
            .all(|name| !name.ends_with(".mp4")),
        "the record holds no videos"
    );
    let (third, code) = replay.render();
    assert_eq!(code, 0, "{third:?}");
    third.assert_code(0, "everything collected");

    let log = harness.fake.log();
    assert_eq!(
        log.count(Endpoint::CreateTask),
        4,
        "each job was submitted exactly once over the three runs"
    );
    harness.assert_each_prompt_created_once(4);
    harness.assert_all_videos_complete(4);

    // The record of run 1 alone is enough too: its journal names every task.
    replay.restore_from(&root.join("record-1"));
    let (fourth, code) = replay.render();
    assert_eq!(code, 0, "{fourth:?}");
    assert_eq!(harness.fake.log().count(Endpoint::CreateTask), 4);
    harness.assert_all_videos_complete(4);
}

#[test]
fn the_workflow_step_passes_on_0_and_5_only() {
    let workflow = Workflow::read();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin folder");
    // A stand-in for the binary that exits with the code under test.
    let stand_in = bin.join("sora-batch");
    write(&stand_in, b"#!/bin/sh\nexit \"$STAND_IN_EXIT\"\n");
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("make it executable");
    // Each exit code the README documents, and whether the step passes with it.
    for (code, passes) in [
        (0, true),
        (5, true),
        (1, false),
        (2, false),
        (3, false),
        (4, false),
        (6, false),
        (130, false),
    ] {
        let output = Command::new("bash")
            .arg("-euo")
            .arg("pipefail")
            .arg("-c")
            .arg(&workflow.render_script)
            .current_dir(dir.path())
            .env("STAND_IN_EXIT", code.to_string())
            .env("MANIFEST", "m.yaml")
            .env("OUT", "out")
            .env("SHARD", "1")
            .env("SHARDS", "1")
            .env("GITHUB_OUTPUT", dir.path().join("outputs"))
            .stdin(std::process::Stdio::null())
            .output()
            .expect("bash runs");
        assert_eq!(
            output.status.success(),
            passes,
            "exit {code}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let annotation = if code == 5 { "::notice::" } else { "::error::" };
        if code != 0 {
            assert!(
                String::from_utf8_lossy(&output.stdout).contains(annotation),
                "exit {code} is annotated"
            );
        }
    }
}

#[test]
fn the_readme_shows_the_workflow_file_as_it_is() {
    let readme = String::from_utf8(read(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../README.md"
    ))))
    .expect("README.md is UTF-8");
    let workflow = String::from_utf8(read(Path::new(WORKFLOW))).expect("the workflow is UTF-8");
    assert!(
        readme.contains(&format!("```yaml\n{workflow}```")),
        "README.md's \"In CI\" must show examples/github-actions/videos.yml verbatim"
    );
}
