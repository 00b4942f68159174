//! The third pass: from [`RawManifest`] to [`Manifest`], collecting every problem.
//!
//! Read [`resolve`]. Order of work: top-level settings, variables, the matrix checked and
//! expanded, every job's input assembled (`defaults`, then the top-level `prompt`, then the
//! matrix combination or the job's own fields), its prompt filled in, checked against what
//! the [`ModelBook`] knows of its model and completed; then keys and ids. Problems found for many jobs at one
//! place of the manifest (a bad default under 10,000 combinations) are reported once.
//!
//! This file holds the [`Resolver`] (the diagnostics and what was already reported) and the
//! order of work; each step is an `impl Resolver` block in a child module:
//! [`settings`] (`name`, `takes`, `run:`, `prices:`, `vars:`), [`jobs`] (the matrix and the
//! explicit jobs into [`Draft`]s), [`input`] (models, prompt templates, and each job's
//! input against the registry of the Sora 2 family), [`files`] (local files named in a
//! file field, replaced by placeholders that hold their content hash), [`schema_problems`]
//! (a job's input against its model's JSON Schema, each problem located) and [`ids`] (keys
//! and ids, the final [`Job`](super::Job)s), and [`table`] (the `rows:` table read into the
//! rows axis).
//!
//! Values and problems have a [`Site`]: in the manifest, or in a cell of its table.
//! [`Resolver::error_at`] and [`Resolver::warning_at`] render a diagnostic against the
//! right file's text; everything that reports a problem at a value goes through them.

mod files;
mod ids;
mod input;
mod jobs;
mod schema_problems;
mod settings;
mod table;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use super::origin::{Site, Written};
use super::raw::RawManifest;
use super::shape::{START_OF_FILE, ShapeFindings, position};
use super::{DEFAULT_MODEL, Manifest};
use crate::diagnostic::{Diagnostic, Position, SourceText};
use crate::job::MatrixValues;
use crate::local_files::LocalFile;
use crate::models::ModelBook;
use input::InputRules;

/// One input field of a job in the making: its name, where its key is (when written as a
/// key; a table's column header), and its value.
type Field<'a> = (&'a str, Option<Site>, Written<'a>);

/// A job before keys and ids: enough to report on it and name it.
struct Draft {
    model: String,
    input: Map<String, Value>,
    take: u32,
    /// The explicit id and where it is written.
    explicit_id: Option<(String, Site)>,
    /// The derived id's base, for jobs without an explicit id.
    derived_base: String,
    /// Where to point at for problems of the whole job.
    anchor: Site,
    /// Its matrix combination's values; empty for an explicit job.
    matrix: MatrixValues,
}

struct Resolver<'a> {
    source: &'a SourceText,
    /// The text of the `rows:` table, once read: its problems are rendered against it.
    table_source: Option<SourceText>,
    /// What is known of each model: its schema or registry fields, and its price.
    book: &'a ModelBook,
    /// How each model met so far is checked, its schema compiled once.
    input_rules: HashMap<String, InputRules>,
    diagnostics: Vec<Diagnostic>,
    /// (in the table, position, message) of every diagnostic so far, to report each
    /// problem once.
    seen: HashSet<(bool, Position, String)>,
    /// Models already warned about (withdrawn, or without a schema).
    warned_models: HashSet<String>,
    /// Where models already checked are written: a model on a matrix axis is met once per
    /// combination, and checked once.
    checked_model_positions: HashSet<Site>,
    /// Models of a table's `model` column already checked: each row's cell is a place of
    /// its own, and a model misspelt in 300 rows is reported once, at its first.
    checked_table_models: HashSet<String>,
    /// Template problems already reported: (where the prompt is, the problem's offset in
    /// it, its kind). A prompt shared by 10,000 matrix jobs is checked for each, but its
    /// problems are located and rendered once, not 10,000 times.
    reported_template_problems: HashSet<(Site, usize, u8)>,
    /// What the shape pass found.
    shape: ShapeFindings,
    /// Where local files are read from; set once `run:` (its `files_from`) is resolved.
    file_resolution: Option<files::FileResolution>,
    /// Every local file a job uses, by its upload name.
    local_files: BTreeMap<String, LocalFile>,
}

impl<'a> Resolver<'a> {
    fn push(&mut self, diagnostic: Diagnostic) {
        let position = diagnostic
            .label
            .as_ref()
            .map_or(START_OF_FILE, |label| label.position);
        let in_table = diagnostic.source_name != self.source.name;
        if self
            .seen
            .insert((in_table, position, diagnostic.message.clone()))
        {
            self.diagnostics.push(diagnostic);
        }
    }

    /// An error at a place of the manifest.
    fn error(&self, location: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.source, Some(location), message)
    }

    /// The text a site is in: the manifest's, or the table's.
    fn source_of(&self, site: Site) -> &SourceText {
        match (site, &self.table_source) {
            (Site::Table(_), Some(table)) => table,
            _ => self.source,
        }
    }

    /// An error at `site`, rendered against its file.
    fn error_at(&self, site: Site, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.source_of(site), Some(site.position()), message)
    }

    /// A warning at `site`, rendered against its file.
    fn warning_at(&self, site: Site, message: impl Into<String>) -> Diagnostic {
        Diagnostic::warning(self.source_of(site), Some(site.position()), message)
    }

    /// `line N`, or `line N of prompts.csv` for a site in the table: for notes that point
    /// at a second place.
    fn describe_line(&self, site: Site) -> String {
        match site {
            Site::Manifest(at) => format!("line {}", at.line),
            Site::Table(at) => format!("line {} of {}", at.line, self.source_of(site).name),
        }
    }

    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Resolves `raw`; returns the manifest when it could be built and every diagnostic (the
/// caller decides that errors among them reject it).
pub(super) fn resolve(
    raw: &RawManifest,
    source: &SourceText,
    path: &Path,
    shape: ShapeFindings,
    book: &ModelBook,
) -> (Option<Manifest>, Vec<Diagnostic>) {
    let mut resolver = Resolver {
        source,
        table_source: None,
        book,
        input_rules: HashMap::new(),
        diagnostics: Vec::new(),
        seen: HashSet::new(),
        warned_models: HashSet::new(),
        checked_model_positions: HashSet::new(),
        checked_table_models: HashSet::new(),
        reported_template_problems: HashSet::new(),
        shape,
        file_resolution: None,
        local_files: BTreeMap::new(),
    };
    let manifest = resolver.resolve(raw, path);
    (manifest, resolver.diagnostics)
}

impl<'a> Resolver<'a> {
    fn resolve(&mut self, raw: &'a RawManifest, path: &Path) -> Option<Manifest> {
        if let Some(version) = &raw.version
            && version.value != 1
        {
            let diagnostic = self
                .error(
                    position(&version.referenced),
                    format!("unsupported manifest version {}", version.value),
                )
                .expected("1");
            self.push(diagnostic);
        }
        let name = self.resolve_name(raw, path);
        let (model_default, model_default_at) = match &raw.model {
            Some(model) => {
                let at = Site::Manifest(position(&model.referenced));
                self.check_model(&model.value, Some(at));
                (model.value.clone(), Some(at))
            }
            // Checked (and warned about) only when a job uses it.
            None => (DEFAULT_MODEL.to_owned(), None),
        };
        let default_takes = match &raw.takes {
            Some(takes) => self.check_takes(takes),
            None => 1,
        };
        let run = self.resolve_run(raw);
        self.check_files_from(raw, path);
        self.file_resolution = Some(files::FileResolution::new(path, &run.files_from));
        let prices = self.resolve_prices(raw);
        let vars = self.resolve_vars(raw);
        let table = self.read_rows(raw, path);
        let drafts = self.expand_jobs(
            raw,
            table.as_ref(),
            &model_default,
            model_default_at,
            default_takes,
            &vars,
        );
        if self.has_errors() {
            return None;
        }
        let jobs = self.assign_identities(drafts, run.callback_url.as_deref())?;
        if jobs.is_empty() && self.shape.unknown_top_level_key {
            // The unknown key, already reported, is likely the misspelled source of jobs.
            return None;
        }
        if jobs.is_empty() {
            let diagnostic = self
                .error(START_OF_FILE, "the manifest defines no jobs")
                .expected("a `prompt` (with or without a `matrix`), `rows` or a list of `jobs`");
            self.push(diagnostic);
            return None;
        }
        Some(Manifest {
            name,
            path: path.to_path_buf(),
            jobs,
            run,
            prices,
            book: self.book.clone(),
            local_files: std::mem::take(&mut self.local_files),
        })
    }
}
