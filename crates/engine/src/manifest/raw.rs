//! The manifest as written: plain serde types that YAML deserializes into, before any check.
//!
//! Read [`RawManifest`] first. Every value a later check may have to point at is wrapped in
//! [`Spanned`], so that "undefined template variable" or "duplicate id" can name a line and
//! column long after parsing. Free-form parts (input fields, variables, matrix axes, prices)
//! are [`RawMap`]s that keep their keys' positions and their order.
//!
//! There is no `#[serde(flatten)]` or `untagged` here: both buffer values and lose the
//! positions. [`RawJob`] and [`RawMatrix`], which mix fixed keys with free ones, deserialize
//! by hand instead. Unknown keys are not rejected by serde: the `shape` pass checks them all
//! beforehand so that every misspelling is reported in one run. The JSON Schema of the
//! manifest (`sora-batch schema`) is generated from these same types.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use serde_saphyr::Spanned;

use super::schema_parts::{
    DurationText, ID_PATTERN, NAME_PATTERN, NOT_BLANK_PATTERN, PriceTableSchema, ScalarText,
    TEMPLATE_PATTERN,
};

/// The keys a manifest may have at its top level, in the order the docs present them.
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "version", "name", "model", "defaults", "vars", "prompt", "matrix", "rows", "takes", "jobs",
    "run", "prices",
];

/// The keys of the `run:` section.
pub const RUN_KEYS: &[&str] = &[
    "concurrency",
    "timeout",
    "max_credits",
    "callback_url",
    "create_limit",
    "poll_limit",
    "poll",
    "retry",
    "upload_retention",
    "files_from",
];

/// The keys of `run.poll`.
pub const POLL_KEYS: &[&str] = &[
    "first_after",
    "min_interval",
    "max_interval",
    "typical_generation",
];

/// The keys of `run.retry`.
pub const RETRY_KEYS: &[&str] = &[
    "base_delay",
    "max_delay",
    "rate_limit_window",
    "maintenance_delay",
];

/// The keys of `run.create_limit` and `run.poll_limit`.
pub const LIMIT_KEYS: &[&str] = &["requests", "per"];

/// The keys of a job besides its model's input fields.
pub const JOB_KEYS: &[&str] = &["id", "model", "takes"];

/// A batch of generations on Kie.ai's jobs API for sora-batch (version 1).
///
/// Jobs come from a matrix (`prompt` + `matrix`), from `jobs`, or both. See
/// docs/manifest.md for every key.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(title = "sora-batch manifest", extend("additionalProperties" = false))]
pub struct RawManifest {
    /// The manifest format version. Only 1 exists.
    #[schemars(with = "u32", extend("const" = 1))]
    pub version: Option<Spanned<u32>>,
    /// The batch's name, used for the default batch folder `out/<name>/`. Default: the
    /// file's stem.
    #[schemars(with = "Option<ScalarText>", extend("pattern" = NAME_PATTERN, "maxLength" = super::identity::MAX_ID_CHARS))]
    pub name: Option<Spanned<String>>,
    /// The model of every job that names none. Default: sora-2-text-to-video.
    #[schemars(with = "Option<ScalarText>", extend("pattern" = NOT_BLANK_PATTERN))]
    pub model: Option<Spanned<String>>,
    /// Input fields merged into every job (a job's own fields win).
    pub defaults: Option<RawInput>,
    /// Template variables, used in prompts as `{name}`.
    #[schemars(with = "Option<std::collections::BTreeMap<String, ScalarSchema>>")]
    pub vars: Option<RawMap<Spanned<RawValue>>>,
    /// The prompt template of the matrix jobs (or of one job when there is no matrix).
    #[schemars(with = "Option<ScalarText>", extend("pattern" = TEMPLATE_PATTERN))]
    pub prompt: Option<Spanned<String>>,
    /// Axes whose cartesian product makes jobs, with `include` and `exclude` as in GitHub
    /// Actions.
    #[schemars(with = "Option<RawMatrix>")]
    pub matrix: Option<Spanned<RawMatrix>>,
    /// A table of jobs beside the manifest (`prompts.csv`, `.tsv` or `.jsonl`): each row a
    /// combination whose columns are input fields or template variables, crossed with the
    /// matrix's axes. An `id` column names the jobs.
    #[schemars(with = "Option<String>", extend("pattern" = super::schema_parts::TABLE_PATH_PATTERN))]
    pub rows: Option<Spanned<String>>,
    /// Videos per job (generation is not deterministic), at most 100. Default: 1.
    #[schemars(with = "Option<u32>", extend("minimum" = 1, "maximum" = super::MAX_TAKES))]
    pub takes: Option<Spanned<u32>>,
    /// Explicit jobs, beside or instead of the matrix.
    #[schemars(with = "Option<Vec<RawJob>>")]
    pub jobs: Option<Vec<Spanned<RawJob>>>,
    /// Defaults for `sora-batch run`; command-line flags override them.
    pub run: Option<RawRun>,
    /// Credits per clip by model, overriding the built-in estimates: `{model: {"10": 30}}`.
    /// Keys: seconds (`"10"`), seconds and size (`"15-high"`), or `"*"` for any clip.
    #[schemars(with = "Option<std::collections::BTreeMap<String, PriceTableSchema>>")]
    pub prices: Option<RawMap<RawMap<Spanned<f64>>>>,
}

/// The `run:` section.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub struct RawRun {
    /// Tasks in flight at once (submitted, not finished). Default: 4.
    #[schemars(with = "Option<u32>", extend("minimum" = 1))]
    pub concurrency: Option<Spanned<u32>>,
    /// How long one task may take from its submission, e.g. `40m`. Default: 40m.
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<Spanned<String>>,
    /// The spending cap of this batch, in credits.
    #[schemars(with = "Option<f64>", extend("minimum" = 0))]
    pub max_credits: Option<Spanned<f64>>,
    /// An http(s) URL the service POSTs each task's outcome to (sent as callBackUrl).
    #[schemars(with = "Option<String>", extend("format" = "uri", "pattern" = super::schema_parts::HTTP_URL_PATTERN))]
    pub callback_url: Option<Spanned<String>>,
    /// Client-side limit on createTask calls. Default: 20 per 10s (the window kept 5% longer).
    pub create_limit: Option<RawLimit>,
    /// Client-side limit on recordInfo calls. Default: 8 per 1s.
    pub poll_limit: Option<RawLimit>,
    /// When tasks are polled. The defaults suit Sora 2's minutes-long generations.
    pub poll: Option<RawPoll>,
    /// How calls that failed transiently are retried.
    pub retry: Option<RawRetry>,
    /// How long an uploaded local file is reused before it is uploaded again. Default: 24h.
    #[schemars(with = "Option<DurationText>")]
    pub upload_retention: Option<Spanned<String>>,
    /// Folders (relative to the manifest) local files may come from, besides the manifest's
    /// own folder and below. Default: none.
    #[schemars(with = "Option<Vec<String>>")]
    pub files_from: Option<Vec<Spanned<String>>>,
}

/// The `run.poll:` section; every value a duration such as `2s`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub struct RawPoll {
    /// The first poll of a task while nothing says how long tasks take. Default: 20s.
    #[schemars(with = "Option<DurationText>")]
    pub first_after: Option<Spanned<String>>,
    /// The shortest time between two polls of one task. Default: 2s.
    #[schemars(with = "Option<DurationText>")]
    pub min_interval: Option<Spanned<String>>,
    /// The longest time between two polls of one task. Default: 30s.
    #[schemars(with = "Option<DurationText>")]
    pub max_interval: Option<Spanned<String>>,
    /// How long a task of this batch usually takes, where no earlier batch has told:
    /// where the first polls go. Default: none (the model snapshot's figure, if any).
    #[schemars(with = "Option<String>")]
    pub typical_generation: Option<Spanned<String>>,
}

/// The `run.retry:` section; every value a duration such as `500ms`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub struct RawRetry {
    /// The wait after a first transient failure, doubled after each further one. Default: 500ms.
    #[schemars(with = "Option<DurationText>")]
    pub base_delay: Option<Spanned<String>>,
    /// No wait between retries grows beyond this. Default: 30s.
    #[schemars(with = "Option<DurationText>")]
    pub max_delay: Option<Spanned<String>>,
    /// The wait after a 429 without Retry-After: the service's window. Default: 10s.
    #[schemars(with = "Option<DurationText>")]
    pub rate_limit_window: Option<Spanned<String>>,
    /// The shortest wait after a 455 (maintenance). Default: 30s.
    #[schemars(with = "Option<DurationText>")]
    pub maintenance_delay: Option<Spanned<String>>,
}

/// A rate: at most `requests` calls per `per`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("additionalProperties" = false))]
pub struct RawLimit {
    #[schemars(with = "Option<u32>", extend("minimum" = 1))]
    pub requests: Option<Spanned<u32>>,
    /// A duration such as `10s`.
    #[schemars(with = "Option<DurationText>")]
    pub per: Option<Spanned<String>>,
}

/// The `matrix:` section: axes (every key but `include` and `exclude`), then the two lists.
#[derive(Debug, Default)]
pub struct RawMatrix {
    /// Each axis's name and its value (a list, checked later so that a scalar gets a clear
    /// message rather than serde's).
    pub axes: Vec<(Spanned<String>, Spanned<RawValue>)>,
    pub include: Vec<Spanned<RawMap<Spanned<RawValue>>>>,
    pub exclude: Vec<Spanned<RawMap<Spanned<RawValue>>>>,
    /// Where the `include` and `exclude` keys are, if present.
    pub include_key: Option<Spanned<String>>,
    pub exclude_key: Option<Spanned<String>>,
}

/// One entry of `jobs:`: an optional id, model and takes, and the model's input fields.
#[derive(Debug, Default)]
pub struct RawJob {
    pub id: Option<Spanned<String>>,
    pub model: Option<Spanned<String>>,
    pub takes: Option<Spanned<u32>>,
    pub input: RawMap<Spanned<RawValue>>,
}

/// Input fields of a model: `prompt`, `aspect_ratio`, `n_frames`, ...
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct RawInput(pub RawMap<Spanned<RawValue>>);

/// A mapping that keeps its keys' positions and its order.
#[derive(Debug)]
pub struct RawMap<V> {
    pub entries: Vec<(Spanned<String>, V)>,
}

impl<V> Default for RawMap<V> {
    fn default() -> Self {
        RawMap {
            entries: Vec::new(),
        }
    }
}

impl<V> RawMap<V> {
    pub fn get(&self, key: &str) -> Option<&V> {
        self.entries
            .iter()
            .find(|(name, _)| name.value == key)
            .map(|(_, value)| value)
    }
}

/// Any YAML value, with positions all the way down.
#[derive(Debug, Clone)]
pub enum RawValue {
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Spanned<RawValue>>),
    Map(Vec<(Spanned<String>, Spanned<RawValue>)>),
}

impl RawValue {
    /// The JSON this value is sent as.
    pub fn to_json(&self) -> Value {
        match self {
            RawValue::Null => Value::Null,
            RawValue::Bool(flag) => Value::Bool(*flag),
            RawValue::Number(number) => Value::Number(number.clone()),
            RawValue::String(text) => Value::String(text.clone()),
            RawValue::List(items) => {
                Value::Array(items.iter().map(|item| item.value.to_json()).collect())
            }
            RawValue::Map(entries) => {
                let mut object = Map::new();
                for (key, value) in entries {
                    object.insert(key.value.clone(), value.value.to_json());
                }
                Value::Object(object)
            }
        }
    }

    /// The text of a scalar, as a template variable or an id fragment; `None` for lists and
    /// mappings.
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        match self {
            RawValue::Null => Some(Cow::Borrowed("null")),
            RawValue::Bool(true) => Some(Cow::Borrowed("true")),
            RawValue::Bool(false) => Some(Cow::Borrowed("false")),
            RawValue::Number(number) => Some(Cow::Owned(number.to_string())),
            RawValue::String(text) => Some(Cow::Borrowed(text)),
            RawValue::List(_) | RawValue::Map(_) => None,
        }
    }

    /// Whether two values are the same for matrix matching: scalars compare by their text
    /// (so `10` matches `"10"`), lists and mappings by their JSON.
    pub fn matches(&self, other: &RawValue) -> bool {
        match (self.scalar_text(), other.scalar_text()) {
            (Some(left), Some(right)) => left == right,
            (None, None) => self.to_json() == other.to_json(),
            _ => false,
        }
    }

    /// A word for error messages: `a string`, `a list`, ...
    pub fn kind_name(&self) -> &'static str {
        match self {
            RawValue::Null => "null",
            RawValue::Bool(_) => "a boolean",
            RawValue::Number(_) => "a number",
            RawValue::String(_) => "a string",
            RawValue::List(_) => "a list",
            RawValue::Map(_) => "a mapping",
        }
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawValueVisitor;

        impl<'de> Visitor<'de> for RawValueVisitor {
            type Value = RawValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_none<E>(self) -> Result<RawValue, E> {
                Ok(RawValue::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, inner: D) -> Result<RawValue, D::Error> {
                RawValue::deserialize(inner)
            }
            fn visit_bool<E>(self, flag: bool) -> Result<RawValue, E> {
                Ok(RawValue::Bool(flag))
            }
            fn visit_i64<E>(self, number: i64) -> Result<RawValue, E> {
                Ok(RawValue::Number(number.into()))
            }
            fn visit_u64<E>(self, number: u64) -> Result<RawValue, E> {
                Ok(RawValue::Number(number.into()))
            }
            fn visit_f64<E: de::Error>(self, number: f64) -> Result<RawValue, E> {
                Number::from_f64(number)
                    .map(RawValue::Number)
                    .ok_or_else(|| E::custom("a finite number (not .nan or .inf)"))
            }
            fn visit_str<E>(self, text: &str) -> Result<RawValue, E> {
                Ok(RawValue::String(text.to_owned()))
            }
            fn visit_string<E>(self, text: String) -> Result<RawValue, E> {
                Ok(RawValue::String(text))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(RawValue::List(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawValue, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawValue::Map(entries))
            }
        }

        deserializer.deserialize_any(RawValueVisitor)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for RawMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawMapVisitor<V>(std::marker::PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for RawMapVisitor<V> {
            type Value = RawMap<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }
            // An empty section (`defaults:` with nothing under it) is an empty mapping.
            fn visit_unit<E>(self) -> Result<RawMap<V>, E> {
                Ok(RawMap::default())
            }
            fn visit_none<E>(self) -> Result<RawMap<V>, E> {
                Ok(RawMap::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMap<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(RawMap { entries })
            }
        }

        deserializer.deserialize_map(RawMapVisitor(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for RawMatrix {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawMatrixVisitor;

        impl<'de> Visitor<'de> for RawMatrixVisitor {
            type Value = RawMatrix;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping of axes to lists of values")
            }
            fn visit_unit<E>(self) -> Result<RawMatrix, E> {
                Ok(RawMatrix::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMatrix, A::Error> {
                let mut matrix = RawMatrix::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "include" => {
                            matrix.include = map.next_value::<OptionalList<_>>()?.0;
                            matrix.include_key = Some(key);
                        }
                        "exclude" => {
                            matrix.exclude = map.next_value::<OptionalList<_>>()?.0;
                            matrix.exclude_key = Some(key);
                        }
                        _ => matrix.axes.push((key, map.next_value()?)),
                    }
                }
                Ok(matrix)
            }
        }

        deserializer.deserialize_map(RawMatrixVisitor)
    }
}

impl<'de> Deserialize<'de> for RawJob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RawJobVisitor;

        impl<'de> Visitor<'de> for RawJobVisitor {
            type Value = RawJob;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a job: a mapping with a prompt and other input fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawJob, A::Error> {
                let mut job = RawJob::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    match key.value.as_str() {
                        "id" => job.id = map.next_value()?,
                        "model" => job.model = map.next_value()?,
                        "takes" => job.takes = map.next_value()?,
                        _ => job.input.entries.push((key, map.next_value()?)),
                    }
                }
                Ok(job)
            }
        }

        deserializer.deserialize_map(RawJobVisitor)
    }
}

/// A list that may also be written as nothing at all (`include:` with no entries).
struct OptionalList<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OptionalList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(OptionalList(
            Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default(),
        ))
    }
}

// ---- JSON Schema for the hand-written types ----
// What holds for every model. The fields of each model are checked by conditionals on
// `model` that `crate::schema` adds.

/// The schema of a template variable's value (`~` reads as the text `null`).
#[derive(Debug)]
pub struct ScalarSchema;

impl JsonSchema for ScalarSchema {
    fn schema_name() -> Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": ["string", "number", "boolean", "null"]})
    }
}

impl<V: JsonSchema> JsonSchema for RawMap<V> {
    fn schema_name() -> Cow<'static, str> {
        format!("MapOf{}", V::schema_name()).into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let values = generator.subschema_for::<V>();
        json_schema!({"type": "object", "additionalProperties": values})
    }
}

/// A `prompt` wherever it is written is a template (it is rendered before it is checked).
fn prompt_property() -> Value {
    serde_json::json!({"description": "The prompt, a template: `{name}` is a variable, `{{` and `}}` are braces.", "pattern": TEMPLATE_PATTERN})
}

impl JsonSchema for RawInput {
    fn schema_name() -> Cow<'static, str> {
        "Input".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Input fields of the jobs' models, merged into every job. Each model's fields are checked where the model is known.",
            "type": "object",
            "properties": {"prompt": prompt_property()},
        })
    }
}

impl JsonSchema for RawMatrix {
    fn schema_name() -> Cow<'static, str> {
        "Matrix".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let model = serde_json::json!({"type": "string", "pattern": NOT_BLANK_PATTERN});
        let combination = serde_json::json!({
            "type": "object",
            "properties": {"model": model, "prompt": prompt_property()},
        });
        json_schema!({
            "description": "Axes: each key is an input field or a template variable, with a list of values. `exclude` removes every combination matching all keys of an entry; `include` merges an entry into every combination whose matrix values it does not overwrite, or adds it as a new combination.",
            "type": "object",
            "properties": {
                "include": {"type": ["array", "null"], "items": combination},
                "exclude": {"type": ["array", "null"], "items": {"type": "object"}},
                "model": {"type": "array", "minItems": 1, "items": model},
                "prompt": {"type": "array", "minItems": 1, "items": prompt_property()},
            },
            "additionalProperties": {"type": "array", "minItems": 1},
        })
    }
}

impl JsonSchema for RawJob {
    fn schema_name() -> Cow<'static, str> {
        "Job".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "One job: an optional id, model and takes, and its model's input fields.",
            "type": "object",
            "properties": {
                "id": {
                    "description": "The job's id, used for file names. Default: derived from the prompt.",
                    "type": ["string", "number", "boolean", "null"],
                    "pattern": ID_PATTERN,
                    "maxLength": super::identity::MAX_ID_CHARS,
                },
                "model": {"description": "This job's model.", "type": ["string", "number", "boolean", "null"], "pattern": NOT_BLANK_PATTERN},
                "takes": {"description": "Videos of this job, at most 100.", "type": ["integer", "null"], "minimum": 1, "maximum": super::MAX_TAKES},
                "prompt": prompt_property(),
            },
        })
    }
}
