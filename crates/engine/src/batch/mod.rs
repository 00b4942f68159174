//! The batch folder: where a run keeps its journal, videos and reports, under a lock.
//!
//! Read [`BatchFolder::lock`] first. One run at a time may work in a folder: the lock is an
//! exclusive OS lock on the folder itself, released by the OS however the process ends, so
//! a killed run never leaves a stale lock behind, and there is no lock file that deleting
//! could let a second run in beside the first. Videos arrive through [`FileSink`]: streamed
//! into a hidden partial file in the same folder, hashed on the way, fsynced, then renamed to
//! their final name — so a video file that exists under its final name is complete. No
//! symbolic link inside the folder is followed (see [`crate::durable::open_in_folder`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};
use sora_batch_api::DownloadSink;
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::durable::{
    LinkRefused, create_partial_file, hex, is_link, is_link_refusal, is_partial_file_name,
    open_in_folder, partial_file_name, sync_folder,
};
use crate::job::JobId;
use crate::journal::JOURNAL_FILE_NAME;
use crate::media::{HEAD_BYTES, Media};

/// The lock file, where the folder itself cannot be locked: on Windows, and on a file
/// system that refuses to lock a directory. A `.lock` left by an earlier version elsewhere
/// is ignored.
const LOCK_FILE_NAME: &str = ".lock";

#[derive(Debug, thiserror::Error)]
pub enum BatchFolderError {
    #[error("another sora-batch run is using the batch folder {path} (it holds the folder's lock)")]
    Locked { path: PathBuf },
    /// A symbolic link where the folder's own file belongs: the folder is refused.
    #[error(transparent)]
    Link(#[from] LinkRefused),
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
    /// Held for the lifetime of the value: the folder opened as a directory (or the lock
    /// file); the OS releases the lock when it closes.
    _lock: File,
}

impl BatchFolder {
    /// Creates the folder if needed and takes its lock, failing at once if another run
    /// holds it; refuses a folder whose journal is a symbolic link. The run removes partial
    /// downloads left by a killed run while it sets up the journal's jobs: listing a folder
    /// of 100,000 videos takes a while.
    pub fn lock(root: &Path) -> Result<BatchFolder, BatchFolderError> {
        std::fs::create_dir_all(root).map_err(|source| BatchFolderError::Io {
            path: root.to_owned(),
            source,
        })?;
        let lock = lock_folder(root)?;
        // Refused before anything reads or writes through it: whatever it points to would
        // become the batch's record of what was paid for. (The journal's opens do not follow
        // a link either; this is the clear, early refusal.)
        let journal = root.join(JOURNAL_FILE_NAME);
        if is_link(&journal) {
            return Err(BatchFolderError::Link(LinkRefused { path: journal }));
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

/// Takes the exclusive lock of the batch folder at `root`, or says who holds it.
///
/// What is locked is the folder itself, opened as a directory: a second run cannot make a
/// new one behind the first run's back, as it could a lock file someone deleted. The lock is
/// `flock`'s (std's `try_lock` on Linux, macOS and the BSDs), held by this open file: other
/// opens of the folder, such as [`sync_folder`]'s, do not release it when they close.
fn lock_folder(root: &Path) -> Result<File, BatchFolderError> {
    let locked = || BatchFolderError::Locked {
        path: root.to_owned(),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let folder = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_DIRECTORY)
            .open(root)
            .map_err(|source| BatchFolderError::Io {
                path: root.to_owned(),
                source,
            })?;
        match folder.try_lock() {
            Ok(()) => return Ok(folder),
            Err(std::fs::TryLockError::WouldBlock) => return Err(locked()),
            // A file system that cannot lock a directory (some network file systems): the
            // lock file below is the best left. Every run on it falls back alike.
            Err(std::fs::TryLockError::Error(_)) => {}
        }
    }
    let path = root.join(LOCK_FILE_NAME);
    let io_error = |source: io::Error| {
        if is_link_refusal(&source) {
            BatchFolderError::Link(LinkRefused { path: path.clone() })
        } else {
            BatchFolderError::Io {
                path: root.to_owned(),
                source,
            }
        }
    };
    let lock = open_in_folder(
        &path,
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true),
    )
    .map_err(io_error)?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(locked()),
        Err(std::fs::TryLockError::Error(error)) => Err(io_error(error)),
    }
}

/// The name of result file `index` (0-based) of job `id` without its extension: `<id>`,
/// then `<id>-2`, ... The extension comes from the file's bytes ([`Media`]). Ids are checked
/// to be safe file names when the manifest is loaded.
pub fn result_file_stem(id: &JobId, index: usize) -> String {
    if index == 0 {
        id.to_string()
    } else {
        format!("{id}-{}", index + 1)
    }
}

/// Which result of job `id` the file `name` in the batch folder is (`<id>.<ext>` the first,
/// `<id>-2.<ext>` the second, ...), if it is one of its results at all.
pub fn result_index_of(id: &JobId, name: &str) -> Option<usize> {
    let (stem, extension) = name.rsplit_once('.')?;
    Media::from_extension(extension)?;
    if stem == id.as_str() {
        return Some(0);
    }
    let number = stem.strip_prefix(id.as_str())?.strip_prefix('-')?;
    // `<id>-2` is the second result; `<id>-02` or `<id>-1` are not names this writes.
    if number.starts_with('0') {
        return None;
    }
    number
        .parse::<usize>()
        .ok()
        .filter(|n| *n >= 2)
        .map(|n| n - 1)
}

/// A finished file: its name in the batch folder, size and checksum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedFile {
    pub file_name: String,
    /// What the bytes are (`video/mp4`, `image/png`, ...).
    pub media_type: String,
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
    /// The final name without its extension, which the bytes decide.
    stem: String,
    partial: PathBuf,
    hasher: Sha256,
    bytes: u64,
    /// The first bytes, for the file's format.
    head: Vec<u8>,
}

impl DownloadSink for FileSink {
    async fn restart(&mut self) -> io::Result<()> {
        self.file.set_len(0).await?;
        self.file.seek(io::SeekFrom::Start(0)).await?;
        self.hasher = Sha256::new();
        self.bytes = 0;
        self.head.clear();
        Ok(())
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk).await?;
        self.hasher.update(chunk);
        self.bytes += chunk.len() as u64;
        let wanted = HEAD_BYTES.saturating_sub(self.head.len());
        self.head
            .extend_from_slice(&chunk[..wanted.min(chunk.len())]);
        Ok(())
    }
}

impl FileSink {
    /// Streams a download into a partial file in `folder`, to be named `<stem>.<ext>`.
    pub async fn create(folder: &Path, stem: &str) -> io::Result<FileSink> {
        let partial = folder.join(partial_file_name(stem));
        let creating = partial.clone();
        let file = tokio::task::spawn_blocking(move || create_partial_file(&creating))
            .await
            .map_err(io::Error::other)??;
        let file = tokio::fs::File::from_std(file);
        Ok(FileSink {
            file,
            folder: folder.to_owned(),
            stem: stem.to_owned(),
            partial,
            hasher: Sha256::new(),
            bytes: 0,
            head: Vec::with_capacity(HEAD_BYTES),
        })
    }

    /// Makes the file durable and gives it its final name, atomically: the stem given to
    /// [`create`](Self::create) and the extension of the format its bytes show (the URL it
    /// came from, `url`, names it only when the bytes do not).
    pub async fn complete(mut self, url: &str) -> io::Result<CompletedFile> {
        if let Err(error) = self.file.flush().await {
            self.discard().await;
            return Err(error);
        }
        let media = Media::of(&self.head, url);
        let file_name = format!("{}.{}", self.stem, media.extension);
        let file = self.file.into_std().await;
        let partial = self.partial;
        let final_path = self.folder.join(&file_name);
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
            let modified_ns = std::fs::symlink_metadata(&final_path)
                .ok()
                .and_then(|metadata| modified_nanos(&metadata));
            sync_folder(&folder)?;
            Ok(modified_ns)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(CompletedFile {
            file_name,
            media_type: media.mime.to_owned(),
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

/// Saves a text model's result (`resultObject`) as `<stem>.json`, pretty-printed, with the
/// same guarantee as a download: complete under its final name, fsynced with its folder
/// entry. Blocking: run it off the async threads.
pub fn save_text_result(
    folder: &Path,
    stem: &str,
    result: &serde_json::Value,
) -> io::Result<CompletedFile> {
    let mut text = serde_json::to_vec_pretty(result).map_err(io::Error::other)?;
    text.push(b'\n');
    let file_name = format!("{stem}.{}", Media::TEXT.extension);
    let final_path = crate::durable::write_atomically(folder, &file_name, |out| {
        io::Write::write_all(out, &text)
    })
    .map_err(|error| error.source)?;
    let modified_ns = std::fs::symlink_metadata(&final_path)
        .ok()
        .and_then(|metadata| modified_nanos(&metadata));
    sync_folder(folder)?;
    Ok(CompletedFile {
        file_name,
        media_type: Media::TEXT.mime.to_owned(),
        sha256: hex(&Sha256::digest(&text)),
        bytes: text.len() as u64,
        modified_ns,
    })
}

/// A file's modification time in nanoseconds since the epoch, if the system has one.
pub(crate) fn modified_nanos(metadata: &std::fs::Metadata) -> Option<u64> {
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
    // The entry itself: a link, even to an identical copy, is not the batch's file (it is
    // fetched again, and the download's rename replaces the link).
    let metadata = match std::fs::symlink_metadata(path) {
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
    let mut file = match open_in_folder(path, OpenOptions::new().read(true)) {
        Ok(file) => file,
        // Put in place since the look above.
        Err(error) if is_link_refusal(&error) => return Ok(FileCheck::Altered),
        Err(error) => return Err(error),
    };
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
mod tests;
