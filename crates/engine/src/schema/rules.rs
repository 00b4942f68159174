//! The per-model conditionals: where a manifest names a model, its input fields are checked
//! against that model's, wherever they are written.
//!
//! Read [`model_rules`]. Input fields sit in four places, and which model a field meets
//! depends on where it is:
//!
//! - an explicit job: its own `model`, else the top-level `model` (else the default);
//! - `defaults`: merged into every job, so checked against every model some job uses;
//! - the top-level `prompt`: the prompt of every matrix job;
//! - matrix axes and `include` entries: a key is an input field only for a model that has
//!   that field (any other key is a template variable), for the combinations of that model.
//!
//! What cannot be said here is left out rather than guessed, so that the schema never
//! refuses a manifest the tool accepts (docs/manifest.md lists it): the combinations an
//! `exclude` removes (with a `model` axis and an `exclude`, axis values are not checked per
//! model), which include entries merge where, and whether a job's fields together meet a
//! model's rules across fields (`anyOf` of `required` lists).

use serde_json::{Map, Value, json};

use super::models::ModelInput;
use crate::manifest::DEFAULT_MODEL;

/// The `$defs` every model's rules share: predicates on the manifest's shape.
pub(super) fn shared_definitions(definitions: &mut Map<String, Value>) {
    let entries = [
        // The manifest has matrix jobs: a prompt (one job without a matrix), an axis, an
        // include entry (a combination of its own), or a rows table.
        (
            "when.matrix-jobs",
            json!({"anyOf": [
                {"required": ["prompt"], "properties": {"prompt": {"not": {"type": "null"}}}},
                {"required": ["rows"], "properties": {"rows": {"type": "string"}}},
                {"required": ["matrix"], "properties": {"matrix": {
                    "type": "object",
                    "not": {"propertyNames": {"enum": ["include", "exclude"]}},
                }}},
                {"required": ["matrix"], "properties": {"matrix": {
                    "type": "object",
                    "required": ["include"],
                    "properties": {"include": {"type": "array", "minItems": 1}},
                }}},
            ]}),
        ),
        (
            "when.model-axis",
            json!({"required": ["matrix"], "properties": {"matrix": {"type": "object", "required": ["model"]}}}),
        ),
        (
            "when.include-sets-model",
            json!({"required": ["matrix"], "properties": {"matrix": {
                "type": "object",
                "required": ["include"],
                "properties": {"include": {"type": "array", "contains": {"type": "object", "required": ["model"]}}},
            }}}),
        ),
        (
            "when.exclude",
            json!({"required": ["matrix"], "properties": {"matrix": {
                "type": "object",
                "required": ["exclude"],
                "properties": {"exclude": {"type": "array", "minItems": 1}},
            }}}),
        ),
        // A rows table: its columns (fields, variables, a `model`) are not in the document.
        (
            "when.rows",
            json!({"required": ["rows"], "properties": {"rows": {"type": "string"}}}),
        ),
        // A job that names its own model (`model: ~` names none).
        (
            "when.own-model",
            json!({"required": ["model"], "properties": {"model": {"not": {"type": "null"}}}}),
        ),
    ];
    for (name, schema) in entries {
        definitions.insert(name.to_owned(), schema);
    }
}

/// A job's or the manifest's `model` is `id`.
fn model_is(id: &str) -> Value {
    json!({"required": ["model"], "properties": {"model": {"const": id}}})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/$defs/{name}")})
}

/// A JSON pointer to field `field` of a model's `values.` definition, escaped for a URI
/// fragment.
fn field_pointer(slug: &str, field: &str) -> Value {
    let mut escaped = String::new();
    for byte in field.replace('~', "~0").replace('/', "~1").bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    json!({"$ref": format!("#/$defs/values.{slug}/properties/{escaped}")})
}

fn defaults_have(field: &str) -> Value {
    json!({"required": ["defaults"], "properties": {"defaults": {"type": "object", "required": [field]}}})
}

/// A field's name as part of a `$defs` name: letters, digits, `_` and `-` as they are,
/// any other character as `.` and its hex code, so that two names never meet.
fn field_slug(field: &str) -> String {
    let mut slug = String::new();
    for c in field.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
            slug.push(c);
        } else {
            slug.push_str(&format!(".{:x}", u32::from(c)));
        }
    }
    slug
}

/// The `$defs` of a required field that models share: `defaults` give it; matrix jobs find
/// it somewhere (`defaults`, an axis, an include entry, or the top-level prompt for
/// `prompt`), not knowing which include entries reach which combination.
fn required_field_definitions(field: &str, definitions: &mut Map<String, Value>) {
    let slug = field_slug(field);
    if definitions.contains_key(&format!("when.defaults-give.{slug}")) {
        return;
    }
    let mut somewhere = vec![
        reference(&format!("when.defaults-give.{slug}")),
        // A table's column may give it.
        reference("when.rows"),
        matrix_has_axis(field),
        json!({"required": ["matrix"], "properties": {"matrix": {
            "type": "object",
            "required": ["include"],
            "properties": {"include": {"type": "array", "contains": {"type": "object", "required": [field]}}},
        }}}),
    ];
    if field == "prompt" {
        somewhere.push(
            json!({"required": ["prompt"], "properties": {"prompt": {"not": {"type": "null"}}}}),
        );
    }
    definitions.insert(format!("when.defaults-give.{slug}"), defaults_have(field));
    definitions.insert(
        format!("when.matrix-gives.{slug}"),
        json!({"anyOf": somewhere}),
    );
}

fn matrix_has_axis(field: &str) -> Value {
    json!({"required": ["matrix"], "properties": {"matrix": {"type": "object", "required": [field]}}})
}

/// The `$defs` of one model: its field schemas, what a job and `defaults` of the model may
/// hold, and when the manifest uses it.
pub(super) fn model_definitions(model: &ModelInput, definitions: &mut Map<String, Value>) {
    let slug = &model.slug;
    let values = format!("values.{slug}");
    definitions.insert(
        values.clone(),
        json!({
            "title": model.id,
            "description": format!("The input fields of {}, from {}.", model.id, model.origin),
            "properties": model.fields,
        }),
    );
    let field_names: Vec<Value> = model.fields.keys().map(|name| json!(name)).collect();
    // `allOf` rather than keywords beside `$ref`, which draft-07 readers ignore.
    let mut defaults = json!({"allOf": [reference(&values)]});
    let mut job = json!({"allOf": [reference(&values)]});
    if model.closed {
        defaults["propertyNames"] = json!({"enum": field_names});
        let mut job_keys = field_names.clone();
        job_keys.extend(["id", "model", "takes"].map(Value::from));
        job["propertyNames"] = json!({"enum": job_keys});
    }
    definitions.insert(format!("defaults.{slug}"), defaults);
    definitions.insert(format!("job.{slug}"), job);

    let top_is = if model.id == DEFAULT_MODEL {
        json!({"anyOf": [
            {"not": {"required": ["model"]}},
            {"properties": {"model": {"type": "null"}}},
            model_is(&model.id),
        ]})
    } else {
        model_is(&model.id)
    };
    definitions.insert(format!("when.top-model.{slug}"), top_is);
    // Every matrix combination has this model: no `model` axis, no include entry naming
    // one, no table (whose `model` column the schema cannot see), and the manifest's model
    // is this one.
    definitions.insert(
        format!("when.single-matrix-model.{slug}"),
        json!({"allOf": [
            {"not": reference("when.model-axis")},
            {"not": reference("when.include-sets-model")},
            {"not": reference("when.rows")},
            reference(&format!("when.top-model.{slug}")),
        ]}),
    );
    let axis_names_it = json!({"required": ["matrix"], "properties": {"matrix": {
        "type": "object",
        "properties": {"model": {"type": "array", "contains": {"const": model.id}}},
        "required": ["model"],
    }}});
    let include_names_it = json!({"required": ["matrix"], "properties": {"matrix": {
        "type": "object",
        "required": ["include"],
        "properties": {"include": {"type": "array", "contains": model_is(&model.id)}},
    }}});
    definitions.insert(format!("when.axis-model.{slug}"), axis_names_it);
    definitions.insert(
        format!("when.matrix-uses.{slug}"),
        json!({"allOf": [
            reference("when.matrix-jobs"),
            {"anyOf": [
                reference(&format!("when.single-matrix-model.{slug}")),
                reference(&format!("when.axis-model.{slug}")),
                include_names_it,
            ]},
        ]}),
    );
    let jobs_name_it = json!({"required": ["jobs"], "properties": {"jobs": {
        "type": "array", "contains": {"type": "object", "allOf": [model_is(&model.id)]},
    }}});
    let jobs_inherit_it = json!({"allOf": [
        reference(&format!("when.top-model.{slug}")),
        {"required": ["jobs"], "properties": {"jobs": {
            "type": "array", "contains": {"type": "object", "not": reference("when.own-model")},
        }}},
    ]});
    definitions.insert(
        format!("when.uses.{slug}"),
        json!({"anyOf": [reference(&format!("when.matrix-uses.{slug}")), jobs_name_it, jobs_inherit_it]}),
    );
    // Matrix axes that are fields of the model: each value is one of the field's. (An
    // include entry's fields are checked with `values.` itself.)
    let axes: Map<String, Value> = model
        .fields
        .keys()
        .filter(|name| name.as_str() != "model")
        .map(|name| (name.clone(), json!({"items": field_pointer(slug, name)})))
        .collect();
    definitions.insert(format!("axes.{slug}"), json!({"properties": axes}));
    for field in &model.required {
        required_field_definitions(field, definitions);
    }
    definitions.insert(
        format!("rules.{slug}"),
        json!({"allOf": model_rules(model)}),
    );
}

/// The conditionals of one model, applied at the manifest's top level.
fn model_rules(model: &ModelInput) -> Vec<Value> {
    let slug = &model.slug;
    let when = |name: &str| reference(&format!("when.{name}.{slug}"));
    let mut rules = Vec::new();

    // `defaults` reach every job: they must fit each model some job uses.
    rules.push(json!({
        "if": when("uses"),
        "then": {"properties": {"defaults": reference(&format!("defaults.{slug}"))}},
    }));

    // The top-level prompt is the matrix jobs' prompt, unless a `prompt` axis replaces it.
    let prompt_check = if model.fields.contains_key("prompt") {
        json!({"if": {"type": "string"}, "then": field_pointer(slug, "prompt")})
    } else if model.closed {
        json!({"type": "null"})
    } else {
        json!(true)
    };
    rules.push(json!({
        "if": {"allOf": [when("matrix-uses"), {"not": matrix_has_axis("prompt")}]},
        "then": {"properties": {"prompt": prompt_check}},
    }));

    // Explicit jobs without a model of their own are the manifest's model's.
    rules.push(json!({
        "if": when("top-model"),
        "then": {"properties": {"jobs": {"items": {
            "if": reference("when.own-model"),
            "else": reference(&format!("job.{slug}")),
        }}}},
    }));

    // Required fields: in each job of the model, unless `defaults` gives them; matrix jobs
    // of the model find them somewhere.
    for field in &model.required {
        let field_slug = field_slug(field);
        let defaults_give = reference(&format!("when.defaults-give.{field_slug}"));
        rules.push(json!({
            "if": {"not": defaults_give},
            "then": {"allOf": [
                {"properties": {"jobs": {"items": {
                    "if": model_is(&model.id),
                    "then": {"required": [field]},
                }}}},
                {
                    "if": when("top-model"),
                    "then": {"properties": {"jobs": {"items": {
                        "if": reference("when.own-model"),
                        "else": {"required": [field]},
                    }}}},
                },
            ]},
        }));
        rules.push(json!({
            "if": {"allOf": [
                reference("when.matrix-jobs"),
                {"anyOf": [when("single-matrix-model"), when("axis-model")]},
            ]},
            "then": reference(&format!("when.matrix-gives.{field_slug}")),
        }));
    }

    // Matrix axes that are fields of the model: every value goes to a job of the model,
    // unless an `exclude` may keep some from it (then nothing is checked here).
    rules.push(json!({
        "if": {"anyOf": [
            when("single-matrix-model"),
            {"allOf": [when("axis-model"), {"not": reference("when.exclude")}]},
        ]},
        "then": {"properties": {"matrix": reference(&format!("axes.{slug}"))}},
    }));
    // Without a `model` axis or include entry naming models, every include entry is the
    // manifest's model's (an entry naming a model is checked in the `Matrix` definition).
    rules.push(json!({
        "if": when("single-matrix-model"),
        "then": {"properties": {"matrix": {"properties": {"include": {
            "items": reference(&format!("values.{slug}")),
        }}}}},
    }));
    rules
}

/// A job that names model `id` is checked as one of it (inside the `Job` definition).
pub(super) fn own_model_rule(model: &ModelInput) -> Value {
    json!({"if": model_is(&model.id), "then": reference(&format!("job.{}", model.slug))})
}

/// An include entry that names the model holds the model's fields (inside the `Matrix`
/// definition).
pub(super) fn include_entry_rule(model: &ModelInput) -> Value {
    json!({"if": model_is(&model.id), "then": reference(&format!("values.{}", model.slug))})
}
