//! Where commands write: results to stdout (buffered), messages and diagnostics to stderr,
//! coloured or not.
//!
//! Read [`Output`]. Colour is decided once from `--color`, `NO_COLOR` and whether stderr is a
//! terminal; only the `error:` and `warning:` words of diagnostics are coloured.

use std::io::{self, BufWriter, IsTerminal, Stdout, Write};

use sora_batch_engine::Diagnostic;

use crate::cli::{ColorChoice, GlobalArgs};
use crate::exit::CliError;

#[derive(Debug)]
pub struct Output {
    stdout: BufWriter<Stdout>,
    color_stderr: bool,
    pub quiet: bool,
    pub verbose: bool,
}

impl Output {
    pub fn new(global: &GlobalArgs) -> Output {
        let color_stderr = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
                    && io::stderr().is_terminal()
            }
        };
        Output {
            stdout: BufWriter::with_capacity(64 * 1024, io::stdout()),
            color_stderr,
            quiet: global.quiet > 0,
            verbose: global.verbose > 0,
        }
    }

    /// Whether messages on stderr may be coloured.
    pub fn color(&self) -> bool {
        self.color_stderr
    }

    /// The buffered stdout, for results.
    pub fn stdout(&mut self) -> &mut impl Write {
        &mut self.stdout
    }

    pub fn flush(&mut self) -> Result<(), CliError> {
        self.stdout.flush().map_err(CliError::Output)
    }

    /// Writes diagnostics to stderr, a blank line between them.
    pub fn diagnostics<'d>(&mut self, diagnostics: impl IntoIterator<Item = &'d Diagnostic>) {
        // stdout first, so that results and problems appear in order on a terminal.
        let _ = self.stdout.flush();
        let mut stderr = io::stderr().lock();
        for diagnostic in diagnostics {
            let text = diagnostic.to_string();
            let text = if self.color_stderr {
                colorize(&text)
            } else {
                text
            };
            let _ = writeln!(stderr, "{text}");
        }
    }

    /// A one-line message to stderr as it is: a note, or `warning: ...` (coloured as such).
    pub fn message_line(&mut self, message: &str) {
        let _ = self.stdout.flush();
        let line = if self.color_stderr {
            colorize(message)
        } else {
            message.to_owned()
        };
        eprintln!("{line}");
    }

    /// A line of progress or a summary to stderr, as it is; nothing when quiet.
    pub fn status_line(&mut self, message: &str) {
        if !self.quiet {
            let _ = self.stdout.flush();
            eprintln!("{message}");
        }
    }

    /// A one-line warning to stderr: `warning: ...`; nothing when quiet.
    pub fn warning_line(&mut self, message: &str) {
        if self.quiet {
            return;
        }
        let _ = self.stdout.flush();
        let line = format!("warning: {message}");
        let line = if self.color_stderr {
            colorize(&line)
        } else {
            line
        };
        eprintln!("{line}");
    }

    /// A one-line message to stderr: `error: ...`.
    pub fn error_line(&mut self, message: &str) {
        self.prefixed_line("error", message);
    }

    /// A one-line message to stderr: `note: ...`.
    pub fn note_line(&mut self, message: &str) {
        self.prefixed_line("note", message);
    }

    fn prefixed_line(&mut self, prefix: &str, message: &str) {
        let _ = self.stdout.flush();
        let line = format!("{prefix}: {message}");
        let line = if self.color_stderr {
            colorize(&line)
        } else {
            line
        };
        eprintln!("{line}");
    }
}

/// Red `error:`, yellow `warning:`, bold headline, blue gutter arrows.
fn colorize(text: &str) -> String {
    const RED: &str = "\x1b[1;31m";
    const YELLOW: &str = "\x1b[1;33m";
    const BOLD: &str = "\x1b[1m";
    const RESET: &str = "\x1b[0m";
    let mut out = String::with_capacity(text.len() + 32);
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let headline = |prefix: &str, color: &str| {
            line.strip_prefix(prefix).map(|rest| {
                format!(
                    "{color}{prefix}{RESET}{BOLD}{}{RESET}{}",
                    rest.trim_end_matches('\n'),
                    if line.ends_with('\n') { "\n" } else { "" }
                )
            })
        };
        let colored = if index == 0 {
            headline("error:", RED).or_else(|| headline("warning:", YELLOW))
        } else {
            None
        };
        out.push_str(colored.as_deref().unwrap_or(line));
    }
    out
}
