//! Manifests: YAML files that describe a batch, loaded into the [`Job`]s the engine runs.
//!
//! Read [`load`] and [`Manifest`] first. Loading runs in passes, each collecting every
//! problem it finds before giving up, so that one `validate` lists them all:
//!
//! 1. the document as a generic tree: YAML syntax, unknown keys, missing `version`
//!    (`shape`);
//! 2. serde into the [`raw`] types: value types (a string where a number belongs);
//! 3. `resolve`: the matrix expanded (`expand`), prompts filled in (`template`), inputs
//!    checked against what the [`ModelBook`] knows of their models (a JSON Schema, or the
//!    api crate's registry for the Sora 2 family) and completed, keys and ids assigned
//!    ([`identity`]), `run:` and `prices:` checked.
//!
//! Every pass runs even when an earlier one found problems (but for YAML that does not
//! parse), so an unknown key hides nothing else. The work stays bounded whatever the file
//! holds: [`MAX_TAKES`], [`MAX_JOBS`] (checked before expanding), [`MAX_TEMPLATE_PROBLEMS`]
//! per prompt, and values cut in messages (see [`crate::diagnostic`]).
//!
//! Everything here is plain synchronous code over an in-memory string; nothing prints.

mod expand;
pub mod identity;
mod models_used;
mod origin;
pub mod raw;
mod resolve;
pub(crate) mod rows;
pub mod schema_parts;
mod shape;
mod table_file;
mod template;

use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use serde_saphyr::Spanned;
use sora_batch_api::wire::CreateTaskRequest;

use crate::diagnostic::{Diagnostic, SourceText, quoted, shown};
pub use crate::job::{JobId, JobKey, MatrixValues};
use crate::models::{KnowledgeSource, ModelBook, ModelKnowledge};
use crate::prices::PriceTable;
pub use crate::settings::{PollTuning, RateLimit, RetryTiming, RunSettings};
use raw::{RawManifest, RawValue};

pub use models_used::{models_used, models_used_str};
pub use table_file::MAX_TABLE_BYTES;

/// The model of every job that names none, in the manifest or in the job.
pub const DEFAULT_MODEL: &str = "sora-2-text-to-video";

/// The most jobs one manifest may expand to. A guard against a typo (a matrix axis pasted
/// twice, an extra zero) turning into an hour of hashing or a plan nobody meant, not a limit
/// of the service. It is checked against an upper bound computed before anything is
/// expanded, so a refused manifest costs milliseconds and no memory.
pub const MAX_JOBS: usize = 1_000_000;

/// The most `takes` of one request. Takes are repeated generations of the same request, to
/// pick the best of a few, and each is paid for: a hundred videos of one prompt is already
/// more than anyone reviews, and a larger number is almost surely a typo (`takes: 1000`
/// for `10`). More variety comes from a matrix, not from more takes.
pub const MAX_TAKES: u32 = 100;

pub use template::MAX_TEMPLATE_PROBLEMS;

/// The deepest nesting of lists and mappings a manifest may have. The deepest a manifest
/// needs is about 6 (`matrix`, `include`, an entry, a list value); parsing recurses once per
/// level, and a debug build's 2 MiB thread stack (a test's, a tokio worker's) holds about
/// 60 levels, so the parser's default of 64 could overflow it.
pub const MAX_NESTING: usize = 24;

/// The most YAML events aliases (`*name`) may replay in one manifest, in all: thousands of
/// values shared by reference, against the million an alias bomb would ask for.
pub const MAX_ALIAS_EVENTS: usize = 10_000;

/// A manifest that loaded, with the warnings found on the way.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    /// Problems that do not stop the batch, e.g. a withdrawn model or a deprecated field.
    pub warnings: Vec<Diagnostic>,
}

/// A checked manifest: every job expanded, validated and completed.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// `[a-z0-9._-]+`: the manifest's `name`, else its file stem.
    pub name: String,
    /// The manifest's path as given to [`load`].
    pub path: PathBuf,
    /// Matrix jobs first (in matrix order, takes together), then explicit jobs.
    pub jobs: Vec<Job>,
    pub run: RunSettings,
    pub prices: PriceTable,
    /// What was known of the models when the jobs were checked: a resume needs it to find
    /// jobs an earlier version journaled under other keys ([`crate::rekey`]).
    pub book: ModelBook,
    /// Every local file the jobs name, by upload name (`<sha256>.<ext>`): their inputs hold
    /// its placeholder ([`crate::local_files::PLACEHOLDER_PREFIX`]) until the run uploads it.
    pub local_files: std::collections::BTreeMap<String, crate::local_files::LocalFile>,
}

impl Manifest {
    /// The batch folder when `--out` is not given: `out/<name>/` beside the manifest.
    pub fn default_batch_folder(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or(Path::new(""))
            .join("out")
            .join(&self.name)
    }
}

/// One video to generate: one take of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: JobId,
    /// Decides what is already done; see [`JobKey::compute`].
    pub key: JobKey,
    /// 1 for the first video of a request, 2 for the second, ...
    pub take: u32,
    pub model: String,
    /// The final input, exactly what is sent: templates filled in, defaults completed.
    pub input: Map<String, Value>,
    /// From `run.callback_url`; not part of the key.
    pub call_back_url: Option<String>,
    /// Where the job sits in the matrix (empty for an explicit job); not part of the key.
    pub matrix: MatrixValues,
}

impl Job {
    /// The createTask body for this job.
    pub fn create_task_request(&self) -> CreateTaskRequest {
        CreateTaskRequest {
            model: self.model.clone(),
            input: self.input.clone(),
            call_back_url: self.call_back_url.clone(),
        }
    }
}

/// Why a manifest did not load: every problem found, errors and warnings, top to bottom.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ManifestErrors {
    pub diagnostics: Vec<Diagnostic>,
}

impl ManifestErrors {
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.diagnostics.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

/// Reads and loads the manifest at `path`, knowing the models of the built-in book.
pub fn load(path: &Path) -> Result<Loaded, ManifestErrors> {
    let book = model_book_beside(path)?;
    load_source(path, read_source(path)?, &book)
}

/// Reads and loads the manifest at `path`; its jobs are checked and priced by what `book`
/// knows of their models (the lock beside it is not read).
pub fn load_with(path: &Path, book: &ModelBook) -> Result<Loaded, ManifestErrors> {
    load_source(path, read_source(path)?, book)
}

/// The built-in book with the entries of the lock beside `manifest` (`sora-batch.lock`)
/// over it, when there is one; a lock that cannot be read or trusted stops the load with
/// its located problem.
pub fn model_book_beside(manifest: &Path) -> Result<ModelBook, ManifestErrors> {
    model_book_with_lock(&crate::lockfile::path_beside(manifest))
}

/// The built-in book with the entries of the lock at `lock_path` over it, when that file
/// exists (`sora-batch schema --lock` names a lock without a manifest).
pub fn model_book_with_lock(lock_path: &Path) -> Result<ModelBook, ManifestErrors> {
    let lock_path = lock_path.to_path_buf();
    match crate::lockfile::read(&lock_path) {
        Ok(None) => Ok(ModelBook::built_in()),
        Ok(Some(lock)) => Ok(ModelBook::built_in().with_locked(
            lock.models
                .into_iter()
                .map(|(model, entry)| locked_knowledge(&lock_path, model, entry)),
        )),
        Err(error) => {
            let diagnostic = match error.diagnostic() {
                Some(diagnostic) => diagnostic.clone(),
                None => Diagnostic::error(
                    &SourceText::new(lock_path.display().to_string(), ""),
                    None,
                    error.to_string(),
                ),
            };
            Err(ManifestErrors {
                diagnostics: vec![diagnostic],
            })
        }
    }
}

/// What a lock entry says of `model`, as the book holds it. The lock keeps no output kind
/// (the gallery tells a result's kind from its bytes anyway).
fn locked_knowledge(
    lock_path: &Path,
    model: String,
    entry: crate::lockfile::LockedModel,
) -> ModelKnowledge {
    ModelKnowledge {
        model,
        output: None,
        input_schema: Some(entry.input_schema),
        price_text: entry.price_text.unwrap_or_default(),
        price_rule: entry.price_rule,
        source: KnowledgeSource::Lock {
            path: lock_path.to_path_buf(),
            fetched_at: entry.fetched_at,
            fetched_from: entry.fetched_from,
        },
        withdrawn: None,
        file_limits: std::collections::BTreeMap::new(),
    }
}

/// The manifest at `path` as text, or the diagnostic of why it cannot be read: missing,
/// unreadable, not UTF-8 (located at the first bad byte).
fn read_source(path: &Path) -> Result<SourceText, ManifestErrors> {
    let source_name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| {
        let source = SourceText::new(source_name.clone(), "");
        ManifestErrors {
            diagnostics: vec![Diagnostic::error(
                &source,
                None,
                format!("cannot read the manifest: {error}"),
            )],
        }
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(SourceText::new(source_name, text)),
        Err(error) => {
            let valid_up_to = error.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let source = SourceText::new(source_name.clone(), text);
            let position = source.position_of_byte(valid_up_to, 1);
            Err(ManifestErrors {
                diagnostics: vec![
                    Diagnostic::error(&source, Some(position), "the manifest is not valid UTF-8")
                        .expected("a UTF-8 text file"),
                ],
            })
        }
    }
}

/// Loads a manifest from memory, knowing the models of the built-in book; `source_name`
/// names it in messages and gives the default `name` (its file stem) and batch folder.
pub fn load_str(source_name: &str, text: &str) -> Result<Loaded, ManifestErrors> {
    load_str_with(source_name, text, &ModelBook::built_in())
}

/// [`load_str`] with the models `book` knows.
pub fn load_str_with(
    source_name: &str,
    text: &str,
    book: &ModelBook,
) -> Result<Loaded, ManifestErrors> {
    load_source(
        Path::new(source_name),
        SourceText::new(source_name, text),
        book,
    )
}

fn load_source(
    path: &Path,
    source: SourceText,
    book: &ModelBook,
) -> Result<Loaded, ManifestErrors> {
    // The manifest's problems first, then its table's, each from the top down.
    let manifest_name = source.name.clone();
    let in_order = move |diagnostics: &mut Vec<Diagnostic>| {
        diagnostics.sort_by_key(|d| (d.source_name != manifest_name, d.order_key()));
    };
    let fail = |mut diagnostics: Vec<Diagnostic>| {
        in_order(&mut diagnostics);
        ManifestErrors { diagnostics }
    };
    // Pass 1: the generic tree, for syntax and keys.
    let options = yaml_options();
    let document: Spanned<RawValue> =
        match serde_saphyr::from_str_with_options(&source.text, options) {
            Ok(document) => document,
            Err(error) => return Err(fail(vec![yaml_diagnostic(&error, &source)])),
        };
    let mut diagnostics = Vec::new();
    let shape = shape::check_shape(&document, &source, &mut diagnostics);
    if matches!(document.value, RawValue::Null) || !matches!(document.value, RawValue::Map(_)) {
        return Err(fail(diagnostics));
    }
    // Pass 2: typed raw structs. Unknown keys are ignored here (pass 1 reported them), so a
    // type error further down is reported in the same run.
    let raw: RawManifest = match serde_saphyr::from_str_with_options(&source.text, yaml_options()) {
        Ok(raw) => raw,
        Err(error) => {
            diagnostics.push(yaml_diagnostic(&error, &source));
            return Err(fail(diagnostics));
        }
    };
    // Pass 3: meaning, even after unknown keys: they are ignored by pass 2, and the rest of
    // the file still has its own problems to report in the same run.
    let (manifest, resolved) = resolve::resolve(&raw, &source, path, shape, book);
    diagnostics.extend(resolved);
    match manifest {
        Some(manifest) if !diagnostics.iter().any(Diagnostic::is_error) => {
            let mut warnings = diagnostics;
            in_order(&mut warnings);
            Ok(Loaded { manifest, warnings })
        }
        _ => Err(fail(diagnostics)),
    }
}

fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        // `no`, `on`, `y` stay strings: a prompt axis of `[yes, no]` must not turn into
        // booleans (YAML 1.2 core schema).
        strict_booleans: true,
        // The engine renders its own snippets.
        with_snippet: false,
        budget: serde_saphyr::budget! { max_depth: MAX_NESTING },
        // Aliases share a value or two in a manifest (a prompt, a block of defaults); the
        // parser's default allows a million replayed events, which an alias bomb of a few
        // lines turns into half a second of work for nothing.
        alias_limits: serde_saphyr::alias_limits! { max_total_replayed_events: MAX_ALIAS_EVENTS },
    }
}

/// A serde-saphyr error as a diagnostic at its location, with a message in this crate's
/// words where serde's would puzzle a manifest author.
fn yaml_diagnostic(error: &serde_saphyr::Error, source: &SourceText) -> Diagnostic {
    use serde_saphyr::Error as E;
    let error = error.without_snippet();
    let location = error.location();
    let position = location.as_ref().map(shape::position);
    let (message, expected) = match error {
        E::InvalidScalar { ty, .. } => (
            "wrong type of value".to_owned(),
            Some(friendly_type(ty).to_owned()),
        ),
        E::SerdeInvalidType {
            unexpected,
            expected,
            ..
        } => (
            format!("wrong type of value: found {}", shown(unexpected)),
            Some(expected.clone()),
        ),
        E::SerdeInvalidValue {
            unexpected,
            expected,
            ..
        } => (
            format!("invalid value: {}", shown(unexpected)),
            Some(expected.clone()),
        ),
        E::DuplicateMappingKey { key: Some(key), .. } => (
            format!("duplicate key {}", quoted(key)),
            Some("each key once per mapping".to_owned()),
        ),
        E::DuplicateMappingKey { key: None, .. } => (
            "duplicate key".to_owned(),
            Some("each key once per mapping".to_owned()),
        ),
        E::Unexpected { expected, .. } => (
            "wrong type of value".to_owned(),
            Some(
                match *expected {
                    "sequence start" => "a list",
                    "mapping start" => "a mapping",
                    other => other,
                }
                .to_owned(),
            ),
        ),
        E::MultipleDocuments { .. } => (
            "more than one YAML document".to_owned(),
            Some("one document: remove the `---` separators".to_owned()),
        ),
        E::Budget {
            breach: serde_saphyr::budget::BudgetBreach::Depth { .. },
            ..
        } => (
            "lists and mappings nested too deep".to_owned(),
            Some(format!("at most {MAX_NESTING} levels of nesting")),
        ),
        E::SerdeMissingField { field, .. } => (format!("missing key `{field}`"), None),
        E::Eof { .. } => ("unexpected end of the file".to_owned(), None),
        other => {
            let mut text = other.to_string();
            if let Some(location) = &location {
                let suffix = format!(" at line {}, column {}", location.line(), location.column());
                if let Some(stripped) = text.strip_suffix(&suffix) {
                    text = stripped.to_owned();
                }
            }
            // The parser's own words: cut, if ever long, by the diagnostic's backstop.
            (format!("invalid YAML: {text}"), None)
        }
    };
    let diagnostic = Diagnostic::error(
        source,
        Some(position.unwrap_or(shape::START_OF_FILE)),
        message,
    );
    match expected {
        Some(expected) => diagnostic.expected(expected),
        None => diagnostic,
    }
}

fn friendly_type(ty: &str) -> &str {
    match ty {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" => "true or false",
        "string" | "str" | "String" => "a string",
        other => other,
    }
}
