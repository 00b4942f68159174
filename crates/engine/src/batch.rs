//! The batch folder: where a run keeps its journal, videos and reports, under a lock.
//!
//! Read [`BatchFolder::lock`] first. One run at a time may work in a folder: the lock is an
//! exclusive OS file lock on `.lock`, released by the OS however the process ends, so a
//! killed run never leaves a stale lock behind. Videos arrive through [`FileSink`]: streamed
//! into a hidden partial file in the same folder, hashed on the way, fsynced, then renamed to
//! their final name — so a video file that exists under its final name is complete.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};
use sora_batch_api::DownloadSink;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::durable::{hex, is_partial_file_name, partial_file_name, sync_folder};
use crate::job::JobId;
use crate::journal::JOURNAL_FILE_NAME;

const LOCK_FILE_NAME: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum BatchFolderError {
    #[error("another sora-batch run is using the batch folder {path} (it holds {path}/.lock)")]
    Locked { path: PathBuf },
    #[error("cannot use the batch folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A batch folder held exclusively by this process.
#[derive(Debug)]
pub struct BatchFolder {
    root: PathBuf,
    /// Held for the lifetime of the value; the OS releases the lock when the file closes.
    _lock: File,
}

impl BatchFolder {
    /// Creates the folder if needed and takes its lock, failing at once if another run
    /// holds it. The run removes partial downloads left by a killed run while it sets up
    /// the journal's jobs: listing a folder of 100,000 videos takes a while.
    pub fn lock(root: &Path) -> Result<BatchFolder, BatchFolderError> {
        let io_error = |source| BatchFolderError::Io {
            path: root.to_owned(),
            source,
        };
        std::fs::create_dir_all(root).map_err(io_error)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(root.join(LOCK_FILE_NAME))
            .map_err(io_error)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(BatchFolderError::Locked {
                    path: root.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(error)) => return Err(io_error(error)),
        }
        Ok(BatchFolder {
            root: root.to_owned(),
            _lock: lock,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn journal_path(&self) -> PathBuf {
        self.root.join(JOURNAL_FILE_NAME)
    }

    /// Removes the hidden partial files (downloads and reports) a killed run left from the
    /// locked folder at `root`. Only under the lock, and before this run writes one.
    pub(crate) fn remove_partial_files(root: &Path) -> io::Result<()> {
        for entry in std::fs::read_dir(root)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if is_partial_file_name(&name) {
                std::fs::remove_file(entry.path())?;
            }
        }
        Ok(())
    }
}

/// The name of result file `index` (0-based) of job `id`: `<id>.mp4`, then `<id>-2.mp4`, ...
/// Ids are checked to be safe file names when the manifest is loaded.
pub fn video_file_name(id: &JobId, index: usize) -> String {
    if index == 0 {
        format!("{id}.mp4")
    } else {
        format!("{id}-{}.mp4", index + 1)
    }
}

/// A finished file: its name in the batch folder, size and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedFile {
    pub file_name: String,
    pub sha256: String,
    pub bytes: u64,
    /// Modification time under the final name, nanoseconds since the epoch, when the file
    /// system tells it.
    pub modified_ns: Option<u64>,
}

/// Receives a download into a partial file, hashing it on the way.
#[derive(Debug)]
pub struct FileSink {
    file: tokio::fs::File,
    folder: PathBuf,
    file_name: String,
    partial: PathBuf,
    hasher: Sha256,
    bytes: u64,
}

impl DownloadSink for FileSink {
    async fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0).await?;
        self.file.seek(io::SeekFrom::Start(0)).await?;
        self.hasher = Sha256::new();
        self.bytes = 0;
        Ok(())
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        Ok(())
    }
}

impl FileSink {
    /// Streams a download into a partial file beside `file_name` in `folder`.
    pub async fn create(folder: &Path, file_name: &str) -> io::Result<FileSink> {
        let partial = folder.join(partial_file_name(file_name));
        let file = tokio::fs::File::create(&partial).await?;
        Ok(FileSink {
            file,
            folder: folder.to_owned(),
            file_name: file_name.to_owned(),
            partial,
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    /// Makes the file durable and gives it its final name (the one given to
    /// [`create`](Self::create)), atomically.
    pub async fn complete(mut self) -> io::Result<CompletedFile> {
        if let Err(error) = self.file.flush().await {
            self.discard().await;
            return Err(error);
        }
        let file = self.file.into_std().await;
        let partial = self.partial;
        let final_path = self.folder.join(&self.file_name);
        let folder = self.folder;
        // One trip to the blocking pool for the whole sequence, not one per step: each trip
        // is a thread hand-off, and a batch of small files is made of little else.
        let modified_ns = tokio::task::spawn_blocking(move || -> io::Result<Option<u64>> {
            if let Err(error) = file.sync_all() {
                // A full disk should not also keep the half-written copy taking its space.
                drop(file);
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
            drop(file);
            if let Err(error) = std::fs::rename(&partial, &final_path) {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
            let modified_ns = std::fs::metadata(&final_path)
                .ok()
                .and_then(|metadata| modified_nanos(&metadata));
            sync_folder(&folder)?;
            Ok(modified_ns)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(CompletedFile {
            file_name: self.file_name,
            sha256: hex(&self.hasher.finalize()),
            bytes: self.bytes,
            modified_ns,
        })
    }

    /// Removes the partial file after a failed download.
    pub async fn discard(self) {
        drop(self.file);
        let _ = tokio::fs::remove_file(&self.partial).await;
    }
}

/// A file's modification time in nanoseconds since the epoch, if the system has one.
fn modified_nanos(metadata: &std::fs::Metadata) -> Option<u64> {
    let since_epoch = metadata.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since_epoch.as_nanos()).ok()
}

/// What a recorded file looks like on disk now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileCheck {
    Intact,
    Missing,
    Altered,
    /// The check could not be completed (an I/O error, a checker that died): the file is
    /// not trusted, and is fetched again.
    Unverified,
}

/// Compares a file with its recorded size and sha256. Blocking: run it off the async
/// threads for many files.
pub fn check_file(
    path: &Path,
    bytes: u64,
    sha256: &str,
    modified_ns: Option<u64>,
) -> io::Result<FileCheck> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(FileCheck::Missing),
        Err(error) => return Err(error),
    };
    if !metadata.is_file() || metadata.len() != bytes {
        return Ok(FileCheck::Altered);
    }
    // Untouched since it was recorded: same size, same modification time to the
    // nanosecond. Reading it again would make a resume of a large batch read every video
    // (terabytes); a file edited or replaced gets a new time and is hashed. What this
    // misses, and `run --verify-files` for it, is in docs/journal.md.
    if modified_ns.is_some() && modified_nanos(&metadata) == modified_ns {
        return Ok(FileCheck::Intact);
    }
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    // Sized to the file: a resume checks every recorded file, and a fixed large buffer per
    // file would cost more than reading small ones.
    const MAX_BUFFER: u64 = 256 * 1024;
    let mut buffer = vec![0u8; usize::try_from(bytes.clamp(1, MAX_BUFFER)).unwrap_or(1)];
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(if hex(&hasher.finalize()) == sha256 {
        FileCheck::Intact
    } else {
        FileCheck::Altered
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_at_once() {
        let temp = tempfile::tempdir().expect("temp dir");
        let first = BatchFolder::lock(temp.path()).expect("first lock");
        let second = BatchFolder::lock(temp.path()).expect_err("second lock");
        assert!(
            matches!(second, BatchFolderError::Locked { .. }),
            "{second}"
        );
        drop(first);
        BatchFolder::lock(temp.path()).expect("free again once the first is gone");
    }

    #[test]
    fn file_names_number_further_results() {
        let id = JobId::new_unchecked("intro".into());
        assert_eq!(video_file_name(&id, 0), "intro.mp4");
        assert_eq!(video_file_name(&id, 1), "intro-2.mp4");
    }

    #[tokio::test]
    async fn a_completed_file_is_whole_and_checksummed() {
        let temp = tempfile::tempdir().expect("temp dir");
        let folder = BatchFolder::lock(temp.path()).expect("lock");
        let mut sink = FileSink::create(folder.root(), "a.mp4")
            .await
            .expect("sink");
        sink.write_chunk(b"stale").await.expect("writes");
        sink.restart().await.expect("restarts");
        sink.write_chunk(b"hello ").await.expect("writes");
        sink.write_chunk(b"world").await.expect("writes");
        let done = sink.complete().await.expect("completes");
        assert_eq!(
            std::fs::read(temp.path().join("a.mp4")).expect("reads"),
            b"hello world"
        );
        assert_eq!(
            done.sha256,
            "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
        );
        assert_eq!(done.bytes, 11);
        let path = temp.path().join("a.mp4");
        assert!(
            done.modified_ns.is_some(),
            "this file system has modification times"
        );
        // Recorded time and size: taken as intact without reading; a journal without the
        // time (an earlier version's) has the file hashed.
        for recorded in [done.modified_ns, None] {
            assert_eq!(
                check_file(&path, 11, &done.sha256, recorded).expect("checks"),
                FileCheck::Intact
            );
        }
        std::fs::write(&path, b"hello WORLD").expect("alters");
        assert_eq!(
            check_file(&path, 11, &done.sha256, done.modified_ns).expect("checks"),
            FileCheck::Altered,
            "a write changes the time, so the file is hashed"
        );
        std::fs::remove_file(&path).expect("removes");
        assert_eq!(
            check_file(&path, 11, &done.sha256, done.modified_ns).expect("checks"),
            FileCheck::Missing
        );
        assert!(
            std::fs::read_dir(temp.path()).expect("lists").all(|e| {
                !is_partial_file_name(&e.expect("entry").file_name().to_string_lossy())
            })
        );
    }
}
