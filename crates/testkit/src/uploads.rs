//! The fake's upload host: Kie's file stream upload, on a server of its own.
//!
//! Read [`UploadHost::handle`]. As `kie-api-notes.md` describes the live host:
//! `POST /api/file-stream-upload` takes multipart `file`, `uploadPath` (required, no leading
//! or trailing `/`) and `fileName` (optional: the part's file name otherwise), with the same
//! Bearer key as the API (a bad key is code 401 in HTTP 200); the answer is the envelope
//! with `data.downloadUrl` (and `fileUrl`, its older name). The same name under the same path
//! overwrites the earlier file. Files are served back at their `downloadUrl` with a
//! Content-Type taken from their **name** — as the live host does, which is why a client must
//! name files by what their bytes are — and are forgotten after the retention (404 then).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::Digest as _;
use wiremock::Request;

use crate::answer::{AnswerBody, FakeAnswer};

/// The path of the stream upload on the upload host.
pub const STREAM_UPLOAD_PATH: &str = "/api/file-stream-upload";
/// Where uploaded files are served, under the upload host.
const SERVED_PREFIX: &str = "/files/";
/// How long the fake keeps an upload unless told otherwise: the 24 hours the notes advise
/// planning for.
pub const DEFAULT_UPLOAD_RETENTION: Duration = Duration::from_secs(24 * 60 * 60);

/// One request the upload host received.
#[derive(Debug, Clone)]
pub struct UploadRequest {
    pub method: String,
    pub path: String,
    /// The Authorization header, as sent.
    pub authorization: Option<String>,
    /// For an upload: the form's `uploadPath` and `fileName` (or the part's file name).
    pub upload_path: Option<String>,
    pub file_name: Option<String>,
    /// For an upload: the sha256 (hex) and size of the file's bytes.
    pub sha256: Option<String>,
    pub size: Option<usize>,
    /// HTTP status answered, and the envelope code when the answer was JSON.
    pub status: u16,
    pub code: Option<i64>,
    pub received_at: Instant,
}

impl UploadRequest {
    /// Whether this was a stream upload that stored a file.
    pub fn stored_a_file(&self) -> bool {
        self.method == "POST" && self.path == STREAM_UPLOAD_PATH && self.code == Some(200)
    }
}

#[derive(Debug)]
struct StoredFile {
    bytes: Vec<u8>,
    uploaded_at: Instant,
}

/// The upload host's state.
#[derive(Debug)]
pub(crate) struct UploadHost {
    base_url: String,
    api_key: Option<String>,
    retention: Duration,
    files: HashMap<String, StoredFile>,
    log: Vec<UploadRequest>,
}

impl UploadHost {
    pub(crate) fn new(base_url: String, api_key: Option<String>, retention: Duration) -> Self {
        UploadHost {
            base_url,
            api_key,
            retention,
            files: HashMap::new(),
            log: Vec::new(),
        }
    }

    pub(crate) fn log(&self) -> Vec<UploadRequest> {
        self.log.clone()
    }

    /// Forgets every upload, as the live host does after its retention.
    pub(crate) fn forget_all(&mut self) {
        self.files.clear();
    }

    /// Whether `url` is one this host handed out and still serves.
    pub(crate) fn serves(&self, url: &str, now: Instant) -> bool {
        url.strip_prefix(&self.base_url)
            .and_then(|path| path.strip_prefix(SERVED_PREFIX))
            .and_then(|key| self.files.get(key))
            .is_some_and(|file| now.duration_since(file.uploaded_at) < self.retention)
    }

    pub(crate) fn handle(&mut self, request: &Request) -> FakeAnswer {
        let now = Instant::now();
        let mut logged = UploadRequest {
            method: request.method.as_str().to_owned(),
            path: request.url.path().to_owned(),
            authorization: request
                .headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            upload_path: None,
            file_name: None,
            sha256: None,
            size: None,
            status: 0,
            code: None,
            received_at: now,
        };
        let answer = match (logged.method.as_str(), logged.path.as_str()) {
            ("POST", STREAM_UPLOAD_PATH) => self.upload(request, &mut logged, now),
            ("GET" | "HEAD", path) if path.starts_with(SERVED_PREFIX) => {
                self.serve(&path[SERVED_PREFIX.len()..], now)
            }
            _ => FakeAnswer::text(404, "text/plain", "Not Found"),
        };
        logged.status = answer.status;
        if let AnswerBody::Json(body) = &answer.body {
            logged.code = body.get("code").and_then(serde_json::Value::as_i64);
        }
        self.log.push(logged);
        answer
    }

    fn upload(
        &mut self,
        request: &Request,
        logged: &mut UploadRequest,
        now: Instant,
    ) -> FakeAnswer {
        if !self.authorized(logged.authorization.as_deref()) {
            return FakeAnswer::envelope_error(401, "You do not have access permissions");
        }
        let form = match read_form(request) {
            Ok(form) => form,
            Err(reason) => return FakeAnswer::envelope_error(400, &reason),
        };
        logged.upload_path = form.upload_path.clone();
        logged.file_name = form.file_name.clone();
        let Some(bytes) = form.file else {
            return FakeAnswer::envelope_error(400, "file is required");
        };
        logged.sha256 = Some(hex(&sha2::Sha256::digest(&bytes)));
        logged.size = Some(bytes.len());
        let upload_path = match form.upload_path.as_deref().map(str::trim) {
            None | Some("") => return FakeAnswer::envelope_error(400, "uploadPath is required"),
            Some(path) if path.starts_with('/') || path.ends_with('/') => {
                return FakeAnswer::envelope_error(400, "uploadPath must not start or end with /");
            }
            Some(path) => path.to_owned(),
        };
        let Some(file_name) = form.file_name.filter(|name| !name.trim().is_empty()) else {
            return FakeAnswer::envelope_error(400, "fileName is required");
        };
        if file_name.contains('/') {
            return FakeAnswer::envelope_error(400, "fileName must not contain /");
        }
        let key = format!("{upload_path}/{file_name}");
        let url = format!("{}{SERVED_PREFIX}{key}", self.base_url);
        let size = bytes.len();
        self.files.insert(
            key.clone(),
            StoredFile {
                bytes,
                uploaded_at: now,
            },
        );
        FakeAnswer::json(
            200,
            json!({
                "success": true,
                "code": 200,
                "msg": "File uploaded successfully",
                "data": {
                    "fileName": file_name,
                    "filePath": key,
                    "downloadUrl": url,
                    "fileUrl": url,
                    "fileSize": size,
                    "mimeType": content_type_of_name(&file_name),
                    "uploadedAt": "2026-11-29T12:00:00.000Z"
                }
            }),
        )
    }

    fn serve(&self, key: &str, now: Instant) -> FakeAnswer {
        match self.files.get(key) {
            Some(file) if now.duration_since(file.uploaded_at) < self.retention => FakeAnswer {
                status: 200,
                body: AnswerBody::Bytes {
                    content_type: content_type_of_name(key),
                    bytes: file.bytes.clone(),
                },
                headers: Vec::new(),
                delay: None,
            },
            _ => FakeAnswer::text(404, "text/plain", "Not Found"),
        }
    }

    fn authorized(&self, authorization: Option<&str>) -> bool {
        let token = authorization.and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
                .then(|| token.trim())
        });
        match (token, &self.api_key) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(token), Some(key)) => token == key,
        }
    }
}

/// The Content-Type the host serves a file with: from its name's extension only.
fn content_type_of_name(name: &str) -> &'static str {
    let extension = name
        .rsplit_once('.')
        .map(|(_, extension)| extension.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "m4a" => "audio/mp4",
        _ => "application/octet-stream",
    }
}

/// What a stream upload's form held.
#[derive(Debug, Default)]
struct UploadForm {
    file: Option<Vec<u8>>,
    upload_path: Option<String>,
    file_name: Option<String>,
}

/// Parses the multipart body with `multer` (the request is whole in memory already).
fn read_form(request: &Request) -> Result<UploadForm, String> {
    let content_type = request
        .headers
        .get("content-type")
        .and_then(|value| value.to_str().ok())
        .ok_or("a multipart/form-data body is required")?;
    let boundary = multer::parse_boundary(content_type)
        .map_err(|e| format!("not multipart/form-data: {e}"))?;
    let body = bytes::Bytes::from(request.body.clone());
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    futures::executor::block_on(async {
        let mut form = UploadForm::default();
        let mut part_file_name = None;
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| format!("malformed multipart body: {e}"))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            match name.as_str() {
                "file" => {
                    part_file_name = field.file_name().map(str::to_owned);
                    let bytes = field
                        .bytes()
                        .await
                        .map_err(|e| format!("malformed file part: {e}"))?;
                    form.file = Some(bytes.to_vec());
                }
                "uploadPath" | "fileName" => {
                    let text = field
                        .text()
                        .await
                        .map_err(|e| format!("malformed {name}: {e}"))?;
                    if name == "uploadPath" {
                        form.upload_path = Some(text);
                    } else {
                        form.file_name = Some(text);
                    }
                }
                _ => {}
            }
        }
        if form.file_name.is_none() {
            form.file_name = part_file_name;
        }
        Ok(form)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
