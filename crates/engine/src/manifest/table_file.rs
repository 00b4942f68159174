//! The file a manifest's `rows:` names: found beside the manifest, kept inside its folder,
//! and read as UTF-8 text.
//!
//! Read [`read_table_file`]. Both validation (`resolve/table.rs`) and `models lock`
//! (`models_used.rs`, which looks for a `model` column) read the table through here, so
//! that neither reads a file the other would refuse. The table stays inside the manifest's
//! folder after links are followed: a manifest is shared, and must not make its reader's
//! machine read (and then send a model name from) a file elsewhere.

use std::path::{Component, Path, PathBuf};

use super::rows::TableFormat;
use crate::diagnostic::{Diagnostic, SourceText, quoted};

/// The largest table read, in bytes: far above a table of [`super::MAX_JOBS`] prompts,
/// and a bound on the memory a mistaken path (a video named `.csv`) can take.
pub const MAX_TABLE_BYTES: u64 = 256 * 1024 * 1024;

/// Why the table could not be read.
#[derive(Debug)]
pub(crate) enum TableFileProblem {
    /// A problem of the path or the file as a whole, to be shown at `rows:` in the manifest:
    /// the message and what was expected.
    Path { message: String, expected: String },
    /// Bytes that are not UTF-8, located in the table itself.
    Text(Diagnostic),
}

/// The table `relative` (as `rows:` writes it) names for the manifest at `manifest_path`:
/// its text, named as the user would find it (the manifest's folder joined with the
/// path), and its format.
pub(crate) fn read_table_file(
    manifest_path: &Path,
    relative: &str,
) -> Result<(SourceText, TableFormat), TableFileProblem> {
    let refuse = |message: String, expected: &str| {
        Err(TableFileProblem::Path {
            message,
            expected: expected.to_owned(),
        })
    };
    let relative = relative.trim();
    let Some(format) = TableFormat::of_file_name(relative) else {
        return refuse(
            format!(
                "the rows table {} is not a .csv, .tsv or .jsonl file",
                quoted(relative)
            ),
            "a table named by its format: `prompts.csv`, `prompts.tsv` or `prompts.jsonl`",
        );
    };
    let relative_path = Path::new(relative);
    if relative_path.has_root()
        || relative_path
            .components()
            .any(|part| matches!(part, Component::Prefix(_)))
    {
        return refuse(
            format!("the rows table {} is not a relative path", quoted(relative)),
            "a path relative to the manifest's folder, e.g. `prompts.csv`",
        );
    }
    let folder = match manifest_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let path = folder.join(relative_path);
    let shown_path = path.display().to_string();
    let (canonical_folder, canonical_path) = match (folder.canonicalize(), path.canonicalize()) {
        (Ok(folder), Ok(path)) => (folder, path),
        (_, Err(error)) | (Err(error), _) => {
            return refuse(
                format!(
                    "cannot read the rows table {}: {error}",
                    quoted(&shown_path)
                ),
                "a table file beside the manifest (the path is relative to its folder)",
            );
        }
    };
    if !canonical_path.starts_with(&canonical_folder) {
        return refuse(
            format!(
                "the rows table {} is outside the manifest's folder",
                quoted(&shown_path)
            ),
            "a table in the manifest's folder or below it (links are followed)",
        );
    }
    if let Ok(size) = std::fs::metadata(&canonical_path).map(|meta| meta.len())
        && size > MAX_TABLE_BYTES
    {
        return refuse(
            format!("the rows table {} has {size} bytes", quoted(&shown_path)),
            &format!("a table of at most {MAX_TABLE_BYTES} bytes"),
        );
    }
    let bytes = match std::fs::read(&canonical_path) {
        Ok(bytes) => bytes,
        Err(error) => {
            return refuse(
                format!(
                    "cannot read the rows table {}: {error}",
                    quoted(&shown_path)
                ),
                "a readable table file",
            );
        }
    };
    match String::from_utf8(bytes) {
        // Spreadsheets' "CSV UTF-8" starts with a byte order mark, which no editor shows as
        // a character: without it, the first column is named as written and columns count
        // as the user sees them.
        Ok(text) => {
            let text = match text.strip_prefix('\u{feff}') {
                Some(rest) => rest.to_owned(),
                None => text,
            };
            Ok((SourceText::new(shown_path, text), format))
        }
        Err(error) => {
            let valid_up_to = error.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(error.as_bytes()).into_owned();
            let source = SourceText::new(shown_path, text);
            let at = source.position_of_byte(valid_up_to, 1);
            Err(TableFileProblem::Text(
                Diagnostic::error(&source, Some(at), "the rows table is not valid UTF-8")
                    .expected("a UTF-8 text file (save the spreadsheet as CSV UTF-8)"),
            ))
        }
    }
}
