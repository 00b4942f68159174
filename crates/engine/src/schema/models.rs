//! Each model's input fields as a manifest may write them, from a [`ModelBook`]: the Sora 2
//! family as the api crate's registry checks it, every other model from its JSON Schema.
//!
//! Read [`known_models`]. A model's JSON Schema describes what is *sent*; a manifest writes
//! what the tool *converts* first (`models/prepare.rs`: `duration: 5` is sent as `"5"` to a
//! string field, `"5"` as 5 to an integer one, `"true"` as true to a boolean one) and
//! prompts that are templates. [`manifest_side`] widens a schema accordingly, so that the
//! manifest's schema never refuses a value the tool converts; the Sora 2 fields are written
//! out exactly as the registry checks them.

use std::collections::HashSet;

use serde_json::{Map, Value, json};
use sora_batch_api::registry::{FieldType, ModelSpec, Presence};

use crate::manifest::schema_parts::{HTTP_URL_PATTERN, NOT_BLANK_PATTERN};
use crate::models::{ModelBook, ModelKnowledge};

/// One model's input as a manifest may write it.
#[derive(Debug, Clone)]
pub(super) struct ModelInput {
    pub id: String,
    /// Names its `$defs` entries: the id with `/` as `__` and nothing a JSON pointer escapes.
    pub slug: String,
    /// Where the knowledge comes from, and whether the model is withdrawn, in words.
    pub origin: String,
    /// Each field's schema, widened by [`manifest_side`] (or exact, for the registry).
    pub fields: Map<String, Value>,
    /// Whether a field outside `fields` is refused: the tool refuses a field a schema does
    /// not list whenever it lists some.
    pub closed: bool,
    /// Fields a job must set: required, and without a default the tool fills in.
    pub required: Vec<String>,
}

/// Every model of `book`, in id order. A model the book knows without a schema (a locked
/// one whose schema Kie did not publish) is known, with no field checked.
pub(super) fn known_models(book: &ModelBook) -> Vec<ModelInput> {
    let mut models: Vec<ModelInput> = book.models().map(model_input).collect();
    let mut slugs = HashSet::new();
    for model in &mut models {
        let base = slug(&model.id);
        let mut candidate = base.clone();
        let mut counter = 2;
        while !slugs.insert(candidate.clone()) {
            candidate = format!("{base}-{counter}");
            counter += 1;
        }
        model.slug = candidate;
    }
    models
}

fn model_input(knowledge: &ModelKnowledge) -> ModelInput {
    let mut model = match (knowledge.registry_spec(), &knowledge.input_schema) {
        (Some(spec), _) => registry_model(spec),
        (None, Some(schema)) => schema_model(schema),
        (None, None) => ModelInput {
            id: String::new(),
            slug: String::new(),
            origin: String::new(),
            fields: Map::new(),
            closed: false,
            required: Vec::new(),
        },
    };
    model.id = knowledge.model.clone();
    model.origin = match &knowledge.withdrawn {
        Some(withdrawn) => format!(
            "{} (withdrawn since {}: {})",
            knowledge.source.describe(),
            withdrawn.since,
            withdrawn.reason
        ),
        None => knowledge.source.describe(),
    };
    model
}

fn slug(id: &str) -> String {
    id.replace('/', "__")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A Sora 2 model, field by field as the registry checks it.
fn registry_model(spec: &ModelSpec) -> ModelInput {
    let mut fields = Map::new();
    for field in spec.fields {
        let mut schema = match field.field_type {
            FieldType::Text { max_chars } => {
                json!({"type": "string", "pattern": NOT_BLANK_PATTERN, "maxLength": max_chars})
            }
            FieldType::Choice(options) => {
                let mut values: Vec<Value> = options.iter().map(|o| json!(o)).collect();
                // A choice that reads as a number may be written unquoted (`n_frames: 10`).
                values.extend(
                    options
                        .iter()
                        .filter_map(|o| o.parse::<u64>().ok())
                        .map(Value::from),
                );
                json!({"enum": values})
            }
            FieldType::Bool => json!({"type": "boolean"}),
            FieldType::UrlList { min, max } => json!({
                "type": "array", "minItems": min, "maxItems": max,
                "items": {"type": "string", "format": "uri", "pattern": HTTP_URL_PATTERN},
            }),
            FieldType::TextList { max } => json!({
                "type": "array", "maxItems": max,
                "items": {"type": "string", "pattern": NOT_BLANK_PATTERN},
            }),
        };
        if let (Presence::AlwaysSent(default), Some(object)) =
            (field.presence, schema.as_object_mut())
        {
            let default = match default {
                sora_batch_api::registry::DefaultValue::Text(text) => json!(text),
                sora_batch_api::registry::DefaultValue::Bool(flag) => json!(flag),
            };
            object.insert("default".into(), default);
        }
        fields.insert(field.name.to_owned(), template_aware(field.name, schema));
    }
    ModelInput {
        id: spec.name.to_owned(),
        slug: String::new(),
        origin: String::new(),
        fields,
        closed: true,
        required: spec
            .fields
            .iter()
            .filter(|field| field.presence == Presence::Required)
            .map(|field| field.name.to_owned())
            .collect(),
    }
}

/// A model known by the JSON Schema of its createTask `input`.
fn schema_model(schema: &Value) -> ModelInput {
    let properties = schema.get("properties").and_then(Value::as_object);
    let mut fields = Map::new();
    for (name, field) in properties.into_iter().flatten() {
        fields.insert(
            name.clone(),
            file_aware(template_aware(name, manifest_side(field))),
        );
    }
    // The tool fills in a default (unless the field is deprecated) before it validates.
    let filled_in = |name: &str| {
        properties
            .and_then(|properties| properties.get(name))
            .is_some_and(|field| {
                field.get("default").is_some()
                    && field.get("deprecated") != Some(&Value::Bool(true))
            })
    };
    let required = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|name| !filled_in(name))
        .map(str::to_owned)
        .collect();
    ModelInput {
        id: String::new(),
        slug: String::new(),
        origin: String::new(),
        fields,
        closed: properties.is_some(),
        required,
    }
}

/// A field that takes files (a URL, or a list of them) may name local files instead
/// (`manifest::resolve::files`): a path is no URI, and a path or pattern may stand for the
/// whole list. The tool checks the URLs and counts after resolving, so here they are only
/// strings.
fn file_aware(schema: Value) -> Value {
    let is_uri = |schema: &Value| schema.get("format").and_then(Value::as_str) == Some("uri");
    let loosen = |schema: &mut Value| {
        if let Some(object) = schema.as_object_mut() {
            object.remove("format");
            object.remove("pattern");
        }
    };
    let mut schema = schema;
    if is_uri(&schema) {
        loosen(&mut schema);
        return schema;
    }
    let Some(items) = schema.get_mut("items").filter(|items| is_uri(items)) else {
        return schema;
    };
    loosen(items);
    if let Some(object) = schema.as_object_mut() {
        // A glob may expand past the counts; the tool checks them after expanding.
        object.remove("minItems");
        object.remove("maxItems");
    }
    let description = schema.get("description").cloned();
    let mut either = json!({"anyOf": [schema, {"type": "string", "minLength": 1}]});
    if let (Some(description), Some(object)) = (description, either.as_object_mut()) {
        object.insert("description".into(), description);
    }
    either
}

/// A `prompt` that holds a brace is a template: its text after rendering is not known, so
/// only its syntax is checked (elsewhere); one without braces is sent as written.
fn template_aware(name: &str, schema: Value) -> Value {
    if name != "prompt" {
        return schema;
    }
    let mut schema = schema;
    let description = schema
        .as_object_mut()
        .and_then(|object| object.remove("description"));
    let mut wrapped = json!({
        "if": {"type": "string", "pattern": "[{}]"},
        "then": true,
        "else": schema,
    });
    if let (Some(description), Some(object)) = (description, wrapped.as_object_mut()) {
        object.insert("description".into(), description);
    }
    wrapped
}

/// Keywords whose value is a schema, and those whose value is a list or map of schemas.
const SUBSCHEMA: &[&str] = &[
    "items",
    "not",
    "if",
    "then",
    "else",
    "additionalProperties",
    "contains",
];
const SUBSCHEMA_LISTS: &[&str] = &["anyOf", "allOf", "prefixItems"];
const SUBSCHEMA_MAPS: &[&str] = &["properties", "patternProperties"];

/// `schema` widened to what a manifest may write for it:
///
/// - a string also as a number (`5` is sent as `"5"`): enums and consts that read as
///   numbers gain the number, other strings accept any number;
/// - an integer or a number also as a string that reads as one (`"5"` is sent as 5), and an
///   enum or const of numbers gains their text;
/// - `oneOf` becomes `anyOf`, since two widened branches may both hold;
/// - references and identifiers are dropped (a lock's schema is inlined; a stray `$ref`
///   would point into this document), their subschema accepting anything.
pub(super) fn manifest_side(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    if object.contains_key("$ref") || object.contains_key("$dynamicRef") {
        return Value::Bool(true);
    }
    let mut widened = Map::new();
    for (key, value) in object {
        let value = match key.as_str() {
            "$id" | "$schema" | "$anchor" | "$dynamicAnchor" | "$defs" | "definitions"
            | "$vocabulary" => continue,
            "oneOf" => {
                widened.insert("anyOf".into(), map_list(value));
                continue;
            }
            k if SUBSCHEMA.contains(&k) => manifest_side(value),
            k if SUBSCHEMA_LISTS.contains(&k) => map_list(value),
            k if SUBSCHEMA_MAPS.contains(&k) => match value {
                Value::Object(map) => Value::Object(
                    map.iter()
                        .map(|(name, sub)| (name.clone(), manifest_side(sub)))
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => value.clone(),
        };
        widened.insert(key.clone(), value);
    }
    if let Some(constant) = widened.remove("const") {
        widened.insert("enum".into(), Value::Array(vec![constant]));
    }
    if let Some(Value::Array(values)) = widened.get_mut("enum") {
        let twins: Vec<Value> = values.iter().filter_map(twin).collect();
        for value in twins {
            if !values.contains(&value) {
                values.push(value);
            }
        }
    }
    let types: Vec<String> = match widened.get("type") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let has = |name: &str| types.iter().any(|t| t == name);
    let mut types_after = types.clone();
    if has("string") && !has("number") && !has("integer") {
        types_after.push("number".into());
    }
    // A text that reads as the value, as `models/prepare.rs` reads it (trimmed; Rust's
    // integer and float syntax). Only when the field takes no text of its own, so that the
    // pattern applies to the converted text alone.
    let text_pattern = if has("number") {
        Some(r"^\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*$")
    } else if has("integer") {
        Some(r"^\s*[-+]?[0-9]+\s*$")
    } else if has("boolean") {
        Some(r"^\s*(?:true|false)\s*$")
    } else {
        None
    };
    if let Some(pattern) = text_pattern
        && !has("string")
        && !widened.contains_key("pattern")
    {
        types_after.push("string".into());
        widened.insert("pattern".into(), json!(pattern));
    }
    if types_after != types {
        widened.insert("type".into(), json!(types_after));
    }
    Value::Object(widened)
}

fn map_list(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(manifest_side).collect()),
        other => other.clone(),
    }
}

/// The other form of an enum's value: `"5"` for 5 and 5 for `"5"`.
fn twin(value: &Value) -> Option<Value> {
    match value {
        Value::String(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
            }),
        Value::Number(number) => Some(Value::String(number.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_take_numbers_and_numbers_take_their_text() {
        let widened = manifest_side(&json!({
            "type": "object",
            "properties": {
                "duration": {"type": "string", "enum": ["5", "10"], "default": "5"},
                "seconds": {"anyOf": [{"type": "integer", "minimum": 4}, {"const": -1}]},
                "mode": {"oneOf": [{"type": "string"}, {"type": "boolean"}]},
                "image": {"$ref": "#/components/schemas/Image"},
            },
        }));
        assert_eq!(
            widened["properties"]["duration"],
            json!({"type": ["string", "number"], "enum": ["5", "10", 5, 10], "default": "5"})
        );
        assert_eq!(
            widened["properties"]["seconds"]["anyOf"],
            json!([
                {"type": ["integer", "string"], "minimum": 4, "pattern": r"^\s*[-+]?[0-9]+\s*$"},
                {"enum": [-1, "-1"]},
            ])
        );
        assert_eq!(
            widened["properties"]["mode"],
            json!({"anyOf": [
                {"type": ["string", "number"]},
                {"type": ["boolean", "string"], "pattern": r"^\s*(?:true|false)\s*$"},
            ]})
        );
        assert_eq!(widened["properties"]["image"], json!(true));
    }

    #[test]
    fn booleans_take_their_text_and_numbers_keep_what_the_tool_reads() {
        let widened = manifest_side(&json!({"properties": {
            "sound": {"type": "boolean"},
            "ratio": {"type": "number", "minimum": 0},
        }}));
        assert_eq!(
            widened["properties"]["sound"]["type"],
            json!(["boolean", "string"])
        );
        let schema = json!({"type": "object", "properties": widened["properties"]});
        let validator = jsonschema::validator_for(&schema).expect("compiles");
        for good in [
            json!({"sound": " true "}),
            json!({"ratio": ".5"}),
            json!({"ratio": "+2e3"}),
        ] {
            assert!(validator.is_valid(&good), "{good}");
        }
        for bad in [json!({"sound": "yes"}), json!({"ratio": "two"})] {
            assert!(!validator.is_valid(&bad), "{bad}");
        }
    }

    #[test]
    fn every_model_of_the_book_is_known_and_a_closed_schema_is_one_that_lists_fields() {
        let models = known_models(&ModelBook::built_in());
        assert_eq!(models.len(), ModelBook::built_in().ids().count());
        let kling = models.iter().find(|m| m.id == "kling-2.6/text-to-video");
        assert_eq!(
            kling.map(|m| (m.slug.as_str(), m.closed, m.required.clone())),
            // `aspect_ratio` and `duration` are required with defaults the tool fills in.
            Some((
                "kling-2.6__text-to-video",
                true,
                vec!["prompt".to_owned(), "sound".to_owned()]
            ))
        );
        let sora = models.iter().find(|m| m.id == "sora-2-image-to-video");
        assert!(sora.is_some_and(
            |m| m.origin.contains("withdrawn") && m.required.contains(&"image_urls".to_owned())
        ));
        let slugs: HashSet<&str> = models.iter().map(|m| m.slug.as_str()).collect();
        assert_eq!(slugs.len(), models.len());
    }
}
