//! One report over the batch folders of several shards: `sora-batch report`.
//!
//! Read [`combine`], then [`write_reports`]. Each folder's journal is read as `status`
//! reads it (no lock, no network); every job of the manifest takes its state from the
//! folder of its shard (the shard each folder's last run recorded), or else from any folder
//! whose journal knows it, so that a job paid for is never shown as pending. The report's
//! file paths are relative to the folder the report is written to, so that the gallery
//! plays each video where it is, in its shard's folder; nothing is copied.
//!
//! The combined report is never written into a batch folder: there its `report.json` would
//! stand for that folder's own, which `recover` rebuilds a lost journal from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::job::JobKey;
use crate::journal::{self, JOURNAL_FILE_NAME, JournalError, Replay};
use crate::manifest::Manifest;
use crate::render::{self, ReportWriteError};
use crate::report::Report;
use crate::shard::Shard;

/// What [`combine`] found.
#[derive(Debug, Clone)]
pub struct CombinedReport {
    /// Every job of the manifest, and the jobs the folders know that it no longer has; file
    /// paths relative to the report's folder.
    pub report: Report,
    /// From the first start to the last end of the folders' last runs; `None` when no
    /// folder records a run that ended.
    pub wall_time: Option<Duration>,
    /// Things to tell the user that do not stop the report (a torn journal line, a shard
    /// with no folder given).
    pub warnings: Vec<String>,
}

/// Why no combined report could be made.
#[derive(Debug, thiserror::Error)]
pub enum CombineError {
    #[error("there is no batch folder at {}", .0.display())]
    Missing(PathBuf),
    #[error("{} is not a batch folder: it has no {JOURNAL_FILE_NAME}", .0.display())]
    NotABatchFolder(PathBuf),
    #[error(
        "{} is not a batch folder of {manifest}: none of the {jobs} job(s) its journal \
         records is in the manifest",
        folder.display()
    )]
    OtherManifest {
        folder: PathBuf,
        manifest: String,
        jobs: usize,
    },
    #[error("{} is given twice", .0.display())]
    Duplicate(PathBuf),
    #[error(
        "the report cannot be written into {}: it is a batch folder, whose report.json must \
         stay its own (a lost journal is rebuilt from it); choose another --report-dir",
        .0.display()
    )]
    ReportIntoBatchFolder(PathBuf),
    #[error("cannot use {} as the report's folder: {source}", path.display())]
    ReportFolder {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// One batch folder, read.
struct ShardFolder {
    path: PathBuf,
    /// Relative to the report's folder, `/`-separated, ending with `/` (or empty).
    link_prefix: String,
    replay: Replay,
    shard: Option<Shard>,
}

/// The report of `manifest` over `folders`, for writing into `report_dir` (created if
/// missing). `manifest_as_given` is the manifest's path as the user typed it.
pub fn combine(
    manifest: &Manifest,
    manifest_as_given: &str,
    folders: &[PathBuf],
    report_dir: &Path,
) -> Result<CombinedReport, CombineError> {
    let report_dir = prepare_report_dir(report_dir)?;
    let mut seen = BTreeSet::new();
    let mut read = Vec::with_capacity(folders.len());
    let mut warnings = Vec::new();
    for folder in folders {
        let canonical = match std::fs::canonicalize(folder) {
            Ok(path) if path.is_dir() => path,
            _ => return Err(CombineError::Missing(folder.clone())),
        };
        if !seen.insert(canonical.clone()) {
            return Err(CombineError::Duplicate(folder.clone()));
        }
        let journal_is_file = std::fs::symlink_metadata(canonical.join(JOURNAL_FILE_NAME))
            .is_ok_and(|metadata| metadata.is_file());
        if !journal_is_file {
            return Err(CombineError::NotABatchFolder(folder.clone()));
        }
        let replay = journal::replay_folder(&canonical)?;
        let knows_a_job = manifest
            .jobs
            .iter()
            .any(|job| replay.jobs.contains_key(job.key.as_str()));
        if !replay.jobs.is_empty() && !knows_a_job {
            return Err(CombineError::OtherManifest {
                folder: folder.clone(),
                manifest: manifest_as_given.to_owned(),
                jobs: replay.jobs.len(),
            });
        }
        warnings.extend(replay.warnings.iter().cloned());
        let shard = replay
            .last_run
            .as_ref()
            .and_then(|run| run.shard.as_deref())
            .and_then(|text| text.parse::<Shard>().ok());
        let mut link_prefix = relative_path(&report_dir, &canonical);
        if !link_prefix.is_empty() {
            link_prefix.push('/');
        }
        read.push(ShardFolder {
            path: folder.clone(),
            link_prefix,
            replay,
            shard,
        });
    }
    warnings.extend(missing_shards(&read));

    // Each job's history from the folder of its shard when that folder knows it, else from
    // the first folder that does.
    let mut merged = Replay::default();
    let mut source: BTreeMap<JobKey, usize> = BTreeMap::new();
    for job in &manifest.jobs {
        let holders = || {
            read.iter()
                .enumerate()
                .filter(|(_, folder)| folder.replay.jobs.contains_key(job.key.as_str()))
        };
        let chosen = holders()
            .find(|(_, folder)| folder.shard.is_some_and(|shard| shard.contains(&job.key)))
            .or_else(|| holders().next());
        if let Some((index, folder)) = chosen
            && let Some(history) = folder.replay.jobs.get(job.key.as_str())
        {
            merged.jobs.insert(job.key.clone(), history.clone());
            source.insert(job.key.clone(), index);
        }
    }
    // Jobs no longer in the manifest: listed as orphaned, from the first folder that has each.
    for (index, folder) in read.iter().enumerate() {
        for (key, history) in &folder.replay.jobs {
            if !source.contains_key(key) {
                merged.jobs.insert(key.clone(), history.clone());
                source.insert(key.clone(), index);
            }
        }
    }
    let mut report = Report::from_journal(manifest, manifest_as_given, &merged);
    for job in &mut report.jobs {
        if let Some(folder) = source.get(&job.key).map(|index| &read[*index]) {
            for file in &mut job.files {
                file.path = format!("{}{}", folder.link_prefix, file.path);
            }
        }
    }
    for orphan in &mut report.orphaned {
        if let Some(folder) = source.get(&orphan.key).map(|index| &read[*index]) {
            for path in &mut orphan.files {
                *path = format!("{}{path}", folder.link_prefix);
            }
        }
    }
    Ok(CombinedReport {
        report,
        wall_time: wall_time(&read),
        warnings,
    })
}

/// Writes `report.json`, `report.md` and `report.html` of `combined` into `report_dir`,
/// each atomically.
pub fn write_reports(report_dir: &Path, combined: &CombinedReport) -> Result<(), ReportWriteError> {
    render::write_reports(report_dir, &combined.report)
}

/// The report's folder, created if missing, canonical; refused when it is a batch folder.
fn prepare_report_dir(report_dir: &Path) -> Result<PathBuf, CombineError> {
    let io_error = |source| CombineError::ReportFolder {
        path: report_dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(report_dir).map_err(io_error)?;
    let canonical = std::fs::canonicalize(report_dir).map_err(io_error)?;
    if std::fs::symlink_metadata(canonical.join(JOURNAL_FILE_NAME)).is_ok() {
        return Err(CombineError::ReportIntoBatchFolder(report_dir.to_owned()));
    }
    Ok(canonical)
}

/// The span of the folders' last runs that ended: shards run side by side, so the batch
/// took from the first start to the last end.
fn wall_time(folders: &[ShardFolder]) -> Option<Duration> {
    let ended: Vec<_> = folders
        .iter()
        .filter_map(|folder| folder.replay.last_run.as_ref())
        .filter_map(|run| Some((run.started_at_ms, run.ended_at_ms?)))
        .collect();
    let started = ended.iter().map(|(started, _)| *started).min()?;
    let finished = ended.iter().map(|(_, ended)| *ended).max()?;
    Some(Duration::from_millis(
        u64::try_from(finished.saturating_sub(started)).unwrap_or(0),
    ))
}

/// When every folder ran a shard of the same N, the shards of N that no folder ran.
fn missing_shards(folders: &[ShardFolder]) -> Option<String> {
    let shards: Vec<Shard> = folders
        .iter()
        .map(|folder| folder.shard)
        .collect::<Option<_>>()?;
    let count = shards.first()?.count();
    if shards.iter().any(|shard| shard.count() != count) {
        return None;
    }
    let missing: Vec<String> = (1..=count)
        .filter_map(|index| Shard::new(index, count).ok())
        .filter(|shard| !shards.contains(shard))
        .map(|shard| shard.to_string())
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "no folder of shard {} was given ({} given: {}); the jobs of the missing shards \
             show as pending unless another folder knows them",
            missing.join(", "),
            folders.len(),
            folders
                .iter()
                .map(|folder| folder.path.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// `to` relative to the folder `from` (both canonical), `/`-separated: `../out/a` from
/// `/w/site` to `/w/out/a`; `to` itself, absolute, when they share no root.
fn relative_path(from: &Path, to: &Path) -> String {
    let from: Vec<Component<'_>> = from.components().collect();
    let to_parts: Vec<Component<'_>> = to.components().collect();
    let common = from
        .iter()
        .zip(&to_parts)
        .take_while(|(a, b)| a == b)
        .count();
    if common == 0 {
        return to.to_string_lossy().into_owned();
    }
    let ups = std::iter::repeat_n("..".to_owned(), from.len() - common);
    let downs = to_parts[common..]
        .iter()
        .map(|part| part.as_os_str().to_string_lossy().into_owned());
    ups.chain(downs).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_relative_to_the_reports_folder() {
        let path = |text: &str| PathBuf::from(text);
        assert_eq!(
            relative_path(&path("/w/site"), &path("/w/out/a")),
            "../out/a"
        );
        assert_eq!(relative_path(&path("/w"), &path("/w/out/a")), "out/a");
        assert_eq!(relative_path(&path("/w/out/a"), &path("/w/out/a")), "");
        assert_eq!(relative_path(&path("/w/x/y"), &path("/w")), "../..");
    }
}
