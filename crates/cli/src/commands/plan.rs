//! `sora-batch plan MANIFEST [--out DIR] [--shard K/N] [--json]`: the jobs a manifest
//! expands to, their state and the estimated credits, as a table or as the report.json
//! document, and the limits a run would keep to (a shard's part of the account).
//!
//! States come from the batch folder's journal when there is one: `plan` shows what a run
//! would still do. Expected times come from the priors a run would start from (the
//! journal, the generation-time cache, the manifest, the model snapshot: see
//! `sora_batch_engine::timing`): each job's, and the wall time of what a run would still do.

use std::io::Write;
use std::path::Path;

use sora_batch_engine::job::JobState;
use sora_batch_engine::local_files::{FileAction, LocalFile, plan_uploads};
use sora_batch_engine::manifest::{RateLimit, RunSettings};
use sora_batch_engine::report::{JobReport, Report};
use sora_batch_engine::shard::Shard;
use sora_batch_engine::timing::{GenerationTimeCache, PriorSource};
use sora_batch_engine::{journal, render, session};

use crate::cli::PlanArgs;
use crate::commands::load_manifest;
use crate::exit::{CliError, Outcome};
use crate::output::Output;

/// How many characters of a prompt the table shows.
const PROMPT_HEAD_CHARS: usize = 50;

pub fn run(args: &PlanArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let Some(loaded) = load_manifest(&args.manifest, "nothing to plan", output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let mut manifest = loaded.manifest;
    let manifest_as_given = args.manifest.display().to_string();
    let batch_folder = session::batch_folder(&manifest, args.out.as_deref(), args.shard);
    if let Some(shard) = args.shard {
        manifest.jobs.retain(|job| shard.contains(&job.key));
    }
    let settings = session::effective_settings(&manifest, args.shard);
    let mut replay = journal::replay_folder(&batch_folder)?;
    warn_of_paid_work_without_journal(&batch_folder, &replay, output);
    adopt_earlier_keys(
        &manifest,
        std::slice::from_ref(&batch_folder),
        &mut replay,
        output,
    );
    let cache = match crate::commands::generation_time_cache_dir() {
        Some(folder) => GenerationTimeCache::load(&folder),
        None => GenerationTimeCache::empty(),
    };
    let report = Report::plan(&manifest, &manifest_as_given)
        .with_journal(&replay)
        .with_expected_times(&manifest, &replay, &cache);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        });
    // The files the jobs still to submit name: what a run would upload, or reuse.
    let uploads = plan_uploads(
        &manifest.local_files,
        report
            .jobs
            .iter()
            .filter(|job| job.state == JobState::Pending)
            .map(|job| &job.input),
        &replay.uploads,
        settings.upload_retention,
        now_ms,
    );
    let stdout = output.stdout();
    if args.json {
        // Written straight from the report: a `serde_json::Value` of 100,000 jobs first
        // doubled plan's memory and most of its time.
        let document = PlanDocument {
            report: &report,
            limits: limits_json(&settings, args.shard),
            local_files: uploads_json(&uploads),
        };
        serde_json::to_writer_pretty(&mut *stdout, &document)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)?;
    } else {
        write_table(stdout, &report, &batch_folder).map_err(CliError::Output)?;
        write_uploads(stdout, &uploads, now_ms).map_err(CliError::Output)?;
        writeln!(stdout, "{}", limits_line(&settings, args.shard)).map_err(CliError::Output)?;
    }
    output.flush()?;
    Ok(Outcome::Success)
}

/// The local files a run would upload or reuse, one line each after a summary; nothing
/// when no job still to submit names one.
fn write_uploads(
    out: &mut impl Write,
    uploads: &[(&LocalFile, FileAction)],
    now_ms: i64,
) -> std::io::Result<()> {
    if uploads.is_empty() {
        return Ok(());
    }
    let to_upload: Vec<&LocalFile> = uploads
        .iter()
        .filter(|(_, action)| *action == FileAction::Upload)
        .map(|(file, _)| *file)
        .collect();
    writeln!(
        out,
        "local files: {} to upload ({}), {} uploaded before and reused while the host keeps them",
        to_upload.len(),
        crate::progress::bytes_text(to_upload.iter().map(|file| file.size).sum()),
        uploads.len() - to_upload.len()
    )?;
    let width = uploads
        .iter()
        .map(|(file, _)| file.written.chars().count())
        .max()
        .unwrap_or(0);
    for (file, action) in uploads {
        let what = match action {
            FileAction::Upload => format!("upload as {}", file.upload_name()),
            FileAction::Reuse { uploaded_at_ms } => {
                let ago = std::time::Duration::from_secs(
                    u64::try_from(now_ms.saturating_sub(*uploaded_at_ms) / 1000).unwrap_or(0),
                );
                format!(
                    "reuse {} (uploaded {} ago)",
                    file.upload_name(),
                    humantime::format_duration(ago)
                )
            }
        };
        writeln!(
            out,
            "  {:<width$}  {:>9}  {what}",
            file.written,
            crate::progress::bytes_text(file.size)
        )?;
    }
    Ok(())
}

/// `local_files` of `plan --json`.
fn uploads_json(uploads: &[(&LocalFile, FileAction)]) -> serde_json::Value {
    uploads
        .iter()
        .map(|(file, action)| {
            let mut entry = serde_json::json!({
                "path": file.written,
                "name": file.upload_name(),
                "bytes": file.size,
                "media_type": file.media.mime,
                "action": match action {
                    FileAction::Upload => "upload",
                    FileAction::Reuse { .. } => "reuse",
                },
            });
            if let (FileAction::Reuse { uploaded_at_ms }, Some(fields)) =
                (action, entry.as_object_mut())
            {
                fields.insert("uploaded_at_ms".into(), (*uploaded_at_ms).into());
            }
            entry
        })
        .collect()
}

/// `plan --json`: the report, the limits a run would keep to and the files it would upload.
#[derive(serde::Serialize)]
struct PlanDocument<'a> {
    #[serde(flatten)]
    report: &'a Report,
    limits: serde_json::Value,
    local_files: serde_json::Value,
}

/// What a run would keep to, for the table: `limits: 4 tasks at once, createTask 20 per
/// 10s, recordInfo 8 per 1s`, and under `--shard` whose part of the account that is.
fn limits_line(settings: &RunSettings, shard: Option<Shard>) -> String {
    let limit = |limit: &RateLimit| {
        format!(
            "{} per {}",
            limit.requests,
            humantime::format_duration(limit.per)
        )
    };
    let whose = match shard {
        Some(shard) => format!(
            " (shard {shard}: 1/{} of the account, unless the manifest sets a figure)",
            shard.count()
        ),
        None => String::new(),
    };
    format!(
        "limits: {} task{} at once, createTask {}, recordInfo {}{whose}",
        settings.concurrency,
        if settings.concurrency == 1 { "" } else { "s" },
        limit(&settings.create_limit),
        limit(&settings.poll_limit),
    )
}

/// `limits` of `plan --json`: the figures a run would keep to.
fn limits_json(settings: &RunSettings, shard: Option<Shard>) -> serde_json::Value {
    let limit = |limit: &RateLimit| {
        serde_json::json!({
            "requests": limit.requests,
            "per_ms": u64::try_from(limit.per.as_millis()).unwrap_or(u64::MAX),
        })
    };
    serde_json::json!({
        "shard": shard.map(|shard| shard.to_string()),
        "concurrency": settings.concurrency,
        "create_limit": limit(&settings.create_limit),
        "poll_limit": limit(&settings.poll_limit),
    })
}

/// Jobs an earlier version journaled under other keys, found again as the manifest's
/// ([`sora_batch_engine::rekey`]): shown as theirs, and said once.
pub fn adopt_earlier_keys(
    manifest: &sora_batch_engine::manifest::Manifest,
    folders: &[std::path::PathBuf],
    replay: &mut journal::Replay,
    output: &mut Output,
) {
    let keys: std::collections::HashSet<_> = manifest.jobs.iter().map(|job| &job.key).collect();
    let adopted: usize = folders
        .iter()
        .map(|folder| {
            sora_batch_engine::rekey::adopt_earlier_keys(folder, replay, &keys, &manifest.book)
        })
        .sum();
    if adopted > 0 && !output.quiet {
        output.message_line(&format!(
            "note: {adopted} job(s) journaled by an earlier version of sora-batch under older \
             keys are this manifest's; a run continues them under today's keys and sends \
             nothing again"
        ));
    }
}

/// A batch folder whose journal is gone beside outputs or a `report.json` naming tasks:
/// its jobs show as pending, but a run would be refused (and `recover` says why).
pub fn warn_of_paid_work_without_journal(
    folder: &Path,
    replay: &journal::Replay,
    output: &mut Output,
) {
    if let Some(paid) = sora_batch_engine::recover::paid_work_without_journal(folder, replay) {
        output.message_line(&format!(
            "warning: {} has no journal, but {} task id(s) in report.json and {} output \
             file(s) show work already paid for; `run` refuses this folder until \
             `sora-batch recover` rebuilds the journal",
            folder.display(),
            paid.task_ids,
            paid.files
        ));
    }
}

/// The report as the JSON document (`--json`) or as the table.
pub fn write_report(
    stdout: &mut impl Write,
    report: &Report,
    json: bool,
    batch_folder: &Path,
) -> Result<(), CliError> {
    if json {
        serde_json::to_writer_pretty(&mut *stdout, report)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)
    } else {
        write_table(stdout, report, batch_folder).map_err(CliError::Output)
    }
}

pub fn write_table(
    out: &mut impl Write,
    report: &Report,
    batch_folder: &Path,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{} ({}), batch folder {}",
        report.name,
        report.manifest,
        batch_folder.display()
    )?;
    let id_width = report
        .jobs
        .iter()
        .map(|job| job.id.as_str().chars().count())
        .max()
        .unwrap_or(2)
        .max(2);
    // `plan` says how long jobs should take; `status` tells what happened.
    let with_times = report.estimated_credits.is_some();
    let expect_header = if with_times { "  EXPECT" } else { "" };
    writeln!(
        out,
        "{:<id_width$}  {:>4}  {:<12}  {:<9}  {:>4}  {:>7}{expect_header}  {:<9}  PROMPT",
        "ID", "TAKE", "KEY", "ASPECT", "SECS", "CREDITS", "STATE"
    )?;
    for job in &report.jobs {
        let expect = if with_times {
            format!("  {:>6}", expected_cell(job))
        } else {
            String::new()
        };
        writeln!(
            out,
            "{:<id_width$}  {:>4}  {:<12}  {:<9}  {:>4}  {:>7}{expect}  {:<9}  {}",
            job.id.as_str(),
            job.take,
            job.key.short(),
            text_field(job, "aspect_ratio"),
            render::seconds_text(job).unwrap_or_else(|| "-".to_owned()),
            credits_cell(report, job),
            job.state.as_str(),
            prompt_head(job),
        )?;
    }
    let summary = &report.summary;
    let unpriced = if report.unpriced_jobs > 0 {
        format!(
            " + {} job{} of unknown price (?)",
            report.unpriced_jobs,
            if report.unpriced_jobs == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    // `plan` estimates; `status` tells what was charged.
    let money = match report.estimated_credits {
        Some(estimate) if summary.credits.0 > 0.0 => format!(
            "estimated {estimate} credits{unpriced}, {} charged so far",
            summary.credits
        ),
        Some(estimate) => format!("estimated {estimate} credits{unpriced}"),
        None => format!("{} credits charged", summary.credits),
    };
    writeln!(
        out,
        "{} job{}: {} pending, {} running, {} succeeded, {} failed, {} timed out, {} uncertain; {money}",
        summary.total,
        if summary.total == 1 { "" } else { "s" },
        summary.pending,
        summary.running,
        summary.succeeded,
        summary.failed,
        summary.timed_out,
        summary.uncertain,
    )?;
    if with_times {
        writeln!(out, "{}", expected_wall_line(report))?;
    }
    Ok(())
}

/// The expected wall time of what a run would still do, and where the times come from.
fn expected_wall_line(report: &Report) -> String {
    let sources: Vec<&str> = report
        .expected_from
        .iter()
        .filter_map(|name| PriorSource::from_name(name).map(PriorSource::describe))
        .collect();
    let from = if sources.is_empty() {
        String::new()
    } else {
        format!("; times from {}", sources.join(", "))
    };
    match report.expected_wall_ms {
        Some(0) => format!("nothing left to wait for{from}"),
        Some(millis) => format!(
            "expected wall time about {} with the manifest's concurrency and createTask \
             limit{from}",
            short_duration(millis)
        ),
        None => format!(
            "expected wall time unknown: no earlier batch, manifest (run.poll.typical_generation) \
             or model snapshot says how long some of these jobs take{from}"
        ),
    }
}

/// A job's expected generation time, `?` when nothing knows it.
fn expected_cell(job: &JobReport) -> String {
    job.expected_duration_ms
        .map_or_else(|| "?".to_owned(), short_duration)
}

/// `45s`, `2m18s`, `1h05m`: rounded to what a person plans by.
fn short_duration(millis: u64) -> String {
    let seconds = (millis + 500) / 1000;
    match seconds {
        0 => format!("{:.1}s", millis as f64 / 1000.0),
        1..=59 => format!("{seconds}s"),
        60..=3599 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => {
            let minutes = (seconds + 30) / 60;
            format!("{}h{:02}m", minutes / 60, minutes % 60)
        }
    }
}

/// What the service charged for a job when it is known, else its estimate (`?` when the
/// price is unknown, `-` when nothing was estimated).
fn credits_cell(report: &Report, job: &JobReport) -> String {
    match (job.credits, job.estimated_credits) {
        (Some(charged), _) => charged.to_string(),
        (None, Some(estimate)) => estimate.to_string(),
        (None, None) if report.estimated_credits.is_some() => "?".to_owned(),
        (None, None) => "-".to_owned(),
    }
}

fn text_field(job: &JobReport, name: &str) -> String {
    render::input_text(job, name).unwrap_or_else(|| "-".to_owned())
}

/// The prompt's first characters on one line, with `…` when cut.
fn prompt_head(job: &JobReport) -> String {
    render::shortened(render::prompt(job), PROMPT_HEAD_CHARS)
}
