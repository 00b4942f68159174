//! The per-user cache of generation times: what earlier batches learned, for the next one.
//!
//! Read [`GenerationTimeCache::load`] and [`GenerationTimeCache::record`]. One small JSON file,
//! `generation-times.json`, in a folder the caller names (the cli's is the platform's cache
//! folder, `$XDG_CACHE_HOME/sora-batch` or `~/.cache/sora-batch`, or `SORA_BATCH_CACHE_DIR`).
//! Per [`TimingClass`] it keeps the mean and spread of the log generation times seen, not the
//! times: its size is bounded by the number of classes ([`MAX_CLASSES`], least recently seen
//! dropped first), whatever the number of batches.
//!
//! The cache is advice. It is safe to delete; a run never needs it, and never fails for it: a
//! file that is missing, too large, unreadable or not what this version writes is ignored
//! (with a debug log line) and replaced at the end of the next run. It is written whole
//! through a temporary file of its own and renamed into place, so a reader sees the old file
//! or the new one. Two runs finishing at the same moment (shards on one machine) may each
//! write theirs: the later one wins and the other's times are lost to the cache, not to the
//! runs' journals.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{LogStats, TimingClass};

/// The file's name in the cache folder.
pub const CACHE_FILE_NAME: &str = "generation-times.json";
/// The format written here; a file of another is ignored.
const FORMAT: u32 = 1;
/// Classes kept, the most recently seen first.
pub const MAX_CLASSES: usize = 256;
/// A file larger than this is not read: [`MAX_CLASSES`] entries take a few tens of KiB.
const MAX_FILE_BYTES: u64 = 256 * 1024;
/// A class name longer than this is not kept.
const MAX_CLASS_NAME_CHARS: usize = 300;
/// What one class's entry counts for at most, in tasks: newer batches keep moving it.
const MAX_ENTRY_WEIGHT: f64 = 200.0;

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: u32,
    /// For a person who opens the file.
    #[serde(default)]
    about: String,
    classes: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Entry {
    /// How many tasks the entry stands for (capped).
    tasks: f64,
    /// Mean of `ln(milliseconds)`.
    mean_ln_ms: f64,
    /// Variance of `ln(milliseconds)`.
    variance_ln: f64,
    /// When a batch last added to it, milliseconds since the epoch.
    updated_ms: u64,
}

impl Entry {
    fn stats(&self) -> LogStats {
        LogStats {
            weight: self.tasks,
            mean: self.mean_ln_ms,
            m2: self.variance_ln * self.tasks,
        }
    }

    fn is_sane(&self) -> bool {
        self.tasks.is_finite()
            && self.tasks > 0.0
            && self.mean_ln_ms.is_finite()
            && (0.0..50.0).contains(&self.mean_ln_ms)
            && self.variance_ln.is_finite()
            && self.variance_ln >= 0.0
    }
}

/// The cache as read when a batch starts.
#[derive(Debug, Clone, Default)]
pub struct GenerationTimeCache {
    entries: BTreeMap<String, Entry>,
}

impl GenerationTimeCache {
    /// A cache that knows nothing (no cache folder, or a test).
    pub fn empty() -> GenerationTimeCache {
        GenerationTimeCache::default()
    }

    /// The cache in `folder`; empty when there is none or it cannot be used.
    pub fn load(folder: &Path) -> GenerationTimeCache {
        GenerationTimeCache {
            entries: read_entries(&folder.join(CACHE_FILE_NAME)),
        }
    }

    /// What earlier batches saw of `class`.
    pub fn stats(&self, class: &TimingClass) -> Option<LogStats> {
        self.entries.get(class.as_str()).map(Entry::stats)
    }

    /// What earlier batches saw of `model`, all its classes together.
    pub fn model_stats(&self, model: &str) -> Option<LogStats> {
        let merged = self
            .entries
            .iter()
            .filter(|(name, _)| TimingClass::from_name(name).model() == model)
            .fold(LogStats::default(), |all, (_, entry)| {
                all.merged(&entry.stats())
            });
        (merged.weight > 0.0).then_some(merged)
    }

    /// Adds `observed` (a batch's finished tasks, by class) to the cache in `folder`: the
    /// file is read again (another run may have written it since this one started), merged,
    /// cut to [`MAX_CLASSES`], and replaced whole.
    pub fn record(folder: &Path, observed: &[(TimingClass, LogStats)]) -> io::Result<()> {
        let observed: Vec<&(TimingClass, LogStats)> = observed
            .iter()
            .filter(|(class, stats)| {
                stats.is_usable() && class.as_str().chars().count() <= MAX_CLASS_NAME_CHARS
            })
            .collect();
        if observed.is_empty() {
            return Ok(());
        }
        let path = folder.join(CACHE_FILE_NAME);
        let mut entries = read_entries(&path);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        for (class, stats) in &observed {
            let before = entries
                .get(class.as_str())
                .map(Entry::stats)
                .unwrap_or_default();
            let after = before.merged(stats).capped(MAX_ENTRY_WEIGHT);
            let entry = Entry {
                tasks: after.weight,
                mean_ln_ms: after.mean,
                variance_ln: after.variance(),
                updated_ms: now_ms,
            };
            if entry.is_sane() {
                entries.insert(class.as_str().to_owned(), entry);
            }
        }
        if entries.len() > MAX_CLASSES {
            // The oldest go first, and a class this batch just added to last.
            let mut by_age: Vec<(bool, u64, String)> = entries
                .iter()
                .map(|(name, entry)| {
                    let just_seen = observed.iter().any(|(class, _)| class.as_str() == *name);
                    (just_seen, entry.updated_ms, name.clone())
                })
                .collect();
            by_age.sort_unstable();
            let excess = entries.len() - MAX_CLASSES;
            for (_, _, name) in by_age.into_iter().take(excess) {
                entries.remove(&name);
            }
        }
        let file = CacheFile {
            format: FORMAT,
            about: "generation times sora-batch has seen, per model and length; \
                    safe to delete"
                .to_owned(),
            classes: entries,
        };
        let text = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
        write_replacing(folder, &path, &text)
    }
}

fn read_entries(path: &Path) -> BTreeMap<String, Entry> {
    match read_file(path) {
        Ok(Some(file)) => file
            .classes
            .into_iter()
            .filter(|(name, entry)| entry.is_sane() && name.chars().count() <= MAX_CLASS_NAME_CHARS)
            .collect(),
        Ok(None) => BTreeMap::new(),
        Err(reason) => {
            tracing::debug!(path = %path.display(), %reason, "generation-time cache ignored");
            BTreeMap::new()
        }
    }
}

/// The file, `None` when there is none; an error says why it cannot be used.
fn read_file(path: &Path) -> Result<Option<CacheFile>, String> {
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.to_string()),
    };
    if !metadata.is_file() {
        return Err("not a file".into());
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(format!("{} bytes, more than a cache holds", metadata.len()));
    }
    let bytes = fs::read(path).map_err(|error| error.to_string())?;
    let file: CacheFile = serde_json::from_slice(&bytes).map_err(|error| error.to_string())?;
    if file.format != FORMAT {
        return Err(format!("format {}, not {FORMAT}", file.format));
    }
    Ok(Some(file))
}

/// `text` as the new content of `path`, through a temporary file named for this process
/// (two processes never write the same one), fsynced and renamed into place. Temporary files
/// more than a day old (a process killed while writing) are removed on the way.
fn write_replacing(folder: &Path, path: &Path, text: &[u8]) -> io::Result<()> {
    fs::create_dir_all(folder)?;
    remove_stale_temporary_files(folder);
    let temporary: PathBuf = folder.join(format!("{CACHE_FILE_NAME}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(text)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

fn remove_stale_temporary_files(folder: &Path) {
    let Ok(listing) = fs::read_dir(folder) else {
        return;
    };
    let day = std::time::Duration::from_secs(24 * 60 * 60);
    for entry in listing.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(CACHE_FILE_NAME) && name.ends_with(".tmp")) {
            continue;
        }
        let stale = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.elapsed().ok())
            .is_some_and(|age| age > day);
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_of(seconds: &[f64]) -> LogStats {
        let mut stats = LogStats::default();
        for s in seconds {
            stats.add_ms(s * 1000.0);
        }
        stats
    }

    fn class(name: &str) -> TimingClass {
        TimingClass::from_name(name)
    }

    #[test]
    fn recorded_times_are_read_back_and_merged() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let cache_folder = folder.path().join("nested").join("sora-batch");
        let sora = class("sora-2-text-to-video n_frames=10");
        GenerationTimeCache::record(&cache_folder, &[(sora.clone(), stats_of(&[100.0, 120.0]))])
            .expect("written");
        GenerationTimeCache::record(&cache_folder, &[(sora.clone(), stats_of(&[140.0]))])
            .expect("written again");
        let cache = GenerationTimeCache::load(&cache_folder);
        let stats = cache.stats(&sora).expect("the class is cached");
        let all = stats_of(&[100.0, 120.0, 140.0]);
        assert_eq!(stats.weight, 3.0);
        assert!((stats.mean - all.mean).abs() < 1e-9);
        assert!((stats.variance() - all.variance()).abs() < 1e-9);
        assert_eq!(
            cache.model_stats("sora-2-text-to-video").map(|s| s.weight),
            Some(3.0)
        );
        assert_eq!(cache.model_stats("other"), None);
        // Nothing else is left in the folder: no temporary file.
        let names: Vec<String> = fs::read_dir(&cache_folder)
            .expect("listed")
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [CACHE_FILE_NAME]);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_ignored_and_replaced() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let path = folder.path().join(CACHE_FILE_NAME);
        for content in [
            "{not json".to_owned(),
            r#"{"format": 99, "classes": {}}"#.to_owned(),
            "x".repeat(usize::try_from(MAX_FILE_BYTES).unwrap_or(0) + 1),
            r#"{"format": 1, "classes": {"m": {"tasks": -1, "mean_ln_ms": 1, "variance_ln": 0, "updated_ms": 0}}}"#
                .to_owned(),
        ] {
            fs::write(&path, &content).expect("written");
            let cache = GenerationTimeCache::load(folder.path());
            assert_eq!(cache.model_stats("m"), None, "{}", &content[..content.len().min(40)]);
        }
        let class = class("m duration=5");
        GenerationTimeCache::record(folder.path(), &[(class.clone(), stats_of(&[10.0]))])
            .expect("replaced");
        assert!(
            GenerationTimeCache::load(folder.path())
                .stats(&class)
                .is_some()
        );
    }

    #[test]
    fn the_cache_keeps_the_most_recently_seen_classes() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let batch: Vec<(TimingClass, LogStats)> = (0..MAX_CLASSES + 10)
            .map(|index| (class(&format!("model-{index:04}")), stats_of(&[10.0])))
            .collect();
        GenerationTimeCache::record(folder.path(), &batch).expect("written");
        let cache = GenerationTimeCache::load(folder.path());
        assert_eq!(cache.entries.len(), MAX_CLASSES);
        // One entry's weight is capped: later batches still move it.
        let many = stats_of(&[10.0; 500]);
        GenerationTimeCache::record(folder.path(), &[(class("busy"), many)]).expect("written");
        let cache = GenerationTimeCache::load(folder.path());
        assert_eq!(
            cache.stats(&class("busy")).map(|s| s.weight),
            Some(MAX_ENTRY_WEIGHT)
        );
        assert_eq!(cache.entries.len(), MAX_CLASSES);
    }
}
