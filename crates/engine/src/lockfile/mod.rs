//! `sora-batch.lock`: what the live catalogue said of the models a folder's manifests use,
//! kept beside them and committed to git like `Cargo.lock`, so that `validate`, `plan` and
//! `run` know those models offline and the same on every machine.
//!
//! Read [`Lock`] and [`LockedModel`] first, then [`read()`] and [`write()`]. The file is JSON:
//!
//! ```json
//! {
//!   "version": 1,
//!   "models": {
//!     "kling-2.6/text-to-video": {
//!       "fetched_from": "https://api.kie.ai",
//!       "fetched_at": "2026-11-29T10:04:31Z",
//!       "content_hash": "sha256:…",
//!       "price_text": "A 5-second video costs 55 credits (0.275 USD)",
//!       "price_rule": {"tiers": [{"when": {}, "per_second": 11.0}], "seconds_field": "duration"},
//!       "input_schema": {"type": "object", "properties": {…}}
//!     }
//!   }
//! }
//! ```
//!
//! Models in id order, each entry's keys in the order above, a schema's keys sorted, pretty
//! printed with a final newline: the same knowledge is the same bytes, and a change shows as
//! a small diff. `content_hash` is the sha256 of the canonical JSON
//! ([`crate::canonical`]) of `{"input_schema": …, "price_text": …}`; a reader checks it, so
//! an entry edited by hand is refused rather than trusted. `fetched_from` is the API base
//! URL without credentials, query or fragment; the API key never reaches the file.
//!
//! Several manifests in one folder share its lock: [`Lock::merge`] adds and updates the
//! models it is given and keeps the others, unless told to keep only those.
//! [`diff`] compares an entry with what the catalogue says now.
//!
//! Deliberately not here: fetching (the cli asks the api crate's catalogue calls) and using
//! the knowledge to check or price jobs (the manifest's model book).

pub mod diff;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use sora_batch_api::snapshot::PriceRule;

use crate::canonical::canonical_json;
use crate::diagnostic::{Diagnostic, Position, SourceText, quoted};
use crate::durable::{WriteError, hex, sync_folder, write_atomically};

/// The lock's file name, in the manifest's folder.
pub const LOCK_FILE_NAME: &str = "sora-batch.lock";

/// The format this sora-batch reads and writes. A lock of a newer format is refused with a
/// message to upgrade, never half-read.
pub const FORMAT_VERSION: u32 = 1;

/// The lock beside the manifest at `manifest`.
pub fn path_beside(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .unwrap_or(Path::new(""))
        .join(LOCK_FILE_NAME)
}

/// Every model a lock knows, by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lock {
    pub models: BTreeMap<String, LockedModel>,
}

/// What the catalogue said of one model, and when and where it said it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedModel {
    /// The API base URL it was fetched from, without credentials.
    pub fetched_from: String,
    /// When its content was fetched, RFC 3339 in UTC. An update that finds the same content
    /// keeps the entry, and this time, as it was.
    pub fetched_at: String,
    /// `sha256:` and the hex digest of the canonical `{input_schema, price_text}`.
    pub content_hash: String,
    /// The catalogue's price text (`pricingDesc`); null when it gave none.
    pub price_text: Option<String>,
    /// The rule read from the price text; null when the text states none that can be read
    /// (the model's price is then unknown).
    pub price_rule: Option<PriceRule>,
    /// The JSON Schema of the model's createTask `input`.
    pub input_schema: Value,
}

impl LockedModel {
    /// An entry for what was fetched now from `base_url`.
    pub fn new(
        input_schema: Value,
        price_text: Option<String>,
        price_rule: Option<PriceRule>,
        base_url: &str,
        fetched_at: String,
    ) -> LockedModel {
        LockedModel {
            fetched_from: public_base_url(base_url),
            fetched_at,
            content_hash: content_hash(&input_schema, price_text.as_deref()),
            price_text,
            price_rule,
            input_schema,
        }
    }

    /// Whether this entry says the same as `other`, whenever and wherever it was fetched.
    pub fn same_knowledge(&self, other: &LockedModel) -> bool {
        self.content_hash == other.content_hash && self.price_rule == other.price_rule
    }
}

/// The content hash of a schema and a price text.
pub fn content_hash(input_schema: &Value, price_text: Option<&str>) -> String {
    let content = json!({"input_schema": input_schema, "price_text": price_text});
    format!(
        "sha256:{}",
        hex(&Sha256::digest(canonical_json(&content).as_bytes()))
    )
}

/// Now, as a lock records it: RFC 3339, UTC, whole seconds.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// `url` as a lock records it: no user, password, query or fragment, no trailing slash.
pub fn public_base_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            parsed.set_fragment(None);
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        // Not a URL: nothing in it can be a credential worth hiding but a userinfo part.
        Err(_) => url.rsplit('@').next().unwrap_or("").to_owned(),
    }
}

/// What [`Lock::merge`] did, model by model.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeSummary {
    pub added: Vec<String>,
    pub updated: Vec<String>,
    pub unchanged: Vec<String>,
    /// Removed because no manifest given uses them (`keep_only`).
    pub removed: Vec<String>,
}

impl MergeSummary {
    /// Whether the lock's content changed.
    pub fn changed(&self) -> bool {
        !(self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty())
    }
}

impl Lock {
    pub fn get(&self, model: &str) -> Option<&LockedModel> {
        self.models.get(model)
    }

    /// Adds or updates the `fetched` models. An entry whose knowledge is the same as the
    /// lock's is kept as it was (its `fetched_at` too), so that locking again without a
    /// change on the service changes no byte. With `keep_only`, every other model is
    /// removed (`models lock --prune`); without it, other models (those of other manifests
    /// in the folder) stay.
    pub fn merge(
        &mut self,
        fetched: BTreeMap<String, LockedModel>,
        keep_only: Option<&BTreeSet<String>>,
    ) -> MergeSummary {
        let mut summary = MergeSummary::default();
        for (model, entry) in fetched {
            match self.models.get(&model) {
                Some(known) if known.same_knowledge(&entry) => summary.unchanged.push(model),
                Some(_) => {
                    summary.updated.push(model.clone());
                    self.models.insert(model, entry);
                }
                None => {
                    summary.added.push(model.clone());
                    self.models.insert(model, entry);
                }
            }
        }
        if let Some(keep) = keep_only {
            let stale: Vec<String> = self
                .models
                .keys()
                .filter(|model| !keep.contains(*model))
                .cloned()
                .collect();
            for model in stale {
                self.models.remove(&model);
                summary.removed.push(model);
            }
        }
        summary
    }

    /// The file's text: pretty JSON, keys in a fixed order, a final newline.
    pub fn to_text(&self) -> String {
        let models: BTreeMap<&String, LockedModel> = self
            .models
            .iter()
            .map(|(model, entry)| {
                let mut entry = entry.clone();
                entry.input_schema = sorted(&entry.input_schema);
                (model, entry)
            })
            .collect();
        #[derive(Serialize)]
        struct LockFile<'a> {
            version: u32,
            models: BTreeMap<&'a String, LockedModel>,
        }
        let file = LockFile {
            version: FORMAT_VERSION,
            models,
        };
        // Plain data with string keys always serializes; an empty text is never written.
        let mut text = serde_json::to_string_pretty(&file).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// `value` with the keys of every object in sorted order, whether or not serde_json keeps
/// insertion order in this build.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(object) => {
            let mut keys: Vec<&String> = object.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                out.insert(key.clone(), sorted(&object[key]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// Why a lock could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is not a lock this sora-batch can trust; the diagnostic says where and why.
    #[error("{}", one_line(diagnostic))]
    Invalid { diagnostic: Box<Diagnostic> },
    #[error(transparent)]
    Write(#[from] WriteError),
}

impl LockError {
    /// The problem as a diagnostic with the offending line, when it is about the content.
    pub fn diagnostic(&self) -> Option<&Diagnostic> {
        match self {
            LockError::Invalid { diagnostic } => Some(diagnostic),
            _ => None,
        }
    }
}

/// `file:line:col: message` (and its notes), for a message on one line.
fn one_line(diagnostic: &Diagnostic) -> String {
    let place = match &diagnostic.label {
        Some(label) => format!(
            "{}:{}:{}",
            diagnostic.source_name, label.position.line, label.position.column
        ),
        None => diagnostic.source_name.clone(),
    };
    let mut line = format!("{place}: {}", diagnostic.message);
    for note in &diagnostic.notes {
        line.push_str("; ");
        line.push_str(note);
    }
    line
}

/// Reads the lock at `path`; `Ok(None)` when there is none.
pub fn read(path: &Path) -> Result<Option<Lock>, LockError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LockError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let name = path.display().to_string();
    let text = String::from_utf8(bytes).map_err(|error| {
        let valid_up_to = error.utf8_error().valid_up_to();
        let source = SourceText::new(&name, String::from_utf8_lossy(error.as_bytes()));
        invalid(
            &source,
            Some(source.position_of_byte(valid_up_to, 1)),
            "the lock is not valid UTF-8",
        )
    })?;
    read_str(&name, &text).map(Some)
}

/// Reads a lock from memory; `source_name` names it in messages.
pub fn read_str(source_name: &str, text: &str) -> Result<Lock, LockError> {
    let source = SourceText::new(source_name, text);
    let at = |line: usize, column: usize| Position {
        line: u32::try_from(line.max(1)).unwrap_or(u32::MAX),
        column: u32::try_from(column.max(1)).unwrap_or(u32::MAX),
        len: 1,
    };
    let document: Value = serde_json::from_str(text).map_err(|error| {
        invalid(
            &source,
            Some(at(error.line(), error.column())),
            format!("the lock is not JSON: {}", serde_message(&error)),
        )
    })?;
    let version_position = key_position(&source, "version").or(Some(at(1, 1)));
    match document.get("version").and_then(Value::as_u64) {
        Some(version) if version == u64::from(FORMAT_VERSION) => {}
        Some(version) if version > u64::from(FORMAT_VERSION) => {
            return Err(invalid(
                &source,
                version_position,
                format!(
                    "the lock is of format {version}, written by a newer sora-batch; this one \
                     reads format {FORMAT_VERSION}"
                ),
            )
            .with_note("upgrade sora-batch to use this lock"));
        }
        _ => {
            return Err(
                invalid(&source, version_position, "the lock has no valid `version`")
                    .with_note(format!("expected: \"version\": {FORMAT_VERSION}")),
            );
        }
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct LockFile {
        #[allow(dead_code)]
        version: u32,
        models: BTreeMap<String, LockedModel>,
    }
    let file: LockFile = serde_json::from_str(text).map_err(|error| {
        invalid(
            &source,
            Some(at(error.line(), error.column())),
            serde_message(&error),
        )
    })?;
    for (model, entry) in &file.models {
        let expected = content_hash(&entry.input_schema, entry.price_text.as_deref());
        if entry.content_hash != expected {
            return Err(invalid(
                &source,
                key_position(&source, model),
                format!(
                    "the content hash of {} does not match its input schema and price text",
                    quoted(model)
                ),
            )
            .with_note(
                "the entry was edited; run `sora-batch models lock` on its manifests to fetch \
                 it again",
            ));
        }
        if humantime::parse_rfc3339(&entry.fetched_at).is_err() {
            return Err(invalid(
                &source,
                key_position(&source, model),
                format!("`fetched_at` of {} is not an RFC 3339 time", quoted(model)),
            )
            .with_note("expected: a time such as 2026-11-29T10:04:31Z"));
        }
    }
    Ok(Lock {
        models: file.models,
    })
}

/// serde_json's message without its own " at line L column C", which the position shows.
fn serde_message(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_owned(),
        None => text,
    }
}

/// Where the object key `key` is first written in the lock's text.
fn key_position(source: &SourceText, key: &str) -> Option<Position> {
    let quoted_key = serde_json::to_string(key).ok()?;
    let mut from = 0;
    while let Some(found) = source.text.get(from..)?.find(&quoted_key) {
        let start = from + found;
        let after = &source.text[start + quoted_key.len()..];
        if after.trim_start().starts_with(':') {
            let len = u32::try_from(quoted_key.chars().count()).unwrap_or(u32::MAX);
            return Some(source.position_of_byte(start, len));
        }
        from = start + quoted_key.len();
    }
    None
}

fn invalid(
    source: &SourceText,
    position: Option<Position>,
    message: impl Into<String>,
) -> LockError {
    LockError::Invalid {
        diagnostic: Box::new(Diagnostic::error(source, position, message)),
    }
}

impl LockError {
    fn with_note(self, note: impl Into<String>) -> LockError {
        match self {
            LockError::Invalid { diagnostic } => LockError::Invalid {
                diagnostic: Box::new(diagnostic.note(note)),
            },
            other => other,
        }
    }
}

/// Writes `lock` to `path` atomically: a reader sees the old lock or the new one.
pub fn write(path: &Path, lock: &Lock) -> Result<(), LockError> {
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or(LOCK_FILE_NAME);
    let text = lock.to_text();
    write_atomically(folder, name, |out| out.write_all(text.as_bytes()))?;
    sync_folder(folder).map_err(|source| WriteError {
        path: path.to_owned(),
        source,
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
