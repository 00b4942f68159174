//! The guards against hostile or mistyped manifests: template problems reported a bounded
//! number of times, `takes` and the number of jobs capped before anything is expanded, long
//! values cut in messages, and an unknown top-level key that hides no other problem.
//!
//! Speed is not asserted here (timing targets live in benchmarks): each test asserts the
//! structure that keeps the work bounded — how many diagnostics, how large, which limit.

use sora_batch_engine::diagnostic::{Diagnostic, MAX_QUOTED_CHARS};
use sora_batch_engine::manifest::{self, MAX_JOBS, MAX_TAKES, MAX_TEMPLATE_PROBLEMS};

use crate::support::{SOURCE_NAME, check, load_err};

/// The most bytes one rendered diagnostic may take, whatever the manifest holds: a message
/// with a few cut values, a few notes and a snippet cut around its caret.
const MAX_RENDERED_BYTES: usize = 2_000;

fn header(diagnostic: &Diagnostic) -> (u32, u32) {
    let label = diagnostic
        .label
        .as_ref()
        .unwrap_or_else(|| panic!("no location: {diagnostic}"));
    (label.position.line, label.position.column)
}

/// The first error: warnings (the withdrawn default model's) come before it in file order.
fn first_error(diagnostics: &[Diagnostic]) -> &Diagnostic {
    diagnostics
        .iter()
        .find(|diagnostic| diagnostic.is_error())
        .unwrap_or_else(|| panic!("no error among {diagnostics:?}"))
}

fn messages(diagnostics: &[Diagnostic], starting_with: &str) -> Vec<Diagnostic> {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.message.starts_with(starting_with))
        .cloned()
        .collect()
}

// ---- 1. template problems: each once, a bounded number per prompt ----

#[test]
fn a_repeated_undefined_variable_is_reported_once_with_its_count() {
    let yaml = format!("version: 1\nprompt: \"{}\"\n", "{x} ".repeat(10_000));
    let errors = load_err(&yaml);
    let undefined = messages(&errors.diagnostics, "undefined template variable `x`");
    assert_eq!(undefined.len(), 1, "{errors}");
    assert_eq!(header(&undefined[0]), (2, 10));
    let rendered = undefined[0].to_string();
    assert!(rendered.contains("10000 times"), "{rendered}");
    // The prompt is one 40,000-character line: no diagnostic may carry it whole.
    for diagnostic in &errors.diagnostics {
        assert!(
            diagnostic.to_string().len() <= MAX_RENDERED_BYTES,
            "{diagnostic}"
        );
    }
}

#[test]
fn distinct_template_problems_are_capped_per_prompt() {
    let prompt: String = (0..5_000).map(|i| format!("{{v{i}}} ")).collect();
    let errors = load_err(&format!("version: 1\nprompt: \"{prompt}\"\n"));
    let undefined = messages(&errors.diagnostics, "undefined template variable");
    assert_eq!(undefined.len(), MAX_TEMPLATE_PROBLEMS, "{errors}");
    // The first ones, in the prompt's order, and a word about the rest.
    assert!(undefined[0].message.contains("`v0`"), "{}", undefined[0]);
    let omitted = 5_000 - MAX_TEMPLATE_PROBLEMS;
    assert!(
        errors
            .to_string()
            .contains(&format!("{omitted} more problems in this prompt")),
        "{errors}"
    );
    assert!(errors.diagnostics.len() <= MAX_TEMPLATE_PROBLEMS + 2);
}

#[test]
fn template_problems_point_at_their_own_occurrence() {
    // `{{x}}` is a literal `{x}`: the caret goes to the variable after it, not into it.
    insta::assert_snapshot!(check(
        "version: 1\nprompt: \"{{x}} then {x}, {x} and {y\"\n"
    ));
}

#[test]
fn a_template_problem_under_a_matrix_is_reported_once() {
    let errors = load_err(
        "version: 1\nprompt: \"{subject} {moood}\"\nmatrix:\n  subject: [a, b, c, d]\n  mood: [calm, wild]\n",
    );
    let undefined = messages(&errors.diagnostics, "undefined template variable `moood`");
    assert_eq!(undefined.len(), 1, "{errors}");
    assert!(
        undefined[0].message.contains("did you mean `mood`?"),
        "{errors}"
    );
}

#[test]
fn checking_a_broken_matrix_stops_after_a_hundred_failed_jobs() {
    let values: Vec<String> = (0..150).map(|i| format!("v{i}")).collect();
    let errors = load_err(&format!(
        "version: 1\nprompt: \"{{a}} {{nope}}\"\nmatrix:\n  a: [{}]\n",
        values.join(", ")
    ));
    let rendered = errors.to_string();
    assert_eq!(errors.error_count(), 1, "{rendered}");
    assert!(
        rendered.contains("50 more matrix jobs were not checked"),
        "{rendered}"
    );
}

// ---- 2. takes and jobs: bounded before anything is expanded ----

#[test]
fn takes_above_the_maximum_is_refused_at_its_line() {
    let errors = load_err("version: 1\nprompt: a cat\ntakes: 1000000\n");
    assert_eq!(errors.error_count(), 1, "{errors}");
    let diagnostic = first_error(&errors.diagnostics);
    assert_eq!(header(diagnostic), (3, 8));
    let rendered = diagnostic.to_string();
    assert!(rendered.contains("`takes` is 1000000"), "{rendered}");
    assert!(
        rendered.contains(&format!("from 1 to {MAX_TAKES}")),
        "{rendered}"
    );
}

#[test]
fn takes_at_the_maximum_is_accepted() {
    let loaded =
        crate::support::load_ok(&format!("version: 1\nprompt: a cat\ntakes: {MAX_TAKES}\n"));
    assert_eq!(loaded.manifest.jobs.len(), MAX_TAKES as usize);
}

#[test]
fn takes_of_an_explicit_job_above_the_maximum() {
    insta::assert_snapshot!(check(
        "version: 1\njobs:\n  - id: many\n    prompt: a cat\n    takes: 101\n"
    ));
}

#[test]
fn a_matrix_past_the_job_limit_is_refused_with_its_arithmetic() {
    let values: Vec<String> = (0..1_000).map(|i| i.to_string()).collect();
    let list = values.join(", ");
    let yaml = format!(
        "version: 1\nprompt: \"{{a}} {{b}}\"\ntakes: 2\nmatrix:\n  a: [{list}]\n  b: [{list}]\n  include:\n    - {{a: extra, b: extra}}\njobs:\n  - prompt: one more\n    takes: 3\n"
    );
    let errors = load_err(&yaml);
    assert_eq!(errors.error_count(), 1, "{errors}");
    insta::assert_snapshot!(errors.to_string());
    let rendered = errors.to_string();
    assert!(
        rendered.contains(&format!("at most {MAX_JOBS}")),
        "{rendered}"
    );
}

#[test]
fn a_matrix_whose_product_overflows_is_refused() {
    let axes: String = (0..12)
        .map(|axis| {
            let values: Vec<String> = (0..100).map(|i| format!("v{i}")).collect();
            format!("  axis{axis}: [{}]\n", values.join(", "))
        })
        .collect();
    let errors = load_err(&format!("version: 1\nprompt: x\nmatrix:\n{axes}"));
    assert_eq!(errors.error_count(), 1, "{errors}");
    let rendered = errors.to_string();
    assert!(
        rendered.contains(&format!("more than {MAX_JOBS}")),
        "{rendered}"
    );
    assert_eq!(header(&errors.diagnostics[0]), (4, 3));
}

// ---- 3. long values are cut in messages, locations kept ----

#[test]
fn long_values_are_cut_in_messages_and_keep_their_location() {
    let long = "n".repeat(100_000);
    let long_key = "k".repeat(2_000);
    let cases: Vec<(String, (u32, u32), usize)> = vec![
        // An invalid name (too long for a folder name).
        (
            format!("version: 1\nname: {long}\nprompt: a cat\n"),
            (2, 7),
            100_000,
        ),
        // An unsafe id.
        (
            format!("version: 1\njobs:\n  - id: {long}/x\n    prompt: a cat\n"),
            (3, 9),
            100_002,
        ),
        // An unknown top-level key, written as an explicit key (plain keys stop at 1024).
        (
            format!("version: 1\nprompt: a cat\n? {long_key}\n: 1\n"),
            (3, 3),
            2_000,
        ),
        // An undefined template variable with a long name.
        (
            format!("version: 1\nprompt: \"{{{long}}}\"\n"),
            (2, 10),
            100_000,
        ),
        // An invalid callback URL.
        (
            format!("version: 1\nprompt: a cat\nrun:\n  callback_url: ftp://{long}\n"),
            (4, 17),
            100_006,
        ),
        // An invalid duration.
        (
            format!("version: 1\nprompt: a cat\nrun:\n  timeout: {long}\n"),
            (4, 12),
            100_000,
        ),
        // An unknown input field.
        (
            format!("version: 1\nprompt: a cat\ndefaults:\n  ? {long_key}\n  : x\n"),
            (4, 5),
            2_000,
        ),
        // A long variable name in the list of what was expected.
        (
            format!("version: 1\nvars:\n  ? {long_key}\n  : v\nprompt: \"{{b}}\"\n"),
            (5, 10),
            2_000,
        ),
        // A long invalid price key.
        (
            format!("version: 1\nprompt: a cat\nprices:\n  veo3:\n    ? {long_key}\n    : 4\n"),
            (5, 7),
            2_000,
        ),
    ];
    for (yaml, at, length) in cases {
        let diagnostics = match manifest::load_str(SOURCE_NAME, &yaml) {
            Ok(loaded) => loaded.warnings,
            Err(errors) => errors.diagnostics,
        };
        let first = diagnostics
            .iter()
            .find(|diagnostic| diagnostic.to_string().contains("characters)"))
            .unwrap_or_else(|| panic!("no cut value for {at:?} in {diagnostics:?}"));
        assert_eq!(header(first), at, "{first}");
        let rendered = first.to_string();
        assert!(
            rendered.contains(&format!(" ({length} characters)")),
            "{rendered}"
        );
        assert!(rendered.contains('…'), "{rendered}");
        assert!(rendered.contains(&format!("{SOURCE_NAME}:{}:{}", at.0, at.1)));
        assert!(rendered.contains('^'), "{rendered}");
        for diagnostic in &diagnostics {
            let rendered = diagnostic.to_string();
            assert!(rendered.len() <= MAX_RENDERED_BYTES, "{}", rendered.len());
        }
    }
}

#[test]
fn a_long_unknown_model_name_is_cut_in_its_error() {
    let long = "m".repeat(5_000);
    let errors = load_err(&format!("version: 1\nprompt: a cat\nmodel: {long}\n"));
    let error = errors
        .diagnostics
        .first()
        .map(ToString::to_string)
        .unwrap_or_default();
    assert!(error.contains("unknown model `mmm"), "{error}");
    assert!(error.contains("…` (5000 characters)"), "{error}");
    assert!(error.len() <= MAX_RENDERED_BYTES, "{}", error.len());
}

#[test]
fn a_long_line_is_cut_around_its_caret() {
    let words = "word ".repeat(40);
    insta::assert_snapshot!(check(&format!(
        "version: 1\nprompt: \"{words}{{nope}} {words}\"\n"
    )));
}

#[test]
fn short_values_are_quoted_whole() {
    let name = "N".repeat(MAX_QUOTED_CHARS);
    let errors = load_err(&format!("version: 1\nprompt: a cat\nname: {name}\n"));
    assert!(
        first_error(&errors.diagnostics)
            .message
            .contains(&format!("`{name}`")),
        "{errors}"
    );
    assert!(!errors.to_string().contains('…'), "{errors}");
}

// ---- 4. an unknown top-level key does not hide the rest ----

#[test]
fn an_unknown_top_level_key_does_not_hide_the_other_problems() {
    insta::assert_snapshot!(check(
        "version: 1\ncolour: red\nprompt: a cat\ntakes: 0\ndefaults:\n  aspect_ratio: square\nrun:\n  timout: 5m\n  concurrency: 0\n"
    ));
}

#[test]
fn a_misspelled_prompt_keeps_its_suggestion_and_the_other_problems() {
    let errors = load_err("version: 1\npromt: a cat\ntakes: 0\nrun:\n  timeout: soon\n");
    let rendered = errors.to_string();
    assert!(rendered.contains("unknown key `promt` in the manifest, did you mean `prompt`?"));
    assert!(rendered.contains("`takes` is 0"), "{rendered}");
    assert!(
        rendered.contains("invalid duration for `timeout`"),
        "{rendered}"
    );
    // No job is defined, but that follows from the misspelling: not a problem of its own.
    assert!(!rendered.contains("defines no jobs"), "{rendered}");
    assert_eq!(errors.error_count(), 3, "{rendered}");
}
