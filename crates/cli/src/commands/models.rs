//! `sora-batch models list|show`: the jobs API's models, from the live catalogue, a lock or
//! the built-in snapshot. `models lock|check` are in [`super::models_lock`].
//!
//! Read [`list`] and [`show`]. `list` asks the live catalogue once (needs KIE_API_KEY) and
//! filters what it answers here, as the notes advise: `--type` by what a model makes (its
//! task types' last word: `text-to-video` makes video) or by one task type, QUERY by words.
//! `show` prints what is known of one model — its input fields (type, allowed values,
//! default, required, limits), its price, the rule read from it, and where that knowledge
//! came from: a lock when one has the model (`--lock PATH`, else `sora-batch.lock` in the
//! current folder), else the snapshot compiled into sora-batch (no network), else, or with
//! `--live`, the catalogue.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use sora_batch_api::catalogue::{ModelFilter, ModelInput, ModelSummary};
use sora_batch_api::price_text;
use sora_batch_api::snapshot::{self, PriceRule};
use sora_batch_engine::lockfile::{self, LOCK_FILE_NAME};

use crate::cli::{GlobalArgs, ModelType, ModelsListArgs, ModelsShowArgs};
use crate::commands::{api_key, client, runtime};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn list(
    global: &GlobalArgs,
    args: &ModelsListArgs,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let client = client(&global.base_url, api_key()?, None)?;
    output.status_line("asking the catalogue of the jobs API for its models...");
    let list = runtime()?.block_on(client.list_models(&ModelFilter::default()))?;
    let models: Vec<&ModelSummary> = list
        .models
        .iter()
        .filter(|model| {
            args.model_type
                .as_ref()
                .is_none_or(|wanted| is_of_type(model, wanted))
        })
        .filter(|model| {
            args.query
                .as_deref()
                .is_none_or(|query| mentions(model, query))
        })
        .collect();
    let stdout = output.stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut *stdout, &models)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)?;
    } else {
        let width = models
            .iter()
            .map(|m| m.model.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            stdout,
            "{:<width$}  {:<11}  {:<32}  {:<10}  PRICE",
            "MODEL", "MAKES", "TASK TYPES", "PROVIDER"
        )
        .map_err(CliError::Output)?;
        for model in &models {
            let price = model.pricing_desc.as_deref().unwrap_or("-");
            let makes: Vec<&str> = outputs_of(&model.task_types).into_iter().collect();
            writeln!(
                stdout,
                "{:<width$}  {:<11}  {:<32}  {:<10}  {}",
                model.model,
                if makes.is_empty() {
                    "-".to_owned()
                } else {
                    makes.join(",")
                },
                shorten(&model.task_types.join(","), 32),
                model.provider.as_deref().unwrap_or("-"),
                shorten(price, 70)
            )
            .map_err(CliError::Output)?;
        }
    }
    output.flush()?;
    let known = models
        .iter()
        .filter(|model| snapshot::model(&model.model).is_some())
        .count();
    output.status_line(&format!(
        "{} of the catalogue's {} model(s) listed; {known} of them in sora-batch's built-in snapshot",
        models.len(),
        list.models.len()
    ));
    Ok(Outcome::Success)
}

/// What a model makes, from its task types: the word after the last `-to-` (or the whole
/// type) read as video, image or audio. `text-to-video` and `video-upscale` make video,
/// `text-to-speech` and `text-to-music` audio.
pub fn outputs_of(task_types: &[String]) -> BTreeSet<&'static str> {
    task_types
        .iter()
        .filter_map(|task_type| {
            let task_type = task_type.to_lowercase();
            let made = task_type.rsplit("-to-").next().unwrap_or(&task_type);
            if made.contains("video") {
                Some("video")
            } else if made.contains("image") {
                Some("image")
            } else if ["audio", "music", "speech", "sound", "voice", "song"]
                .iter()
                .any(|word| made.contains(word))
            {
                Some("audio")
            } else {
                None
            }
        })
        .collect()
}

fn is_of_type(model: &ModelSummary, wanted: &ModelType) -> bool {
    match wanted {
        ModelType::Output(kind) => outputs_of(&model.task_types).contains(kind.as_str()),
        ModelType::TaskType(task_type) => model
            .task_types
            .iter()
            .any(|known| known.eq_ignore_ascii_case(task_type)),
    }
}

/// Whether every word of `query` is in the model's id, title, provider or description.
fn mentions(model: &ModelSummary, query: &str) -> bool {
    let haystack = [
        Some(model.model.as_str()),
        model.title.as_deref(),
        model.provider.as_deref(),
        model.description.as_deref(),
        model.slug.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ")
    .to_lowercase();
    query
        .split_whitespace()
        .all(|word| haystack.contains(&word.to_lowercase()))
}

/// What is known of one model, wherever it came from.
struct Knowledge {
    schema: Value,
    price_text: Option<String>,
    price_rule: Option<PriceRule>,
    source: String,
}

pub fn show(
    global: &GlobalArgs,
    args: &ModelsShowArgs,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let knowledge = if args.live {
        None
    } else {
        from_lock(&args.model, args.lock.as_deref(), output)?.or_else(|| from_snapshot(&args.model))
    };
    let knowledge = match knowledge {
        Some(knowledge) => knowledge,
        None => from_catalogue(global, &args.model)?,
    };
    let stdout = output.stdout();
    if args.json {
        let document = serde_json::json!({
            "model": args.model,
            "input_schema": knowledge.schema,
            "pricingDesc": knowledge.price_text,
            "price_rule": knowledge.price_rule,
            "source": knowledge.source,
        });
        serde_json::to_writer_pretty(&mut *stdout, &document)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)?;
    } else {
        write_fields(stdout, &args.model, &knowledge).map_err(CliError::Output)?;
    }
    output.flush()?;
    Ok(Outcome::Success)
}

/// The model from `--lock`, or from the lock in the current folder when there is one. An
/// explicit lock without the model is said; the next source is asked.
fn from_lock(
    model: &str,
    explicit: Option<&Path>,
    output: &mut Output,
) -> Result<Option<Knowledge>, CliError> {
    let path = explicit.map_or_else(|| PathBuf::from(LOCK_FILE_NAME), Path::to_path_buf);
    let lock = match lockfile::read(&path) {
        Ok(Some(lock)) => lock,
        Ok(None) if explicit.is_some() => {
            return Err(CliError::Usage(format!(
                "there is no lock at {}",
                path.display()
            )));
        }
        Ok(None) => return Ok(None),
        Err(error) => return Err(CliError::Lock(error)),
    };
    let Some(entry) = lock.get(model) else {
        if explicit.is_some() {
            output.status_line(&format!("{} has no {model}", path.display()));
        }
        return Ok(None);
    };
    Ok(Some(Knowledge {
        schema: entry.input_schema.clone(),
        price_text: entry.price_text.clone(),
        price_rule: entry.price_rule.clone(),
        source: format!(
            "the lock {}, fetched {} from {}",
            path.display(),
            entry.fetched_at,
            entry.fetched_from
        ),
    }))
}

fn from_snapshot(model: &str) -> Option<Knowledge> {
    let facts = snapshot::model(model)?;
    Some(Knowledge {
        schema: facts.input_schema.clone(),
        price_text: Some(facts.pricing_desc.clone()).filter(|text| !text.is_empty()),
        price_rule: facts.price_rule.clone(),
        source: format!(
            "the built-in snapshot, from {}",
            facts
                .source
                .get("url")
                .and_then(Value::as_str)
                .unwrap_or("Kie's documentation")
        ),
    })
}

fn from_catalogue(global: &GlobalArgs, model: &str) -> Result<Knowledge, CliError> {
    let client = client(&global.base_url, api_key()?, None)?;
    let runtime = runtime()?;
    let schema = runtime.block_on(client.model_schema(model))?;
    let schema = runnable_schema(model, schema.input)?;
    let price = runtime.block_on(client.model_price(model))?;
    let price_rule = price
        .pricing_desc
        .as_deref()
        .and_then(|text| price_text::parse(text, &schema));
    Ok(Knowledge {
        schema,
        price_text: price.pricing_desc,
        price_rule,
        source: "the live catalogue".to_owned(),
    })
}

/// The input schema of a model sora-batch can run, or why it cannot.
pub fn runnable_schema(model: &str, input: ModelInput) -> Result<Value, CliError> {
    match input {
        ModelInput::CreateTask(schema) => Ok(schema),
        ModelInput::NotSynced => Err(CliError::Usage(not_synced(model))),
        ModelInput::NotCreateTask { paths } => Err(CliError::Usage(not_create_task(model, &paths))),
    }
}

pub fn not_synced(model: &str) -> String {
    format!("the catalogue has no schema for {model} yet (not synced); try again later")
}

pub fn not_create_task(model: &str, paths: &[String]) -> String {
    format!(
        "{model} does not run through the jobs API's createTask (its own paths: {}); \
         sora-batch cannot run it",
        if paths.is_empty() {
            "none listed".to_owned()
        } else {
            paths.join(", ")
        }
    )
}

/// The model's input fields as a table, then its price, its rule and its source.
fn write_fields(out: &mut impl Write, model: &str, knowledge: &Knowledge) -> std::io::Result<()> {
    let schema = &knowledge.schema;
    writeln!(out, "{model}")?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let width = properties.keys().map(String::len).max().unwrap_or(5).max(5);
    writeln!(
        out,
        "  {:<width$}  {:<8}  {:<8}  {:<12}  ALLOWED",
        "FIELD", "TYPE", "REQUIRED", "DEFAULT"
    )?;
    for (name, property) in properties {
        writeln!(
            out,
            "  {:<width$}  {:<8}  {:<8}  {:<12}  {}",
            name,
            type_of(property),
            if required.contains(&name.as_str()) {
                "yes"
            } else {
                ""
            },
            property
                .get("default")
                .map_or_else(String::new, |d| shorten(&d.to_string(), 12)),
            shorten(&allowed(property), 60)
        )?;
    }
    if properties.is_empty() {
        writeln!(
            out,
            "  (the schema lists no fields: {})",
            shorten(&schema.to_string(), 80)
        )?;
    }
    writeln!(
        out,
        "price   {}",
        knowledge
            .price_text
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("unknown")
    )?;
    match &knowledge.price_rule {
        Some(rule) => writeln!(out, "rule    {rule}")?,
        None => writeln!(
            out,
            "rule    none: no price sora-batch can read; jobs of this model have no estimate"
        )?,
    }
    writeln!(out, "source  {}", knowledge.source)
}

/// A field's JSON type, or the types of its alternatives.
fn type_of(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(kind)) => match (kind.as_str(), property.get("items")) {
            ("array", Some(items)) => format!("[{}]", type_of(items)),
            _ => kind.clone(),
        },
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("|"),
        _ => ["anyOf", "oneOf"]
            .iter()
            .find_map(|key| property.get(*key).and_then(Value::as_array))
            .map(|choices| choices.iter().map(type_of).collect::<Vec<_>>().join("|"))
            .unwrap_or_else(|| "any".to_owned()),
    }
}

/// The values or limits a field allows, in a few words.
fn allowed(property: &Value) -> String {
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return values
            .iter()
            .map(|value| value.to_string())
            .collect::<Vec<_>>()
            .join(", ");
    }
    let mut limits = Vec::new();
    for (key, word) in [
        ("minimum", "min"),
        ("maximum", "max"),
        ("minLength", "min length"),
        ("maxLength", "max length"),
        ("minItems", "min items"),
        ("maxItems", "max items"),
        ("format", "format"),
        ("pattern", "pattern"),
    ] {
        if let Some(value) = property.get(key) {
            limits.push(format!("{word} {value}"));
        }
    }
    if let Some(items) = property.get("items") {
        let inner = allowed(items);
        if !inner.is_empty() {
            limits.push(format!("each: {inner}"));
        }
    }
    limits.join(", ")
}

/// `text` cut to `chars` characters, with an ellipsis when cut.
fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(chars.saturating_sub(1)).collect();
    short.push('…');
    short
}
