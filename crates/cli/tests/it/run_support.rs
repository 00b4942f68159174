//! Helpers of the end-to-end tests of `sora-batch run`: a fake Kie service in this process,
//! the built binary run against it as a child process, and readers for what a run leaves
//! behind (report.json, the journal, the videos).
//!
//! Read [`Harness`] first. A test builds a [`FakeKie`], writes a manifest with a fast `run:`
//! section ([`fast_run`], [`manifest_with_jobs`]), runs the binary ([`Harness::run`], or
//! [`Harness::spawn_run`] to interrupt or kill it) and asserts on the fake's request log and
//! on the batch folder. Nothing here synchronises with a fixed sleep: waits are loops on a
//! condition (the fake's log, the child's exit) with a tiny pause between checks, bounded by
//! a generous timeout that fails the test rather than hanging it.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest as _;
use sora_batch_testkit::{FakeKie, FakeKieBuilder, RequestLog, Schedule};

/// The API key every test hands the binary. It must never show up in anything it writes.
pub const SENTINEL_KEY: &str = "sk-SENTINEL-e2e-1234";

/// How long any one wait may take before the test fails (a hang, not slowness, is the bug
/// this catches; nothing asserts on speed).
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// A tiny pause between two checks of a condition.
const CHECK_EVERY: Duration = Duration::from_millis(2);

/// A task that is waiting on its first poll and done on its second: quick, and still
/// walking through a state change.
pub fn quick_schedule() -> Schedule {
    Schedule::Polls {
        waiting: 1,
        queuing: 0,
        generating: 1,
    }
}

/// The `run:` section of a test manifest: a fast clock for the fake's quick tasks (their
/// typical time too: the built-in figure for Sora 2 is two minutes).
pub fn fast_run(concurrency: u32, timeout: &str) -> String {
    format!(
        "run:
  concurrency: {concurrency}
  timeout: {timeout}
  create_limit: {{requests: 20, per: 1s}}
  poll_limit: {{requests: 50, per: 1s}}
  poll: {{first_after: 20ms, min_interval: 10ms, max_interval: 100ms, typical_generation: 30ms}}
  retry: {{base_delay: 5ms, max_delay: 50ms, rate_limit_window: 100ms, maintenance_delay: 10ms}}
"
    )
}

/// A manifest of explicit jobs `(id, prompt)` followed by `run_section`.
pub fn manifest_with_jobs(jobs: &[(String, String)], run_section: &str) -> String {
    let mut text = String::from("version: 1\nname: e2e\nmodel: sora-2-text-to-video\njobs:\n");
    for (id, prompt) in jobs {
        text.push_str(&format!("  - id: {id}\n    prompt: \"{prompt}\"\n"));
    }
    text.push_str(run_section);
    text
}

/// `count` jobs `job-01`, `job-02`, ... with distinct prompts.
pub fn numbered_jobs(count: usize) -> Vec<(String, String)> {
    (1..=count)
        .map(|n| {
            (
                format!("job-{n:02}"),
                format!("A paper boat number {n} drifts down a rainy street"),
            )
        })
        .collect()
}

/// What a finished child process left.
#[derive(Debug)]
pub struct Finished {
    /// The exit code; `None` when a signal ended the process.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr_bytes: Vec<u8>,
}

impl Finished {
    /// Panics with the child's output unless it exited with `code`.
    pub fn assert_code(&self, code: i32, what: &str) {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
    }
}

/// A child `sora-batch` whose output is collected on threads, so it never blocks on a full
/// pipe while the test waits for something else.
#[derive(Debug)]
pub struct Running {
    pub child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Reads `pipe` to its end into `sink`, which the test may look at meanwhile.
fn collect(
    mut pipe: impl Read + Send + 'static,
    sink: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(read) => lock(&sink).extend_from_slice(&chunk[..read]),
            }
        }
    })
}

fn lock(buffer: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Running {
    pub fn start(mut command: Command) -> Running {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(error) => panic!("cannot start sora-batch: {error}"),
        };
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            readers.push(collect(pipe, Arc::clone(&stdout)));
        }
        if let Some(pipe) = child.stderr.take() {
            readers.push(collect(pipe, Arc::clone(&stderr)));
        }
        Running {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    /// What the process has written to stderr so far.
    pub fn stderr_so_far(&self) -> String {
        String::from_utf8_lossy(&lock(&self.stderr)).into_owned()
    }

    /// Waits until the process's stderr contains `text`, or it ends. True when it does.
    pub fn wait_for_stderr(&mut self, text: &str) -> bool {
        let started = Instant::now();
        loop {
            if self.stderr_so_far().contains(text) {
                return true;
            }
            if self.has_exited() {
                for reader in self.readers.drain(..) {
                    let _ = reader.join();
                }
                return self.stderr_so_far().contains(text);
            }
            assert!(
                started.elapsed() < WAIT_LIMIT,
                "sora-batch never wrote {text:?}"
            );
            std::thread::sleep(CHECK_EVERY);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has ended (without reaping its output).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Waits for the process to end (at most [`WAIT_LIMIT`], else kills it and fails).
    pub fn wait(mut self) -> Finished {
        let started = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() > WAIT_LIMIT => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    panic!(
                        "sora-batch did not finish within {WAIT_LIMIT:?}; stderr:\n{}",
                        self.stderr_so_far()
                    );
                }
                Ok(None) => std::thread::sleep(CHECK_EVERY),
                Err(error) => panic!("cannot wait for sora-batch: {error}"),
            }
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let stdout_bytes = lock(&self.stdout).clone();
        let stderr_bytes = lock(&self.stderr).clone();
        Finished {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
            stdout_bytes,
            stderr_bytes,
        }
    }

    /// SIGKILL (`kill -9`): the process gets no chance to clean up.
    pub fn kill_9(mut self) -> Finished {
        if let Err(error) = self.child.kill() {
            // It may have ended on its own a moment ago; `wait` tells.
            if error.kind() != std::io::ErrorKind::InvalidInput {
                panic!("cannot kill sora-batch: {error}");
            }
        }
        self.wait()
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) {
        self.signal("-INT");
    }

    /// Sends SIGTERM, as a CI system cancelling a job does.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGHUP, as a closed terminal or a dropped SSH session does.
    pub fn hang_up(&self) {
        self.signal("-HUP");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .arg(which)
            .arg(self.pid().to_string())
            .status();
        match status {
            Ok(status) if status.success() => {}
            other => panic!("kill {which} {} failed: {other:?}", self.pid()),
        }
    }
}

/// One test's world: a runtime holding the fake, and a temporary folder with the manifest and
/// the batch folder.
#[derive(Debug)]
pub struct Harness {
    // Declared before the runtime so that it is dropped first (the servers run on threads
    // of their own; the runtime only started them).
    pub fake: FakeKie,
    _runtime: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

impl Harness {
    /// Starts the fake from `builder`. The fake's servers run on a multi-thread runtime of
    /// this process while the test thread blocks on child processes.
    pub fn start(builder: FakeKieBuilder) -> Harness {
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => panic!("cannot start a runtime: {error}"),
        };
        let fake = runtime.block_on(builder.start());
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(error) => panic!("cannot create a temporary folder: {error}"),
        };
        Harness {
            fake,
            _runtime: runtime,
            dir,
        }
    }

    /// Runs `future` on the runtime that holds the fake: to start more servers beside it
    /// (a TLS front, a proxy), which then serve while the test waits for a child process.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self._runtime.block_on(future)
    }

    /// The manifest every command of this harness uses.
    pub fn manifest_path(&self) -> PathBuf {
        self.dir.path().join("batch.yaml")
    }

    /// The batch folder (`--out`).
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    pub fn write_manifest(&self, text: &str) {
        write(&self.manifest_path(), text.as_bytes());
    }

    /// The generation-time cache of this harness's runs: never the user's.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("generation-time-cache")
    }

    /// `sora-batch ARGS` with the fake's URL, the sentinel key and the harness's own
    /// generation-time cache in its environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sora-batch"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("KIE_BASE_URL", self.fake.base_url())
            .env("KIE_UPLOAD_URL", self.fake.upload_base_url())
            .env("KIE_API_KEY", SENTINEL_KEY)
            .env("SORA_BATCH_CACHE_DIR", self.cache_dir())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null());
        // Under GitHub Actions a test's run must not write into the CI job's own summary,
        // nor link to its artifacts: tests that want these set them.
        for variable in [
            "GITHUB_STEP_SUMMARY",
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
            "GITHUB_RUN_ID",
        ] {
            command.env_remove(variable);
        }
        command
    }

    /// `run MANIFEST --out OUT EXTRA...`.
    pub fn run_command(&self, extra: &[&str]) -> Command {
        let mut command = self.command(&["run"]);
        command
            .arg(self.manifest_path())
            .arg("--out")
            .arg(self.out())
            .args(extra);
        command
    }

    /// Runs the batch to its end.
    pub fn run(&self, extra: &[&str]) -> Finished {
        Running::start(self.run_command(extra)).wait()
    }

    /// Starts the batch without waiting for it.
    pub fn spawn_run(&self, extra: &[&str]) -> Running {
        Running::start(self.run_command(extra))
    }

    /// Runs any command to its end.
    pub fn finish(command: Command) -> Finished {
        Running::start(command).wait()
    }

    /// `status MANIFEST --out OUT --json`, parsed.
    pub fn status_json(&self) -> Value {
        let mut command = self.command(&["status"]);
        command
            .arg(self.manifest_path())
            .arg("--out")
            .arg(self.out())
            .arg("--json");
        let finished = Harness::finish(command);
        finished.assert_code(0, "status --json");
        parse_json(&finished.stdout_bytes, "status --json")
    }

    pub fn report(&self) -> Value {
        parse_json(&read(&self.out().join("report.json")), "report.json")
    }

    /// Every complete line of the journal, parsed.
    pub fn journal(&self) -> Vec<Value> {
        let bytes = read(&self.out().join("journal.jsonl"));
        let text = String::from_utf8_lossy(&bytes);
        text.split_inclusive('\n')
            .filter(|line| line.ends_with('\n'))
            .map(|line| parse_json(line.as_bytes(), "a journal line"))
            .collect()
    }

    /// Waits until the fake's log satisfies `condition`, or `running` ends. True when the
    /// condition held.
    pub fn wait_for_log(
        &self,
        running: &mut Running,
        condition: impl Fn(&RequestLog) -> bool,
    ) -> bool {
        let started = Instant::now();
        loop {
            if condition(&self.fake.log()) {
                return true;
            }
            if running.has_exited() {
                return condition(&self.fake.log());
            }
            assert!(
                started.elapsed() < WAIT_LIMIT,
                "the fake's log never reached the awaited condition"
            );
            std::thread::sleep(CHECK_EVERY);
        }
    }

    /// Asserts that every job of report.json succeeded and that each of its files is the
    /// fake's exact bytes for its task, with the recorded sha256 and size; and that no
    /// partial download is left in the batch folder.
    pub fn assert_all_videos_complete(&self, jobs: usize) {
        let report = self.report();
        let listed = report["jobs"].as_array().map_or(0, Vec::len);
        assert_eq!(listed, jobs, "report.json lists every job: {report:#}");
        for job in report["jobs"].as_array().into_iter().flatten() {
            assert_eq!(job["state"], "succeeded", "job {}", job["id"]);
            let Some(task_id) = job["task_id"].as_str() else {
                panic!("a succeeded job without task_id: {job:#}");
            };
            let files = job["files"].as_array().cloned().unwrap_or_default();
            assert!(!files.is_empty(), "job {} has no files", job["id"]);
            for (index, file) in files.iter().enumerate() {
                let path = self.out().join(file["path"].as_str().unwrap_or_default());
                let bytes = read(&path);
                assert!(
                    bytes == self.fake.expected_file_bytes(task_id, index),
                    "{} is not the service's file {index} of task {task_id}",
                    path.display()
                );
                assert_eq!(file["sha256"].as_str(), Some(sha256_hex(&bytes).as_str()));
                assert_eq!(file["bytes"].as_u64(), Some(bytes.len() as u64));
            }
        }
        assert_no_partial_files(&self.out());
    }

    /// Asserts that no prompt was created more than once and every one of `jobs` was.
    pub fn assert_each_prompt_created_once(&self, jobs: usize) {
        let per_prompt = self.fake.log().created_per_prompt();
        assert_eq!(per_prompt.len(), jobs, "tasks per prompt: {per_prompt:#?}");
        let twice: BTreeMap<&String, &usize> =
            per_prompt.iter().filter(|(_, n)| **n != 1).collect();
        assert!(
            twice.is_empty(),
            "prompts created more than once: {twice:#?}"
        );
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

pub fn read(path: &Path) -> Vec<u8> {
    match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) => panic!("cannot read {}: {error}", path.display()),
    }
}

pub fn write(path: &Path, bytes: &[u8]) {
    if let Err(error) = std::fs::write(path, bytes) {
        panic!("cannot write {}: {error}", path.display());
    }
}

pub fn parse_json(bytes: &[u8], what: &str) -> Value {
    match serde_json::from_slice(bytes) {
        Ok(value) => value,
        Err(error) => panic!(
            "{what} is not JSON ({error}):\n{}",
            String::from_utf8_lossy(bytes)
        ),
    }
}

/// The names of the entries of `folder`.
pub fn file_names(folder: &Path) -> Vec<String> {
    let entries = match std::fs::read_dir(folder) {
        Ok(entries) => entries,
        Err(error) => panic!("cannot list {}: {error}", folder.display()),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

pub fn assert_no_partial_files(folder: &Path) {
    let partial: Vec<String> = file_names(folder)
        .into_iter()
        .filter(|name| name.ends_with(".partial"))
        .collect();
    assert!(
        partial.is_empty(),
        "partial downloads left in {}: {partial:?}",
        folder.display()
    );
}

/// Every file under `folder`, recursively.
pub fn all_files(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut to_visit = vec![folder.to_owned()];
    while let Some(dir) = to_visit.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                to_visit.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Whether `needle` occurs in `haystack`, byte-wise.
pub fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}
