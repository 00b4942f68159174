//! Problems found in a manifest, rendered as plain text the way rustc renders its own.
//!
//! Read [`Diagnostic`] first: a severity, a one-line message, where it is (file, line,
//! column, the offending line and a caret under the offending text) and notes such as
//! `expected: ...`. [`SourceText`] turns positions into line and column and hands out the
//! line a diagnostic quotes, so that a diagnostic is complete on its own and renders without
//! the source at hand.
//!
//! Deliberately not here: colour and terminals. The engine never prints; the cli decides
//! whether and how to colour what [`Diagnostic`]'s `Display` produces.

use std::fmt;

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
    pub position: Position,
    /// The whole line the position is on, without its line ending.
    pub line_text: String,
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
            message: message.into(),
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
        self.notes.push(text.into());
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
                    .take(column.saturating_sub(1) as usize)
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

/// The text of one manifest with an index of where its lines start.
#[derive(Debug, Clone)]
pub struct SourceText {
    /// The file as the user named it.
    pub name: String,
    pub text: String,
    /// Byte offset of the start of every line.
    line_starts: Vec<usize>,
}

impl SourceText {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        SourceText {
            name: name.into(),
            text,
            line_starts,
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

    /// Line and column (1-based, in characters) of a byte offset.
    pub fn position_of_byte(&self, offset: usize, len: u32) -> Position {
        let offset = offset.min(self.text.len());
        let index = self.line_starts.partition_point(|&start| start <= offset);
        let line_start = self
            .line_starts
            .get(index.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        let column = self
            .text
            .get(line_start..offset)
            .map_or(0, |prefix| prefix.chars().count());
        Position {
            line: u32::try_from(index.max(1)).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
            len,
        }
    }

    /// A label for `position`, with the caret kept on its line.
    pub fn label(&self, position: Position) -> Label {
        let line_text = self.line_text(position.line).to_owned();
        let line_chars = u32::try_from(line_text.chars().count()).unwrap_or(u32::MAX);
        let room = line_chars.saturating_sub(position.column.saturating_sub(1));
        Label {
            position: Position {
                len: position.len.min(room).max(1),
                ..position
            },
            line_text,
        }
    }
}

#[cfg(test)]
mod tests {
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
