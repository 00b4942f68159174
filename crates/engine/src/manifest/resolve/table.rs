//! The `rows:` table: found beside the manifest, read, its ids checked, and turned into the
//! rows axis of the matrix ([`RowsAxis`]).
//!
//! Read [`Resolver::read_rows`]. The file is found and read by
//! [`crate::manifest::table_file`] (a path relative to the manifest's folder, kept inside
//! it); the parsing, every cell located in the file, is [`crate::manifest::rows`]'s;
//! problems of the table are rendered against the table's own text. After the jobs are
//! built, [`Resolver::report_unused_columns`] says which columns no job used: a column that
//! is neither an input field of its jobs' model nor a variable of their prompt is most
//! likely a misspelt field.

use std::collections::HashMap;
use std::path::Path;

use sora_batch_api::registry::closest_name;

use super::Resolver;
use crate::diagnostic::{Position, listed, quoted, quoted_escaped};
use crate::manifest::expand::{RowValue, RowsAxis};
use crate::manifest::identity::check_explicit_id;
use crate::manifest::origin::{Site, TableCell, Written, raw_value_of_json};
use crate::manifest::raw::RawManifest;
use crate::manifest::rows::{self, Column, TableFormat};
use crate::manifest::shape::position;
use crate::manifest::table_file::{TableFileProblem, read_table_file};

/// The column that names a row's jobs.
const ID_COLUMN: &str = "id";

/// A table read and checked: its columns, and its rows' cells as values of jobs.
pub(super) struct LoadedTable {
    pub columns: Vec<Column>,
    pub rows: Vec<LoadedRow>,
    /// Where problems of every row's job point (a field missing from all of them): the
    /// header of a CSV or TSV table, whose rows have its columns (but for blank cells);
    /// `None` for JSON Lines, whose rows each have their own keys (their problems point at
    /// the row).
    pub header: Option<Site>,
}

pub(super) struct LoadedRow {
    /// Where the row starts.
    pub at: Position,
    /// Its cells with their column's index, in the columns' order.
    pub cells: Vec<(usize, TableCell)>,
    /// Its `id`, when the table has an id column (checked: safe and unique).
    pub id: Option<String>,
    /// Whether a cell of it is blank (so it may lack a field the other rows have).
    pub has_blank: bool,
}

impl LoadedTable {
    /// The rows as the first axis of the matrix: each row's cells, its `id` first.
    pub(super) fn axis(&self) -> RowsAxis<'_> {
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let mut entries: Vec<_> = row
                    .cells
                    .iter()
                    .map(|(column, cell)| {
                        (self.columns[*column].name.as_str(), Written::Cell(cell))
                    })
                    .collect();
                let naming = match entries.iter().position(|(name, _)| *name == ID_COLUMN) {
                    Some(index) if row.id.is_some() => {
                        entries[..=index].rotate_right(1);
                        1
                    }
                    _ => entries.len(),
                };
                RowValue {
                    entries,
                    naming,
                    anchor: Site::Table(row.at),
                }
            })
            .collect();
        RowsAxis {
            columns: self
                .columns
                .iter()
                .map(|column| column.name.as_str())
                .collect(),
            rows,
        }
    }

    /// Where the problems of the jobs of row `row` that are not at one of its cells point:
    /// the row when it has blank cells (or is a JSON Lines row, with keys of its own), else
    /// the header, which is where a field every row lacks is added.
    pub(super) fn job_anchor(&self, row: usize) -> Site {
        match (self.header, self.rows.get(row)) {
            (Some(header), Some(row)) if !row.has_blank => header,
            (_, Some(row)) => Site::Table(row.at),
            (Some(header), None) => header,
            (None, None) => Site::Table(crate::manifest::shape::START_OF_FILE),
        }
    }

    pub(super) fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }
}

impl Resolver<'_> {
    /// Reads the table `rows:` names, reporting every problem; `None` when there is no
    /// table or it cannot be used. Its text becomes the resolver's table source.
    pub(super) fn read_rows(
        &mut self,
        raw: &RawManifest,
        manifest_path: &Path,
    ) -> Option<LoadedTable> {
        let rows = raw.rows.as_ref()?;
        let (source, format) = match read_table_file(manifest_path, &rows.value) {
            Ok(read) => read,
            Err(TableFileProblem::Path { message, expected }) => {
                let diagnostic = self
                    .error(position(&rows.referenced), message)
                    .expected(expected);
                self.push(diagnostic);
                return None;
            }
            Err(TableFileProblem::Text(diagnostic)) => {
                self.push(diagnostic);
                return None;
            }
        };
        let (table, problems) = rows::read_table(source, format);
        for problem in problems {
            self.push(problem);
        }
        let rows::Table {
            source,
            columns,
            rows: table_rows,
        } = table?;
        let header = match format {
            TableFormat::Csv | TableFormat::Tsv => columns.first().map(|column| {
                Site::Table(Position {
                    len: u32::try_from(source.line_text(column.position.line).chars().count())
                        .unwrap_or(1)
                        .max(1),
                    ..column.position
                })
            }),
            TableFormat::JsonLines => None,
        };
        // From here, problems of the table are rendered against its text by `error_at`.
        self.table_source = Some(source);
        let id_column = columns.iter().position(|column| column.name == ID_COLUMN);
        let mut first_with_id: HashMap<String, u32> = HashMap::new();
        let mut loaded_rows = Vec::with_capacity(table_rows.len());
        let mut id_problems = Vec::new();
        for row in table_rows {
            let at = row
                .cells
                .iter()
                .flatten()
                .map(|cell| cell.position)
                .min()
                .unwrap_or(Position {
                    line: row.line,
                    column: 1,
                    len: 1,
                });
            let mut id = None;
            let mut has_blank = false;
            let mut cells = Vec::with_capacity(row.cells.len());
            for (column, cell) in row.cells.into_iter().enumerate() {
                let Some(cell) = cell else { continue };
                // A blank cell of a CSV or TSV table sets nothing, as a key left out of a
                // JSON Lines row: the field's default applies (a spreadsheet has no other
                // way to leave a value out).
                if header.is_some() && cell.value.as_str().is_some_and(str::is_empty) {
                    has_blank = true;
                    continue;
                }
                let cell = TableCell {
                    value: raw_value_of_json(&cell.value),
                    at: cell.position,
                    span: cell.span,
                };
                if Some(column) == id_column {
                    match check_row_id(&cell, &mut first_with_id) {
                        Ok(checked) => id = Some(checked),
                        Err(problem) => id_problems.push((cell.at, problem)),
                    }
                }
                cells.push((column, cell));
            }
            loaded_rows.push(LoadedRow {
                at,
                cells,
                id,
                has_blank,
            });
        }
        for (at, (message, expected, note)) in id_problems {
            let mut diagnostic = self.error_at(Site::Table(at), message).expected(expected);
            if let Some(note) = note {
                diagnostic = diagnostic.note(note);
            }
            self.push(diagnostic);
        }
        Some(LoadedTable {
            columns,
            rows: loaded_rows,
            header,
        })
    }

    /// Reports the columns that no job used, as input field or template variable: an
    /// error with the closest field of the jobs' models when there is one (a misspelt
    /// field), else a warning (a column of notes is ignored). `fields` are the input fields
    /// of the models of the table's jobs.
    pub(super) fn report_unused_columns(
        &mut self,
        table: &LoadedTable,
        used: &[bool],
        fields: &[String],
        models: &[String],
    ) {
        for (index, column) in table.columns.iter().enumerate() {
            if used.get(index).copied().unwrap_or(true)
                || column.name == ID_COLUMN
                || column.name == "model"
                || column.name.is_empty()
            {
                continue;
            }
            let models_named = listed(models.iter().map(String::as_str));
            let site = Site::Table(column.position);
            let diagnostic = match closest_name(&column.name, fields.iter().map(String::as_str)) {
                Some(close) => self
                    .error_at(
                        site,
                        format!(
                            "column {} is not an input field of model {models_named}, did you mean {}?",
                            quoted(&column.name),
                            quoted(close)
                        ),
                    )
                    .expected(format!(
                        "an input field ({}), a variable of the prompt, `id` or `model`",
                        listed(fields.iter().map(String::as_str))
                    )),
                None => self
                    .warning_at(
                        site,
                        format!(
                            "column {} is not used: it is neither an input field of model {models_named} nor a variable of the prompt",
                            quoted(&column.name)
                        ),
                    )
                    .note("its cells are ignored; remove the column, or write `{name}` in the prompt to use it"),
            };
            self.push(diagnostic);
        }
    }
}

/// A row's id: its text when safe and not used by an earlier row; else the problem's
/// message, what was expected, and a note.
fn check_row_id(
    cell: &TableCell,
    first_with_id: &mut HashMap<String, u32>,
) -> Result<String, (String, &'static str, Option<String>)> {
    let Some(text) = cell.value.scalar_text() else {
        return Err((
            format!("the `id` is {}", cell.value.kind_name()),
            "a job id: letters, digits, `.`, `_` and `-`",
            None,
        ));
    };
    if let Err(expected) = check_explicit_id(&text) {
        return Err((
            format!("unsafe id {}", quoted_escaped(&text)),
            expected,
            Some("ids name the job's files in the batch folder".to_owned()),
        ));
    }
    if let Some(first) = first_with_id.get(text.as_ref()) {
        return Err((
            format!("duplicate id {}", quoted(&text)),
            "an id used by one row only",
            Some(format!("first used at line {first}")),
        ));
    }
    first_with_id.insert(text.clone().into_owned(), cell.at.line);
    Ok(text.into_owned())
}
