//! One job's input against a model's JSON Schema: values converted to the schema's types,
//! defaults filled in, then every problem found, each with the path of the value at fault.
//!
//! Read [`InputSchema::check_and_complete`]. Validation itself is the `jsonschema` crate's;
//! the input is prepared for it first (`prepare.rs`: a scalar converted to the type the
//! schema asks for when that loses nothing, defaults filled in, as Kie does not apply them),
//! and its errors become [`SchemaProblem`]s a person can act on: one per offending value (a
//! value both of the wrong type and outside an enum is one problem), what would fit
//! described from the schema (`describe.rs`), close names suggested. A value that does not
//! convert stays as written, and is reported with the type it should have.

use serde_json::{Map, Value};
use sora_batch_api::registry::closest_name;

use super::describe::{describe, plural};
use super::prepare::{convert, fill_defaults, properties};

/// One step of the path from a job's input to a value in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    Field(String),
    Index(usize),
}

/// A problem with one value of a job's input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaProblem {
    /// Where, from the input's top: `[Field("multi_prompt"), Index(0), Field("duration")]`.
    /// For [`SchemaProblemKind::Missing`] it ends with the missing field; for
    /// [`SchemaProblemKind::MissingOneOf`] it is the object that lacks them.
    pub path: Vec<PathSegment>,
    pub kind: SchemaProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaProblemKind {
    /// A field the schema does not list; `known` are the fields it lists there.
    UnknownField {
        suggestion: Option<String>,
        known: Vec<String>,
    },
    /// A required field is absent.
    Missing,
    /// One of these fields must be present, and none is.
    MissingOneOf { fields: Vec<String> },
    /// The value does not fit the schema.
    Invalid {
        /// The JSON Schema keyword it failed first (`maxLength`, `enum`, `anyOf`, ...).
        keyword: String,
        /// What would fit, described from the schema: `one of "std", "pro", "4K"`.
        expected: String,
        /// What is wrong when the value alone does not show it: `found 2501 characters`.
        found: Option<String>,
        /// A close allowed value, for a string outside an enum.
        suggestion: Option<String>,
        /// The schema's own description of the field, when it has one.
        description: Option<String>,
    },
    /// A field the schema marks deprecated is set: a warning, not an error.
    Deprecated,
}

impl SchemaProblemKind {
    pub fn is_error(&self) -> bool {
        !matches!(self, SchemaProblemKind::Deprecated)
    }
}

/// `path` as a person reads it: `multi_prompt[0].duration`.
pub fn path_text(path: &[PathSegment]) -> String {
    let mut text = String::new();
    for segment in path {
        match segment {
            PathSegment::Field(name) if text.is_empty() => text.push_str(name),
            PathSegment::Field(name) => {
                text.push('.');
                text.push_str(name);
            }
            PathSegment::Index(index) => text.push_str(&format!("[{index}]")),
        }
    }
    text
}

/// How a field takes files ([`InputSchema::file_field`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileField {
    /// One URL.
    One,
    /// A list of URLs.
    List,
}

/// A model's input schema, compiled once and used for every job of the model.
#[derive(Debug)]
pub struct InputSchema {
    /// The schema as it was given, but for `additionalProperties: false` at the top when
    /// it lists its properties (see [`InputSchema::compile`]).
    schema: Value,
    validator: jsonschema::Validator,
}

impl InputSchema {
    /// Compiles `schema` (draft 2020-12, `format` checked). A field the schema does not
    /// list at its top is refused even where the schema leaves `additionalProperties` open,
    /// as Kie's published schemas do: a field Kie does not document is almost surely a typo,
    /// and it would cost a task to learn that it was ignored.
    pub fn compile(schema: &Value) -> Result<InputSchema, String> {
        let mut schema = schema.clone();
        if let Some(object) = schema.as_object_mut()
            && object.get("properties").is_some_and(Value::is_object)
        {
            object.insert("additionalProperties".to_owned(), Value::Bool(false));
        }
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|error| error.to_string())?;
        Ok(InputSchema { schema, validator })
    }

    /// The fields the schema lists at its top, in its order.
    pub fn field_names(&self) -> Vec<&str> {
        properties(&self.schema)
            .map(|properties| properties.keys().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Whether `name` is an input field of the model: listed by the schema, or anything
    /// when the schema lists no fields.
    pub fn lists_field(&self, name: &str) -> bool {
        properties(&self.schema).is_none_or(|properties| properties.contains_key(name))
    }

    /// Whether the top-level field `name` takes files: its schema is a URL (`format: uri`)
    /// or a list of them. Such a field's value may name local files.
    pub fn file_field(&self, name: &str) -> Option<FileField> {
        let field = properties(&self.schema)?.get(name)?;
        let is_uri = |schema: &Value| schema.get("format").and_then(Value::as_str) == Some("uri");
        if is_uri(field) {
            return Some(FileField::One);
        }
        field.get("items").filter(|items| is_uri(items))?;
        Some(FileField::List)
    }

    /// Brings `input` to what is sent — scalars converted to the schema's types, every
    /// absent field that has a default filled in — and checks it. Every problem is
    /// returned, in the validator's order; [`SchemaProblemKind::Deprecated`] ones are
    /// warnings. `input` is complete only when no problem is an error.
    pub fn check_and_complete(&self, input: &mut Map<String, Value>) -> Vec<SchemaProblem> {
        let mut value = Value::Object(std::mem::take(input));
        convert(&mut value, &self.schema, 0);
        fill_defaults(&mut value, &self.schema, 0);
        let mut problems = self.problems(&value);
        if let (Value::Object(object), Some(properties)) = (&value, properties(&self.schema)) {
            for name in object.keys() {
                if properties
                    .get(name)
                    .and_then(|field| field.get("deprecated"))
                    == Some(&Value::Bool(true))
                {
                    problems.push(SchemaProblem {
                        path: vec![PathSegment::Field(name.clone())],
                        kind: SchemaProblemKind::Deprecated,
                    });
                }
            }
        }
        if let Value::Object(object) = value {
            *input = object;
        }
        problems
    }

    /// The validator's errors as problems: one per offending value.
    fn problems(&self, instance: &Value) -> Vec<SchemaProblem> {
        use jsonschema::error::ValidationErrorKind as Kind;
        let mut problems: Vec<SchemaProblem> = Vec::new();
        for error in self.validator.iter_errors(instance) {
            let path = path_in(instance, &error.instance_path().iter().collect::<Vec<_>>());
            // The schema of the value at fault: the schema path without its last keyword.
            let schema_path = error.schema_path().as_str();
            let parent_pointer = schema_path
                .rfind('/')
                .map_or("", |slash| &schema_path[..slash]);
            let subschema = self.schema.pointer(parent_pointer).unwrap_or(&Value::Null);
            match error.kind() {
                Kind::AdditionalProperties { unexpected } => {
                    let known: Vec<String> = properties(subschema)
                        .map(|fields| fields.keys().cloned().collect())
                        .unwrap_or_default();
                    for name in unexpected {
                        let mut field_path = path.clone();
                        field_path.push(PathSegment::Field(name.clone()));
                        problems.push(SchemaProblem {
                            path: field_path,
                            kind: SchemaProblemKind::UnknownField {
                                suggestion: closest_name(name, known.iter().map(String::as_str))
                                    .map(str::to_owned),
                                known: known.clone(),
                            },
                        });
                    }
                }
                Kind::Required { property } => {
                    let mut field_path = path.clone();
                    field_path.push(PathSegment::Field(match property {
                        Value::String(name) => name.clone(),
                        other => other.to_string(),
                    }));
                    problems.push(SchemaProblem {
                        path: field_path,
                        kind: SchemaProblemKind::Missing,
                    });
                }
                Kind::AnyOf { context } | Kind::OneOfNotValid { context }
                    if required_alternatives(context).is_some() =>
                {
                    let fields = required_alternatives(context).unwrap_or_default();
                    problems.push(SchemaProblem {
                        path,
                        kind: SchemaProblemKind::MissingOneOf { fields },
                    });
                }
                kind => {
                    let already = problems.iter().any(|problem| {
                        problem.path == path
                            && matches!(problem.kind, SchemaProblemKind::Invalid { .. })
                    });
                    if already {
                        continue;
                    }
                    let value = error.instance();
                    let suggestion = match (kind, value.as_ref()) {
                        // A number or a ratio (`7`, `16:10`) is a choice, not a typo: only
                        // words get a suggestion (`4k` for `4K`).
                        (Kind::Enum { options }, Value::String(text))
                            if text.chars().any(char::is_alphabetic) =>
                        {
                            let options = options.as_array().map(Vec::as_slice).unwrap_or(&[]);
                            closest_name(text, options.iter().filter_map(Value::as_str))
                                .map(str::to_owned)
                        }
                        _ => None,
                    };
                    let found = match (kind, value.as_ref()) {
                        (Kind::MaxLength { .. } | Kind::MinLength { .. }, Value::String(text)) => {
                            Some(format!("found {} characters", text.chars().count()))
                        }
                        (Kind::MaxItems { .. } | Kind::MinItems { .. }, Value::Array(items)) => {
                            Some(format!("found {} item{}", items.len(), plural(items.len())))
                        }
                        _ => None,
                    };
                    let description = subschema
                        .get("description")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    problems.push(SchemaProblem {
                        path,
                        kind: SchemaProblemKind::Invalid {
                            keyword: kind.keyword().to_owned(),
                            expected: describe(subschema),
                            found,
                            suggestion,
                            description,
                        },
                    });
                }
            }
        }
        problems
    }
}

/// The fields that the alternatives of an `anyOf`/`oneOf` require, when each alternative
/// failed only for a missing field (`anyOf: [{required: [image_urls]}, {required: [task_id]}]`).
fn required_alternatives(
    context: &[Vec<jsonschema::ValidationError<'static>>],
) -> Option<Vec<String>> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let mut fields = Vec::new();
    for alternative in context {
        if alternative.is_empty() {
            return None;
        }
        for error in alternative {
            match error.kind() {
                Kind::Required {
                    property: Value::String(name),
                } if error.instance_path().as_str().is_empty() => {
                    if !fields.contains(name) {
                        fields.push(name.clone());
                    }
                }
                _ => return None,
            }
        }
    }
    (!fields.is_empty()).then_some(fields)
}

/// The validator's location as path segments, read against the instance: a segment it
/// parsed as an index names a field where the value there is an object (a field `"0"`).
fn path_in(
    instance: &Value,
    segments: &[jsonschema::paths::LocationSegment<'_>],
) -> Vec<PathSegment> {
    use jsonschema::paths::LocationSegment;
    let mut path = Vec::with_capacity(segments.len());
    let mut at = Some(instance);
    for segment in segments {
        let step = match (segment, at) {
            (LocationSegment::Index(index), Some(Value::Array(_)) | None) => {
                PathSegment::Index(*index)
            }
            (LocationSegment::Index(index), Some(_)) => PathSegment::Field(index.to_string()),
            (LocationSegment::Property(name), _) => PathSegment::Field(name.to_string()),
        };
        at = match (&step, at) {
            (PathSegment::Index(index), Some(Value::Array(items))) => items.get(*index),
            (PathSegment::Field(name), Some(Value::Object(object))) => object.get(name),
            _ => None,
        };
        path.push(step);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn schema() -> InputSchema {
        InputSchema::compile(&json!({
            "type": "object",
            "properties": {
                "prompt": {"type": "string", "maxLength": 10},
                "duration": {"type": "string", "enum": ["5", "10"], "default": "5"},
                "seconds": {"anyOf": [{"type": "integer", "minimum": 4, "maximum": 15}, {"const": -1}], "default": 5},
                "count": {"type": "integer"},
                "ratio": {"type": "number"},
                "mode": {"type": "string", "enum": ["std", "pro"]},
                "sound": {"type": "boolean", "default": false},
                "legacy": {"type": "boolean", "default": true, "deprecated": true},
                "shots": {"type": "array", "maxItems": 2, "items": {
                    "type": "object",
                    "properties": {"text": {"type": "string"}, "length": {"type": "integer", "default": 3}},
                    "required": ["text"],
                    "additionalProperties": false
                }}
            },
            "required": ["prompt"]
        }))
        .unwrap_or_else(|error| panic!("{error}"))
    }

    /// Each problem as `path: what`, for comparing.
    fn summary(problems: &[SchemaProblem]) -> Vec<String> {
        let mut lines: Vec<String> = problems
            .iter()
            .map(|problem| {
                let what = match &problem.kind {
                    SchemaProblemKind::Invalid {
                        expected,
                        found,
                        suggestion,
                        ..
                    } => format!(
                        "expected {expected}{}{}",
                        found
                            .as_ref()
                            .map(|found| format!(", {found}"))
                            .unwrap_or_default(),
                        suggestion
                            .as_ref()
                            .map(|close| format!(", did you mean {close}"))
                            .unwrap_or_default()
                    ),
                    SchemaProblemKind::UnknownField { suggestion, .. } => {
                        format!("unknown, did you mean {suggestion:?}")
                    }
                    other => format!("{other:?}"),
                };
                format!("{}: {what}", path_text(&problem.path))
            })
            .collect();
        lines.sort();
        lines
    }

    #[test]
    fn scalars_become_the_schemas_types_and_defaults_are_filled_in() {
        let mut input = object(json!({
            "prompt": 12345, "duration": 10, "seconds": "7", "count": "3", "ratio": "1.5",
            "sound": "true", "shots": [{"text": "a"}]
        }));
        assert_eq!(schema().check_and_complete(&mut input), []);
        assert_eq!(
            Value::Object(input),
            json!({
                "prompt": "12345", "duration": "10", "seconds": 7, "count": 3, "ratio": 1.5,
                "sound": true, "shots": [{"text": "a", "length": 3}]
            })
        );
        let mut minus_one = object(json!({"prompt": "x", "seconds": "-1", "count": 4.0}));
        assert_eq!(schema().check_and_complete(&mut minus_one), []);
        assert_eq!(minus_one.get("seconds"), Some(&json!(-1)));
        assert_eq!(minus_one.get("count"), Some(&json!(4)));
        assert_eq!(
            minus_one.get("legacy"),
            None,
            "a deprecated default is not sent"
        );
    }

    #[test]
    fn a_value_that_does_not_convert_is_one_problem_saying_what_fits() {
        let mut input = object(json!({
            "prompt": "far too long a prompt", "count": "five", "seconds": "soon",
            "duration": true, "ratio": "wide"
        }));
        assert_eq!(
            summary(&schema().check_and_complete(&mut input)),
            [
                "count: expected an integer",
                "duration: expected one of \"5\", \"10\"",
                "prompt: expected a string of at most 10 characters, found 21 characters",
                "ratio: expected a number",
                "seconds: expected an integer from 4 to 15, or -1",
            ]
        );
    }

    #[test]
    fn unknown_fields_missing_ones_and_close_values_are_named() {
        let mut input = object(json!({
            "promt": "x", "duration": "50", "mode": "Pro",
            "shots": [{"text": "a", "lenght": 2}, {"length": 1}, {"text": "c"}]
        }));
        assert_eq!(
            summary(&schema().check_and_complete(&mut input)),
            [
                "duration: expected one of \"5\", \"10\"",
                "mode: expected one of \"std\", \"pro\", did you mean pro",
                "prompt: Missing",
                "promt: unknown, did you mean Some(\"prompt\")",
                "shots: expected a list of at most 2 items, each a mapping, found 3 items",
                "shots[0].lenght: unknown, did you mean Some(\"length\")",
                "shots[1].text: Missing",
            ]
        );
    }

    #[test]
    fn a_deprecated_field_is_a_warning() {
        let mut input = object(json!({"prompt": "x", "legacy": false}));
        let problems = schema().check_and_complete(&mut input);
        assert_eq!(summary(&problems), ["legacy: Deprecated"]);
        assert!(!problems[0].kind.is_error());
    }

    #[test]
    fn one_of_several_fields_is_required() {
        let schema = InputSchema::compile(&json!({
            "type": "object",
            "properties": {"image_urls": {"type": "array"}, "task_id": {"type": "string"}},
            "anyOf": [{"required": ["image_urls"]}, {"required": ["task_id"]}]
        }))
        .unwrap_or_else(|error| panic!("{error}"));
        let mut input = Map::new();
        assert_eq!(
            schema.check_and_complete(&mut input),
            [SchemaProblem {
                path: Vec::new(),
                kind: SchemaProblemKind::MissingOneOf {
                    fields: vec!["image_urls".into(), "task_id".into()]
                },
            }]
        );
    }

    #[test]
    fn a_schema_without_properties_takes_any_field() {
        let open =
            InputSchema::compile(&json!({"type": "object"})).unwrap_or_else(|e| panic!("{e}"));
        assert!(open.lists_field("anything"));
        let mut input = object(json!({"anything": 1}));
        assert_eq!(open.check_and_complete(&mut input), []);
        assert!(!schema().lists_field("promt") && schema().lists_field("prompt"));
    }

    #[test]
    fn uris_are_checked_and_a_bad_schema_is_refused() {
        let uri = InputSchema::compile(
            &json!({"properties": {"image": {"type": "string", "format": "uri"}}}),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut good = object(json!({"image": "https://example.com/a.png"}));
        assert_eq!(uri.check_and_complete(&mut good), []);
        let mut bad = object(json!({"image": "a cat.png"}));
        assert_eq!(
            summary(&uri.check_and_complete(&mut bad)),
            ["image: expected a URI"]
        );
        assert!(InputSchema::compile(&json!({"type": "strnig"})).is_err());
        assert!(InputSchema::compile(&json!({"properties": {"x": {"pattern": "("}}})).is_err());
    }

    #[test]
    fn paths_read_as_a_person_writes_them() {
        let path = [
            PathSegment::Field("shots".into()),
            PathSegment::Index(1),
            PathSegment::Field("text".into()),
        ];
        assert_eq!(path_text(&path), "shots[1].text");
    }
}
