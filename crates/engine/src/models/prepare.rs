//! Preparing a job's input for its schema: scalars converted to the types the schema asks
//! for, defaults filled in. Kie does not apply documented defaults, and YAML cannot always
//! say which JSON type a value means (`duration: 5` where Kie wants the string `"5"`).
//!
//! Read [`convert`] and [`fill_defaults`]; [`super::input`] calls them before validating.

use serde_json::{Map, Number, Value};

/// How deep conversion and default filling follow nested schemas. Kie's inputs nest two or
/// three levels; a schema is bounded when it is read, this only keeps the walk obviously so.
const MAX_DEPTH: usize = 32;

pub(super) fn properties(schema: &Value) -> Option<&Map<String, Value>> {
    schema.get("properties").and_then(Value::as_object)
}

pub(super) fn alternatives(schema: &Value) -> &[Value] {
    ["anyOf", "oneOf"]
        .iter()
        .find_map(|keyword| schema.get(keyword).and_then(Value::as_array))
        .map_or(&[], Vec::as_slice)
}

/// The JSON types a schema admits: its `type`, else the types of its `const` or `enum`.
pub(super) fn types_of(schema: &Value) -> Vec<&'static str> {
    match schema.get("type") {
        Some(Value::String(name)) => type_name(name).into_iter().collect(),
        Some(Value::Array(names)) => names
            .iter()
            .filter_map(Value::as_str)
            .filter_map(type_name)
            .collect(),
        _ => {
            let mut types: Vec<&'static str> = Vec::new();
            let values = schema
                .get("const")
                .map(std::slice::from_ref)
                .or_else(|| {
                    schema
                        .get("enum")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                })
                .unwrap_or(&[]);
            for value in values {
                let name = json_type(value);
                if !types.contains(&name) {
                    types.push(name);
                }
            }
            types
        }
    }
}

fn type_name(name: &str) -> Option<&'static str> {
    [
        "string", "integer", "number", "boolean", "array", "object", "null",
    ]
    .into_iter()
    .find(|known| *known == name)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(number) if number.is_i64() || number.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Whether `value` is of JSON type `name` as it would be sent: `5.0` is not an integer here,
/// so that an integer field sends `5`.
fn fits(name: &str, value: &Value) -> bool {
    match (name, value) {
        ("number", Value::Number(_)) => true,
        (name, value) => json_type(value) == name,
    }
}

/// Converts scalars of `value` to the types `schema` asks for, where that loses nothing.
pub(super) fn convert(value: &mut Value, schema: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    let choices = alternatives(schema);
    if !choices.is_empty() {
        // A value some alternative already admits is left as it is: `"10"` stays a string
        // where both an integer and a string are allowed.
        if let Some(choice) = choices
            .iter()
            .find(|choice| types_of(choice).iter().any(|name| fits(name, value)))
        {
            convert(value, choice, depth + 1);
            return;
        }
        for choice in choices {
            if let Some(converted) = converted_to(value, &types_of(choice)) {
                *value = converted;
                return;
            }
        }
        return;
    }
    let types = types_of(schema);
    if types.is_empty() || types.iter().any(|name| fits(name, value)) {
        match value {
            Value::Object(object) => {
                if let Some(fields) = properties(schema) {
                    for (name, field_value) in object.iter_mut() {
                        if let Some(field) = fields.get(name) {
                            convert(field_value, field, depth + 1);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = schema.get("items") {
                    for element in items {
                        convert(element, item, depth + 1);
                    }
                }
            }
            _ => {}
        }
        return;
    }
    if let Some(converted) = converted_to(value, &types) {
        *value = converted;
    }
}

/// `value` as the first of `types` it converts to without loss: a number as its decimal
/// text, a text of digits as an integer, `"true"`/`"false"` as booleans, an integral
/// float as an integer.
fn converted_to(value: &Value, types: &[&str]) -> Option<Value> {
    types.iter().find_map(|name| match (*name, value) {
        ("string", Value::Number(number)) => Some(Value::String(number.to_string())),
        ("integer", Value::String(text)) => text.trim().parse::<i64>().ok().map(Value::from),
        ("integer", Value::Number(number)) => number
            .as_f64()
            .filter(|float| float.fract() == 0.0 && float.abs() < 9.0e15)
            // Exact: the float is integral and well inside i64's range.
            .map(|float| Value::from(float as i64)),
        ("number", Value::String(text)) => {
            let text = text.trim();
            match text.parse::<i64>() {
                Ok(integer) => Some(Value::from(integer)),
                Err(_) => text
                    .parse::<f64>()
                    .ok()
                    .and_then(Number::from_f64)
                    .map(Value::Number),
            }
        }
        ("boolean", Value::String(text)) => match text.trim() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    })
}

/// Fills in the default of every absent field of `value` (and of the objects in it) that
/// has one. Deprecated fields are not filled in: they are sent only when a job sets them.
pub(super) fn fill_defaults(value: &mut Value, schema: &Value, depth: usize) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(object) => {
            let Some(fields) = properties(schema) else {
                return;
            };
            for (name, field) in fields {
                if !object.contains_key(name)
                    && field.get("deprecated") != Some(&Value::Bool(true))
                    && let Some(default) = field.get("default")
                {
                    object.insert(name.clone(), default.clone());
                }
            }
            for (name, field_value) in object.iter_mut() {
                if let Some(field) = fields.get(name) {
                    fill_defaults(field_value, field, depth + 1);
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for element in items {
                    fill_defaults(element, item, depth + 1);
                }
            }
        }
        _ => {}
    }
}
