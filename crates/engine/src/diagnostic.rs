//! Problems found in a manifest, rendered as plain text the way rustc renders its own.
//!
//! Read [`Diagnostic`] first: a severity, a one-line message, where it is (file, line,
//! column, the offending line and a caret under the offending text) and notes such as
//! `expected: ...`. [`SourceText`] turns positions into line and column and hands out the
//! line a diagnostic quotes, so that a diagnostic is complete on its own and renders without
//! the source at hand.
//!
//! A manifest may hold a value of megabytes, and a diagnostic must stay a few lines: values
//! quoted in messages go through [`quoted`] and [`shown`] (at most [`MAX_QUOTED_CHARS`]
//! characters, then an ellipsis and the value's length), lists of a user's names through
//! [`listed`], and [`SourceText::label`] cuts a long line to a window around its caret. As
//! a backstop, [`Diagnostic`] cuts any message or note longer than [`MAX_MESSAGE_CHARS`].
//!
//! Deliberately not here: colour and terminals. The engine never prints; the cli decides
//! whether and how to colour what [`Diagnostic`]'s `Display` produces.

use std::fmt;

/// The most characters of a user's value a message quotes. Enough to recognise a name, an
/// id or a URL; a value past it is cut, and its length shown.
pub const MAX_QUOTED_CHARS: usize = 80;

/// The most characters of one message or note, whatever it holds: the backstop behind
/// [`quoted`] for text that did not go through it (a YAML parser's own words).
pub const MAX_MESSAGE_CHARS: usize = 600;

/// The most characters of a source line a snippet shows, and how many of them come before
/// the caret when the line is cut. A one-line 10 MB prompt stays a one-line snippet.
const MAX_SNIPPET_CHARS: usize = 120;
const SNIPPET_CHARS_BEFORE_CARET: usize = 40;

/// The most names [`listed`] shows, and the most characters they may take together.
const MAX_LISTED_NAMES: usize = 20;
const MAX_LISTED_CHARS: usize = 300;

/// Whether a diagnostic stops the manifest from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// A place in a source file: 1-based line and column (in characters), and how many
/// characters the caret underlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub line: u32,
    pub column: u32,
    pub len: u32,
}

/// A position together with the text of its line, for the snippet under the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// Where, in the file; `len` is how many characters of `line_text` the caret underlines.
    pub position: Position,
    /// The line the position is on, without its line ending; a long line is cut to a
    /// window around the position, with `…` where text was left out.
    pub line_text: String,
    /// The 1-based column of the caret in `line_text`: `position.column` unless the line
    /// was cut.
    pub caret_column: u32,
}

/// One problem (or warning) about one manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A lowercase fragment, without a trailing period: `unknown key `promt``.
    pub message: String,
    /// The file as the user named it (or a fixed name for text loaded from memory).
    pub source_name: String,
    /// Where the problem is; `None` for problems about the whole file (it cannot be read).
    pub label: Option<Label>,
    /// Lines shown after the snippet as `= note`, e.g. `expected: one of "10", "15"`.
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(
        source: &SourceText,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Error, source, position, message)
    }

    pub fn warning(
        source: &SourceText,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Self::new(Severity::Warning, source, position, message)
    }

    fn new(
        severity: Severity,
        source: &SourceText,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            message: bounded(message.into()),
            source_name: source.name.clone(),
            label: position.map(|position| source.label(position)),
            notes: Vec::new(),
        }
    }

    /// Adds `= expected: {what}` under the snippet.
    #[must_use]
    pub fn expected(self, what: impl fmt::Display) -> Self {
        self.note(format!("expected: {what}"))
    }

    /// Adds `= {text}` under the snippet.
    #[must_use]
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(bounded(text.into()));
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The sort key that lists diagnostics from the top of the file down.
    pub(crate) fn order_key(&self) -> (u32, u32, Severity) {
        match &self.label {
            Some(label) => (label.position.line, label.position.column, self.severity),
            None => (0, 0, self.severity),
        }
    }
}

impl fmt::Display for Diagnostic {
    /// ```text
    /// error: unknown key `promt`, did you mean `prompt`?
    ///   --> manifest.yaml:4:3
    ///    |
    ///  4 |   promt: hello
    ///    |   ^^^^^
    ///    = expected: one of version, name, model, ...
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {}", self.severity.as_str(), self.message)?;
        let width = self
            .label
            .as_ref()
            .map_or(1, |label| label.position.line.to_string().len());
        let gutter = " ".repeat(width + 1);
        match &self.label {
            None => writeln!(f, "{gutter}--> {}", self.source_name)?,
            Some(label) => {
                let Position { line, column, len } = label.position;
                writeln!(f, "{gutter}--> {}:{line}:{column}", self.source_name)?;
                writeln!(f, "{gutter} |")?;
                writeln!(f, " {line:>width$} | {}", label.line_text)?;
                // The caret line copies tabs from the source line so that it stays aligned
                // however the terminal expands them.
                let lead: String = label
                    .line_text
                    .chars()
                    .take(label.caret_column.saturating_sub(1) as usize)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let carets = "^".repeat(len.max(1) as usize);
                writeln!(f, "{gutter} | {lead}{carets}")?;
            }
        }
        for note in &self.notes {
            writeln!(f, "{gutter} = {note}")?;
        }
        Ok(())
    }
}

/// A user's value as a message shows it: whole when it has at most [`MAX_QUOTED_CHARS`]
/// characters, else its first ones, `…` and its length. Made by [`quoted`],
/// [`quoted_escaped`] and [`shown`].
#[derive(Debug, Clone, Copy)]
pub struct Shown<'a> {
    text: &'a str,
    backticks: bool,
    escaped: bool,
}

/// `value` in backticks, cut when long: `` `abc…` (1200 characters) ``.
pub fn quoted(value: &str) -> Shown<'_> {
    Shown {
        text: value,
        backticks: true,
        escaped: false,
    }
}

/// [`quoted`] with control characters and quotes escaped as Rust writes them: for ids,
/// whose problem may be a newline or a tab the user cannot see.
pub fn quoted_escaped(value: &str) -> Shown<'_> {
    Shown {
        text: value,
        backticks: true,
        escaped: true,
    }
}

/// `value` as is, cut when long: for text a message shows after a colon or in a list.
pub fn shown(value: &str) -> Shown<'_> {
    Shown {
        text: value,
        backticks: false,
        escaped: false,
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Where the cut falls, found in the first characters only: a short value is never
        // counted, a long one once, for its length.
        let cut_at = self
            .text
            .char_indices()
            .nth(MAX_QUOTED_CHARS)
            .map(|(at, _)| at);
        let head = match cut_at {
            Some(at) => self.text.get(..at).unwrap_or(self.text),
            None => self.text,
        };
        if self.backticks {
            f.write_str("`")?;
        }
        if self.escaped {
            write!(f, "{}", head.escape_debug())?;
        } else {
            f.write_str(head)?;
        }
        if cut_at.is_some() {
            f.write_str("…")?;
        }
        if self.backticks {
            f.write_str("`")?;
        }
        if cut_at.is_some() {
            write!(f, " ({} characters)", self.text.chars().count())?;
        }
        Ok(())
    }
}

/// Names for an `expected: one of ...` note: each [`shown`], at most [`MAX_LISTED_NAMES`] of
/// them and about [`MAX_LISTED_CHARS`] characters together, then `and N more`.
pub fn listed<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    use fmt::Write as _;
    let mut out = String::new();
    let (mut listed, mut more) = (0usize, 0usize);
    for name in names {
        if more == 0 && listed < MAX_LISTED_NAMES && out.len() < MAX_LISTED_CHARS {
            if listed > 0 {
                out.push_str(", ");
            }
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", shown(name));
            listed += 1;
        } else {
            more += 1;
        }
    }
    if more > 0 {
        let _ = write!(out, ", and {more} more");
    }
    out
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters, with its length when cut.
fn bounded(text: String) -> String {
    // Bytes are at least characters: most messages are let through without counting.
    if text.len() <= MAX_MESSAGE_CHARS {
        return text;
    }
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        None => text,
        Some((at, _)) => format!(
            "{}… (cut; {} characters)",
            text.get(..at).unwrap_or(""),
            text.chars().count()
        ),
    }
}

/// The text of one manifest with an index of where its lines start.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// The file as the user named it.
    pub name: String,
    pub text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
    /// Whether each line is ASCII, where a column is a byte offset: a label on a long line
    /// is then cut without walking the line's characters, however many labels it has.
    ascii_lines: Vec<bool>,
}

impl SourceText {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        let ascii_lines = line_starts
            .iter()
            .enumerate()
            .map(|(index, &start)| {
                let end = line_starts.get(index + 1).copied().unwrap_or(text.len());
                text.as_bytes()
                    .get(start..end)
                    .is_some_and(<[u8]>::is_ascii)
            })
            .collect();
        SourceText {
            name: name.into(),
            text,
            line_starts,
            ascii_lines,
        }
    }

    /// The text of a 1-based line, without its line ending; empty past the end.
    pub fn line_text(&self, line: u32) -> &str {
        let index = (line as usize).saturating_sub(1);
        let Some(&start) = self.line_starts.get(index) else {
            return "";
        };
        let end = self
            .line_starts
            .get(index + 1)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    fn is_ascii_line(&self, line: u32) -> bool {
        let index = (line as usize).saturating_sub(1);
        self.ascii_lines.get(index).copied().unwrap_or(false)
    }

    /// Line and column (1-based, in characters) of a byte offset.
    pub fn position_of_byte(&self, offset: usize, len: u32) -> Position {
        let offset = offset.min(self.text.len());
        let index = self.line_starts.partition_point(|&start| start <= offset);
        self.position_on_line(offset, index, len)
    }

    /// [`Self::position_of_byte`] for offsets that mostly come in order (the cells of a
    /// table): each starts its search at the line of the one before.
    pub fn cursor(&self) -> PositionCursor<'_> {
        PositionCursor {
            source: self,
            index: 0,
        }
    }

    /// The position of `offset` on line `index` (1-based; `line_starts[index - 1]` is
    /// where it starts).
    fn position_on_line(&self, offset: usize, index: usize, len: u32) -> Position {
        let line = u32::try_from(index.max(1)).unwrap_or(u32::MAX);
        let line_start = self
            .line_starts
            .get(index.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let column = if self.is_ascii_line(line) {
            offset - line_start.min(offset)
        } else {
            self.text
                .get(line_start..offset)
                .map_or(0, |prefix| prefix.chars().count())
        };
        Position {
            line,
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
            len,
        }
    }

    /// A label for `position`, with the caret kept on its line; a line longer than
    /// [`MAX_SNIPPET_CHARS`] is cut to a window around the caret.
    pub fn label(&self, position: Position) -> Label {
        let line = self.line_text(position.line);
        let caret_index = position.column.saturating_sub(1) as usize;
        let to_u32 = |count: usize| u32::try_from(count).unwrap_or(u32::MAX);
        // Bytes are at least characters: a short line is shown whole, as it always was.
        if line.len() <= MAX_SNIPPET_CHARS {
            let room = line.chars().count().saturating_sub(caret_index);
            return Label {
                position: Position {
                    len: position.len.min(to_u32(room)).max(1),
                    ..position
                },
                line_text: line.to_owned(),
                caret_column: position.column,
            };
        }
        let ascii = self.is_ascii_line(position.line);
        let byte_of = |chars: usize| {
            if ascii {
                chars.min(line.len())
            } else {
                line.char_indices()
                    .nth(chars)
                    .map_or(line.len(), |(at, _)| at)
            }
        };
        let first_char = caret_index.saturating_sub(SNIPPET_CHARS_BEFORE_CARET);
        let (start, end) = (byte_of(first_char), byte_of(first_char + MAX_SNIPPET_CHARS));
        let window = line.get(start..end).unwrap_or("");
        let cut_before = start > 0;
        let mut line_text = String::with_capacity(window.len() + 6);
        if cut_before {
            line_text.push('…');
        }
        line_text.push_str(window);
        if end < line.len() {
            line_text.push('…');
        }
        let window_chars = if ascii {
            window.len()
        } else {
            window.chars().count()
        };
        let caret_in_window = caret_index - first_char;
        let room = window_chars.saturating_sub(caret_in_window);
        Label {
            position: Position {
                len: position.len.min(to_u32(room)).max(1),
                ..position
            },
            line_text,
            caret_column: to_u32(caret_in_window + 1 + usize::from(cut_before)),
        }
    }
}

/// Positions of offsets in one [`SourceText`], found from the line of the last one.
#[derive(Debug)]
pub struct PositionCursor<'a> {
    source: &'a SourceText,
    /// The line of the last offset, as `line_starts.partition_point` gives it.
    index: usize,
}

impl PositionCursor<'_> {
    pub fn position_of_byte(&mut self, offset: usize, len: u32) -> Position {
        let starts = &self.source.line_starts;
        let offset = offset.min(self.source.text.len());
        let before = self
            .index
            .checked_sub(1)
            .and_then(|i| starts.get(i))
            .is_none_or(|&start| start <= offset);
        if !before {
            self.index = starts.partition_point(|&start| start <= offset);
        } else {
            while starts.get(self.index).is_some_and(|&start| start <= offset) {
                self.index += 1;
            }
        }
        self.source.position_on_line(offset, self.index, len)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_cursor_finds_the_positions_a_search_finds_in_any_order() {
        let source = SourceText::new("t.csv", "id,prompt\nfox,\"a é\nb\"\n\nowl,c\n");
        let offsets = [0, 3, 10, 14, 17, 19, 20, 2, 24, 21, 99];
        let mut cursor = source.cursor();
        for offset in offsets {
            assert_eq!(
                cursor.position_of_byte(offset, 1),
                source.position_of_byte(offset, 1),
                "offset {offset}"
            );
        }
    }
    use super::*;

    #[test]
    fn positions_of_bytes_count_characters() {
        let source = SourceText::new("m.yaml", "a: 1\nbé: {x}\n");
        let position = source.position_of_byte(10, 3);
        assert_eq!((position.line, position.column), (2, 5));
        assert_eq!(source.line_text(2), "bé: {x}");
        assert_eq!(source.line_text(9), "");
    }

    #[test]
    fn long_values_are_cut_with_their_length() {
        assert_eq!(quoted("promt").to_string(), "`promt`");
        assert_eq!(shown("ftp://x").to_string(), "ftp://x");
        let long = "é".repeat(MAX_QUOTED_CHARS + 1);
        let expected = format!("`{}…` (81 characters)", "é".repeat(MAX_QUOTED_CHARS));
        assert_eq!(quoted(&long).to_string(), expected);
        assert_eq!(quoted_escaped("a\nb").to_string(), "`a\\nb`");
        let names: Vec<String> = (0..50).map(|i| format!("name{i}")).collect();
        let list = listed(names.iter().map(String::as_str));
        assert!(list.starts_with("name0, name1, "), "{list}");
        assert!(list.ends_with(", and 30 more"), "{list}");
        let message = bounded("m".repeat(10_000));
        assert!(
            message.chars().count() < MAX_MESSAGE_CHARS + 40,
            "{message}"
        );
        assert!(message.ends_with("… (cut; 10000 characters)"));
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        for word in ["word ", "wörd "] {
            let line = format!("x: {}{{nope}} {}", word.repeat(100), word.repeat(100));
            let source = SourceText::new("m.yaml", format!("a: 1\n{line}\n"));
            let column = 3 + word.chars().count() * 100 + 1;
            let byte = 5 + line.find("{nope}").unwrap_or(0);
            let position = source.position_of_byte(byte, 6);
            assert_eq!((position.line, position.column as usize), (2, column));
            let label = source.label(position);
            assert!(label.line_text.starts_with('…') && label.line_text.ends_with('…'));
            assert!(label.line_text.chars().count() <= MAX_SNIPPET_CHARS + 2);
            let caret: String = label
                .line_text
                .chars()
                .skip(label.caret_column as usize - 1)
                .take(label.position.len as usize)
                .collect();
            assert_eq!(caret, "{nope}");
            assert_eq!(label.position.column as usize, column);
        }
    }

    #[test]
    fn rendering_matches_rustc_layout() {
        let source = SourceText::new(
            "manifest.yaml",
            "version: 1\nprompt: x\njobs:\n  promt: hello\n",
        );
        let diagnostic = Diagnostic::error(
            &source,
            Some(Position {
                line: 4,
                column: 3,
                len: 5,
            }),
            "unknown key `promt`, did you mean `prompt`?",
        )
        .expected("one of version, name");
        assert_eq!(
            diagnostic.to_string(),
            "error: unknown key `promt`, did you mean `prompt`?\n  --> manifest.yaml:4:3\n   |\n 4 |   promt: hello\n   |   ^^^^^\n   = expected: one of version, name\n"
        );
    }
}
