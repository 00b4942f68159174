//! A seeded mutation smoke test of the manifest loader, run with every `cargo test`: two
//! thousand damaged versions of the repository's example manifests, loaded through the
//! public entry points, must never panic, and every problem found must name a line and a
//! column and render to a bounded size.
//!
//! Read [`mutants_of_the_example_manifests_never_panic_and_are_located`]. The generator is
//! seeded, so a failure names its mutant and repeats on every machine; the mutations are the
//! damage hand-edited YAML and hostile input meet: flipped bytes, deleted and duplicated
//! lines, values swapped between keys, huge numbers, deep nesting, very long strings,
//! repeated template variables, YAML aliases and tags, and bytes that are not UTF-8 (through
//! [`manifest::load`], the entry point that reads bytes). `properties.rs` has the
//! proptest-driven byte damage; this one reaches the resolver's limits on purpose.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::time::Instant;

use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};
use sora_batch_engine::diagnostic::Diagnostic;
use sora_batch_engine::manifest;

/// How many mutants one run loads: about 4 s in a debug build on two shared cores when this
/// was written (a manifest takes 1 to 4 ms to load in a debug build). The time is printed
/// with `--nocapture`, not asserted; a failing mutant's number and text are printed.
const MUTANTS: usize = 2_000;

/// The generator's seed: fixed, so that every run and every machine loads the same mutants.
const SEED: &[u8; 16] = b"sora-batch-fuzz1";

/// The most bytes one rendered diagnostic may take: a message with cut values, a few notes
/// and a snippet cut around its caret, whatever the manifest holds.
const MAX_RENDERED_BYTES: usize = 4_000;

/// The most values kept in each flow list of a seed: the 100,000-job fixture stays a matrix
/// of a few dozen jobs, so that a mutant that still loads costs milliseconds in a debug build.
const MAX_FLOW_LIST_ITEMS: usize = 2;

fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example manifests, `manifests/*.yaml` and `fixtures/manifests/*.yaml`, with their
/// flow lists shortened.
fn seeds() -> Vec<(String, String)> {
    let mut seeds = Vec::new();
    for folder in ["manifests", "fixtures/manifests"] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(repository_root().join(folder))
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
            let name = format!("{folder}/{}", file_name(&path));
            seeds.push((name, shorten_flow_lists(&text)));
        }
    }
    seeds
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `key: [a, b, c, d]` becomes `key: [a, b]`, line by line.
fn shorten_flow_lists(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match (line.find(": ["), line.ends_with(']')) {
            (Some(open), true) => {
                let items: Vec<&str> = line[open + 3..line.len() - 1].split(", ").collect();
                out.push_str(&line[..open + 3]);
                out.push_str(&items[..items.len().min(MAX_FLOW_LIST_ITEMS)].join(", "));
                out.push(']');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// A small seeded generator over proptest's deterministic RNG.
struct Dice(TestRng);

impl Dice {
    fn below(&mut self, bound: usize) -> usize {
        if bound == 0 {
            return 0;
        }
        (self.0.next_u64() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const HUGE_VALUES: &[&str] = &[
    "0",
    "-1",
    "100",
    "101",
    "1000000",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "1e308",
    "-1e400",
    ".inf",
    ".nan",
    "0x7fffffff",
    "~",
    "''",
    "[]",
    "{}",
];

const TOKENS: &[&str] = &[
    "&anchor ",
    "*anchor",
    "!!binary ",
    "!!str ",
    "---\n",
    "...\n",
    "? ",
    "- ",
    "{{",
    "}}",
    "{",
    "}",
    "{x}",
    "\t",
    "%YAML 1.2\n",
    "#",
    "|",
    ">-",
    "\"",
    "'",
    ": ",
    ",",
    "[",
    "]",
    "\\u0000",
    "\u{feff}",
    "\r\n",
    "é",
    "\u{202e}",
];

/// One mutation of `bytes`, chosen and placed by `dice`.
fn mutate(dice: &mut Dice, bytes: &mut Vec<u8>, seeds: &[(String, String)]) {
    let len = bytes.len();
    let at = dice.below(len + 1);
    match dice.below(30) {
        // A flipped bit.
        0..=2 if len > 0 => {
            let index = dice.below(len);
            bytes[index] ^= 1 << dice.below(8);
        }
        // A deleted run of bytes.
        3 => {
            let end = (at + 1 + dice.below(16)).min(len);
            bytes.drain(at.min(end)..end);
        }
        // A random byte, often not UTF-8 on its own.
        4 | 5 => bytes.insert(at, dice.below(256) as u8),
        // A duplicated, deleted or re-indented line.
        6..=8 => {
            let mut lines = split_lines(bytes);
            if lines.is_empty() {
                return;
            }
            let index = dice.below(lines.len());
            match dice.below(3) {
                0 => {
                    let line = lines[index].clone();
                    lines.insert(index, line);
                }
                1 => {
                    lines.remove(index);
                }
                _ => {
                    if lines[index].starts_with(b"  ") {
                        lines[index].drain(..2);
                    } else {
                        lines[index].splice(0..0, *b"  ");
                    }
                }
            }
            *bytes = lines.concat();
        }
        // Two lines' values swapped.
        9 | 10 => {
            let mut lines = split_lines(bytes);
            let with_values: Vec<usize> =
                (0..lines.len()).filter(|&i| has_value(&lines[i])).collect();
            if with_values.len() < 2 {
                return;
            }
            let (a, b) = (*dice.pick(&with_values), *dice.pick(&with_values));
            let split = |line: &Vec<u8>| {
                let colon = find(line, b": ").unwrap_or(0) + 2;
                (line[..colon].to_vec(), line[colon..].to_vec())
            };
            let ((key_a, value_a), (key_b, value_b)) = (split(&lines[a]), split(&lines[b]));
            lines[a] = [key_a, value_b].concat();
            lines[b] = [key_b, value_a].concat();
            *bytes = lines.concat();
        }
        // A value replaced by a huge number or another edge of a scalar type.
        11 | 12 => {
            let value = dice.pick(HUGE_VALUES).as_bytes().to_vec();
            replace_a_value(dice, bytes, value);
        }
        // Deep nesting as a value.
        13 => {
            let depth = 1 + dice.below(300);
            let value = if dice.below(2) == 0 {
                format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
            } else {
                format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth))
            };
            replace_a_value(dice, bytes, value.into_bytes());
        }
        // A very long value: plain text, or a template of many variables.
        14 => {
            let length = 1_000 + dice.below(20_000);
            let value = match dice.below(3) {
                0 => "w".repeat(length),
                1 => format!("\"{}\"", "{x} ".repeat(length / 4)),
                _ => (0..length / 8).map(|i| format!("{{v{i}}}")).collect(),
            };
            replace_a_value(dice, bytes, value.into_bytes());
        }
        // A line spliced in from another seed.
        15 => {
            let (_, other) = dice.pick(seeds);
            let lines: Vec<&str> = other.lines().collect();
            if let Some(line) = lines.get(dice.below(lines.len())) {
                let line_start = line_start_at(bytes, at);
                bytes.splice(line_start..line_start, format!("{line}\n").into_bytes());
            }
        }
        // A YAML token or a tricky character.
        16..=28 => {
            let token = dice.pick(TOKENS);
            bytes.splice(at..at, token.bytes());
        }
        // An alias bomb: each level refers to the one before it several times.
        _ => {
            let levels = 1 + dice.below(7);
            let mut bomb = String::from("\nlol0: &l0 [lol]\n");
            for level in 1..levels {
                let refs = vec![format!("*l{}", level - 1); 8].join(", ");
                bomb.push_str(&format!("lol{level}: &l{level} [{refs}]\n"));
            }
            bytes.extend_from_slice(bomb.as_bytes());
        }
    }
}

fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&byte| byte == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Whether a line is `key: value` rather than a comment.
fn has_value(line: &[u8]) -> bool {
    find(line, b": ").is_some() && line.trim_ascii_start().first() != Some(&b'#')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

fn line_start_at(bytes: &[u8], at: usize) -> usize {
    bytes[..at.min(bytes.len())]
        .iter()
        .rposition(|&byte| byte == b'\n')
        .map_or(0, |newline| newline + 1)
}

/// Replaces what follows the `: ` of a random line with `value`.
fn replace_a_value(dice: &mut Dice, bytes: &mut Vec<u8>, value: Vec<u8>) {
    let mut lines = split_lines(bytes);
    let with_values: Vec<usize> = (0..lines.len()).filter(|&i| has_value(&lines[i])).collect();
    if with_values.is_empty() {
        return;
    }
    let index = *dice.pick(&with_values);
    let line = &mut lines[index];
    let colon = find(line, b": ").unwrap_or(0) + 2;
    line.truncate(colon);
    line.extend_from_slice(&value);
    line.push(b'\n');
    *bytes = lines.concat();
}

/// What loading one mutant found.
#[derive(Debug, Default)]
struct Tally {
    loaded: usize,
    refused: usize,
    not_utf8: usize,
}

fn check_diagnostics(diagnostics: &[Diagnostic], mutant: usize) {
    for diagnostic in diagnostics {
        assert!(
            diagnostic.label.is_some(),
            "mutant {mutant}: no location: {diagnostic}"
        );
        let rendered = diagnostic.to_string();
        assert!(
            rendered.len() <= MAX_RENDERED_BYTES,
            "mutant {mutant}: a diagnostic of {} bytes: {}",
            rendered.len(),
            rendered.chars().take(2_000).collect::<String>()
        );
    }
}

fn load_one(bytes: &[u8], folder: &Path, mutant: usize, tally: &mut Tally) {
    let outcome = match std::str::from_utf8(bytes) {
        Ok(text) => manifest::load_str("manifest.yaml", text),
        // The loader that takes bytes is the one that reads a file.
        Err(_) => {
            tally.not_utf8 += 1;
            let path = folder.join("manifest.yaml");
            if let Err(error) = std::fs::write(&path, bytes) {
                panic!("cannot write {}: {error}", path.display());
            }
            manifest::load(&path)
        }
    };
    match outcome {
        Ok(loaded) => {
            tally.loaded += 1;
            check_diagnostics(&loaded.warnings, mutant);
        }
        Err(errors) => {
            tally.refused += 1;
            assert!(
                errors.error_count() > 0,
                "mutant {mutant}: refused without an error"
            );
            check_diagnostics(&errors.diagnostics, mutant);
        }
    }
}

#[test]
fn mutants_of_the_example_manifests_never_panic_and_are_located() {
    let seeds = seeds();
    assert!(seeds.len() >= 4, "seeds found: {}", seeds.len());
    let folder = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
    let mut dice = Dice(TestRng::from_seed(RngAlgorithm::XorShift, SEED));
    let mut tally = Tally::default();
    let started = Instant::now();
    for mutant in 0..MUTANTS {
        let (name, seed) = &seeds[mutant % seeds.len()];
        let mut bytes = seed.clone().into_bytes();
        for _ in 0..=dice.below(4) {
            mutate(&mut dice, &mut bytes, &seeds);
        }
        let result = catch_unwind(AssertUnwindSafe(|| {
            load_one(&bytes, folder.path(), mutant, &mut tally);
        }));
        if let Err(panic) = result {
            eprintln!(
                "mutant {mutant} of {name} failed; its first 2,000 bytes:\n{}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(2_000)])
            );
            resume_unwind(panic);
        }
    }
    eprintln!("{MUTANTS} mutants in {:?}: {tally:?}", started.elapsed());
    // The mutants reach both outcomes and the byte loader, or the test tests little.
    assert!(tally.loaded >= MUTANTS / 20, "{tally:?}");
    assert!(tally.refused >= MUTANTS / 4, "{tally:?}");
    assert!(tally.not_utf8 >= MUTANTS / 50, "{tally:?}");
}
