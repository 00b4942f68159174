//! Local files uploaded before the jobs that name them are submitted.
//!
//! Read [`Uploads::prepare`]. A job's request holds a placeholder for each local file it
//! names ([`crate::local_files::PLACEHOLDER_PREFIX`]); before its createTask (and before its
//! intent is journaled) each is replaced by the URL of the file on Kie's upload host:
//! - a URL the journal recorded (`uploaded`) is reused while it is younger than
//!   `run.upload_retention` (Kie deletes uploads after a while) and the host still serves
//!   it (one HEAD request per file and run, without the key);
//! - otherwise the file is uploaded, named by its content (`<sha256>.<ext>`), and the upload
//!   journaled. The bytes are hashed again first: a file changed since the manifest was read
//!   is not what the job's key stands for, and is not sent.
//!
//! Each file is uploaded once however many jobs name it: jobs that need the same file wait
//! on one lock per file, and the second finds the first's URL. An upload is free and
//! idempotent by name, so a crash mid-upload only means uploading again; nothing about
//! uploads touches the intent/outcome records that keep a job from being paid for twice.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sora_batch_api::wire::CreateTaskRequest;
use sora_batch_api::{ApiError, FileUpload};

use super::{Reporter, RunEvent, TaskService};
use crate::journal::{JournalError, JournalWriter, Record};
use crate::local_files::{LocalFile, placeholders_in, replace_placeholders, upload_reusable};

/// The folder on the upload host that sora-batch's uploads go to.
pub const UPLOAD_FOLDER: &str = "sora-batch";

/// A file's last upload.
#[derive(Debug, Clone)]
struct Uploaded {
    url: String,
    /// When, in ms since the epoch.
    at_ms: i64,
    /// Whether this run saw the host serve it: uploaded by this run, or found served.
    seen_served: bool,
}

/// The local files of a batch and what is known of their uploads.
pub(super) struct Uploads {
    files: Arc<BTreeMap<String, LocalFile>>,
    retention: Duration,
    /// One lock per file, holding its latest upload: held across an upload, so that the
    /// jobs needing the file wait for it rather than upload it again.
    uploaded: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Uploaded>>>>>,
    reporter: Arc<dyn Reporter>,
}

/// Why a job's files could not be made ready: the job is not submitted.
#[derive(Debug)]
pub(super) enum UploadFailure {
    /// The upload host refused or could not be reached.
    Api { file: String, error: ApiError },
    /// Our side: the file is gone, unreadable, or not what the manifest read.
    Local { file: String, message: String },
    /// The journal could not take the upload's record.
    Journal(JournalError),
}

impl fmt::Display for UploadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UploadFailure::Api { file, error } => {
                write!(f, "not submitted: uploading {file} failed: {error}")
            }
            UploadFailure::Local { file, message } => {
                write!(f, "not submitted: cannot upload {file}: {message}")
            }
            UploadFailure::Journal(error) => write!(f, "not submitted: {error}"),
        }
    }
}

impl Uploads {
    /// `files` by upload name; `journaled` the uploads earlier runs recorded.
    pub(super) fn new(
        files: Arc<BTreeMap<String, LocalFile>>,
        retention: Duration,
        journaled: &HashMap<String, (String, i64)>,
        reporter: Arc<dyn Reporter>,
    ) -> Uploads {
        let uploaded = journaled
            .iter()
            .filter(|(name, _)| files.contains_key(*name))
            .map(|(name, (url, at_ms))| {
                let known = Uploaded {
                    url: url.clone(),
                    at_ms: *at_ms,
                    seen_served: false,
                };
                (name.clone(), Arc::new(tokio::sync::Mutex::new(Some(known))))
            })
            .collect();
        Uploads {
            files,
            retention,
            uploaded: Mutex::new(uploaded),
            reporter,
        }
    }

    /// `request` as it is sent: each placeholder replaced by its file's URL, the file
    /// uploaded first unless a recent enough upload is known. `None` when it names no local
    /// file and is sent as it is.
    pub(super) async fn prepare(
        &self,
        request: &CreateTaskRequest,
        service: &dyn TaskService,
        journal: &JournalWriter,
        now_ms: &(dyn Fn() -> i64 + Sync),
    ) -> Result<Option<CreateTaskRequest>, UploadFailure> {
        let mut names: Vec<String> = Vec::new();
        for value in request.input.values() {
            for name in placeholders_in(value) {
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        if names.is_empty() {
            return Ok(None);
        }
        let mut urls: HashMap<String, String> = HashMap::with_capacity(names.len());
        for name in names {
            let url = self.url_of(&name, service, journal, now_ms).await?;
            urls.insert(name, url);
        }
        let mut prepared = request.clone();
        for value in prepared.input.values_mut() {
            replace_placeholders(value, &|name| urls.get(name).cloned());
        }
        Ok(Some(prepared))
    }

    /// The URL of the file `name`: its last upload while younger than the retention, else
    /// a new upload.
    async fn url_of(
        &self,
        name: &str,
        service: &dyn TaskService,
        journal: &JournalWriter,
        now_ms: &(dyn Fn() -> i64 + Sync),
    ) -> Result<String, UploadFailure> {
        let Some(file) = self.files.get(name) else {
            return Err(UploadFailure::Local {
                file: name.to_owned(),
                message: "the manifest names no such file".to_owned(),
            });
        };
        let slot = {
            let mut uploaded = self
                .uploaded
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(uploaded.entry(name.to_owned()).or_default())
        };
        let mut known = slot.lock().await;
        if let Some(upload) = known.as_mut()
            && upload_reusable(upload.at_ms, now_ms(), self.retention)
        {
            // An upload of an earlier run is asked after once: the host may have deleted it
            // sooner than the retention says (the docs say 3 days, Kie's guidance 24 hours).
            if !upload.seen_served {
                upload.seen_served = service.upload_still_served(&upload.url).await;
            }
            if upload.seen_served {
                return Ok(upload.url.clone());
            }
        }
        let upload = read_checked(file).await?;
        let uploaded = service
            .upload_file(&upload)
            .await
            .map_err(|error| UploadFailure::Api {
                file: file.written.clone(),
                error,
            })?;
        let at_ms = now_ms();
        journal
            .append(&Record::Uploaded {
                name: name.to_owned(),
                sha256: file.sha256.clone(),
                url: uploaded.url.clone(),
                bytes: file.size,
                at_ms,
            })
            .map_err(UploadFailure::Journal)?;
        self.reporter.on_event(&RunEvent::Uploaded {
            file: file.written.clone(),
            name: name.to_owned(),
            bytes: file.size,
        });
        *known = Some(Uploaded {
            url: uploaded.url.clone(),
            at_ms,
            seen_served: true,
        });
        Ok(uploaded.url)
    }
}

/// How long ago `at_ms` was at `now_ms` (both ms since the epoch); zero for a time ahead.
/// The file's bytes as the upload sends them, when they are still the bytes the manifest
/// read (same hash).
async fn read_checked(file: &LocalFile) -> Result<FileUpload, UploadFailure> {
    let local = |message: String| UploadFailure::Local {
        file: file.written.clone(),
        message,
    };
    let bytes = tokio::fs::read(&file.path)
        .await
        .map_err(|error| local(format!("{}: {error}", file.path.display())))?;
    if !file.has_content(&bytes) {
        return Err(local(format!(
            "{} changed since the manifest was read; run again to use its new content",
            file.path.display()
        )));
    }
    Ok(FileUpload {
        bytes: bytes.into(),
        file_name: file.upload_name(),
        upload_path: UPLOAD_FOLDER.to_owned(),
        mime_type: file.media.mime.to_owned(),
    })
}
