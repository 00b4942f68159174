//! The file host: result URLs, their expiry, and the bytes behind them.
//!
//! Read [`ResultUrls`] first: it issues signed-looking URLs on the second server and decides
//! whether one still works. [`expected_file_bytes`] makes the content of a result file from its
//! task and index alone, so a test can check a download without the fake keeping files.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

/// What the tasks of one model return, set by a test instead of the default files
/// ([`crate::FakeKieBuilder::model_result_files`], [`crate::FakeKieBuilder::model_text_result`]).
#[derive(Clone, Debug)]
pub(crate) enum ModelOutput {
    /// One result URL per file, serving these bytes.
    Files(Vec<Arc<Vec<u8>>>),
    /// No URL: this `resultObject`, like a text model's.
    Text(Value),
}

/// What a result URL points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ResultKind {
    /// `resultUrls`: path `/r/{taskId}/{index}.mp4`.
    Plain,
    /// `resultWaterMarkUrls`: path `/w/{taskId}/{index}.mp4`, the same bytes.
    Watermarked,
}

impl ResultKind {
    fn path_prefix(self) -> &'static str {
        match self {
            ResultKind::Plain => "/r/",
            ResultKind::Watermarked => "/w/",
        }
    }
}

/// The file a result URL names, without its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ResultFile {
    pub(crate) kind: ResultKind,
    pub(crate) task_id: String,
    pub(crate) index: usize,
}

impl ResultFile {
    /// Parses a file-host path like `/r/{taskId}/{index}.mp4`.
    pub(crate) fn from_path(path: &str) -> Option<ResultFile> {
        let (kind, rest) = if let Some(rest) = path.strip_prefix(ResultKind::Plain.path_prefix()) {
            (ResultKind::Plain, rest)
        } else {
            let rest = path.strip_prefix(ResultKind::Watermarked.path_prefix())?;
            (ResultKind::Watermarked, rest)
        };
        let (task_id, file_name) = rest.split_once('/')?;
        let index = file_name.strip_suffix(".mp4")?.parse().ok()?;
        if task_id.is_empty() {
            return None;
        }
        Some(ResultFile {
            kind,
            task_id: task_id.to_owned(),
            index,
        })
    }
}

/// Whether a result URL may be downloaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    Valid,
    /// Issued before the last [`crate::FakeKie::expire_result_urls`].
    Expired,
    /// Never issued for this file: refused like a forged signature.
    Unknown,
}

/// Issues result URLs with tokens and remembers which are still valid.
#[derive(Debug)]
pub(crate) struct ResultUrls {
    files_base_url: String,
    /// Bumped by `expire_all`: tokens of an older generation are expired.
    generation: u64,
    tokens_issued: u64,
    token_to_file: HashMap<String, (ResultFile, u64)>,
}

impl ResultUrls {
    pub(crate) fn new(files_base_url: String) -> Self {
        ResultUrls {
            files_base_url,
            generation: 0,
            tokens_issued: 0,
            token_to_file: HashMap::new(),
        }
    }

    pub(crate) fn files_base_url(&self) -> &str {
        &self.files_base_url
    }

    /// A new URL for `file`, valid until the next `expire_all`.
    pub(crate) fn issue(&mut self, file: ResultFile) -> String {
        self.tokens_issued += 1;
        let token = format!("{:016x}", mix64(self.tokens_issued ^ 0x746f_6b65_6e00_0000));
        let url = format!(
            "{}{}{}/{}.mp4?token={}",
            self.files_base_url,
            file.kind.path_prefix(),
            file.task_id,
            file.index,
            token
        );
        self.token_to_file.insert(token, (file, self.generation));
        url
    }

    /// Makes every URL issued so far answer 403.
    pub(crate) fn expire_all(&mut self) {
        self.generation += 1;
    }

    pub(crate) fn check(&self, file: &ResultFile, token: Option<&str>) -> TokenCheck {
        match token.and_then(|token| self.token_to_file.get(token)) {
            Some((issued_for, generation)) if issued_for == file => {
                if *generation == self.generation {
                    TokenCheck::Valid
                } else {
                    TokenCheck::Expired
                }
            }
            _ => TokenCheck::Unknown,
        }
    }

    /// The file a full result URL (on this file host, any token) names.
    pub(crate) fn file_of_url(&self, url: &str) -> Option<ResultFile> {
        let path_and_query = url.strip_prefix(&self.files_base_url)?;
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(path, _)| path);
        ResultFile::from_path(path)
    }
}

/// The content of result file `index` of `task_id`: an MP4 `ftyp` box, then a pseudo-random
/// stream seeded from the task and index, `size` bytes in all.
pub(crate) fn expected_file_bytes(task_id: &str, index: usize, size: usize) -> Vec<u8> {
    // A complete 24-byte `ftyp` box, so that a client sniffing the type sees an MP4.
    const FTYP_BOX: [u8; 24] = [
        0, 0, 0, 24, b'f', b't', b'y', b'p', b'i', b's', b'o', b'm', 0, 0, 2, 0, b'i', b's', b'o',
        b'm', b'm', b'p', b'4', b'1',
    ];
    let mut bytes = vec![0u8; size];
    let header_len = FTYP_BOX.len().min(size);
    bytes[..header_len].copy_from_slice(&FTYP_BOX[..header_len]);
    let seed = fnv1a64(task_id.as_bytes()) ^ mix64(index as u64);
    fastrand::Rng::with_seed(seed).fill(&mut bytes[header_len..]);
    bytes
}

/// FNV-1a: a stable hash (std's `DefaultHasher` may change between Rust releases, and the
/// bytes of a task must not).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// SplitMix64's finaliser: a bijection on u64, so distinct counters give distinct outputs.
pub(crate) fn mix64(mut value: u64) -> u64 {
    value = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    value = (value ^ (value >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    value = (value ^ (value >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    value ^ (value >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_bytes_are_deterministic_and_differ_per_task_and_index() {
        let first = expected_file_bytes("abc", 0, 1000);
        assert_eq!(first, expected_file_bytes("abc", 0, 1000));
        assert_eq!(&first[4..8], b"ftyp");
        assert_ne!(first, expected_file_bytes("abc", 1, 1000));
        assert_ne!(first, expected_file_bytes("abd", 0, 1000));
        assert_eq!(expected_file_bytes("abc", 0, 5).len(), 5);
    }

    #[test]
    fn urls_expire_and_fresh_ones_work() {
        let mut urls = ResultUrls::new("http://127.0.0.1:9".to_owned());
        let file = ResultFile {
            kind: ResultKind::Plain,
            task_id: "t1".to_owned(),
            index: 0,
        };
        let url = urls.issue(file.clone());
        assert_eq!(urls.file_of_url(&url), Some(file.clone()));
        let token = url.split_once("token=").map(|(_, token)| token);
        assert_eq!(urls.check(&file, token), TokenCheck::Valid);
        urls.expire_all();
        assert_eq!(urls.check(&file, token), TokenCheck::Expired);
        let fresh = urls.issue(file.clone());
        let fresh_token = fresh.split_once("token=").map(|(_, token)| token);
        assert_eq!(urls.check(&file, fresh_token), TokenCheck::Valid);
        assert_eq!(urls.check(&file, Some("forged")), TokenCheck::Unknown);
    }

    #[test]
    fn result_paths_parse_strictly() {
        assert!(ResultFile::from_path("/r/abc/2.mp4").is_some());
        assert!(ResultFile::from_path("/w/abc/0.mp4").is_some());
        assert!(ResultFile::from_path("/r//0.mp4").is_none());
        assert!(ResultFile::from_path("/r/abc/x.mp4").is_none());
        assert!(ResultFile::from_path("/x/abc/0.mp4").is_none());
    }
}
