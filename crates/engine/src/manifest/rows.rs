//! A table of rows (`rows:` in a manifest) read from CSV, TSV or JSON Lines, every cell
//! located in its file.
//!
//! Read [`read_table`]. CSV and TSV are parsed by `csv-core` (the parser of the `csv`
//! crate), field by field, which says how many bytes of the file each field took: so every
//! cell knows its line and column in the file as written — quoted fields, doubled quotes and
//! newlines inside quotes included — and an error can point at it. The first record is the
//! header. JSON Lines has one object per line; its keys are the columns.
//!
//! Problems are collected, not stopped at: an unclosed quote, a row with too many or too
//! few cells, an empty or repeated column name, a line that is not a JSON object, an empty
//! table. Each is a [`Diagnostic`] of the table's own file.

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Position, PositionCursor, SourceText, quoted};

/// The formats a table may be in, by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableFormat {
    Csv,
    Tsv,
    JsonLines,
}

impl TableFormat {
    /// The format of a file named `name`, from its extension; `None` for any other.
    pub(crate) fn of_file_name(name: &str) -> Option<TableFormat> {
        let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match extension.as_str() {
            "csv" => Some(TableFormat::Csv),
            "tsv" | "tab" => Some(TableFormat::Tsv),
            "jsonl" | "ndjson" => Some(TableFormat::JsonLines),
            _ => None,
        }
    }
}

/// A column: its name, where the header names it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Column {
    pub name: String,
    pub position: Position,
}

/// One cell: its value (a string for CSV and TSV; any JSON value for JSON Lines) and where
/// it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    pub value: Value,
    pub position: Position,
    /// The bytes of the file the cell takes, quotes included (for JSON Lines, from its key
    /// to the end of its line).
    pub span: std::ops::Range<usize>,
}

/// One row: the line it starts on, and a cell per column (in the columns' order; `None`
/// where a JSON Lines object lacks the column).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub line: u32,
    pub cells: Vec<Option<Cell>>,
}

/// A table read whole.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub source: SourceText,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    /// The index of the column called `name`.
    pub(crate) fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|column| column.name == name)
    }
}

/// Reads `source` as a table of `format`. The table is returned when it could be read at
/// all, even with problems (the caller reports them all together); `None` when nothing
/// usable is in it.
pub(crate) fn read_table(
    source: SourceText,
    format: TableFormat,
) -> (Option<Table>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let (columns, rows) = match format {
        TableFormat::Csv => read_delimited(&source, b',', &mut problems),
        TableFormat::Tsv => read_delimited(&source, b'\t', &mut problems),
        TableFormat::JsonLines => read_json_lines(&source, &mut problems),
    };
    check_columns(&source, &columns, &mut problems);
    if columns.is_empty() || rows.is_empty() {
        let what = if columns.is_empty() {
            "no header and no rows"
        } else {
            "a header but no rows"
        };
        problems.push(
            Diagnostic::error(&source, None, format!("the table is empty: {what}"))
                .expected("a header line naming the columns, then one row per job"),
        );
        return (None, problems);
    }
    (
        Some(Table {
            source,
            columns,
            rows,
        }),
        problems,
    )
}

/// A field as the parser gave it: its unescaped text and the byte range it took in the file.
struct Field {
    text: String,
    start: usize,
    end: usize,
}

/// CSV or TSV: records of fields, the first the header.
fn read_delimited(
    source: &SourceText,
    delimiter: u8,
    problems: &mut Vec<Diagnostic>,
) -> (Vec<Column>, Vec<Row>) {
    let records = parse_records(source, delimiter, problems);
    let mut records = records.into_iter();
    let mut cursor = source.cursor();
    let Some(header) = records.next() else {
        return (Vec::new(), Vec::new());
    };
    let columns: Vec<Column> = header
        .iter()
        .map(|field| Column {
            name: field.text.trim().to_owned(),
            position: position_of(source, field),
        })
        .collect();
    let mut rows = Vec::new();
    for record in records {
        let line = record
            .first()
            .map_or(1, |field| source.position_of_byte(field.start, 1).line);
        if record.len() != columns.len() {
            let (at, what) = if record.len() > columns.len() {
                let extra = &record[columns.len()];
                (position_of(source, extra), "too many cells")
            } else {
                let last = record.last().map(|field| field.end).unwrap_or(0);
                (source.position_of_byte(last, 1), "too few cells")
            };
            problems.push(
                Diagnostic::error(
                    source,
                    Some(at),
                    format!(
                        "{what}: this row has {} and the header {}",
                        record.len(),
                        columns.len()
                    ),
                )
                .expected(format!(
                    "{} cells, one per column ({})",
                    columns.len(),
                    column_names(&columns)
                )),
            );
            continue;
        }
        let cells = record
            .into_iter()
            .map(|field| {
                Some(Cell {
                    position: position_with(&mut cursor, source, &field),
                    span: field.start..field.end,
                    value: Value::String(field.text),
                })
            })
            .collect();
        rows.push(Row { line, cells });
    }
    (columns, rows)
}

/// Every record of the file, fields with their byte ranges. Blank lines are skipped (the
/// parser's own rule). An unclosed quote, which the parser reads to the end of the file, is
/// reported where it opens, and its record left out.
fn parse_records(
    source: &SourceText,
    delimiter: u8,
    problems: &mut Vec<Diagnostic>,
) -> Vec<Vec<Field>> {
    let input = source.text.as_bytes();
    let mut reader = csv_core::ReaderBuilder::new().delimiter(delimiter).build();
    let mut records = Vec::new();
    let mut record: Vec<Field> = Vec::new();
    let mut output = vec![0u8; 1024];
    let mut field_bytes: Vec<u8> = Vec::new();
    let mut offset = 0usize;
    let mut field_start = 0usize;
    loop {
        let (result, read, written) = reader.read_field(&input[offset..], &mut output);
        field_bytes.extend_from_slice(&output[..written]);
        offset += read;
        match result {
            csv_core::ReadFieldResult::InputEmpty => {}
            csv_core::ReadFieldResult::OutputFull => {}
            csv_core::ReadFieldResult::Field { record_end } => {
                let end = field_end(input, offset, record_end, delimiter);
                record.push(Field {
                    text: String::from_utf8_lossy(&field_bytes).into_owned(),
                    start: field_start,
                    end,
                });
                field_bytes.clear();
                field_start = offset;
                if record_end {
                    records.push(std::mem::take(&mut record));
                    // The next record starts after the line ending (and any blank lines).
                    field_start = next_content(input, offset);
                }
            }
            csv_core::ReadFieldResult::End => break,
        }
    }
    if let Some(last) = records.last().and_then(|record| record.last())
        && let Some(opening) = unclosed_quote(input, last.start, input.len())
    {
        problems.push(
            Diagnostic::error(
                source,
                Some(source.position_of_byte(opening, 1)),
                "unclosed quote: the rest of the file was read as one cell",
            )
            .expected("a closing `\"` (a `\"` inside a quoted cell is written `\"\"`)"),
        );
        // The record holds the rest of the file: its cells are not the row that was meant,
        // and counting them would only repeat the problem.
        records.pop();
    }
    records
}

/// Where a field ends, given the offset after its terminator.
fn field_end(input: &[u8], after: usize, record_end: bool, delimiter: u8) -> usize {
    let mut end = after.min(input.len());
    if record_end {
        while end > 0 && matches!(input[end - 1], b'\n' | b'\r') {
            end -= 1;
        }
    } else if end > 0 && input[end - 1] == delimiter {
        end -= 1;
    }
    end
}

/// The first byte at or after `offset` that is not a line ending.
fn next_content(input: &[u8], mut offset: usize) -> usize {
    while offset < input.len() && matches!(input[offset], b'\n' | b'\r') {
        offset += 1;
    }
    offset
}

/// The byte offset of a quote opened in `input[start..end]` and never closed, if any.
fn unclosed_quote(input: &[u8], start: usize, end: usize) -> Option<usize> {
    let bytes = input.get(start..end)?;
    let first = bytes
        .iter()
        .position(|byte| !matches!(byte, b' ' | b'\t'))?;
    if bytes[first] != b'"' {
        return None;
    }
    let mut index = first + 1;
    while index < bytes.len() {
        if bytes[index] == b'"' {
            if bytes.get(index + 1) == Some(&b'"') {
                index += 2;
                continue;
            }
            return None;
        }
        index += 1;
    }
    Some(start + first)
}

fn position_of(source: &SourceText, field: &Field) -> Position {
    position_with(&mut source.cursor(), source, field)
}

/// [`position_of`] through a cursor, for the cells of a table in order.
fn position_with(cursor: &mut PositionCursor<'_>, source: &SourceText, field: &Field) -> Position {
    let chars = source
        .text
        .get(field.start..field.end)
        .map_or(1, |text| text.lines().next().unwrap_or("").chars().count());
    cursor.position_of_byte(field.start, u32::try_from(chars.max(1)).unwrap_or(u32::MAX))
}

/// JSON Lines: an object per non-blank line; the columns are the keys, in order of first
/// appearance.
fn read_json_lines(source: &SourceText, problems: &mut Vec<Diagnostic>) -> (Vec<Column>, Vec<Row>) {
    let mut columns: Vec<Column> = Vec::new();
    let mut objects: Vec<(u32, usize, Map<String, Value>)> = Vec::new();
    let mut line_start = 0usize;
    for (index, line) in source.text.split('\n').enumerate() {
        let line_number = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let start = line_start;
        line_start += line.len() + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(object)) => {
                // The keys in the order they are written (a JSON map keeps them sorted).
                let mut keys: Vec<(Position, &String)> = object
                    .keys()
                    .map(|key| (key_position(source, start, line, key), key))
                    .collect();
                keys.sort_by_key(|(position, _)| *position);
                for (position, key) in keys {
                    if !columns.iter().any(|column| &column.name == key) {
                        columns.push(Column {
                            name: key.clone(),
                            position,
                        });
                    }
                }
                objects.push((line_number, start, object));
            }
            Ok(other) => problems.push(
                Diagnostic::error(
                    source,
                    Some(source.position_of_byte(start, 1)),
                    format!("this line is {}, not an object", json_kind(&other)),
                )
                .expected(
                    "one JSON object per line, e.g. {\"id\": \"intro\", \"prompt\": \"...\"}",
                ),
            ),
            Err(error) => {
                let column = error.column().saturating_sub(1);
                problems.push(
                    Diagnostic::error(
                        source,
                        Some(source.position_of_byte(start + column.min(line.len()), 1)),
                        format!("this line is not JSON: {error}"),
                    )
                    .expected("one JSON object per line"),
                );
            }
        }
    }
    let rows = objects
        .into_iter()
        .map(|(line_number, start, object)| {
            let line = source.line_text(line_number);
            let cells = columns
                .iter()
                .map(|column| {
                    object.get(&column.name).map(|value| {
                        let position = key_position(source, start, line, &column.name);
                        let key_at = line
                            .find(&serde_json::to_string(&column.name).unwrap_or_default())
                            .unwrap_or(0);
                        Cell {
                            value: value.clone(),
                            position,
                            span: start + key_at..start + line.len(),
                        }
                    })
                })
                .collect();
            Row {
                line: line_number,
                cells,
            }
        })
        .collect();
    (columns, rows)
}

/// Where `"key"` is on a JSON line (the line's start when it cannot be found as written).
fn key_position(source: &SourceText, line_start: usize, line: &str, key: &str) -> Position {
    let needle = serde_json::to_string(key).unwrap_or_default();
    let found = line.find(&needle).unwrap_or(0);
    source.position_of_byte(
        line_start + found,
        u32::try_from(needle.chars().count().max(1)).unwrap_or(u32::MAX),
    )
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Empty and repeated column names.
fn check_columns(source: &SourceText, columns: &[Column], problems: &mut Vec<Diagnostic>) {
    for (index, column) in columns.iter().enumerate() {
        if column.name.is_empty() {
            problems.push(
                Diagnostic::error(
                    source,
                    Some(column.position),
                    format!("column {} has no name", index + 1),
                )
                .expected("a name in the header for every column"),
            );
        } else if columns[..index]
            .iter()
            .any(|earlier| earlier.name == column.name)
        {
            problems.push(
                Diagnostic::error(
                    source,
                    Some(column.position),
                    format!("column {} is named twice", quoted(&column.name)),
                )
                .expected("each column once"),
            );
        }
    }
}

fn column_names(columns: &[Column]) -> String {
    columns
        .iter()
        .map(|column| column.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> (Option<Table>, Vec<Diagnostic>) {
        read_table(SourceText::new("prompts.csv", text), TableFormat::Csv)
    }

    fn cell_text(table: &Table, row: usize, column: &str) -> String {
        let index = table.column(column).expect("the column exists");
        match table.rows[row].cells[index]
            .as_ref()
            .map(|cell| &cell.value)
        {
            Some(Value::String(text)) => text.clone(),
            other => panic!("not a string: {other:?}"),
        }
    }

    #[test]
    fn quoted_cells_with_commas_quotes_and_newlines_keep_their_text_and_place() {
        let text = "id,prompt,aspect_ratio\nfox,\"A fox, \"\"red\"\", in snow\",16:9\nboat,\"A boat\non two lines\",9:16\nlast,plain,1:1\n";
        let (table, problems) = csv(text);
        assert!(problems.is_empty(), "{problems:?}");
        let table = table.expect("a table");
        assert_eq!(table.rows.len(), 3);
        assert_eq!(cell_text(&table, 0, "prompt"), "A fox, \"red\", in snow");
        assert_eq!(cell_text(&table, 1, "prompt"), "A boat\non two lines");
        assert_eq!(table.rows[1].line, 3);
        // The row after the embedded newline starts on line 5 of the file.
        assert_eq!(table.rows[2].line, 5);
        let aspect = table.column("aspect_ratio").expect("column");
        let cell = table.rows[2].cells[aspect].as_ref().expect("cell");
        assert_eq!((cell.position.line, cell.position.column), (5, 12));
        let prompt = table.column("prompt").expect("column");
        let quoted_cell = table.rows[0].cells[prompt].as_ref().expect("cell");
        assert_eq!(
            (quoted_cell.position.line, quoted_cell.position.column),
            (2, 5)
        );
    }

    #[test]
    fn every_problem_of_a_file_is_reported_together() {
        let text = "id,prompt,\nshort,only two\nfine,ok,x\nlong,a,b,c\nopen,\"never closed,x\nmore,lines,here\n";
        let (_, problems) = csv(text);
        let messages: Vec<String> = problems
            .iter()
            .map(|d| {
                let at = d
                    .label
                    .as_ref()
                    .map(|l| (l.position.line, l.position.column));
                format!("{at:?} {}", d.message)
            })
            .collect();
        assert!(
            messages.iter().any(|m| m.contains("column 3 has no name")),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("Some((2,") && m.contains("too few cells")),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("Some((4, 10))") && m.contains("too many cells")),
            "{messages:#?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("Some((5, 6))") && m.contains("unclosed quote")),
            "{messages:#?}"
        );
    }

    #[test]
    fn a_table_without_rows_is_an_error() {
        let (table, problems) = csv("id,prompt\n");
        assert!(table.is_none());
        assert!(problems[0].message.contains("a header but no rows"));
        let (table, problems) = csv("");
        assert!(table.is_none());
        assert!(problems[0].message.contains("no header"));
    }

    #[test]
    fn repeated_columns_are_located() {
        let (_, problems) = csv("prompt,id,prompt\na,b,c\n");
        let repeated = problems
            .iter()
            .find(|d| d.message.contains("named twice"))
            .expect("reported");
        let label = repeated.label.as_ref().expect("located");
        assert_eq!((label.position.line, label.position.column), (1, 11));
    }

    #[test]
    fn tsv_and_crlf_line_endings_read_alike() {
        let (table, problems) = read_table(
            SourceText::new("p.tsv", "id\tprompt\r\na\tone\r\nb\ttwo\r\n"),
            TableFormat::Tsv,
        );
        assert!(problems.is_empty(), "{problems:?}");
        let table = table.expect("a table");
        assert_eq!(cell_text(&table, 1, "prompt"), "two");
        assert_eq!(table.rows[1].line, 3);
    }

    #[test]
    fn json_lines_keep_their_types_and_name_their_columns_by_first_appearance() {
        let text =
            "{\"id\": \"a\", \"duration\": 5}\n\n{\"id\": \"b\", \"sound\": true}\n[1]\n{oops\n";
        let (table, problems) =
            read_table(SourceText::new("p.jsonl", text), TableFormat::JsonLines);
        let table = table.expect("a table");
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "duration", "sound"]);
        let duration = table.column("duration").expect("column");
        assert_eq!(
            table.rows[0].cells[duration]
                .as_ref()
                .map(|c| c.value.clone()),
            Some(serde_json::json!(5))
        );
        assert!(table.rows[1].cells[duration].is_none());
        assert_eq!(table.rows[1].line, 3);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].message.contains("a list, not an object"));
        assert!(problems[1].message.contains("not JSON"));
    }

    #[test]
    fn formats_come_from_the_extension() {
        assert_eq!(
            TableFormat::of_file_name("rows.CSV"),
            Some(TableFormat::Csv)
        );
        assert_eq!(
            TableFormat::of_file_name("rows.tsv"),
            Some(TableFormat::Tsv)
        );
        assert_eq!(
            TableFormat::of_file_name("a/b.jsonl"),
            Some(TableFormat::JsonLines)
        );
        assert_eq!(TableFormat::of_file_name("rows.xlsx"), None);
        assert_eq!(TableFormat::of_file_name("rows"), None);
    }
}
