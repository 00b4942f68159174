//! One job's input against its model's JSON Schema, each problem located at the manifest
//! value that caused it.
//!
//! Read [`Resolver::check_against_schema`]. The checking is [`InputSchema`]'s (values
//! converted, defaults filled in, validated); this file finds where each problem's value is
//! written — down into lists and mappings (`multi_prompt[1].duration`) — and words the
//! diagnostic. A missing field is shown at the job. Jobs that share a value (a default, a
//! matrix axis) share its problems, and [`Resolver::push`] reports each once.

use serde_json::{Map, Value};
use sora_batch_api::registry::closest_name;

use super::{Field, Resolver};
use crate::diagnostic::{listed, quoted};
use crate::manifest::origin::{Site, Written};
use crate::manifest::raw::{JOB_KEYS, RawValue};
use crate::manifest::shape::position;
use crate::models::{InputSchema, PathSegment, SchemaProblemKind, path_text};

/// Where a value of a job's input is written.
struct Located {
    /// The key that names it, when it is written as a key.
    key: Option<Site>,
    /// The value itself.
    value: Site,
    /// Whether the whole path was found; else `key` and `value` are of its deepest part
    /// that was (a value filled in from a default is written nowhere).
    whole: bool,
}

impl Resolver<'_> {
    /// Converts, completes and checks `input` against `schema`; reports every problem and
    /// returns the input as it is sent when none is an error.
    pub(super) fn check_against_schema(
        &mut self,
        model: &str,
        schema: &InputSchema,
        mut input: Map<String, Value>,
        origins: &[Field<'_>],
        anchor: Site,
    ) -> Option<Map<String, Value>> {
        let problems = schema.check_and_complete(&mut input);
        let mut ok = true;
        for problem in problems {
            ok &= !problem.kind.is_error();
            let located = locate(origins, &problem.path);
            let field = path_text(&problem.path);
            let diagnostic = match problem.kind {
                SchemaProblemKind::UnknownField { suggestion, known } => {
                    let suggestion = match problem.path.as_slice() {
                        // At the top, a job key misplaced is as likely as a typo.
                        [PathSegment::Field(name)] => closest_name(
                            name,
                            known
                                .iter()
                                .map(String::as_str)
                                .chain(JOB_KEYS.iter().copied()),
                        )
                        .map(str::to_owned),
                        _ => suggestion,
                    };
                    let message = match suggestion {
                        Some(close) => format!(
                            "unknown field {} for model {}, did you mean {}?",
                            quoted(&field),
                            quoted(model),
                            quoted(&close)
                        ),
                        None => format!(
                            "unknown field {} for model {}",
                            quoted(&field),
                            quoted(model)
                        ),
                    };
                    let at = located
                        .as_ref()
                        .filter(|found| found.whole)
                        .map_or(anchor, |found| found.key.unwrap_or(found.value));
                    self.error_at(at, message).expected(format!(
                        "one of {}",
                        listed(known.iter().map(String::as_str))
                    ))
                }
                SchemaProblemKind::Missing => {
                    let (name, parent) = split_last(&problem.path);
                    let at = self.parent_position(origins, parent, anchor);
                    let expected = match parent {
                        [] if name == "prompt" => "a `prompt` in the job, the top-level `prompt`, a `prompt` axis or `defaults.prompt`".to_owned(),
                        [] => format!("{} in the job or in `defaults`", quoted(&name)),
                        _ => format!("{} in {}", quoted(&name), quoted(&path_text(parent))),
                    };
                    self.error_at(
                        at,
                        format!(
                            "missing required field {} for model {}",
                            quoted(&field),
                            quoted(model)
                        ),
                    )
                    .expected(expected)
                }
                SchemaProblemKind::MissingOneOf { fields } => {
                    let at = self.parent_position(origins, &problem.path, anchor);
                    let names: Vec<String> =
                        fields.iter().map(|name| quoted(name).to_string()).collect();
                    self.error_at(
                        at,
                        format!("model {} needs one of {}", quoted(model), names.join(", ")),
                    )
                    .expected(format!(
                        "at least one of {} in the job or in `defaults`",
                        names.join(", ")
                    ))
                }
                SchemaProblemKind::Invalid {
                    keyword,
                    expected,
                    found,
                    suggestion,
                    description,
                } => {
                    let at = located.as_ref().map_or(anchor, |found| found.value);
                    let message = if keyword == "maxLength" && field == "prompt" {
                        format!("`prompt` is too long for model {}", quoted(model))
                    } else {
                        let value = value_at(&input, &problem.path)
                            .map(shown_value)
                            .unwrap_or_default();
                        match suggestion {
                            Some(close) => format!(
                                "invalid value for {}{value}, did you mean {}?",
                                quoted(&field),
                                quoted(&close)
                            ),
                            None => format!("invalid value for {}{value}", quoted(&field)),
                        }
                    };
                    let expected = match found {
                        Some(found) => format!("{expected}, {found}"),
                        None => expected,
                    };
                    let diagnostic = self.error_at(at, message).expected(expected);
                    match description {
                        Some(description) => {
                            diagnostic.note(format!("{}: {}", quoted(&field), description))
                        }
                        None => diagnostic,
                    }
                }
                SchemaProblemKind::Deprecated => {
                    let at = located
                        .as_ref()
                        .map_or(anchor, |found| found.key.unwrap_or(found.value));
                    self.warning_at(
                        at,
                        format!(
                            "field {} of model {} is deprecated",
                            quoted(&field),
                            quoted(model)
                        ),
                    )
                    .note("it is sent as written; the model may ignore it or stop accepting it")
                }
            };
            self.push(diagnostic);
        }
        ok.then_some(input)
    }

    /// Where the object at `path` is written, for a problem of the whole object: the job
    /// itself for the input's top.
    fn parent_position(&self, origins: &[Field<'_>], path: &[PathSegment], anchor: Site) -> Site {
        if path.is_empty() {
            return anchor;
        }
        locate(origins, path).map_or(anchor, |found| found.value)
    }
}

/// The path without its last segment, and that segment's name.
fn split_last(path: &[PathSegment]) -> (String, &[PathSegment]) {
    match path.split_last() {
        Some((PathSegment::Field(name), parent)) => (name.clone(), parent),
        Some((PathSegment::Index(index), parent)) => (index.to_string(), parent),
        None => (String::new(), path),
    }
}

/// Where the value at `path` is written in the manifest, following its lists and mappings.
fn locate(origins: &[Field<'_>], path: &[PathSegment]) -> Option<Located> {
    let (PathSegment::Field(first), rest) = path.split_first()? else {
        return None;
    };
    let (_, key, value) = origins.iter().find(|(name, _, _)| name == first)?;
    let mut located = Located {
        key: *key,
        value: value.site(),
        whole: true,
    };
    // A table's cell is the finest place there is: what is inside it is located there.
    let Written::Yaml(mut at) = *value else {
        return Some(located);
    };
    for segment in rest {
        let next = match (&at.value, segment) {
            (RawValue::List(items), PathSegment::Index(index)) => {
                items.get(*index).map(|item| (None, item))
            }
            (RawValue::Map(entries), PathSegment::Field(name)) => entries
                .iter()
                .find(|(key, _)| key.value == *name)
                .map(|(key, value)| (Some(Site::Manifest(position(&key.referenced))), value)),
            _ => None,
        };
        let Some((key, value)) = next else {
            located.whole = false;
            return Some(located);
        };
        located.key = key;
        located.value = Site::Manifest(position(&value.referenced));
        at = value;
    }
    Some(located)
}

/// The value at `path` of the input as it would be sent.
fn value_at<'v>(input: &'v Map<String, Value>, path: &[PathSegment]) -> Option<&'v Value> {
    let (PathSegment::Field(first), rest) = path.split_first()? else {
        return None;
    };
    let mut value = input.get(first)?;
    for segment in rest {
        value = match (value, segment) {
            (Value::Array(items), PathSegment::Index(index)) => items.get(*index)?,
            (Value::Object(object), PathSegment::Field(name)) => object.get(name)?,
            _ => return None,
        };
    }
    Some(value)
}

/// `: `value`` for a scalar short enough to read in a message, else nothing.
fn shown_value(value: &Value) -> String {
    match value {
        Value::String(text) if text.chars().count() <= 40 => format!(": `{text}`"),
        value @ (Value::Number(_) | Value::Bool(_) | Value::Null) => format!(": `{value}`"),
        _ => String::new(),
    }
}
