//! `sora-batch models list|show`: the jobs API's models, from the live catalogue or the
//! built-in snapshot.
//!
//! Read [`list`] and [`show`]. `list` asks the live catalogue (one call; needs
//! KIE_API_KEY). `show` prints what is known of one model — its input fields (type, allowed
//! values, default, required, limits), its price and where that knowledge came from — from
//! the snapshot compiled into sora-batch when it has the model (no network), else, or with
//! `--live`, from the catalogue.

use std::io::Write;

use serde_json::{Map, Value};
use sora_batch_api::catalogue::{ModelFilter, ModelInput};
use sora_batch_api::snapshot;

use crate::cli::{GlobalArgs, ModelsListArgs, ModelsShowArgs};
use crate::commands::{api_key, client, runtime};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn list(
    global: &GlobalArgs,
    args: &ModelsListArgs,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let client = client(&global.base_url, api_key()?, None)?;
    let filter = ModelFilter {
        task_type: args.task_type.clone(),
        provider: None,
        query: args.query.clone(),
    };
    if !output.quiet {
        output.message_line("asking the catalogue of the jobs API...");
    }
    let list = runtime()?.block_on(client.list_models(&filter))?;
    let stdout = output.stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut *stdout, &list.models)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)?;
    } else {
        let width = list
            .models
            .iter()
            .map(|m| m.model.len())
            .max()
            .unwrap_or(5)
            .max(5);
        writeln!(
            stdout,
            "{:<width$}  {:<18}  {:<10}  PRICE",
            "MODEL", "TYPE", "PROVIDER"
        )
        .map_err(CliError::Output)?;
        for model in &list.models {
            let price = model.pricing_desc.as_deref().unwrap_or("-");
            writeln!(
                stdout,
                "{:<width$}  {:<18}  {:<10}  {}",
                model.model,
                model.task_types.join(","),
                model.provider.as_deref().unwrap_or("-"),
                shorten(price, 70)
            )
            .map_err(CliError::Output)?;
        }
        if !output.quiet {
            let known = list
                .models
                .iter()
                .filter(|model| snapshot::model(&model.model).is_some())
                .count();
            output.message_line(&format!(
                "{} model(s); {known} of them in sora-batch's built-in snapshot",
                list.models.len()
            ));
        }
    }
    output.flush()?;
    Ok(Outcome::Success)
}

pub fn show(
    global: &GlobalArgs,
    args: &ModelsShowArgs,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let built_in = snapshot::model(&args.model).filter(|_| !args.live);
    let (schema, price, source) = match built_in {
        Some(facts) => (
            facts.input_schema.clone(),
            Some(facts.pricing_desc.clone()),
            format!(
                "the built-in snapshot, from {}",
                facts
                    .source
                    .get("url")
                    .and_then(Value::as_str)
                    .unwrap_or("Kie's documentation")
            ),
        ),
        None => {
            let client = client(&global.base_url, api_key()?, None)?;
            let runtime = runtime()?;
            let schema = runtime.block_on(client.model_schema(&args.model))?;
            let price = runtime.block_on(client.model_price(&args.model))?;
            let schema = match schema.input {
                ModelInput::CreateTask(schema) => schema,
                ModelInput::NotSynced => {
                    return Err(CliError::Usage(format!(
                        "the catalogue has no schema for {} yet (not synced); try again later",
                        args.model
                    )));
                }
                ModelInput::NotCreateTask { paths } => {
                    return Err(CliError::Usage(format!(
                        "{} does not run through the jobs API's createTask (its own paths: {}); \
                         sora-batch cannot run it",
                        args.model,
                        paths.join(", ")
                    )));
                }
            };
            (schema, price.pricing_desc, "the live catalogue".to_owned())
        }
    };
    let stdout = output.stdout();
    if args.json {
        let document = serde_json::json!({
            "model": args.model,
            "input_schema": schema,
            "pricingDesc": price,
            "source": source,
        });
        serde_json::to_writer_pretty(&mut *stdout, &document)
            .map_err(|error| CliError::Output(error.into()))?;
        writeln!(stdout).map_err(CliError::Output)?;
    } else {
        write_fields(stdout, &args.model, &schema, price.as_deref(), &source)
            .map_err(CliError::Output)?;
    }
    output.flush()?;
    Ok(Outcome::Success)
}

/// The model's input fields as a table, then its price and source.
fn write_fields(
    out: &mut impl Write,
    model: &str,
    schema: &Value,
    price: Option<&str>,
    source: &str,
) -> std::io::Result<()> {
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
        price.filter(|p| !p.is_empty()).unwrap_or("unknown")
    )?;
    writeln!(out, "source  {source}")
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
