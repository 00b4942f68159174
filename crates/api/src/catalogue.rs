//! Kie's catalogue of the jobs API's models: which models there are, what input each takes,
//! what each costs.
//!
//! Read [`Client::model_schema`] and [`ModelInput`] first: a model's OpenAPI document reduced
//! to the one thing a jobs-API client needs, the JSON Schema of createTask's `input`, with
//! every local `$ref` inlined so that it stands alone (`input_schema_of`). Then
//! [`Client::list_models`] and [`Client::model_price`]. Everything here follows
//! `kie-api-notes.md`, "Kie's model catalogue (2026)":
//!
//! - the calls share a limit of 1 request per second per account, above which the answer is
//!   code 429 inside HTTP 200. `CataloguePacer` keeps a client (and all its clones) under
//!   it, so a lock of many models meets no 429; a 429 that comes anyway is retried under the
//!   [`crate::RetryPolicy`] like any other;
//! - model ids contain `/` and go into the path as they are, never percent-encoded
//!   (`/api/v1/models/wan/2-6-text-to-video/schema`); `model_url` builds that path segment
//!   by segment;
//! - `openapi` is `null` while a model is not yet synced, and a model served on its own
//!   paths (Veo, Runway, ...) has no createTask path: both are outcomes ([`ModelInput`]),
//!   not errors.
//!
//! Answers are read by hand from JSON rather than through serde structs, so that an answer
//! of another shape is reported by the field concerned ("`data.models[2].taskType` is a
//! number, expected a list of strings"), with the raw body kept as evidence. Fields the notes
//! do not list are ignored; optional ones may be missing or null.
//!
//! Deliberately not here: the `success-rate` call, and any use of the schemas (validating a
//! job's input is the engine's business).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Map, Value};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;
use url::Url;

use crate::client::{Answer, Client, classify};
use crate::error::{ApiError, ErrorKind, Operation};

/// Where a model's createTask request body is described in its OpenAPI document.
pub const CREATE_TASK_PATH: &str = "/api/v1/jobs/createTask";

/// The deepest an input schema may nest once its `$ref`s are inlined. Kie's input schemas
/// nest a few levels (an object of arrays of strings); this is far beyond them and far below
/// what could exhaust the stack.
pub const MAX_SCHEMA_DEPTH: usize = 64;

/// The most JSON values an input schema may hold once its `$ref`s are inlined. A schema that
/// refers to the same definition many times over at each of several levels grows
/// exponentially; real input schemas hold a few hundred values.
pub const MAX_SCHEMA_VALUES: usize = 100_000;

/// How many `$ref`s in a row are followed on the way to the request body before giving up.
const MAX_REF_HOPS: usize = 32;

/// The filters of [`Client::list_models`]; `None` (or an empty string) leaves one out. The
/// service filters; the notes advise fetching the whole list once and filtering locally
/// where many questions are asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelFilter {
    /// `taskType`, e.g. `text-to-video`.
    pub task_type: Option<String>,
    /// `provider`, e.g. `kling`.
    pub provider: Option<String>,
    /// `q`: words to search for.
    pub query: Option<String>,
}

impl ModelFilter {
    fn query_pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("taskType", &self.task_type),
            ("provider", &self.provider),
            ("q", &self.query),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value.as_deref()?.trim();
            (!value.is_empty()).then_some((name, value))
        })
        .collect()
    }
}

/// `data` of `GET /api/v1/models`: the whole catalogue (it is not paginated). An empty list
/// is an answer, not an error.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ModelList {
    /// The service's count, when it sent one.
    pub total: Option<u64>,
    pub models: Vec<ModelSummary>,
}

/// One model of the catalogue, as the list shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelSummary {
    /// The id createTask and the other catalogue calls take, e.g. `kling-2.6/text-to-video`.
    pub model: String,
    pub slug: Option<String>,
    pub title: Option<String>,
    pub provider: Option<String>,
    /// `taskType`: what the model does (`text-to-video`, ...).
    #[serde(rename = "taskType")]
    pub task_types: Vec<String>,
    pub description: Option<String>,
    /// The price in prose, e.g. "A 5-second video costs 160 credits (0.80 USD)".
    pub pricing_desc: Option<String>,
}

/// `data` of `GET /api/v1/models/{model}/schema`, reduced to the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelSchema {
    /// The model's id as the service gave it (the id asked for when it gave none).
    pub model: String,
    pub input: ModelInput,
}

impl ModelSchema {
    /// The input JSON Schema, when the model runs through createTask.
    pub fn input_schema(&self) -> Option<&Value> {
        match &self.input {
            ModelInput::CreateTask(schema) => Some(schema),
            ModelInput::NotSynced | ModelInput::NotCreateTask { .. } => None,
        }
    }
}

/// What a model's schema says about running it through createTask.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelInput {
    /// The model runs through createTask and its `input` must satisfy this JSON Schema: the
    /// document's `properties.input` of the createTask request body, every `$ref` inlined.
    /// It may be a `oneOf` or `anyOf` of alternatives, as published.
    CreateTask(Value),
    /// `openapi` is null: the catalogue has not synced the model's document yet. Nothing is
    /// known of its input; ask again later.
    NotSynced,
    /// The document describes no createTask path: the model has its own endpoints (these
    /// `paths`), which a jobs-API client does not call.
    NotCreateTask { paths: Vec<String> },
}

/// `data` of `GET /api/v1/models/{model}/price`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelPrice {
    pub model: String,
    /// The price in prose; Kie says it matches what a task is billed. `None` when the service
    /// has none to give (null or empty). Prices move often: `creditsConsumed` of a finished
    /// task is the truth.
    pub pricing_desc: Option<String>,
}

impl Client {
    /// The catalogue (`GET /api/v1/models`), narrowed by `filter`.
    pub async fn list_models(&self, filter: &ModelFilter) -> Result<ModelList, ApiError> {
        let operation = Operation::ListModels;
        let url = self.catalogue_url(operation, &[])?;
        let query = filter.query_pairs();
        self.catalogue_call(operation, &url, &query, parse_model_list)
            .await
    }

    /// A model's input schema (`GET /api/v1/models/{model}/schema`), or why it has none to
    /// give a jobs-API client ([`ModelInput`]). A model the service does not know is an
    /// error, classified by the service's code (404: [`ErrorKind::NotFound`]).
    pub async fn model_schema(&self, model: &str) -> Result<ModelSchema, ApiError> {
        let operation = Operation::ModelSchema;
        let url = self.catalogue_url(operation, &model_path(operation, model, "schema")?)?;
        self.catalogue_call(operation, &url, &[], |data| parse_model_schema(model, data))
            .await
    }

    /// A model's price (`GET /api/v1/models/{model}/price`), in prose.
    pub async fn model_price(&self, model: &str) -> Result<ModelPrice, ApiError> {
        let operation = Operation::ModelPrice;
        let url = self.catalogue_url(operation, &model_path(operation, model, "price")?)?;
        self.catalogue_call(operation, &url, &[], |data| parse_model_price(model, data))
            .await
    }

    /// `api/v1/models` and then `segments` under the base URL.
    fn catalogue_url(&self, operation: Operation, segments: &[&str]) -> Result<Url, ApiError> {
        model_url(&self.config().base_url, segments).ok_or_else(|| {
            ApiError::new(
                operation,
                ErrorKind::UnexpectedAnswer("the base URL cannot take a path".into()),
            )
        })
    }

    /// One catalogue call: each attempt paced, the answer classified, then read by `parse`,
    /// whose complaint becomes an [`ErrorKind::UnexpectedAnswer`] with the body kept.
    async fn catalogue_call<T>(
        &self,
        operation: Operation,
        url: &Url,
        query: &[(&str, &str)],
        parse: impl Fn(&Value) -> Result<T, String>,
    ) -> Result<T, ApiError> {
        self.with_retries(operation, || async {
            let answer: Answer = self
                .catalogue_pacer
                .paced(self.send_api_url::<()>(operation, Method::GET, url.clone(), query, None))
                .await?;
            let data = classify(operation, &answer)?;
            parse(&data).map_err(|what| {
                ApiError::new(operation, ErrorKind::UnexpectedAnswer(what))
                    .with_raw_body(&answer.body)
            })
        })
        .await
    }
}

/// The path segments under `api/v1/models` for `leaf` (`schema`, `price`) of `model`.
///
/// The id's `/`s separate segments, so the path shows the id as it is; every other character
/// is percent-encoded only where a path segment requires it (`?`, `#`, `%`, spaces...), so
/// no id can reach another path or a query. An empty, `.` or `..` segment would change which
/// path is meant (URL parsers drop dot segments), so such an id is refused before sending.
fn model_path<'a>(
    operation: Operation,
    model: &'a str,
    leaf: &'a str,
) -> Result<Vec<&'a str>, ApiError> {
    let segments: Vec<&str> = model.split('/').collect();
    if segments
        .iter()
        .any(|segment| segment.is_empty() || matches!(*segment, "." | ".."))
    {
        return Err(ApiError::new(
            operation,
            ErrorKind::InvalidModelId {
                model: model.to_owned(),
            },
        ));
    }
    let mut path = segments;
    path.push(leaf);
    Ok(path)
}

/// `base` with `api/v1/models` and `segments` appended as path segments (a base URL's own
/// path prefix is kept). `Url::join` is not used: it would read `..`, `?` and `#` in an id
/// as URL syntax. `None` for a base URL that cannot have a path.
pub(crate) fn model_url(base: &Url, segments: &[&str]) -> Option<Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .ok()?
        .pop_if_empty()
        .extend(["api", "v1", "models"])
        .extend(segments);
    Some(url)
}

/// Keeps the catalogue calls of a client and all its clones at least `interval` apart.
///
/// One call at a time holds the turn (a FIFO async mutex, so callers are served in order),
/// waits until `interval` has passed since the previous request *ended*, sends, and records
/// when its request ended. Counting from the end rather than the start is what makes the
/// spacing hold as the service sees it: the previous request had arrived before its answer
/// (or our giving up on it), so the next one arrives more than `interval` after it, whatever
/// the network's delays. A call dropped mid-request still records its end, so cancelling
/// cannot let the next request through early.
#[derive(Debug, Clone)]
pub(crate) struct CataloguePacer {
    interval: Duration,
    last_end: Arc<Mutex<Option<Instant>>>,
}

/// The turn of one request: records when the request ended (or was abandoned) on drop.
struct Turn<'a>(MutexGuard<'a, Option<Instant>>);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        *self.0 = Some(Instant::now());
    }
}

impl CataloguePacer {
    pub(crate) fn new(interval: Duration) -> Self {
        CataloguePacer {
            interval,
            last_end: Arc::new(Mutex::new(None)),
        }
    }

    /// Runs `request` in its turn.
    pub(crate) async fn paced<F: Future>(&self, request: F) -> F::Output {
        let last_end = self.last_end.lock().await;
        if let Some(end) = *last_end {
            tokio::time::sleep_until(end + self.interval).await;
        }
        let _turn = Turn(last_end);
        request.await
    }
}

/// What a JSON value is, for messages.
fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn as_object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("`{at}` is {}, expected an object", kind_of(value)))
}

fn required<'a>(object: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a Value, String> {
    object
        .get(key)
        .ok_or_else(|| format!("`{at}.{key}` is missing"))
}

/// A text field that may be missing, null or empty (all `None`), but not of another type.
fn optional_text(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.trim().is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(format!(
            "`{at}.{key}` is {}, expected a string",
            kind_of(other)
        )),
    }
}

/// A list of strings that may be missing or null (empty); a lone string counts as a list of
/// one, which costs nothing to accept.
fn text_list(object: &Map<String, Value>, key: &str, at: &str) -> Result<Vec<String>, String> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(vec![text.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(index, item)| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(format!(
                    "`{at}.{key}[{index}]` is {}, expected a string",
                    kind_of(other)
                )),
            })
            .collect(),
        Some(other) => Err(format!(
            "`{at}.{key}` is {}, expected a list of strings",
            kind_of(other)
        )),
    }
}

/// Reads `data` of `GET /api/v1/models`.
pub(crate) fn parse_model_list(data: &Value) -> Result<ModelList, String> {
    let list = as_object(data, "data")?;
    let total = match list.get("total") {
        None | Some(Value::Null) => None,
        Some(Value::Number(number)) => number.as_u64(),
        Some(Value::String(text)) => text.trim().parse().ok(),
        Some(other) => {
            return Err(format!(
                "`data.total` is {}, expected a number",
                kind_of(other)
            ));
        }
    };
    let models = match required(list, "models", "data")? {
        Value::Array(models) => models,
        other => {
            return Err(format!(
                "`data.models` is {}, expected a list",
                kind_of(other)
            ));
        }
    };
    let models = models
        .iter()
        .enumerate()
        .map(|(index, entry)| {
            let at = format!("data.models[{index}]");
            let entry = as_object(entry, &at)?;
            let model = match required(entry, "model", &at)? {
                Value::String(model) if !model.trim().is_empty() => model.clone(),
                Value::String(_) => return Err(format!("`{at}.model` is empty")),
                other => {
                    return Err(format!(
                        "`{at}.model` is {}, expected a string",
                        kind_of(other)
                    ));
                }
            };
            Ok(ModelSummary {
                model,
                slug: optional_text(entry, "slug", &at)?,
                title: optional_text(entry, "title", &at)?,
                provider: optional_text(entry, "provider", &at)?,
                task_types: text_list(entry, "taskType", &at)?,
                description: optional_text(entry, "description", &at)?,
                pricing_desc: optional_text(entry, "pricingDesc", &at)?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ModelList { total, models })
}

/// Reads `data` of `GET /api/v1/models/{requested}/schema`.
pub(crate) fn parse_model_schema(requested: &str, data: &Value) -> Result<ModelSchema, String> {
    let answer = as_object(data, "data")?;
    let model = optional_text(answer, "model", "data")?.unwrap_or_else(|| requested.to_owned());
    // Tolerated beside an object: the document sent as a JSON string holding it, the way
    // this service sends `param` and `resultJson`.
    let parsed_from_text;
    let document = match required(answer, "openapi", "data")? {
        Value::Null => {
            return Ok(ModelSchema {
                model,
                input: ModelInput::NotSynced,
            });
        }
        Value::String(text) => {
            parsed_from_text = serde_json::from_str::<Value>(text).map_err(|error| {
                format!("`data.openapi` is a string that is not a JSON document ({error})")
            })?;
            &parsed_from_text
        }
        document => document,
    };
    as_object(document, "data.openapi").map_err(|_| {
        format!(
            "`data.openapi` is {}, expected an object or null",
            kind_of(document)
        )
    })?;
    Ok(ModelSchema {
        model,
        input: input_schema_of(document)?,
    })
}

/// Reads `data` of `GET /api/v1/models/{requested}/price`.
pub(crate) fn parse_model_price(requested: &str, data: &Value) -> Result<ModelPrice, String> {
    let answer = as_object(data, "data")?;
    required(answer, "pricingDesc", "data")?;
    Ok(ModelPrice {
        model: optional_text(answer, "model", "data")?.unwrap_or_else(|| requested.to_owned()),
        pricing_desc: optional_text(answer, "pricingDesc", "data")?,
    })
}

/// The input of a model's OpenAPI document: `paths["/api/v1/jobs/createTask"].post
/// .requestBody.content["application/json"].schema.properties.input`, with every `$ref`
/// inlined. A `$ref` met on the way (a path item, the request body, the schema) is followed.
pub(crate) fn input_schema_of(document: &Value) -> Result<ModelInput, String> {
    let paths = match document.get("paths") {
        None | Some(Value::Null) => {
            return Ok(ModelInput::NotCreateTask { paths: Vec::new() });
        }
        Some(Value::Object(paths)) => paths,
        Some(other) => {
            return Err(format!(
                "`data.openapi.paths` is {}, expected an object",
                kind_of(other)
            ));
        }
    };
    let Some(path_item) = paths.get(CREATE_TASK_PATH) else {
        return Ok(ModelInput::NotCreateTask {
            paths: paths.keys().cloned().collect(),
        });
    };
    let mut at = format!("data.openapi.paths[\"{CREATE_TASK_PATH}\"]");
    let path_item = follow(document, path_item, &at)?;
    let post = step(document, path_item, "post", &mut at)?;
    let request_body = step(document, post, "requestBody", &mut at)?;
    let content = step(document, request_body, "content", &mut at)?;
    let content_object = as_object(content, &at)?;
    // `application/json`, possibly with parameters (`; charset=utf-8`).
    let Some((media_type, media)) = content_object
        .iter()
        .find(|(media_type, _)| media_type.starts_with("application/json"))
    else {
        return Err(format!("`{at}` has no `application/json` entry"));
    };
    at.push_str(&format!("[\"{media_type}\"]"));
    let media = follow(document, media, &at)?;
    let body_schema = step(document, media, "schema", &mut at)?;
    let body_schema = Inliner::new(document)
        .value(body_schema, 0)
        .map_err(|problem| format!("`{at}`: {problem}"))?;
    let input = body_schema
        .get("properties")
        .and_then(|properties| properties.get("input"))
        .ok_or_else(|| format!("`{at}.properties.input` is missing"))?;
    Ok(ModelInput::CreateTask(input.clone()))
}

/// `node[key]`, its `$ref`s followed; `at` grows by the key for the next message.
fn step<'a>(
    document: &'a Value,
    node: &'a Value,
    key: &str,
    at: &mut String,
) -> Result<&'a Value, String> {
    let object = as_object(node, at)?;
    let next = required(object, key, at)?;
    at.push('.');
    at.push_str(key);
    follow(document, next, at)
}

/// `node` itself, or what its `$ref` (and the `$ref`s after it) points at.
fn follow<'a>(document: &'a Value, mut node: &'a Value, at: &str) -> Result<&'a Value, String> {
    let mut seen: Vec<&str> = Vec::new();
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        if seen.contains(&reference) || seen.len() >= MAX_REF_HOPS {
            seen.push(reference);
            return Err(format!("`{at}`: `$ref` loop: {}", seen.join(" -> ")));
        }
        seen.push(reference);
        node = resolve(document, reference).map_err(|problem| format!("`{at}`: {problem}"))?;
    }
    Ok(node)
}

/// What a local `$ref` (`#/components/schemas/Input`) points at in `document`.
fn resolve<'a>(document: &'a Value, reference: &str) -> Result<&'a Value, String> {
    let Some(fragment) = reference.strip_prefix('#') else {
        return Err(format!(
            "`$ref` {reference:?} points outside the document, which is all there is"
        ));
    };
    document
        .pointer(&percent_decode(fragment))
        .ok_or_else(|| format!("`$ref` {reference:?} points at nothing in the document"))
}

/// A URI fragment's `%XX` escapes decoded (a JSON pointer in a `$ref` is a URI fragment);
/// a `%` that starts no escape is kept.
fn percent_decode(fragment: &str) -> String {
    let bytes = fragment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escape = bytes
            .get(index + 1..index + 3)
            .filter(|_| bytes[index] == b'%')
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escape {
            Some(byte) => {
                decoded.push(byte);
                index += 3;
            }
            None => {
                decoded.push(bytes[index]);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Keywords whose values are data, not schemas: a `$ref` inside them is not one.
const DATA_KEYWORDS: [&str; 5] = ["const", "default", "enum", "examples", "example"];

/// Keywords whose values map names to schemas: every value is a schema, whatever its name
/// (a property may be called `default`).
const SCHEMA_MAP_KEYWORDS: [&str; 5] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];

/// Keywords that describe rather than constrain: beside a `$ref`, the one written beside it
/// is the more specific and wins over the definition's.
const ANNOTATION_KEYWORDS: [&str; 9] = [
    "title",
    "description",
    "default",
    "examples",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// Inlines the local `$ref`s of a schema, guarding against cycles (a definition that refers
/// to itself, directly or not, has no finite inline form), depth and size.
struct Inliner<'a> {
    document: &'a Value,
    /// The `$ref`s being inlined, outermost first.
    expanding: Vec<&'a str>,
    values: usize,
}

impl<'a> Inliner<'a> {
    fn new(document: &'a Value) -> Self {
        Inliner {
            document,
            expanding: Vec::new(),
            values: 0,
        }
    }

    fn value(&mut self, node: &'a Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(format!(
                "the schema nests deeper than {MAX_SCHEMA_DEPTH} levels \
                 once its `$ref`s are inlined"
            ));
        }
        self.values += 1;
        if self.values > MAX_SCHEMA_VALUES {
            return Err(format!(
                "the schema holds more than {MAX_SCHEMA_VALUES} values once its `$ref`s are inlined"
            ));
        }
        match node {
            Value::Object(object) => match object.get("$ref") {
                Some(Value::String(reference)) => self.reference(reference, object, depth),
                _ => self.members(object, depth).map(Value::Object),
            },
            Value::Array(items) => items
                .iter()
                .map(|item| self.value(item, depth + 1))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            scalar => Ok(scalar.clone()),
        }
    }

    /// A schema object's members, inlined; `$ref` itself left out.
    fn members(
        &mut self,
        object: &'a Map<String, Value>,
        depth: usize,
    ) -> Result<Map<String, Value>, String> {
        let mut inlined = Map::new();
        for (key, member) in object {
            let member = match member {
                _ if key == "$ref" => continue,
                _ if DATA_KEYWORDS.contains(&key.as_str()) => member.clone(),
                Value::Object(schemas) if SCHEMA_MAP_KEYWORDS.contains(&key.as_str()) => {
                    let mut map = Map::new();
                    for (name, schema) in schemas {
                        map.insert(name.clone(), self.value(schema, depth + 2)?);
                    }
                    Value::Object(map)
                }
                _ => self.value(member, depth + 1)?,
            };
            inlined.insert(key.clone(), member);
        }
        Ok(inlined)
    }

    /// A `$ref` replaced by what it points at, inlined too; keywords written beside it are
    /// kept (in JSON Schema 2020-12, which OpenAPI 3.1 uses, both apply).
    fn reference(
        &mut self,
        reference: &'a str,
        object: &'a Map<String, Value>,
        depth: usize,
    ) -> Result<Value, String> {
        if let Some(start) = self.expanding.iter().position(|open| *open == reference) {
            let mut cycle = self.expanding[start..].to_vec();
            cycle.push(reference);
            return Err(format!(
                "`$ref` cycle, which cannot be inlined: {}",
                cycle.join(" -> ")
            ));
        }
        let target = resolve(self.document, reference)?;
        self.expanding.push(reference);
        let inlined = self.value(target, depth + 1);
        self.expanding.pop();
        let inlined = inlined?;
        let beside = self.members(object, depth)?;
        Ok(merge(inlined, beside))
    }
}

/// A definition and the keywords written beside its `$ref`, as one schema: merged where they
/// do not disagree (or disagree only on an annotation, where the one beside wins), else both
/// kept under `allOf`, which means the same.
fn merge(definition: Value, beside: Map<String, Value>) -> Value {
    if beside.is_empty() {
        return definition;
    }
    if let Value::Object(definition_members) = &definition {
        let disagree = beside.iter().any(|(key, value)| {
            definition_members
                .get(key)
                .is_some_and(|own| own != value && !ANNOTATION_KEYWORDS.contains(&key.as_str()))
        });
        if !disagree {
            let mut merged = definition_members.clone();
            merged.extend(beside);
            return Value::Object(merged);
        }
    }
    let mut all_of = Map::new();
    all_of.insert(
        "allOf".to_owned(),
        Value::Array(vec![definition, Value::Object(beside)]),
    );
    Value::Object(all_of)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn document_with_input(input: Value, components: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {"/api/v1/jobs/createTask": {"post": {"requestBody": {"content": {
                "application/json": {"schema": {
                    "type": "object",
                    "properties": {"model": {"type": "string"}, "input": input}
                }}
            }}}}},
            "components": {"schemas": components}
        })
    }

    fn input_of(document: &Value) -> Result<Value, String> {
        match input_schema_of(document)? {
            ModelInput::CreateTask(input) => Ok(input),
            other => Err(format!("not runnable: {other:?}")),
        }
    }

    #[test]
    fn refs_are_inlined_with_the_keywords_beside_them() {
        let document = document_with_input(
            json!({"$ref": "#/components/schemas/Input"}),
            json!({
                "Input": {"type": "object", "properties": {
                    "ratio": {"$ref": "#/components/schemas/Ratio", "description": "shape"},
                    "default": {"type": "string", "default": {"$ref": "not a schema"}}
                }},
                "Ratio": {"type": "string", "enum": ["16:9", "9:16"], "description": "generic"}
            }),
        );
        assert_eq!(
            input_of(&document),
            Ok(json!({"type": "object", "properties": {
                "ratio": {"type": "string", "enum": ["16:9", "9:16"], "description": "shape"},
                "default": {"type": "string", "default": {"$ref": "not a schema"}}
            }}))
        );
    }

    #[test]
    fn a_constraint_beside_a_ref_that_disagrees_is_kept_with_all_of() {
        let document = document_with_input(
            json!({"$ref": "#/components/schemas/Count", "maximum": 5}),
            json!({"Count": {"type": "integer", "maximum": 10}}),
        );
        assert_eq!(
            input_of(&document),
            Ok(json!({"allOf": [{"type": "integer", "maximum": 10}, {"maximum": 5}]}))
        );
    }

    #[test]
    fn cycles_missing_targets_and_outside_refs_are_errors_that_name_them() {
        let cyclic = document_with_input(
            json!({"$ref": "#/components/schemas/A"}),
            json!({
                "A": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/B"}}},
                "B": {"type": "array", "items": {"$ref": "#/components/schemas/A"}}
            }),
        );
        let problem = input_of(&cyclic).err().unwrap_or_default();
        assert!(
            problem.contains(
                "#/components/schemas/A -> #/components/schemas/B -> #/components/schemas/A"
            ),
            "{problem}"
        );
        let missing = document_with_input(json!({"$ref": "#/components/schemas/Gone"}), json!({}));
        assert!(
            input_of(&missing)
                .err()
                .is_some_and(|p| p.contains("points at nothing"))
        );
        let outside = document_with_input(json!({"$ref": "other.json#/Input"}), json!({}));
        assert!(
            input_of(&outside)
                .err()
                .is_some_and(|p| p.contains("outside the document"))
        );
    }

    #[test]
    fn a_schema_that_explodes_when_inlined_is_refused() {
        // Each level refers to the next twice: 2^40 values once inlined.
        let mut components = Map::new();
        for level in 0..40 {
            components.insert(
                format!("L{level}"),
                json!({"anyOf": [
                    {"$ref": format!("#/components/schemas/L{}", level + 1)},
                    {"$ref": format!("#/components/schemas/L{}", level + 1)}
                ]}),
            );
        }
        components.insert("L40".into(), json!({"type": "string"}));
        let document = document_with_input(
            json!({"$ref": "#/components/schemas/L0"}),
            Value::Object(components),
        );
        let problem = input_of(&document).err().unwrap_or_default();
        assert!(
            problem.contains("more than") || problem.contains("deeper than"),
            "{problem}"
        );
    }

    #[test]
    fn refs_on_the_way_to_the_body_are_followed_and_escapes_decoded() {
        let document = json!({
            "paths": {"/api/v1/jobs/createTask": {"$ref": "#/components/pathItems/Create"}},
            "components": {
                "pathItems": {"Create": {"post": {"requestBody": {
                    "$ref": "#/components/requestBodies/Create%20Task"
                }}}},
                "requestBodies": {"Create Task": {"content": {
                    "application/json; charset=utf-8": {"schema": {
                        "$ref": "#/components/schemas/a~1b"
                    }}
                }}},
                "schemas": {"a/b": {"properties": {"input": {"type": "object"}}}}
            }
        });
        assert_eq!(input_of(&document), Ok(json!({"type": "object"})));
    }

    #[test]
    fn documents_without_create_task_are_outcomes_and_broken_ones_errors() {
        assert_eq!(
            input_schema_of(&json!({"paths": {"/api/v1/veo/generate": {}}})),
            Ok(ModelInput::NotCreateTask {
                paths: vec!["/api/v1/veo/generate".into()]
            })
        );
        assert_eq!(
            input_schema_of(&json!({"openapi": "3.1.0"})),
            Ok(ModelInput::NotCreateTask { paths: Vec::new() })
        );
        let without_input = json!({"paths": {"/api/v1/jobs/createTask": {"post": {
            "requestBody": {"content": {"application/json": {"schema": {
                "properties": {"model": {"type": "string"}}
            }}}}
        }}}});
        assert_eq!(
            input_schema_of(&without_input).err().as_deref(),
            Some(
                "`data.openapi.paths[\"/api/v1/jobs/createTask\"].post.requestBody.content\
                 [\"application/json\"].schema.properties.input` is missing"
            )
        );
        assert_eq!(
            input_schema_of(&json!({"paths": {"/api/v1/jobs/createTask": {"get": {}}}}))
                .err()
                .as_deref(),
            Some("`data.openapi.paths[\"/api/v1/jobs/createTask\"].post` is missing")
        );
    }

    #[test]
    fn answers_of_another_shape_say_what_was_found() {
        let cases: [(Value, &str); 6] = [
            (json!([]), "`data` is a list, expected an object"),
            (json!({"total": 1}), "`data.models` is missing"),
            (
                json!({"models": {}}),
                "`data.models` is an object, expected a list",
            ),
            (
                json!({"models": [{"title": "x"}]}),
                "`data.models[0].model` is missing",
            ),
            (
                json!({"models": [{"model": "m", "taskType": 7}]}),
                "`data.models[0].taskType` is a number, expected a list of strings",
            ),
            (
                json!({"models": [{"model": "m", "taskType": ["a", 2]}]}),
                "`data.models[0].taskType[1]` is a number, expected a string",
            ),
        ];
        for (data, expected) in cases {
            assert_eq!(parse_model_list(&data).err().as_deref(), Some(expected));
        }
        assert_eq!(
            parse_model_schema("m", &json!({"model": "m"}))
                .err()
                .as_deref(),
            Some("`data.openapi` is missing")
        );
        assert_eq!(
            parse_model_schema("m", &json!({"openapi": 3}))
                .err()
                .as_deref(),
            Some("`data.openapi` is a number, expected an object or null")
        );
        assert_eq!(
            parse_model_price("m", &json!({"model": "m", "pricingDesc": 5}))
                .err()
                .as_deref(),
            Some("`data.pricingDesc` is a number, expected a string")
        );
    }

    #[test]
    fn lenient_where_it_costs_nothing() {
        let list = parse_model_list(&json!({
            "models": [{"model": "m", "taskType": "text-to-video", "extra": {"ignored": true}}]
        }));
        assert_eq!(
            list.map(|list| (list.total, list.models[0].task_types.clone())),
            Ok((None, vec!["text-to-video".to_owned()]))
        );
        let as_text = parse_model_schema(
            "m",
            &json!({"openapi": "{\"paths\": {\"/api/v1/other\": {}}}"}),
        );
        assert_eq!(
            as_text.map(|schema| (schema.model, schema.input)),
            Ok((
                "m".to_owned(),
                ModelInput::NotCreateTask {
                    paths: vec!["/api/v1/other".into()]
                }
            ))
        );
        assert_eq!(
            parse_model_price("m", &json!({"pricingDesc": null})),
            Ok(ModelPrice {
                model: "m".into(),
                pricing_desc: None
            })
        );
    }

    #[test]
    fn model_ids_keep_their_slashes_and_cannot_leave_their_path() {
        let base = Url::parse("http://127.0.0.1:9/kie/").expect("a valid URL");
        let url = |model: &str| {
            model_path(Operation::ModelSchema, model, "schema")
                .ok()
                .and_then(|segments| model_url(&base, &segments))
                .map(|url| url.to_string())
        };
        assert_eq!(
            url("wan/2-6-text-to-video").as_deref(),
            Some("http://127.0.0.1:9/kie/api/v1/models/wan/2-6-text-to-video/schema")
        );
        assert_eq!(
            url("kling-3.0/video").as_deref(),
            Some("http://127.0.0.1:9/kie/api/v1/models/kling-3.0/video/schema")
        );
        assert_eq!(
            url("odd?id#x%").as_deref(),
            Some("http://127.0.0.1:9/kie/api/v1/models/odd%3Fid%23x%25/schema")
        );
        for refused in ["", "/lead", "trail/", "a//b", "a/../b", ".", "x/./y"] {
            assert_eq!(url(refused), None, "{refused:?}");
        }
        let root = Url::parse("http://127.0.0.1:9").expect("a valid URL");
        assert_eq!(
            model_url(&root, &[]).map(|url| url.to_string()).as_deref(),
            Some("http://127.0.0.1:9/api/v1/models")
        );
    }

    #[test]
    fn filters_send_only_what_is_set() {
        let filter = ModelFilter {
            task_type: Some("text-to-video".into()),
            provider: Some("  ".into()),
            query: Some("seedance".into()),
        };
        assert_eq!(
            filter.query_pairs(),
            [("taskType", "text-to-video"), ("q", "seedance")]
        );
        assert!(ModelFilter::default().query_pairs().is_empty());
    }
}
