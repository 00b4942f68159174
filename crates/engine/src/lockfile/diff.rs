//! What changed between a locked model and what the catalogue says of it now, in the words
//! `sora-batch models check` prints: fields added or removed, allowed values added or
//! removed, required or not, type, default and limits changed, the price text and the rule
//! read from it.
//!
//! Read [`changes`]. Fields are compared by their path: `duration`, `multi_prompt[].prompt`
//! (a field of the objects of a list), `image_urls[]` (the items of a list); the fields of
//! every alternative of a `oneOf`/`anyOf` input count as the input's. A change the items do
//! not cover (a description, an example, the nesting of alternatives) is still a change:
//! [`Change::OtherSchemaChanges`], because the lock would be rewritten for it.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;
use sora_batch_api::price_text;
use sora_batch_api::snapshot::PriceRule;

use super::LockedModel;
use crate::canonical::canonical_json;

/// Keywords that bound a field's values, compared one by one.
const LIMIT_KEYWORDS: &[&str] = &[
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "uniqueItems",
    "pattern",
    "format",
    "additionalProperties",
    "deprecated",
];

/// One difference between the lock and the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    FieldAdded {
        field: String,
        required: bool,
    },
    FieldRemoved {
        field: String,
    },
    AllowedValuesAdded {
        field: String,
        values: Vec<Value>,
    },
    AllowedValuesRemoved {
        field: String,
        values: Vec<Value>,
    },
    RequiredChanged {
        field: String,
        now_required: bool,
    },
    TypeChanged {
        field: String,
        before: String,
        after: String,
    },
    DefaultChanged {
        field: String,
        before: Option<Value>,
        after: Option<Value>,
    },
    LimitChanged {
        field: String,
        keyword: String,
        before: Option<Value>,
        after: Option<Value>,
    },
    /// The schemas differ in ways not itemised above.
    OtherSchemaChanges,
    PriceTextChanged {
        before: Option<String>,
        after: Option<String>,
    },
    PriceRuleChanged {
        before: Option<PriceRule>,
        after: Option<PriceRule>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::FieldAdded { field, required } => {
                write!(f, "field `{field}` added")?;
                if *required {
                    f.write_str(" (required)")?;
                }
                Ok(())
            }
            Change::FieldRemoved { field } => write!(f, "field `{field}` removed"),
            Change::AllowedValuesAdded { field, values } => {
                write!(
                    f,
                    "field `{field}`: allowed values added: {}",
                    joined(values)
                )
            }
            Change::AllowedValuesRemoved { field, values } => {
                write!(
                    f,
                    "field `{field}`: allowed values removed: {}",
                    joined(values)
                )
            }
            Change::RequiredChanged {
                field,
                now_required: true,
            } => write!(f, "field `{field}` is now required"),
            Change::RequiredChanged { field, .. } => {
                write!(f, "field `{field}` is no longer required")
            }
            Change::TypeChanged {
                field,
                before,
                after,
            } => write!(f, "field `{field}`: type {before} -> {after}"),
            Change::DefaultChanged {
                field,
                before,
                after,
            } => write!(
                f,
                "field `{field}`: default {} -> {}",
                shown(before.as_ref()),
                shown(after.as_ref())
            ),
            Change::LimitChanged {
                field,
                keyword,
                before,
                after,
            } => write!(
                f,
                "field `{field}`: {keyword} {} -> {}",
                shown(before.as_ref()),
                shown(after.as_ref())
            ),
            Change::OtherSchemaChanges => f.write_str(
                "the input schema changed otherwise (descriptions, examples or structure)",
            ),
            Change::PriceTextChanged { before, after } => write!(
                f,
                "price text: {} -> {}",
                text_shown(before.as_deref()),
                text_shown(after.as_deref())
            ),
            Change::PriceRuleChanged { before, after } => write!(
                f,
                "price rule: {} -> {}",
                rule_shown(before.as_ref()),
                rule_shown(after.as_ref())
            ),
        }
    }
}

fn joined(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn shown(value: Option<&Value>) -> String {
    value.map_or_else(|| "none".to_owned(), Value::to_string)
}

fn text_shown(text: Option<&str>) -> String {
    text.map_or_else(|| "none".to_owned(), |text| format!("{text:?}"))
}

fn rule_shown(rule: Option<&PriceRule>) -> String {
    rule.map_or_else(|| "none (price unknown)".to_owned(), PriceRule::to_string)
}

/// Everything that differs between `locked` and the catalogue's `schema`, `price_text` and
/// the rule read from it; empty when the lock is current.
pub fn changes(
    locked: &LockedModel,
    schema: &Value,
    price_text: Option<&str>,
    price_rule: Option<&PriceRule>,
) -> Vec<Change> {
    let mut changes = schema_changes(&locked.input_schema, schema);
    if locked.price_text.as_deref() != price_text {
        changes.push(Change::PriceTextChanged {
            before: locked.price_text.clone(),
            after: price_text.map(str::to_owned),
        });
    }
    if locked.price_rule.as_ref() != price_rule {
        changes.push(Change::PriceRuleChanged {
            before: locked.price_rule.clone(),
            after: price_rule.cloned(),
        });
    }
    changes
}

/// What differs between two input schemas.
pub fn schema_changes(before: &Value, after: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    let (old_fields, new_fields) = (fields(before), fields(after));
    for (path, field) in &new_fields {
        if !old_fields.contains_key(path) {
            changes.push(Change::FieldAdded {
                field: path.clone(),
                required: field.required,
            });
        }
    }
    for (path, old) in &old_fields {
        let Some(new) = new_fields.get(path) else {
            changes.push(Change::FieldRemoved {
                field: path.clone(),
            });
            continue;
        };
        field_changes(path, old, new, &mut changes);
    }
    // Whether fields other than those listed are accepted.
    let (old, new) = (
        before.get("additionalProperties"),
        after.get("additionalProperties"),
    );
    if old != new {
        changes.push(Change::LimitChanged {
            field: "(input)".into(),
            keyword: "additionalProperties".into(),
            before: old.cloned(),
            after: new.cloned(),
        });
    }
    if changes.is_empty() && canonical_json(before) != canonical_json(after) {
        changes.push(Change::OtherSchemaChanges);
    }
    changes
}

fn field_changes(path: &str, old: &Field<'_>, new: &Field<'_>, changes: &mut Vec<Change>) {
    let (old_values, new_values) = (
        price_text::allowed_values(old.schema),
        price_text::allowed_values(new.schema),
    );
    let added: Vec<Value> = new_values
        .iter()
        .filter(|value| !old_values.contains(value))
        .cloned()
        .collect();
    let removed: Vec<Value> = old_values
        .iter()
        .filter(|value| !new_values.contains(value))
        .cloned()
        .collect();
    if !added.is_empty() {
        changes.push(Change::AllowedValuesAdded {
            field: path.to_owned(),
            values: added,
        });
    }
    if !removed.is_empty() {
        changes.push(Change::AllowedValuesRemoved {
            field: path.to_owned(),
            values: removed,
        });
    }
    if old.required != new.required {
        changes.push(Change::RequiredChanged {
            field: path.to_owned(),
            now_required: new.required,
        });
    }
    let (old_type, new_type) = (type_text(old.schema), type_text(new.schema));
    if old_type != new_type {
        changes.push(Change::TypeChanged {
            field: path.to_owned(),
            before: old_type,
            after: new_type,
        });
    }
    let (old_default, new_default) = (old.schema.get("default"), new.schema.get("default"));
    if old_default != new_default {
        changes.push(Change::DefaultChanged {
            field: path.to_owned(),
            before: old_default.cloned(),
            after: new_default.cloned(),
        });
    }
    for keyword in LIMIT_KEYWORDS {
        let (before, after) = (old.schema.get(*keyword), new.schema.get(*keyword));
        // An object's `additionalProperties: {schema}` is compared through its fields.
        if before != after && !before.or(after).is_some_and(Value::is_object) {
            changes.push(Change::LimitChanged {
                field: path.to_owned(),
                keyword: (*keyword).to_owned(),
                before: before.cloned(),
                after: after.cloned(),
            });
        }
    }
}

/// One field of a schema: its own schema and whether the object holding it requires it.
#[derive(Debug)]
struct Field<'a> {
    schema: &'a Value,
    required: bool,
}

/// Every field of an input schema by path, nested ones included.
fn fields(schema: &Value) -> BTreeMap<String, Field<'_>> {
    let mut out = BTreeMap::new();
    collect_fields(schema, "", &mut out);
    out
}

fn collect_fields<'a>(schema: &'a Value, prefix: &str, out: &mut BTreeMap<String, Field<'a>>) {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            let path = format!("{prefix}{name}");
            if out.contains_key(&path) {
                continue;
            }
            out.insert(
                path.clone(),
                Field {
                    schema: property,
                    required: required.contains(&name.as_str()),
                },
            );
            collect_fields(property, &format!("{path}."), out);
            if let Some(items) = property.get("items").filter(|items| items.is_object()) {
                let items_path = format!("{path}[]");
                out.insert(
                    items_path.clone(),
                    Field {
                        schema: items,
                        required: false,
                    },
                );
                collect_fields(items, &format!("{items_path}."), out);
            }
        }
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        for alternative in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_fields(alternative, prefix, out);
        }
    }
}

/// A field's type in a few characters: `string`, `integer|string`, `[string]`.
fn type_text(schema: &Value) -> String {
    match schema.get("type") {
        Some(Value::String(kind)) if kind == "array" => match schema.get("items") {
            Some(items) if items.is_object() => format!("[{}]", type_text(items)),
            _ => "array".to_owned(),
        },
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ => {
            let alternatives: Vec<String> = ["anyOf", "oneOf"]
                .iter()
                .filter_map(|key| schema.get(*key).and_then(Value::as_array))
                .flatten()
                .map(type_text)
                .collect();
            if alternatives.is_empty() {
                "any".to_owned()
            } else {
                alternatives.join("|")
            }
        }
    }
}
