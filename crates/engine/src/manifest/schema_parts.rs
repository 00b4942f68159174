//! Pieces of the manifest's JSON Schema that the derives in [`super::raw`] refer to: the
//! regular expressions of the text values the tool parses, and the small schema-only types
//! that carry them.
//!
//! Read the patterns first. Each one says in a JSON Schema `pattern` what a parser of this
//! crate accepts — durations (humantime), prompt templates ([`super::template`]), names and
//! ids ([`super::identity::check_explicit_id`]), callback URLs, price keys
//! ([`crate::prices::is_price_key`]) — so that an editor rejects what `validate` rejects.
//! The tests below hold each pattern to its parser. Patterns use no look-around, so that
//! both ECMAScript engines (editors) and Rust's `regex` (the tests) read them the same way.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

/// A duration as `humantime` 2.4 parses it: numbers each followed by a unit (`40m`, `1h 30m`,
/// `1h30m`, `1.5h`, `500ms`); whitespace around and between parts, even inside a number.
/// Not checked here: that it is above zero ([`NONZERO_PATTERN`]) and that it does not
/// overflow humantime's arithmetic — a number of twenty digits, or a fraction whose digits
/// times its unit in nanoseconds pass `u64` (humantime 2.4 refuses `1.001h` and `0.001h`,
/// reads `0.01h`): `validate` refuses those with humantime's reason.
pub const DURATION_PATTERN: &str = concat!(
    r"^\s*(?:[0-9][0-9\s]*(?:\.[0-9\s]*[0-9][0-9\s]*)?",
    r"(?:nanos|nsec|ns|usec|us|µs|millis|msec|ms|seconds|second|secs|sec|s",
    r"|minutes|minute|mins|min|m|hours|hour|hrs|hr|h|days|day|d|weeks|week|wks|wk|w",
    r"|months|month|M|years|year|yrs|yr|y)\s*)+$",
);

/// A duration that is above zero has a digit other than 0 (units have no digits).
pub const NONZERO_PATTERN: &str = "[1-9]";

/// A prompt template that renders: `{name}` with a name of letters, digits, `_` and `-` (not
/// starting with a digit or `-`), `{{` and `}}` for literal braces, no brace alone. Whether
/// each name is defined depends on the job and is not expressible.
pub const TEMPLATE_PATTERN: &str = r"^(?:[^{}]|\{\{|\}\}|\{[A-Za-z_][A-Za-z0-9_-]*\})*$";

/// A job id: letters, digits, `.`, `_` and `-`, not starting with `.`, without `..` (the
/// length, at most 80, is a `maxLength`).
pub const ID_PATTERN: &str = r"^[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?$";

/// A batch name: an id in lowercase.
pub const NAME_PATTERN: &str = r"^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$";

/// An http(s) URL with a host, as the `url` crate reads one: the scheme in any case, then
/// slashes (or none, or backslashes) and a first character of a host. Leading spaces and
/// control characters are ignored by the parser.
pub const HTTP_URL_PATTERN: &str = r"^[\x00-\x20]*[Hh][Tt][Tt][Pp][Ss]?:[/\\]*[^\s/\\?#]";

/// A key of a model's price table: seconds (`"10"`), seconds and a size (`"15-high"`), `"*"`.
pub const PRICE_KEY_PATTERN: &str = r"^(?:\*|[0-9]+(?:-[A-Za-z0-9_]+)?)$";

/// The path of a `rows:` table: a relative path (no leading `/` or `\`) to a `.csv`,
/// `.tsv` or `.jsonl` file, its extension in any case (as `rows::TableFormat` reads it).
/// Whether it exists and stays in the manifest's folder is for `validate` to say.
pub const TABLE_PATH_PATTERN: &str = r"^(?:[^/\\].*)?\.(?:[Cc][Ss][Vv]|[Tt][Ss][Vv]|[Tt][Aa][Bb]|[Jj][Ss][Oo][Nn][Ll]|[Nn][Dd][Jj][Ss][Oo][Nn])$";

/// A string that holds something other than whitespace.
pub const NOT_BLANK_PATTERN: &str = r"\S";

/// A duration value of the `run:` section.
#[derive(Debug)]
pub struct DurationText;

impl JsonSchema for DurationText {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration above zero: numbers with units, e.g. `40m`, `90s`, `1h 30m`, `500ms` (units: ns, us, ms, s/sec, m/min, h/hr, d, w, M/months, y).",
            "type": "string",
            "allOf": [{"pattern": DURATION_PATTERN}, {"pattern": NONZERO_PATTERN}],
        })
    }
}

/// A key whose value the YAML reader takes as text from any scalar: `id: 7` is the id `"7"`.
#[derive(Debug)]
pub struct ScalarText;

impl JsonSchema for ScalarText {
    fn schema_name() -> Cow<'static, str> {
        "ScalarText".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number", "boolean"]})
    }
}

/// The price table of one model under `prices:`.
#[derive(Debug)]
pub struct PriceTableSchema;

impl JsonSchema for PriceTableSchema {
    fn schema_name() -> Cow<'static, str> {
        "PriceTable".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Credits per clip: keys are seconds (`\"10\"`), seconds and size (`\"15-high\"`) or `\"*\"`.",
            "type": "object",
            "propertyNames": {"pattern": PRICE_KEY_PATTERN},
            "additionalProperties": {"type": "number", "minimum": 0},
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::manifest::identity::check_explicit_id;
    use crate::manifest::template::{self, Lookup};

    /// Whether `text` matches every pattern, with the JSON Schema validator editors are
    /// compared with in the schema's tests.
    fn matches(patterns: &[&str], text: &str) -> bool {
        let all: Vec<_> = patterns.iter().map(|p| json!({"pattern": p})).collect();
        match jsonschema::validator_for(&json!({"type": "string", "allOf": all})) {
            Ok(validator) => validator.is_valid(&json!(text)),
            Err(error) => panic!("pattern does not compile: {error}"),
        }
    }

    fn tool_reads_duration(text: &str) -> bool {
        humantime::parse_duration(text.trim()).is_ok_and(|d| d > Duration::ZERO)
    }

    fn tool_reads_template(text: &str) -> bool {
        template::render(text, |_| Lookup::Text(Cow::Borrowed("x"))).is_ok()
    }

    fn tool_reads_url(text: &str) -> bool {
        url::Url::parse(text)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
    }

    fn tool_reads_name(text: &str) -> bool {
        check_explicit_id(text).is_ok() && !text.bytes().any(|b| b.is_ascii_uppercase())
    }

    #[test]
    fn durations_match_what_humantime_reads() {
        for text in [
            "40m", "90s", "1h 30m", "1h30m", "1.5h", "500ms", " 2 s ", "1 0m", "10 s", "0.5s",
            "1µs", "3 weeks", "2M", "0s 1ms", "0s", "0", "", "40", "soon", "1x", "1h.5m", "1H",
            ".5s", "1.s", "m", "1m x", "-1s", "1s,2s", "1 h 2 m",
        ] {
            let duration = [DURATION_PATTERN, NONZERO_PATTERN];
            assert_eq!(
                matches(&duration, text),
                tool_reads_duration(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn templates_match_what_the_renderer_reads() {
        for text in [
            "a cat",
            "{subject} on {brand}",
            "{{x}}",
            "{{{x}}}",
            "{x}}}",
            "{x}}",
            "{{x}",
            "{",
            "}",
            "a {cat",
            "{a b}",
            "{1x}",
            "{_x-1}",
            "{-x}",
            "{}",
            "line\n{x}\nline",
            "}{",
        ] {
            assert_eq!(
                matches(&[TEMPLATE_PATTERN], text),
                tool_reads_template(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn urls_names_ids_and_price_keys_match_their_checks() {
        for text in [
            "https://example.com/hook",
            "http://x",
            "HTTPS://x",
            "https:example.com",
            "https:///x",
            "  https://x",
            "ftp://example.com",
            "https://",
            "https:",
            "mailto:x",
            "example.com",
            "https://?x",
            "https:// x",
        ] {
            assert_eq!(
                matches(&[HTTP_URL_PATTERN], text),
                tool_reads_url(text),
                "{text:?}"
            );
        }
        for text in [
            "intro", "a.b", "a.", "-x_1", ".hidden", "a..b", "a/b", "", "Up", "é",
        ] {
            assert_eq!(
                matches(&[ID_PATTERN], text),
                check_explicit_id(text).is_ok(),
                "{text:?}"
            );
            assert_eq!(
                matches(&[NAME_PATTERN], text),
                tool_reads_name(text),
                "{text:?}"
            );
        }
        for text in [
            "10", "15-high", "*", "ten", "10-", "-high", "10-a-b", "10-a_b", "**", "",
        ] {
            assert_eq!(
                matches(&[PRICE_KEY_PATTERN], text),
                crate::prices::is_price_key(text),
                "{text:?}"
            );
        }
    }

    #[test]
    fn table_paths_match_what_the_table_reader_takes() {
        // The tool also refuses a rooted path; the rest (existence, the folder) it checks
        // on disk.
        let tool_takes = |text: &str| {
            crate::manifest::rows::TableFormat::of_file_name(text).is_some()
                && !text.starts_with(['/', '\\'])
        };
        for text in [
            "prompts.csv",
            "a/b.TSV",
            "rows.tab",
            "x.jsonl",
            "x.NDJSON",
            "prompts.xlsx",
            "prompts",
            "/etc/x.csv",
            "\\x.csv",
            "csv",
            ".csv",
            "a.csv.bak",
        ] {
            assert_eq!(
                matches(&[TABLE_PATH_PATTERN], text),
                tool_takes(text),
                "{text:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn any_duration_text_is_judged_like_humantime(
            text in r"[0-9 .]{0,4}(s|ms|m|min|h|hr|x|µs|M|H|\.|){0,2}[0-9 ]{0,3}(s|m|h|d|y|){0,2}"
        ) {
            let duration = [DURATION_PATTERN, NONZERO_PATTERN];
            // Overflow is the one refusal the pattern leaves to `validate` (see above).
            let overflows = matches!(
                humantime::parse_duration(text.trim()),
                Err(humantime::DurationError::NumberOverflow)
            );
            if !overflows {
                prop_assert_eq!(matches(&duration, &text), tool_reads_duration(&text), "{:?}", text);
            }
        }

        #[test]
        fn any_template_text_is_judged_like_the_renderer(text in r"[a{}_ 1-]{0,12}") {
            prop_assert_eq!(
                matches(&[TEMPLATE_PATTERN], &text),
                tool_reads_template(&text),
                "{:?}",
                text
            );
        }
    }
}
