//! What fits a schema, in words, for messages: `an integer from 4 to 15, or -1`,
//! `one of "std", "pro", "4K"`, `a list of at most 9 items, each a URI`.
//!
//! Read [`describe`]. It covers the keywords Kie's input schemas use; anything else is
//! described by its type alone.

use serde_json::Value;

use super::prepare::{alternatives, types_of};

/// What fits `schema`, in words: `an integer from 4 to 15, or -1`.
pub fn describe(schema: &Value) -> String {
    let choices = alternatives(schema);
    if !choices.is_empty() {
        let described: Vec<String> = choices.iter().map(describe).collect();
        return described.join(", or ");
    }
    if let Some(constant) = schema.get("const") {
        return constant_text(constant);
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let listed: Vec<String> = options.iter().map(constant_text).collect();
        return format!("one of {}", listed.join(", "));
    }
    let types = types_of(schema);
    if types.is_empty() {
        return "a value".to_owned();
    }
    let described: Vec<String> = types
        .iter()
        .map(|name| describe_type(name, schema))
        .collect();
    described.join(" or ")
}

fn constant_text(value: &Value) -> String {
    match value {
        Value::String(text) if text.is_empty() => "an empty string".to_owned(),
        other => other.to_string(),
    }
}

fn describe_type(name: &str, schema: &Value) -> String {
    let number = |keyword: &str| schema.get(keyword).filter(|value| value.is_number());
    let count = |keyword: &str| schema.get(keyword).and_then(Value::as_u64);
    match name {
        "integer" | "number" => {
            let noun = if name == "integer" {
                "an integer"
            } else {
                "a number"
            };
            match (number("minimum"), number("maximum")) {
                (Some(low), Some(high)) => format!("{noun} from {low} to {high}"),
                (Some(low), None) => format!("{noun} of at least {low}"),
                (None, Some(high)) => format!("{noun} of at most {high}"),
                (None, None) => match (number("exclusiveMinimum"), number("exclusiveMaximum")) {
                    (Some(low), _) => format!("{noun} greater than {low}"),
                    (None, Some(high)) => format!("{noun} less than {high}"),
                    (None, None) => noun.to_owned(),
                },
            }
        }
        "string" => {
            let noun = match (
                schema.get("format").and_then(Value::as_str),
                schema.get("pattern").and_then(Value::as_str),
            ) {
                (Some("uri"), _) => "a URI".to_owned(),
                (_, Some(pattern)) => format!("a string matching `{pattern}`"),
                _ => "a string".to_owned(),
            };
            match (count("minLength"), count("maxLength")) {
                (Some(low), Some(high)) => format!("{noun} of {low} to {high} characters"),
                (Some(low), None) => {
                    format!("{noun} of at least {low} character{}", plural(low as usize))
                }
                (None, Some(high)) => format!("{noun} of at most {high} characters"),
                (None, None) => noun,
            }
        }
        "boolean" => "true or false".to_owned(),
        "null" => "null".to_owned(),
        "object" => "a mapping".to_owned(),
        _ => {
            let size = match (count("minItems"), count("maxItems")) {
                (Some(low), Some(high)) if low == high => {
                    format!(" of exactly {low} item{}", plural(low as usize))
                }
                (Some(low), Some(high)) => format!(" of {low} to {high} items"),
                (Some(low), None) => format!(" of at least {low} item{}", plural(low as usize)),
                (None, Some(high)) => format!(" of at most {high} items"),
                (None, None) => String::new(),
            };
            let each = match schema.get("items") {
                Some(item) if item.get("type").and_then(Value::as_str) == Some("object") => {
                    ", each a mapping".to_owned()
                }
                Some(item) => format!(", each {}", describe(item)),
                None => String::new(),
            };
            format!("a list{size}{each}")
        }
    }
}

pub(super) fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}
