//! Who a job is: its [`JobKey`] (what was asked for) and its [`JobId`] (what people and file
//! names call it).
//!
//! Read [`JobKey::compute`] first. The key is the SHA-256 of a canonical JSON of the request's
//! content — model, final input with keys sorted at every level, and take number — so it
//! does not depend on where a job sits in the manifest or how its fields are ordered, and
//! changes whenever what would be generated changes. The callback URL is left out: it says
//! where to deliver a result, not what to generate.
//!
//! Ids are for people and file names: readable, unique in a manifest, and safe to join to a
//! folder ([`check_explicit_id`] and [`slug`]).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::canonical::{write_canonical_object, write_canonical_string};
use crate::durable::hex;
pub use crate::job::{JobId, JobKey};

/// The longest id accepted, in characters: room for a file name's extension and suffixes.
pub const MAX_ID_CHARS: usize = 80;

/// How many characters of a derived id come from values or the prompt, leaving room for
/// `-t12` and a key suffix within [`MAX_ID_CHARS`].
const MAX_DERIVED_BASE_CHARS: usize = 60;

/// How many words of a prompt make a derived id.
const PROMPT_WORDS_IN_ID: usize = 6;

impl JobKey {
    /// The key of take `take` of the request `{model, input}`.
    pub fn compute(model: &str, input: &Map<String, Value>, take: u32) -> JobKey {
        let mut canonical = String::with_capacity(256);
        canonical.push_str("{\"input\":");
        write_canonical_object(&mut canonical, input);
        canonical.push_str(",\"model\":");
        write_canonical_string(&mut canonical, model);
        canonical.push_str(",\"take\":");
        canonical.push_str(&take.to_string());
        canonical.push('}');
        JobKey::from_hex(hex(&Sha256::digest(canonical.as_bytes())))
    }
}

/// Checks an id written in a manifest; `Err` says what is expected.
///
/// Ids become file names in the batch folder, so they may hold only `[A-Za-z0-9._-]`: no
/// separators, no control characters, no leading dot (hidden files, `.` and `..`) and no
/// `..` anywhere. `report` is taken: a text result saved as `report.json` would be the
/// batch's own report.
pub fn check_explicit_id(id: &str) -> Result<(), &'static str> {
    if is_reserved_id(id) {
        return Err("an id other than `report`, the name of the batch folder's own report");
    }
    const EXPECTED: &str = "letters, digits, `.`, `_` and `-`, not starting with `.`, without `..`, at most 80 characters";
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if id.is_empty()
        || id.chars().count() > MAX_ID_CHARS
        || !id.chars().all(allowed)
        || id.starts_with('.')
        || id.contains("..")
    {
        Err(EXPECTED)
    } else {
        Ok(())
    }
}

/// Ids that would name a file the batch folder holds for itself (`report.json`).
fn is_reserved_id(id: &str) -> bool {
    id.eq_ignore_ascii_case("report")
}

/// A lowercase, dash-separated form of `text` made of `[a-z0-9-]`: `A professor!` becomes
/// `a-professor`. At most `max_words` words; empty when `text` has no ASCII letter or digit.
pub fn slug(text: &str, max_words: usize) -> String {
    let mut out = String::new();
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(max_words)
    {
        if !out.is_empty() {
            out.push('-');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// The id of a job without an explicit one, from its matrix values or else its prompt.
pub(crate) fn derived_base_id<'a>(
    values: impl Iterator<Item = &'a str>,
    prompt: Option<&str>,
) -> String {
    let mut base = String::new();
    for value in values {
        let part = slug(value, PROMPT_WORDS_IN_ID);
        if part.is_empty() {
            continue;
        }
        if !base.is_empty() {
            base.push('-');
        }
        base.push_str(&part);
    }
    if base.is_empty() {
        base = prompt
            .map(|p| slug(p, PROMPT_WORDS_IN_ID))
            .unwrap_or_default();
    }
    if base.len() > MAX_DERIVED_BASE_CHARS {
        base.truncate(MAX_DERIVED_BASE_CHARS);
        while base.ends_with('-') {
            base.pop();
        }
    }
    if base.is_empty() || is_reserved_id(&base) {
        base.push_str(if base.is_empty() { "job" } else { "-job" });
    }
    base
}

/// The id of a job of a table row with an `id` crossed with matrix axes: the row's id as
/// written, then its axis values as in [`derived_base_id`], cut to the same length.
pub(crate) fn row_derived_base<'a>(id: &str, values: impl Iterator<Item = &'a str>) -> String {
    let mut base = id.to_owned();
    for value in values {
        let part = slug(value, PROMPT_WORDS_IN_ID);
        if !part.is_empty() {
            base.push('-');
            base.push_str(&part);
        }
    }
    // An id is ASCII (`check_explicit_id`), slugs too: any byte is a character boundary.
    if base.len() > MAX_DERIVED_BASE_CHARS && base.is_ascii() {
        base.truncate(MAX_DERIVED_BASE_CHARS);
        while base.ends_with('-') {
            base.pop();
        }
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_report_s_own_name_is_no_job_s_id() {
        assert!(check_explicit_id("report").is_err());
        assert!(check_explicit_id("Report").is_err());
        assert!(check_explicit_id("report-2").is_ok());
        assert_eq!(derived_base_id(["Report"].into_iter(), None), "report-job");
        assert_eq!(
            derived_base_id(std::iter::empty(), Some("report")),
            "report-job"
        );
        assert_eq!(derived_base_id(std::iter::empty(), Some("!!")), "job");
    }

    #[test]
    fn keys_ignore_field_order_and_depend_on_take() {
        let Value::Object(one) = json!({"prompt": "x", "n_frames": "10", "o": {"b": 1, "a": 2}})
        else {
            return;
        };
        let Value::Object(two) = json!({"o": {"a": 2, "b": 1}, "n_frames": "10", "prompt": "x"})
        else {
            return;
        };
        let key = JobKey::compute("m", &one, 1);
        assert_eq!(key, JobKey::compute("m", &two, 1));
        assert_ne!(key, JobKey::compute("m", &one, 2));
        assert_ne!(key, JobKey::compute("n", &one, 1));
        assert_eq!(key.as_str().len(), 64);
        assert_eq!(key.short().len(), 12);
        assert_eq!(
            crate::canonical::canonical_json(&Value::Object(two)),
            r#"{"n_frames":"10","o":{"a":2,"b":1},"prompt":"x"}"#
        );
    }

    #[test]
    fn ids_are_checked_and_derived_safely() {
        assert!(check_explicit_id("intro_2.v1-a").is_ok());
        for bad in [
            "",
            ".hidden",
            "a..b",
            "a/b",
            "a\\b",
            "a b",
            "ä",
            "a\nb",
            &"x".repeat(81),
        ] {
            assert!(check_explicit_id(bad).is_err(), "{bad:?}");
        }
        assert_eq!(slug("A professor, stands!", 6), "a-professor-stands");
        assert_eq!(
            derived_base_id(["a professor", "landscape"].into_iter(), None),
            "a-professor-landscape"
        );
        assert_eq!(derived_base_id(std::iter::empty(), Some("日本")), "job");
        assert!(derived_base_id(std::iter::once(&*"word ".repeat(40)), None).len() <= 60);
        assert_eq!(
            row_derived_base("Fox_1", ["16:9", "a b"].into_iter()),
            "Fox_1-16-9-a-b"
        );
        assert!(row_derived_base(&"x".repeat(80), std::iter::once("16:9")).len() <= 60);
    }
}
