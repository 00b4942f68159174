//! Local files named as task inputs: `./refs/cat.png` in a field that takes a URL becomes
//! a file beside the manifest, checked, hashed and later uploaded.
//!
//! Read [`LocalFiles::resolve`]. The rules, each a guard against paying for or publishing
//! the wrong thing:
//! - A value is a local reference when it has no URL scheme (`./cat.png`, `refs/*.jpg`);
//!   it is a path relative to the manifest's folder. A glob (`*`, `?`, `[...]`) expands to
//!   its matches in name order.
//! - The file must be inside an allowed folder (by default the manifest's own folder and
//!   below), after every symbolic link is followed: a typo or a link cannot publish a
//!   private file to a public URL.
//! - Its bytes must be an image, video or audio format (magic numbers, not the name): only
//!   those are uploaded, and the name on Kie is `<sha256>.<extension the bytes show>`
//!   (Kie's upload host serves a file with a Content-Type taken from its name).
//! - The content hash, not the path, identifies the file: it is what a job's key holds.
//!
//! Each file is read once however many jobs name it.

use std::collections::HashMap;
use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use sha2::Digest as _;

use crate::media::{HEAD_BYTES, Media};

/// The largest file sora-batch uploads: far above what the models' documentation allows
/// for an input (tens of MB), so a model's own limit is what refuses a file in practice;
/// this bounds the memory an upload holds.
pub const MAX_UPLOAD_BYTES: u64 = 512 * 1024 * 1024;

/// What a local reference becomes in a job's input until the run uploads the file: a URL
/// (so that a schema's `format: uri` holds) under the reserved `.invalid` domain (so that it
/// can never fetch anything, should it ever leave), naming the file by its content. The job's
/// key is computed from the input holding it: the content decides the key, not the path
/// nor the URL an upload returns.
pub const PLACEHOLDER_PREFIX: &str = "https://sora-batch.invalid/local-file/";

/// The upload name (`<sha256>.<ext>`) a placeholder stands for, if `value` is one.
pub fn placeholder_name(value: &str) -> Option<&str> {
    value.strip_prefix(PLACEHOLDER_PREFIX)
}

/// The upload names of every placeholder in `value`, anywhere in it, in order, each once.
pub fn placeholders_in(value: &serde_json::Value) -> Vec<String> {
    let mut names = Vec::new();
    visit_strings(value, &mut |text| {
        if let Some(name) = placeholder_name(text)
            && !names.iter().any(|known: &String| known == name)
        {
            names.push(name.to_owned());
        }
    });
    names
}

/// `value` with every placeholder replaced by the URL `url_of` gives for its upload name;
/// a placeholder it has no URL for stays.
pub fn replace_placeholders(
    value: &mut serde_json::Value,
    url_of: &impl Fn(&str) -> Option<String>,
) {
    match value {
        serde_json::Value::String(text) => {
            if let Some(url) = placeholder_name(text).and_then(url_of) {
                *text = url;
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                replace_placeholders(item, url_of);
            }
        }
        serde_json::Value::Object(fields) => {
            for field in fields.values_mut() {
                replace_placeholders(field, url_of);
            }
        }
        _ => {}
    }
}

fn visit_strings(value: &serde_json::Value, visit: &mut impl FnMut(&str)) {
    match value {
        serde_json::Value::String(text) => visit(text),
        serde_json::Value::Array(items) => items.iter().for_each(|item| visit_strings(item, visit)),
        serde_json::Value::Object(fields) => {
            fields
                .values()
                .for_each(|field| visit_strings(field, visit));
        }
        _ => {}
    }
}

/// What a run would do with a local file that a job still to submit names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// No upload younger than the retention is recorded: it is uploaded.
    Upload,
    /// The journal records an upload younger than the retention, at this time (ms since
    /// the epoch): its URL is sent if the host still serves it, else it is uploaded again.
    Reuse { uploaded_at_ms: i64 },
}

/// Whether an upload made at `uploaded_at_ms` may still be reused at `now_ms` (both ms
/// since the epoch): while it is younger than the retention. `plan` and the run decide by
/// this one rule.
pub fn upload_reusable(uploaded_at_ms: i64, now_ms: i64, retention: std::time::Duration) -> bool {
    let age_ms = u64::try_from(now_ms.saturating_sub(uploaded_at_ms)).unwrap_or(0);
    u128::from(age_ms) < retention.as_millis()
}

/// The local files `inputs` name (by their placeholders), each once, in upload-name order,
/// with what a run would do with it given the `journaled` uploads (upload name → URL and
/// time), the retention and the time now.
pub fn plan_uploads<'a>(
    files: &'a std::collections::BTreeMap<String, LocalFile>,
    inputs: impl IntoIterator<Item = &'a serde_json::Map<String, serde_json::Value>>,
    journaled: &HashMap<String, (String, i64)>,
    retention: std::time::Duration,
    now_ms: i64,
) -> Vec<(&'a LocalFile, FileAction)> {
    let mut named = std::collections::BTreeSet::new();
    for input in inputs {
        for value in input.values() {
            named.extend(placeholders_in(value));
        }
    }
    named
        .iter()
        .filter_map(|name| files.get(name))
        .map(|file| {
            let action = match journaled.get(&file.upload_name()) {
                Some((_, at_ms)) if upload_reusable(*at_ms, now_ms, retention) => {
                    FileAction::Reuse {
                        uploaded_at_ms: *at_ms,
                    }
                }
                _ => FileAction::Upload,
            };
            (file, action)
        })
        .collect()
}

/// A local file, checked and hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The path as the manifest names it (a glob's match: relative to the manifest's folder).
    pub written: String,
    /// The file, every link followed.
    pub path: PathBuf,
    /// The sha256 of its bytes, lowercase hex.
    pub sha256: String,
    pub media: Media,
    pub size: u64,
}

impl LocalFile {
    /// Its name on the upload host: content hash and the extension its bytes show.
    pub fn upload_name(&self) -> String {
        format!("{}.{}", self.sha256, self.media.extension)
    }

    /// Whether `bytes` are this file's content (the same sha256).
    pub fn has_content(&self, bytes: &[u8]) -> bool {
        crate::durable::hex(&sha2::Sha256::digest(bytes)) == self.sha256
    }

    /// What stands for it in a job's input until it is uploaded ([`PLACEHOLDER_PREFIX`]).
    pub fn placeholder(&self) -> String {
        format!("{PLACEHOLDER_PREFIX}{}", self.upload_name())
    }
}

/// Why a local reference cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalFileProblem {
    NotFound {
        path: PathBuf,
    },
    GlobMatchesNothing {
        pattern: String,
    },
    BadGlob {
        reason: String,
    },
    /// The file (links followed) is outside every allowed folder.
    OutsideAllowed {
        path: PathBuf,
        allowed: Vec<PathBuf>,
    },
    NotAFile {
        path: PathBuf,
    },
    /// Its bytes are no image, video or audio format sora-batch uploads.
    NotMedia {
        path: PathBuf,
    },
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    Unreadable {
        path: PathBuf,
        reason: String,
    },
}

impl fmt::Display for LocalFileProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalFileProblem::NotFound { path } => write!(f, "no such file: {}", path.display()),
            LocalFileProblem::GlobMatchesNothing { pattern } => {
                write!(f, "the pattern `{pattern}` matches no file")
            }
            LocalFileProblem::BadGlob { reason } => write!(f, "not a valid pattern: {reason}"),
            LocalFileProblem::OutsideAllowed { path, allowed } => write!(
                f,
                "{} is outside the folders files may come from ({})",
                path.display(),
                allowed
                    .iter()
                    .map(|folder| folder.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            LocalFileProblem::NotAFile { path } => write!(f, "{} is not a file", path.display()),
            LocalFileProblem::NotMedia { path } => write!(
                f,
                "{} is not an image, video or audio file (its bytes are none of png, jpg, webp, gif, mp4, mov, webm, mp3, wav, m4a)",
                path.display()
            ),
            LocalFileProblem::TooLarge { path, size, limit } => write!(
                f,
                "{} is {size} bytes, over the limit of {limit} bytes",
                path.display()
            ),
            LocalFileProblem::Unreadable { path, reason } => {
                write!(f, "cannot read {}: {reason}", path.display())
            }
        }
    }
}

/// Whether a value of a URL field names a local file: it has no URL scheme.
pub fn is_local_reference(value: &str) -> bool {
    let value = value.trim();
    if value.is_empty() {
        return false;
    }
    match value.split_once(':') {
        // `scheme:` as RFC 3986 spells one (`https:`, `asset:`, `data:`); a Windows drive
        // letter would be one character, and sora-batch takes `/` paths only.
        Some((scheme, _)) => {
            !(scheme.len() > 1
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        }
        None => true,
    }
}

/// Whether a reference is a glob.
pub fn is_glob(value: &str) -> bool {
    value.contains(['*', '?', '['])
}

/// Resolves local references against a manifest's folder, reading each file once.
#[derive(Debug)]
pub struct LocalFiles {
    base: PathBuf,
    /// The allowed folders, canonical.
    allowed: Vec<PathBuf>,
    read: HashMap<PathBuf, Result<LocalFile, LocalFileProblem>>,
}

impl LocalFiles {
    /// References relative to `base` (the manifest's folder), allowed inside `allowed`
    /// (relative to `base` too; by default `base` itself). A folder that does not exist
    /// allows nothing.
    pub fn new(base: &Path, allowed: &[PathBuf]) -> LocalFiles {
        let allowed_folders: Vec<PathBuf> = if allowed.is_empty() {
            vec![base.to_path_buf()]
        } else {
            allowed.iter().map(|folder| base.join(folder)).collect()
        };
        LocalFiles {
            base: base.to_path_buf(),
            allowed: allowed_folders
                .iter()
                .filter_map(|folder| std::fs::canonicalize(folder).ok())
                .collect(),
            read: HashMap::new(),
        }
    }

    /// The files `written` names: one for a path, every match (in name order) for a glob.
    pub fn resolve(&mut self, written: &str) -> Result<Vec<LocalFile>, LocalFileProblem> {
        let written = written.trim();
        if !is_glob(written) {
            return self
                .file(written, &self.base.join(written))
                .map(|file| vec![file]);
        }
        let pattern = format!(
            "{}/{}",
            glob::Pattern::escape(&self.base.to_string_lossy()),
            written.trim_start_matches("./")
        );
        let matches = glob::glob(&pattern).map_err(|error| LocalFileProblem::BadGlob {
            reason: error.msg.to_owned(),
        })?;
        let mut paths: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
        paths.sort();
        if paths.is_empty() {
            return Err(LocalFileProblem::GlobMatchesNothing {
                pattern: written.to_owned(),
            });
        }
        paths
            .into_iter()
            .map(|path| {
                let shown = path
                    .strip_prefix(&self.base)
                    .map(|relative| format!("./{}", relative.display()))
                    .unwrap_or_else(|_| path.display().to_string());
                self.file(&shown, &path)
            })
            .collect()
    }

    fn file(&mut self, written: &str, path: &Path) -> Result<LocalFile, LocalFileProblem> {
        if let Some(known) = self.read.get(path) {
            return known.clone().map(|file| LocalFile {
                written: written.to_owned(),
                ..file
            });
        }
        let result = self.check(written, path);
        self.read.insert(path.to_path_buf(), result.clone());
        result
    }

    fn check(&self, written: &str, path: &Path) -> Result<LocalFile, LocalFileProblem> {
        let real = std::fs::canonicalize(path).map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => LocalFileProblem::NotFound {
                path: path.to_path_buf(),
            },
            _ => LocalFileProblem::Unreadable {
                path: path.to_path_buf(),
                reason: error.to_string(),
            },
        })?;
        if !self.allowed.iter().any(|folder| real.starts_with(folder)) {
            return Err(LocalFileProblem::OutsideAllowed {
                path: real,
                allowed: self.allowed.clone(),
            });
        }
        let unreadable = |error: std::io::Error| LocalFileProblem::Unreadable {
            path: real.clone(),
            reason: error.to_string(),
        };
        let metadata = std::fs::metadata(&real).map_err(unreadable)?;
        if !metadata.is_file() {
            return Err(LocalFileProblem::NotAFile { path: real });
        }
        if metadata.len() > MAX_UPLOAD_BYTES {
            return Err(LocalFileProblem::TooLarge {
                path: real,
                size: metadata.len(),
                limit: MAX_UPLOAD_BYTES,
            });
        }
        let mut file = std::fs::File::open(&real).map_err(unreadable)?;
        let mut hasher = sha2::Sha256::new();
        let mut head = Vec::with_capacity(HEAD_BYTES);
        let mut buffer = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let read = file.read(&mut buffer).map_err(unreadable)?;
            if read == 0 {
                break;
            }
            if head.len() < HEAD_BYTES {
                let wanted = (HEAD_BYTES - head.len()).min(read);
                head.extend_from_slice(&buffer[..wanted]);
            }
            hasher.update(&buffer[..read]);
            size += read as u64;
        }
        let media =
            Media::from_bytes(&head).ok_or(LocalFileProblem::NotMedia { path: real.clone() })?;
        Ok(LocalFile {
            written: written.to_owned(),
            path: real,
            sha256: crate::durable::hex(&hasher.finalize()),
            media,
            size,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89,
    ];
    const JPEG: &[u8] = &[
        0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00,
    ];

    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("a temporary folder");
        std::fs::create_dir_all(dir.path().join("refs")).expect("refs");
        std::fs::write(dir.path().join("refs/cat.png"), PNG).expect("cat");
        // A JPEG saved under a .png name: its bytes decide.
        std::fs::write(dir.path().join("refs/dog.png"), JPEG).expect("dog");
        std::fs::write(dir.path().join("refs/notes.txt"), b"private notes").expect("notes");
        dir
    }

    #[test]
    fn a_file_is_named_by_its_content_and_the_format_its_bytes_show() {
        let dir = folder();
        let mut files = LocalFiles::new(dir.path(), &[]);
        let dog = files.resolve("./refs/dog.png").expect("a media file");
        assert_eq!(dog.len(), 1);
        assert_eq!(dog[0].media.extension, "jpg");
        assert!(dog[0].upload_name().ends_with(".jpg"));
        assert_eq!(dog[0].sha256.len(), 64);
        assert_eq!(dog[0].size, JPEG.len() as u64);
        let cat = files.resolve("refs/cat.png").expect("a media file");
        assert_eq!(cat[0].media.extension, "png");
        assert_ne!(cat[0].sha256, dog[0].sha256);
    }

    #[test]
    fn a_glob_expands_in_name_order_and_an_empty_match_is_an_error() {
        let dir = folder();
        let mut files = LocalFiles::new(dir.path(), &[]);
        let matched = files.resolve("./refs/*.png").expect("two images");
        let names: Vec<&str> = matched.iter().map(|file| file.written.as_str()).collect();
        assert_eq!(names, ["./refs/cat.png", "./refs/dog.png"]);
        assert!(matches!(
            files.resolve("./refs/*.webp"),
            Err(LocalFileProblem::GlobMatchesNothing { .. })
        ));
    }

    #[test]
    fn text_files_missing_files_and_files_outside_the_folder_are_refused() {
        let dir = folder();
        let inner = dir.path().join("refs");
        let mut files = LocalFiles::new(&inner, &[]);
        assert!(matches!(
            files.resolve("./notes.txt"),
            Err(LocalFileProblem::NotMedia { .. })
        ));
        assert!(matches!(
            files.resolve("./missing.png"),
            Err(LocalFileProblem::NotFound { .. })
        ));
        std::fs::write(dir.path().join("outside.png"), PNG).expect("outside");
        assert!(matches!(
            files.resolve("../outside.png"),
            Err(LocalFileProblem::OutsideAllowed { .. })
        ));
        // A link inside the folder to a file outside it is outside too.
        std::os::unix::fs::symlink(dir.path().join("outside.png"), inner.join("link.png"))
            .expect("a link");
        assert!(matches!(
            files.resolve("./link.png"),
            Err(LocalFileProblem::OutsideAllowed { .. })
        ));
        // Unless that folder is allowed.
        let mut wider = LocalFiles::new(&inner, &[PathBuf::from("..")]);
        assert!(wider.resolve("./link.png").is_ok());
    }

    #[test]
    fn placeholders_are_found_replaced_and_planned() {
        let dir = folder();
        let mut files = LocalFiles::new(dir.path(), &[]);
        let cat = files
            .resolve("./refs/cat.png")
            .expect("a media file")
            .remove(0);
        let dog = files
            .resolve("./refs/dog.png")
            .expect("a media file")
            .remove(0);
        let input = serde_json::json!({
            "image_urls": [cat.placeholder(), "https://example.com/x.png", cat.placeholder()],
            "last_frame_url": dog.placeholder(),
            "prompt": "a cat"
        });
        assert_eq!(
            placeholders_in(&input),
            [cat.upload_name(), dog.upload_name()]
        );
        let mut sent = input.clone();
        replace_placeholders(&mut sent, &|name| {
            (name == cat.upload_name()).then(|| "https://host/cat.png".to_owned())
        });
        assert_eq!(sent["image_urls"][0], "https://host/cat.png");
        assert_eq!(sent["image_urls"][1], "https://example.com/x.png");
        assert_eq!(sent["last_frame_url"], dog.placeholder(), "no URL: kept");

        let table: std::collections::BTreeMap<String, LocalFile> = [&cat, &dog]
            .into_iter()
            .map(|file| (file.upload_name(), file.clone()))
            .collect();
        let journaled = HashMap::from([
            (
                cat.upload_name(),
                ("https://host/cat.png".to_owned(), 1_000),
            ),
            (dog.upload_name(), ("https://host/dog.jpg".to_owned(), 0)),
        ]);
        let day = std::time::Duration::from_secs(86_400);
        let inputs = [input.as_object().cloned().unwrap_or_default()];
        let plan = plan_uploads(&table, &inputs, &journaled, day, 86_400_500);
        let actions: Vec<(&str, &FileAction)> = plan
            .iter()
            .map(|(file, action)| (file.written.as_str(), action))
            .collect();
        let mut expected = vec![
            (
                "./refs/cat.png",
                &FileAction::Reuse {
                    uploaded_at_ms: 1_000,
                },
            ),
            ("./refs/dog.png", &FileAction::Upload),
        ];
        expected.sort_by_key(|(written, _)| {
            table
                .values()
                .find(|file| file.written == *written)
                .map(LocalFile::upload_name)
        });
        assert_eq!(actions, expected, "dog's upload is older than a day");
    }

    #[test]
    fn urls_are_not_local_references_and_paths_are() {
        for url in [
            "https://example.com/a.png",
            "http://x/y",
            "asset://12345",
            "data:image/png;base64,AA",
        ] {
            assert!(!is_local_reference(url), "{url}");
        }
        for path in [
            "./refs/cat.png",
            "refs/cat.png",
            "../shared/a.jpg",
            "cat.png",
            "refs/*.png",
        ] {
            assert!(is_local_reference(path), "{path}");
        }
        assert!(!is_local_reference(""));
    }
}
