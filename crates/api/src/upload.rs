//! Kie's file upload host: a local file becomes a URL that a task's input can name.
//!
//! Read [`Client::upload_file`]. What `kie-api-notes.md` says of the host, and what follows:
//! - It is not the API host (`https://kieai.redpandaai.co` by default,
//!   [`ClientConfig::upload_url`]) and takes the same Bearer key: the key goes to these two
//!   hosts and nowhere else.
//! - `POST /api/file-stream-upload`, multipart with `file`, `uploadPath` (no leading or
//!   trailing `/`) and `fileName`. Uploads are free, and the same `fileName` under the same
//!   path overwrites the earlier file, so an upload is idempotent by name and is retried
//!   like any other call: the caller names the file by its content.
//! - The answer is the usual envelope; `data.downloadUrl` is the URL to use, `data.fileUrl`
//!   its older name. Files are kept for a limited time (plan for 24 hours), so the caller
//!   records when each was uploaded.
//!
//! The bytes are the caller's, in memory: this crate reads no files. Clones of them are
//! cheap ([`Bytes`]), so a retry sends the same bytes again.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::AUTHORIZATION;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;
use url::Url;

use crate::client::{Client, classify};
use crate::error::{ApiError, ErrorKind, Operation};

/// Kie's upload host.
pub const DEFAULT_UPLOAD_URL: &str = "https://kieai.redpandaai.co";

/// The path of the stream upload, relative to the upload host.
const STREAM_UPLOAD_PATH: &str = "api/file-stream-upload";

/// The slowest upload rate allowed for before an upload is cut as stalled: 64 KiB/s.
const MIN_UPLOAD_BYTES_PER_SECOND: u64 = 64 * 1024;

/// One file to upload.
#[derive(Debug, Clone)]
pub struct FileUpload {
    pub bytes: Bytes,
    /// The name on the host, e.g. `<sha256>.png`: the caller names files by their content,
    /// with the extension their bytes show (the host serves a file with a Content-Type taken
    /// from its name).
    pub file_name: String,
    /// The folder on the host, without a leading or trailing `/`, e.g. `sora-batch`.
    pub upload_path: String,
    /// The MIME type sent with the part, e.g. `image/png`.
    pub mime_type: String,
}

/// An uploaded file, as the host describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    /// The URL to put into a task's input.
    pub url: String,
    pub file_name: Option<String>,
    pub size: Option<u64>,
    pub mime_type: Option<String>,
    /// When the host says it stored the file, as it wrote it.
    pub uploaded_at: Option<String>,
    /// When the host says it will delete the file, where it says so.
    pub expires_at: Option<String>,
}

/// `data` of the upload answer; every field is optional on the wire.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadData {
    download_url: Option<String>,
    file_url: Option<String>,
    file_name: Option<String>,
    file_size: Option<serde_json::Number>,
    mime_type: Option<String>,
    uploaded_at: Option<serde_json::Value>,
    expires_at: Option<serde_json::Value>,
}

impl Client {
    /// Uploads `file` with the stream upload, retrying transient failures (an upload is
    /// idempotent by name), and returns the URL the host serves it at.
    pub async fn upload_file(&self, file: &FileUpload) -> Result<UploadedFile, ApiError> {
        let operation = Operation::Upload;
        let path = file.upload_path.as_str();
        if path.is_empty() || path.starts_with('/') || path.ends_with('/') {
            return Err(ApiError::new(
                operation,
                ErrorKind::UnexpectedAnswer(format!(
                    "the upload path {path:?} must be non-empty, without a leading or trailing `/`"
                )),
            ));
        }
        let url = self.upload_endpoint()?;
        let timeout = upload_timeout(self.config().request_timeout, file.bytes.len() as u64);
        self.with_retries(operation, || async {
            let part = Part::stream_with_length(file.bytes.clone(), file.bytes.len() as u64)
                .file_name(file.file_name.clone())
                .mime_str(&file.mime_type)
                .map_err(|e| {
                    ApiError::new(
                        operation,
                        ErrorKind::UnexpectedAnswer(format!(
                            "not a MIME type: {:?} ({e})",
                            file.mime_type
                        )),
                    )
                })?;
            let form = Form::new()
                .text("uploadPath", file.upload_path.clone())
                .text("fileName", file.file_name.clone())
                .part("file", part);
            let response = self
                .upload_http()
                .post(url.clone())
                .header(AUTHORIZATION, self.key_header())
                .timeout(timeout)
                .multipart(form)
                .send()
                .await
                .map_err(|e| self.other_transport_error(operation, &url, e))?;
            let answer = self.read_answer(operation, response).await?;
            let data = classify(operation, &answer)?;
            uploaded_file(data).map_err(|reason| {
                ApiError::new(operation, ErrorKind::UnexpectedAnswer(reason))
                    .with_raw_body(&answer.body)
            })
        })
        .await
    }

    /// Whether an uploaded file is still served at `url`: one HEAD request, without the key
    /// (a file's URL is public). The host deletes uploads after a while, sooner or later than
    /// the caller's record says; any answer but a success, or none, is `false`, and the
    /// caller uploads the file again, which is free.
    pub async fn upload_still_served(&self, url: &str) -> bool {
        let Ok(parsed) = Url::parse(url) else {
            return false;
        };
        if !matches!(parsed.scheme(), "http" | "https") {
            return false;
        }
        self.upload_http()
            .head(parsed)
            .timeout(self.config().request_timeout)
            .send()
            .await
            .is_ok_and(|response| response.status().is_success())
    }

    fn upload_endpoint(&self) -> Result<Url, ApiError> {
        self.config()
            .upload_url
            .join(STREAM_UPLOAD_PATH)
            .map_err(|e| {
                ApiError::new(
                    Operation::Upload,
                    ErrorKind::UnexpectedAnswer(format!("bad upload URL: {e}")),
                )
            })
    }
}

/// Time for one upload attempt: the time of an API call plus the file at the slowest rate
/// allowed for.
fn upload_timeout(request_timeout: Duration, bytes: u64) -> Duration {
    request_timeout + Duration::from_secs(bytes / MIN_UPLOAD_BYTES_PER_SECOND)
}

/// The answer's `data` as an [`UploadedFile`]; an answer without a usable http(s) URL is
/// an error that says what was found.
fn uploaded_file(data: serde_json::Value) -> Result<UploadedFile, String> {
    let data: UploadData = serde_json::from_value(data)
        .map_err(|e| format!("the upload answer's data is not understood: {e}"))?;
    let url = data
        .download_url
        .filter(|url| !url.trim().is_empty())
        .or(data.file_url.filter(|url| !url.trim().is_empty()))
        .ok_or("the upload answer has neither downloadUrl nor fileUrl")?;
    match Url::parse(&url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
        _ => return Err(format!("the upload answer's URL is not http(s): {url:?}")),
    }
    let text = |value: Option<serde_json::Value>| match value {
        Some(serde_json::Value::String(text)) => Some(text),
        Some(serde_json::Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    Ok(UploadedFile {
        url,
        file_name: data.file_name,
        size: data.file_size.and_then(|size| size.as_u64()),
        mime_type: data.mime_type,
        uploaded_at: text(data.uploaded_at),
        expires_at: text(data.expires_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_download_url_is_used_and_file_url_is_its_fallback() {
        let both = uploaded_file(json!({
            "downloadUrl": "https://tempfile.example/a.png",
            "fileUrl": "https://old.example/a.png",
            "fileName": "a.png",
            "fileSize": 12,
            "mimeType": "image/png",
            "uploadedAt": "2026-11-29T10:00:00.000Z"
        }))
        .expect("a good answer");
        assert_eq!(both.url, "https://tempfile.example/a.png");
        assert_eq!(both.size, Some(12));
        assert_eq!(
            both.uploaded_at.as_deref(),
            Some("2026-11-29T10:00:00.000Z")
        );
        let older =
            uploaded_file(json!({"fileUrl": "https://old.example/a.png"})).expect("fileUrl alone");
        assert_eq!(older.url, "https://old.example/a.png");
    }

    #[test]
    fn an_answer_without_a_usable_url_says_what_it_found() {
        let none = uploaded_file(json!({"fileName": "a.png"})).expect_err("no URL");
        assert!(none.contains("neither downloadUrl nor fileUrl"), "{none}");
        let empty = uploaded_file(json!({"downloadUrl": " "})).expect_err("blank URL");
        assert!(empty.contains("neither"), "{empty}");
        let scheme =
            uploaded_file(json!({"downloadUrl": "file:///etc/passwd"})).expect_err("not http");
        assert!(scheme.contains("not http(s)"), "{scheme}");
        let shape = uploaded_file(json!(["a"])).expect_err("not an object");
        assert!(shape.contains("not understood"), "{shape}");
    }

    #[test]
    fn a_large_file_gets_time_at_the_slowest_rate() {
        let base = Duration::from_secs(30);
        assert_eq!(upload_timeout(base, 0), base);
        assert_eq!(
            upload_timeout(base, 64 * 1024 * 100),
            base + Duration::from_secs(100)
        );
    }
}
