//! `cargo xtask demo`: the main job of sora-batch, end to end, against the built-in fake.
//!
//! Read [`demo`]. It builds the CLI, starts the fake Kie service on loopback with the live
//! service's rate limits and a realistic schedule (a few seconds per video, one prompt that
//! content moderation refuses), runs `manifests/demo.yaml` through the real binary and HTTP
//! stack into a fresh batch folder, and says where the videos and reports are. No API key
//! and no network are involved.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Schedule};

use crate::workspace::{cargo, root, target_dir};

/// Prompts containing this fail like a content-moderation refusal; `manifests/demo.yaml`
/// has one such job so that the demo shows how a failure is reported.
pub const DEMO_FAIL_MARKER: &str = "[fail]";

const DEMO_MANIFEST: &str = "manifests/demo.yaml";

pub fn demo(args: &[String]) -> ExitCode {
    if let Some(unknown) = args.iter().find(|a| *a != "-h" && *a != "--help") {
        eprintln!("error: `cargo xtask demo` takes no options (got `{unknown}`)");
        return ExitCode::from(2);
    }
    if !args.is_empty() {
        println!(
            "cargo xtask demo: build sora-batch, start a fake Kie.ai on loopback, and run \
             {DEMO_MANIFEST} through it"
        );
        return ExitCode::SUCCESS;
    }
    match run_demo() {
        Ok(code) => code,
        Err(message) => {
            eprintln!("demo failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `sora-batch run manifests/demo.yaml --out OUT` against the fake at `base_url`.
fn run_manifest(
    binary: &Path,
    root: &Path,
    out: &Path,
    base_url: &str,
) -> Result<std::process::ExitStatus, String> {
    Command::new(binary)
        .args(["run", DEMO_MANIFEST, "--out"])
        .arg(out)
        .current_dir(root)
        .env("KIE_BASE_URL", base_url)
        // The fake accepts any key; this one is not a secret.
        .env("KIE_API_KEY", "demo-key-for-the-fake-service")
        // The fake's generation times are not the live service's: they go to a cache of
        // their own, not the user's.
        .env(
            "SORA_BATCH_CACHE_DIR",
            target_dir().join("demo-generation-times"),
        )
        .status()
        .map_err(|e| format!("could not run {}: {e}", binary.display()))
}

fn run_demo() -> Result<ExitCode, String> {
    let root = root();
    eprintln!("==> building the sora-batch CLI");
    let cargo = cargo();
    let built = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--package",
            "sora-batch",
            "--bin",
            "sora-batch",
        ])
        .current_dir(&root)
        .status()
        .map_err(|e| format!("could not run cargo build: {e}"))?;
    if !built.success() {
        return Err("cargo build failed".into());
    }
    let binary = target_dir().join("debug").join("sora-batch");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the async runtime: {e}"))?;
    // A real (tiny) video, so that the gallery in report.html plays in a browser.
    let clip_path = root.join("fixtures/media/clip.mp4");
    let clip = std::fs::read(&clip_path)
        .map_err(|e| format!("could not read {}: {e}", clip_path.display()))?;
    let fake = runtime.block_on(
        FakeKie::builder()
            .file_content(clip)
            .schedule(Schedule::LogNormal {
                median: Duration::from_secs(4),
                sigma: 0.3,
                seed: 7,
            })
            .fail_prompts_containing(
                DEMO_FAIL_MARKER,
                "400",
                "Your prompt was flagged by our content moderation system.",
            )
            .rate_limit(Endpoint::CreateTask, 20, Duration::from_secs(10))
            .rate_limit(Endpoint::RecordInfo, 10, Duration::from_secs(1))
            .start(),
    );
    eprintln!(
        "==> fake Kie.ai on {} (result files on {})",
        fake.base_url(),
        fake.files_base_url()
    );

    let out = target_dir().join("demo");
    if out.exists() {
        std::fs::remove_dir_all(&out)
            .map_err(|e| format!("could not clear {}: {e}", out.display()))?;
    }
    eprintln!(
        "==> sora-batch run {DEMO_MANIFEST} --out {}\n",
        out.display()
    );
    let status = run_manifest(&binary, &root, &out, &fake.base_url())?;

    let log = fake.log();
    println!();
    println!("Batch folder: {}", out.display());
    let mut videos: Vec<String> = std::fs::read_dir(&out)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".mp4"))
                .collect()
        })
        .unwrap_or_default();
    videos.sort();
    for video in &videos {
        println!("  video   {}", out.join(video).display());
    }
    for report in ["report.json", "report.md", "report.html"] {
        let path = out.join(report);
        if path.exists() {
            println!("  report  {}", path.display());
        }
    }
    println!("  journal {}", out.join("journal.jsonl").display());
    println!(
        "The fake saw {} createTask, {} recordInfo and {} file requests; at most {} tasks at once; {} rate-limited.",
        log.count(Endpoint::CreateTask),
        log.count(Endpoint::RecordInfo),
        log.count(Endpoint::Files),
        log.max_in_flight(),
        log.rate_limited(),
    );

    // The same command again: the journal says everything is done, so no call is made.
    eprintln!("\n==> the same command again: it resumes from the journal\n");
    let requests_before = log.requests().len();
    let again = run_manifest(&binary, &root, &out, &fake.base_url())?;
    let new_requests = fake.log().requests().len() - requests_before;
    println!(
        "\nThe second run made {new_requests} requests to the service and exited {}.",
        again
            .code()
            .map_or_else(|| "on a signal".to_owned(), |c| c.to_string())
    );
    drop(fake);
    runtime.shutdown_timeout(Duration::from_secs(1));

    // One job of the demo is refused by moderation on purpose, so sora-batch exits 1
    // ("some jobs failed"); anything else means the demo did not go as designed.
    if new_requests != 0 {
        return Err(format!(
            "the second run made {new_requests} requests; a finished batch should make none"
        ));
    }
    match status.code() {
        Some(1) => {
            println!(
                "sora-batch exited 1: one job failed content moderation, as the demo intends."
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(code) => Err(format!(
            "sora-batch exited {code}; the demo expects exactly one failed job (exit 1)"
        )),
        None => Err("sora-batch was killed by a signal".into()),
    }
}
