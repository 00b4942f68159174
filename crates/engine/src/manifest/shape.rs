//! The first check of a manifest: its keys, before any value is typed.
//!
//! Read [`check_shape`]. It walks the document as a tree of [`RawValue`]s and reports every
//! unknown key (with a "did you mean" where one is close), a missing `version` and an empty
//! file, all in one run. serde alone would stop at the first unknown key.
//!
//! Deliberately not here: input fields of jobs and `defaults`. Which are valid depends on the
//! job's model, so the model registry checks them once models are known.

use serde_saphyr::{Location, Spanned};
use sora_batch_api::registry::{SORA_2_MODELS, closest_name};

use super::raw::{LIMIT_KEYS, POLL_KEYS, RETRY_KEYS, RUN_KEYS, RawValue, TOP_LEVEL_KEYS};
use crate::diagnostic::{Diagnostic, Position, SourceText, quoted};

/// The position a serde-saphyr location describes, or the start of the file when unknown.
pub(crate) fn position(location: &Location) -> Position {
    Position {
        line: u32::try_from(location.line()).unwrap_or(u32::MAX).max(1),
        column: u32::try_from(location.column()).unwrap_or(u32::MAX).max(1),
        len: u32::try_from(location.span().len()).unwrap_or(1).max(1),
    }
}

pub(crate) const START_OF_FILE: Position = Position {
    line: 1,
    column: 1,
    len: 1,
};

/// What the shape pass found that the later passes need to know.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ShapeFindings {
    /// A key at the top level is unknown: perhaps a misspelled `prompt` or `jobs`, so that
    /// "the manifest defines no jobs" would only repeat that problem.
    pub unknown_top_level_key: bool,
}

/// Reports unknown keys, a missing `version` and an empty or non-mapping document.
pub(crate) fn check_shape(
    document: &Spanned<RawValue>,
    source: &SourceText,
    diagnostics: &mut Vec<Diagnostic>,
) -> ShapeFindings {
    let mut findings = ShapeFindings::default();
    let entries = match &document.value {
        RawValue::Map(entries) => entries,
        RawValue::Null => {
            diagnostics.push(
                Diagnostic::error(source, Some(START_OF_FILE), "the manifest is empty")
                    .expected("a mapping that starts with `version: 1`"),
            );
            return findings;
        }
        other => {
            diagnostics.push(
                Diagnostic::error(
                    source,
                    Some(position(&document.referenced)),
                    format!(
                        "a manifest is a mapping of keys, found {}",
                        other.kind_name()
                    ),
                )
                .expected("a mapping that starts with `version: 1`"),
            );
            return findings;
        }
    };
    findings.unknown_top_level_key =
        check_keys(entries, TOP_LEVEL_KEYS, "the manifest", source, diagnostics);
    if !entries.iter().any(|(key, _)| key.value == "version") {
        diagnostics.push(
            Diagnostic::error(source, Some(START_OF_FILE), "missing key `version`")
                .expected("`version: 1` at the top level"),
        );
    }
    for (key, value) in entries {
        if key.value != "run" {
            continue;
        }
        if let RawValue::Map(run) = &value.value {
            check_keys(run, RUN_KEYS, "`run`", source, diagnostics);
            for (key, value) in run {
                let known = match key.value.as_str() {
                    "create_limit" | "poll_limit" => LIMIT_KEYS,
                    "poll" => POLL_KEYS,
                    "retry" => RETRY_KEYS,
                    _ => continue,
                };
                if let RawValue::Map(section_entries) = &value.value {
                    let section = format!("`run.{}`", key.value);
                    check_keys(section_entries, known, &section, source, diagnostics);
                }
            }
        }
    }
    findings
}

/// Reports each key of `entries` that is not `known`; whether there was one.
fn check_keys(
    entries: &[(Spanned<String>, Spanned<RawValue>)],
    known: &[&str],
    section: &str,
    source: &SourceText,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let mut found = false;
    for (key, _) in entries {
        let name = key.value.as_str();
        if known.contains(&name) {
            continue;
        }
        found = true;
        let message = match closest_name(name, known.iter().copied()) {
            Some(close) => format!(
                "unknown key {} in {section}, did you mean {}?",
                quoted(name),
                quoted(close)
            ),
            None => format!("unknown key {} in {section}", quoted(name)),
        };
        let mut diagnostic = Diagnostic::error(source, Some(position(&key.referenced)), message)
            .expected(format!("one of {}", known.join(", ")));
        let is_input_field = SORA_2_MODELS
            .iter()
            .any(|model| model.field(name).is_some());
        if section == "the manifest" && is_input_field {
            diagnostic = diagnostic.note(format!(
                "help: `{name}` is an input field; set it for every job under `defaults:`"
            ));
        }
        diagnostics.push(diagnostic);
    }
    found
}
