//! Writing the journal: one thread owns the file and commits records in groups.
//!
//! Read [`JournalWriter`]. Records sent while an fsync is under way are written and fsynced
//! together by the next one (group commit), so a busy batch pays far fewer fsyncs than it
//! writes records. A failed write keeps the OS's error, kind and code, for every request
//! that waited on it.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;

use sora_batch_api::LocalWriteFailure;

use super::{JOURNAL_FORMAT, JournalError, Record, Replay};
use crate::durable::{FileIdentity, LinkRefused, is_link_refusal, open_in_folder, sync_folder};

/// A request to the writer thread.
struct WriteRequest {
    line: Vec<u8>,
    /// Whom to tell once the line is durable; `None` for a line that need not be.
    done: Option<tokio::sync::oneshot::Sender<Result<(), WriteFailure>>>,
}

/// A failed write as the writer thread saw it, sent to everyone who waited on it: an
/// `io::Error` cannot be cloned, so the api crate's evidence of one (kind, OS code, text)
/// travels instead, as it does for a download's failed write.
type WriteFailure = LocalWriteFailure;

/// Counters of what the writer did, for the benchmark's journal-cost figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    pub records: u64,
    pub bytes: u64,
    pub fsyncs: u64,
}

/// Appends records to the journal from any task. Writes go through one thread that owns the
/// file: it takes every record waiting, writes them in one go and, when any of them must be
/// durable, fsyncs once for all of them before acknowledging.
#[derive(Debug, Clone)]
pub struct JournalWriter {
    sender: mpsc::Sender<WriteRequest>,
    path: PathBuf,
}

/// Owns the writer thread; joining it flushes everything sent before.
#[derive(Debug)]
pub struct JournalWriterHandle {
    thread: Option<thread::JoinHandle<WriterStats>>,
}

impl JournalWriterHandle {
    /// Waits until every record sent so far is written; returns what the writer did.
    /// Every [`JournalWriter`] clone must be dropped first, or this waits for them.
    pub fn finish(mut self) -> WriterStats {
        self.thread
            .take()
            .and_then(|thread| thread.join().ok())
            .unwrap_or_default()
    }
}

impl JournalWriter {
    /// Opens the journal for appending after a [`replay`](super::replay) of it: a torn tail
    /// is cut off, a new journal gets its header (durably, with its folder entry).
    ///
    /// Only the very file the replay read is written, checked by its identity once open, and
    /// only a new file where the replay found none: cutting another file to the length of
    /// the one read, or appending to one this run knows nothing of, would destroy a record
    /// of paid work. A symbolic link is never followed.
    pub fn open(
        path: &Path,
        replay: &Replay,
    ) -> Result<(JournalWriter, JournalWriterHandle), JournalError> {
        let io_error = |source| JournalError::Io {
            path: path.to_owned(),
            source,
        };
        let replaced = || JournalError::Replaced {
            path: path.to_owned(),
        };
        let mut options = OpenOptions::new();
        options.read(true).write(true);
        if replay.file.is_none() {
            options.create_new(true);
        }
        let mut file = match open_in_folder(path, &mut options) {
            Ok(file) => file,
            Err(error) if is_link_refusal(&error) => {
                return Err(JournalError::Link(LinkRefused {
                    path: path.to_owned(),
                }));
            }
            // Appeared since the replay found none, or gone since it was read.
            Err(error)
                if error.kind()
                    == match replay.file {
                        None => io::ErrorKind::AlreadyExists,
                        Some(_) => io::ErrorKind::NotFound,
                    } =>
            {
                return Err(replaced());
            }
            Err(error) => return Err(io_error(error)),
        };
        if let Some(read) = replay.file
            && FileIdentity::of(&file).map_err(io_error)? != read
        {
            return Err(replaced());
        }
        let length = file.metadata().map_err(io_error)?.len();
        if length > replay.valid_len {
            file.set_len(replay.valid_len).map_err(io_error)?;
        }
        file.seek(SeekFrom::End(0)).map_err(io_error)?;
        if replay.valid_len > 0 {
            // A last record written whole but without its newline gets one now.
            let mut last = [0u8; 1];
            file.seek(SeekFrom::Start(replay.valid_len - 1))
                .map_err(io_error)?;
            file.read_exact(&mut last).map_err(io_error)?;
            file.seek(SeekFrom::End(0)).map_err(io_error)?;
            if last[0] != b'\n' {
                file.write_all(b"\n").map_err(io_error)?;
            }
        } else {
            let header = Record::Header {
                format: JOURNAL_FORMAT,
                created_by: concat!("sora-batch ", env!("CARGO_PKG_VERSION")).to_owned(),
            };
            let header = encode(&header).map_err(|reason| JournalError::Unencodable {
                path: path.to_owned(),
                reason,
            })?;
            file.write_all(&header).map_err(io_error)?;
            file.sync_all().map_err(io_error)?;
            if let Some(folder) = path.parent() {
                sync_folder(folder).map_err(io_error)?;
            }
        }
        let (sender, receiver) = mpsc::channel::<WriteRequest>();
        let thread = thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || write_loop(file, receiver))
            .map_err(io_error)?;
        Ok((
            JournalWriter {
                sender,
                path: path.to_owned(),
            },
            JournalWriterHandle {
                thread: Some(thread),
            },
        ))
    }

    /// Appends `record` and returns once it is on disk (fsynced).
    pub async fn append_durable(&self, record: &Record) -> Result<(), JournalError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.send(record, Some(done))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(JournalError::Io {
                path: self.path.clone(),
                source: failure.to_io_error(),
            }),
            Err(_) => Err(JournalError::WriterGone("no acknowledgement".into())),
        }
    }

    /// Appends `record` without waiting: for facts that can be learned again (the next run
    /// would poll the task once more), not for ones the guarantee rests on.
    pub fn append(&self, record: &Record) -> Result<(), JournalError> {
        self.send(record, None)
    }

    fn send(
        &self,
        record: &Record,
        done: Option<tokio::sync::oneshot::Sender<Result<(), WriteFailure>>>,
    ) -> Result<(), JournalError> {
        let line = encode(record).map_err(|reason| JournalError::Unencodable {
            path: self.path.clone(),
            reason,
        })?;
        self.sender
            .send(WriteRequest { line, done })
            .map_err(|_| JournalError::WriterGone("the writer thread has ended".into()))
    }
}

/// One record as a journal line. A record JSON cannot hold is refused, never written as
/// something else: a line the next replay cannot read would make the journal corrupt.
pub(super) fn encode(record: &Record) -> Result<Vec<u8>, String> {
    let mut line = serde_json::to_vec(record).map_err(|error| error.to_string())?;
    line.push(b'\n');
    Ok(line)
}

fn write_loop(mut file: File, receiver: mpsc::Receiver<WriteRequest>) -> WriterStats {
    let mut stats = WriterStats::default();
    // After a failed write the file's tail is unknown: every later request fails too, so
    // that nothing is acknowledged on top of a hole.
    let mut broken: Option<WriteFailure> = None;
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let outcome = match &broken {
            Some(reason) => Err(reason.clone()),
            None => {
                let mut buffer = Vec::new();
                for request in &batch {
                    buffer.extend_from_slice(&request.line);
                }
                let durable = batch.iter().any(|request| request.done.is_some());
                let result = file.write_all(&buffer).and_then(|()| {
                    if durable {
                        stats.fsyncs += 1;
                        file.sync_data()
                    } else {
                        Ok(())
                    }
                });
                match result {
                    Ok(()) => {
                        stats.records += batch.len() as u64;
                        stats.bytes += buffer.len() as u64;
                        Ok(())
                    }
                    Err(error) => {
                        let failure = WriteFailure::of(&error);
                        broken = Some(failure.clone());
                        Err(failure)
                    }
                }
            }
        };
        for request in batch {
            if let Some(done) = request.done {
                let _ = done.send(outcome.clone());
            }
        }
    }
    let _ = file.sync_data();
    stats
}
