//! Local files named as inputs: in a field the model's schema types as a URL (or a list of
//! them), a value without a URL scheme (`./refs/cat.png`, `refs/*.jpg`) names files beside
//! the manifest.
//!
//! Read [`Resolver::resolve_local_files`]. It runs before the input is checked against the
//! schema: each reference is checked (it exists, is inside an allowed folder, its bytes are
//! an image, video or audio format; see [`crate::local_files`]) and replaced by the file's
//! placeholder ([`LocalFile::placeholder`]), which names the file by its content hash. So the
//! schema's `format: uri` and `maxItems` apply to the expanded list, and the job's key holds
//! the content, not the path: renaming a file reruns nothing, new pixels rerun its jobs. The
//! run uploads each file and sends its URL in the placeholder's place. Nothing here touches
//! the network.

use std::collections::HashMap;
use std::path::Path;

use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use super::{Field, Resolver};
use crate::diagnostic::{Diagnostic, quoted};
use crate::local_files::{
    LocalFile, LocalFileProblem, LocalFiles, PLACEHOLDER_PREFIX, is_glob, is_local_reference,
};
use crate::manifest::origin::{Site, Written};
use crate::manifest::raw::{RawManifest, RawValue};
use crate::manifest::shape::position;
use crate::models::{FileField, InputSchema};

/// What the resolver knows of local files: where references are read from, what each
/// reference resolved to (a reference shared by 10,000 matrix jobs is read once), and every
/// file a job uses.
pub(super) struct FileResolution {
    files: LocalFiles,
    resolved: HashMap<String, Result<Vec<LocalFile>, LocalFileProblem>>,
}

/// The folder local references are relative to: the manifest's.
fn base_of(manifest_path: &Path) -> std::path::PathBuf {
    match manifest_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

impl FileResolution {
    /// References relative to the folder of the manifest at `manifest_path`, allowed there
    /// and below and in `files_from` (relative to it too).
    pub(super) fn new(manifest_path: &Path, files_from: &[std::path::PathBuf]) -> Self {
        let base = base_of(manifest_path);
        let mut allowed = vec![std::path::PathBuf::from(".")];
        allowed.extend(files_from.iter().cloned());
        FileResolution {
            files: LocalFiles::new(&base, &allowed),
            resolved: HashMap::new(),
        }
    }

    fn resolve(&mut self, written: &str) -> Result<Vec<LocalFile>, LocalFileProblem> {
        if let Some(known) = self.resolved.get(written) {
            return known.clone();
        }
        let result = self.files.resolve(written);
        self.resolved.insert(written.to_owned(), result.clone());
        result
    }
}

impl Resolver<'_> {
    /// Reports each folder of `run.files_from` that is not a folder: it would allow nothing,
    /// and every file from it would be refused as outside.
    pub(super) fn check_files_from(&mut self, raw: &RawManifest, manifest_path: &Path) {
        let base = base_of(manifest_path);
        let folders = raw
            .run
            .iter()
            .flat_map(|run| run.files_from.iter().flatten());
        for folder in folders {
            let written = folder.value.trim();
            if written.is_empty() || base.join(written).is_dir() {
                continue;
            }
            let diagnostic = self
                .error(
                    position(&folder.referenced),
                    format!(
                        "`files_from` names {}, which is not a folder",
                        quoted(written)
                    ),
                )
                .expected("a folder relative to the manifest, e.g. `../shared-refs`");
            self.push(diagnostic);
        }
    }

    /// Replaces every local reference in `input`'s file fields by its files' placeholders;
    /// reports each reference that cannot be used (at the value that names it) and returns
    /// whether all could.
    pub(super) fn resolve_local_files(
        &mut self,
        model: &str,
        schema: &InputSchema,
        input: &mut Map<String, Value>,
        origins: &[Field<'_>],
        anchor: Site,
    ) -> bool {
        let mut ok = true;
        for (name, value) in input.iter_mut() {
            let Some(kind) = schema.file_field(name) else {
                continue;
            };
            let limit = FieldLimit {
                model,
                field: name,
                max: self
                    .book
                    .get(model)
                    .and_then(|knowledge| knowledge.file_limits.get(name))
                    .cloned(),
            };
            let origin = origins
                .iter()
                .find(|(field, _, _)| field == name)
                .map(|(_, _, value)| *value);
            let at = origin.map_or(anchor, Written::site);
            match (kind, &mut *value) {
                (FileField::One, Value::String(text)) => {
                    if let Some(files) = self.local_reference(&limit, text, false, at) {
                        match files.as_slice() {
                            [file] => *text = file.placeholder(),
                            _ => ok = false,
                        }
                    } else if is_local_reference(text) || is_reserved(text) {
                        *text = UNRESOLVED.to_owned();
                        ok = false;
                    }
                }
                (FileField::List, Value::String(text)) => {
                    if let Some(files) = self.local_reference(&limit, text, true, at) {
                        *value = Value::Array(
                            files
                                .iter()
                                .map(|file| Value::String(file.placeholder()))
                                .collect(),
                        );
                    } else if is_local_reference(text) || is_reserved(text) {
                        *value = Value::Array(vec![Value::String(UNRESOLVED.to_owned())]);
                        ok = false;
                    }
                }
                (FileField::List, Value::Array(items)) => {
                    // The items' own places, for a list written in the manifest; a table's
                    // cell is the place of all of its items.
                    let written_items = origin.and_then(|value| match value {
                        Written::Yaml(Spanned {
                            value: RawValue::List(items),
                            ..
                        }) => Some(items.as_slice()),
                        _ => None,
                    });
                    let mut expanded = Vec::with_capacity(items.len());
                    for (index, item) in items.iter().enumerate() {
                        let Value::String(text) = item else {
                            expanded.push(item.clone());
                            continue;
                        };
                        let item_at = written_items.and_then(|written| written.get(index)).map_or(
                            at,
                            |written: &Spanned<RawValue>| {
                                Site::Manifest(position(&written.referenced))
                            },
                        );
                        match self.local_reference(&limit, text, true, item_at) {
                            Some(files) => expanded
                                .extend(files.iter().map(|file| Value::String(file.placeholder()))),
                            None if is_local_reference(text) || is_reserved(text) => {
                                expanded.push(Value::String(UNRESOLVED.to_owned()));
                                ok = false;
                            }
                            None => expanded.push(item.clone()),
                        }
                    }
                    *items = expanded;
                }
                _ => {}
            }
        }
        ok
    }

    /// The files `text` names, when it is a usable local reference; `None` when it is not
    /// a local reference or cannot be used (reported here). `list`: the field takes a list,
    /// so a pattern may expand to many files.
    fn local_reference(
        &mut self,
        limit: &FieldLimit<'_>,
        text: &str,
        list: bool,
        at: Site,
    ) -> Option<Vec<LocalFile>> {
        let field = limit.field;
        if is_reserved(text) {
            let diagnostic = self
                .error_at(
                    at,
                    format!("{} is a placeholder sora-batch writes itself", quoted(text)),
                )
                .expected("a local file such as `./refs/cat.png`, or an http(s) URL");
            self.push(diagnostic);
            return None;
        }
        if !is_local_reference(text) {
            return None;
        }
        if !list && is_glob(text) {
            let diagnostic = self
                .error_at(
                    at,
                    format!(
                        "{} is a pattern, and {} takes one file",
                        quoted(text),
                        quoted(field)
                    ),
                )
                .expected("the path of one file, e.g. `./refs/cat.png`");
            self.push(diagnostic);
            return None;
        }
        let resolution = self.file_resolution.as_mut()?;
        match resolution.resolve(text) {
            Ok(files) => {
                if let Some((max_bytes, stated)) = &limit.max
                    && let Some(large) = files.iter().find(|file| file.size > *max_bytes)
                {
                    let diagnostic = self
                        .error_at(
                            at,
                            format!(
                                "{} is {} bytes, over the {stated} ({max_bytes} bytes) that model {} takes in {}",
                                quoted(&large.written),
                                large.size,
                                quoted(limit.model),
                                quoted(field)
                            ),
                        )
                        .expected(format!("a file of at most {stated}"))
                        .note("the limit is the model's documentation's (`crates/api/models/`)");
                    self.push(diagnostic);
                    return None;
                }
                for file in &files {
                    self.local_files
                        .entry(file.upload_name())
                        .or_insert_with(|| file.clone());
                }
                Some(files)
            }
            Err(problem) => {
                let diagnostic = self.file_problem(field, text, &problem, at);
                self.push(diagnostic);
                None
            }
        }
    }

    fn file_problem(
        &self,
        field: &str,
        text: &str,
        problem: &LocalFileProblem,
        at: Site,
    ) -> Diagnostic {
        let diagnostic = self
            .error_at(
                at,
                format!(
                    "cannot use {} as {}: {problem}",
                    quoted(text),
                    quoted(field)
                ),
            )
            .expected(
                "an image, video or audio file in the manifest's folder or below, or an http(s) URL",
            );
        match problem {
            LocalFileProblem::OutsideAllowed { .. } => diagnostic.note(
                "help: `run.files_from` lists more folders files may come from; only media files are uploaded, and uploads are public",
            ),
            LocalFileProblem::NotMedia { .. } => diagnostic.note(
                "only files whose bytes are an image, video or audio format are uploaded, so that a typo cannot publish a private file",
            ),
            LocalFileProblem::NotFound { .. } if !text.starts_with('.') => diagnostic.note(
                "a value without a scheme is a file beside the manifest; a URL starts with `https://`",
            ),
            _ => diagnostic,
        }
    }
}

/// A field that takes files, and the size its model's documentation allows for each.
struct FieldLimit<'a> {
    model: &'a str,
    field: &'a str,
    max: Option<(u64, String)>,
}

/// What stands for a reference that cannot be used while the rest of the input is checked:
/// a URL, so that the schema reports nothing more about it than was reported here.
const UNRESOLVED: &str = "https://sora-batch.invalid/local-file/unresolved";

/// Whether `text` is written like a placeholder: only sora-batch writes those.
fn is_reserved(text: &str) -> bool {
    text.trim_start().starts_with(PLACEHOLDER_PREFIX)
}
