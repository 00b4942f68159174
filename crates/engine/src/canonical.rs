//! Canonical JSON: the one spelling of a JSON value that is hashed, so that equal content
//! has equal digests whatever order its keys came in.
//!
//! Read [`canonical_json`]. Job keys (`manifest::identity`) hash the canonical JSON of a
//! request, and the lock file (`lockfile`) hashes that of a model's schema and price text.
//! Object keys are sorted by their UTF-8 bytes at every level, there is no whitespace, and
//! strings and numbers are written as serde_json writes them.

use serde_json::{Map, Value};

/// The canonical JSON of an object: keys sorted by their UTF-8 bytes at every level, no
/// whitespace, strings and numbers as serde_json writes them.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(&mut out, value);
    out
}

pub fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(object) => write_canonical_object(out, object),
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        Value::String(text) => write_canonical_string(out, text),
        scalar => out.push_str(&scalar.to_string()),
    }
}

pub fn write_canonical_object(out: &mut String, object: &Map<String, Value>) {
    let mut entries: Vec<(&String, &Value)> = object.iter().collect();
    entries.sort_unstable_by(|left, right| left.0.cmp(right.0));
    out.push('{');
    for (index, (key, value)) in entries.into_iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_canonical_string(out, key);
        out.push(':');
        write_canonical(out, value);
    }
    out.push('}');
}

pub fn write_canonical_string(out: &mut String, text: &str) {
    // serde_json's string escaping is deterministic, and writing a string cannot fail.
    if let Ok(quoted) = serde_json::to_string(text) {
        out.push_str(&quoted);
    }
}
