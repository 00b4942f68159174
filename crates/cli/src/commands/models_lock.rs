//! `sora-batch models lock|check`: the lock beside the manifests, written from the live
//! catalogue and compared with it.
//!
//! Read [`lock`] and [`check`]. Both start from the models each manifest uses
//! (`manifest::models_used`, which needs the manifest to be YAML, not valid: an unknown
//! model is what locking cures), grouped by the lock beside each manifest. The Sora 2
//! models are built into sora-batch (the seed's contract, withdrawn by the service) and are
//! neither locked nor checked. Each model costs two catalogue calls (schema, price); the
//! client paces them at one per second, the catalogue's limit, and a line on stderr says
//! which model is being asked for.
//!
//! `lock` writes nothing unless every model could be locked: a model the catalogue has no
//! createTask schema for (not synced yet, or served on its own paths) is refused with the
//! reason, and the lock is left as it was.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use serde_json::Value;
use sora_batch_api::catalogue::ModelInput;
use sora_batch_api::{ApiError, Client, ErrorKind, price_text, registry};
use sora_batch_engine::lockfile::{self, LockedModel, diff};
use sora_batch_engine::manifest;

use crate::cli::{GlobalArgs, ModelsCheckArgs, ModelsLockArgs};
use crate::commands::models::{not_create_task, not_synced};
use crate::commands::{api_key, client, runtime};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

/// One lock and what the given manifests beside it need from it.
#[derive(Debug)]
struct LockPlan {
    path: PathBuf,
    manifests: Vec<PathBuf>,
    /// The models to lock or check: every model the manifests use, Sora 2 aside.
    models: BTreeSet<String>,
}

impl LockPlan {
    /// `sora-batch models lock` of this lock's manifests, for messages.
    fn lock_command(&self) -> String {
        let manifests: Vec<String> = self
            .manifests
            .iter()
            .map(|path| path.display().to_string())
            .collect();
        format!("sora-batch models lock {}", manifests.join(" "))
    }
}

/// The locks the manifests need, each with its models. `None` when a manifest cannot be
/// read as YAML (its diagnostics printed).
fn plan(manifests: &[PathBuf], output: &mut Output) -> Option<Vec<LockPlan>> {
    let mut plans: BTreeMap<PathBuf, LockPlan> = BTreeMap::new();
    let mut broken = false;
    for manifest_path in manifests {
        match manifest::models_used(manifest_path) {
            Ok(models) => {
                let path = lockfile::path_beside(manifest_path);
                let plan = plans.entry(path.clone()).or_insert_with(|| LockPlan {
                    path,
                    manifests: Vec::new(),
                    models: BTreeSet::new(),
                });
                plan.manifests.push(manifest_path.clone());
                for model in models {
                    if registry::lookup(&model).is_some() {
                        output.status_line(&format!(
                            "{model}: the Sora 2 family is built into sora-batch \
                             (withdrawn by the service); not locked"
                        ));
                    } else {
                        plan.models.insert(model);
                    }
                }
            }
            Err(errors) => {
                output.diagnostics(&errors.diagnostics);
                output.error_line(&format!(
                    "{} cannot be read; nothing was locked or checked",
                    manifest_path.display()
                ));
                broken = true;
            }
        }
    }
    (!broken).then(|| plans.into_values().collect())
}

/// What the catalogue says of one model now.
enum Fetched {
    Known {
        schema: Value,
        price_text: Option<String>,
    },
    /// It cannot be run through createTask; why, in a sentence.
    Refused(String),
    /// The catalogue does not know it.
    Unknown,
}

async fn fetch(client: &Client, model: &str) -> Result<Fetched, ApiError> {
    let schema = match client.model_schema(model).await {
        Ok(schema) => schema,
        Err(error) if error.kind == ErrorKind::NotFound => return Ok(Fetched::Unknown),
        Err(error) => return Err(error),
    };
    let schema = match schema.input {
        ModelInput::CreateTask(schema) => schema,
        ModelInput::NotSynced => return Ok(Fetched::Refused(not_synced(model))),
        ModelInput::NotCreateTask { paths } => {
            return Ok(Fetched::Refused(not_create_task(model, &paths)));
        }
    };
    let price = client.model_price(model).await?;
    Ok(Fetched::Known {
        schema,
        price_text: price.pricing_desc,
    })
}

/// The lock entry of a model of the built-in snapshot: its documented schema, price text
/// and hand-written rule, "fetched" from its documentation page on the day it was read.
fn snapshot_entry(model: &str) -> Result<LockedModel, String> {
    let facts = sora_batch_api::snapshot::model(model).ok_or_else(|| {
        format!(
            "{model} is not in sora-batch's built-in snapshot; lock it from the live catalogue \
             (without --from-snapshot)"
        )
    })?;
    let field = |name: &str| {
        facts
            .source
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let read_on = field("read");
    let fetched_at = if read_on.is_empty() {
        lockfile::now_rfc3339()
    } else {
        format!("{read_on}T00:00:00Z")
    };
    let price_text = Some(facts.pricing_desc.clone()).filter(|text| !text.is_empty());
    Ok(LockedModel::new(
        facts.input_schema.clone(),
        price_text,
        facts.price_rule.clone(),
        &field("url"),
        fetched_at,
    ))
}

pub fn lock(
    global: &GlobalArgs,
    args: &ModelsLockArgs,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let Some(plans) = plan(&args.manifests, output) else {
        return Ok(Outcome::ManifestProblems);
    };
    // Every existing lock is read before anything is fetched: one that cannot be read
    // stops the command before it spends a minute of catalogue calls.
    let mut locks = Vec::new();
    for plan in &plans {
        locks.push(lockfile::read(&plan.path)?.unwrap_or_default());
    }
    let total: usize = plans.iter().map(|plan| plan.models.len()).sum();
    // No model to ask for (a manifest of Sora 2 models only) needs no key.
    let client = match total {
        0 => None,
        _ if args.from_snapshot => None,
        _ => Some(client(&global.base_url, api_key()?, None)?),
    };
    let runtime = runtime()?;
    let mut done = 0;
    // Every lock's models are asked for first: one refused model leaves every lock as it
    // was, not only its own.
    let mut ready = Vec::new();
    let mut refused = Vec::new();
    for (plan, lock) in plans.into_iter().zip(locks) {
        let mut fetched = BTreeMap::new();
        for model in &plan.models {
            if args.from_snapshot {
                match snapshot_entry(model) {
                    Ok(entry) => {
                        fetched.insert(model.clone(), entry);
                    }
                    Err(reason) => refused.push(reason),
                }
                continue;
            }
            let Some(client) = &client else { break };
            done += 1;
            output.status_line(&format!(
                "[{done}/{total}] {model}: asking the catalogue for its schema and price"
            ));
            match runtime.block_on(fetch(client, model))? {
                Fetched::Known { schema, price_text } => {
                    let rule = price_text
                        .as_deref()
                        .and_then(|text| price_text::parse(text, &schema));
                    if rule.is_none() {
                        output.warning_line(&format!(
                            "{model}: its price text ({}) states no price sora-batch can read; \
                             its jobs will have no estimate (under a spending cap, one at a \
                             time until a charge is seen)",
                            price_text
                                .as_deref()
                                .map_or_else(|| "none".to_owned(), |text| format!("{text:?}"))
                        ));
                    }
                    let entry = LockedModel::new(
                        schema,
                        price_text,
                        rule,
                        &global.base_url,
                        lockfile::now_rfc3339(),
                    );
                    fetched.insert(model.clone(), entry);
                }
                Fetched::Refused(reason) => refused.push(reason),
                Fetched::Unknown => refused.push(format!(
                    "{model} is not in the catalogue of the jobs API (`sora-batch models list` \
                     shows what is)"
                )),
            }
        }
        ready.push((plan, lock, fetched));
    }
    if !refused.is_empty() {
        for reason in &refused {
            output.error_line(reason);
        }
        let locks: Vec<String> = ready
            .iter()
            .map(|(plan, _, _)| plan.path.display().to_string())
            .collect();
        return Err(CliError::Usage(format!(
            "{} model(s) cannot be locked; {} {} left as {}",
            refused.len(),
            locks.join(", "),
            if locks.len() == 1 { "was" } else { "were" },
            if locks.len() == 1 {
                "it was"
            } else {
                "they were"
            },
        )));
    }
    for (plan, mut lock, fetched) in ready {
        let existed = plan.path.exists();
        let keep = args.prune.then_some(&plan.models);
        let summary = lock.merge(fetched, keep);
        // A first lock is written even when it is empty of changes, but not when it would
        // record nothing at all.
        let write = summary.changed() || (!existed && !lock.models.is_empty());
        if write {
            lockfile::write(&plan.path, &lock)?;
        }
        output.status_line(&format!(
            "{}: {} added, {} updated, {} unchanged, {} removed{}",
            plan.path.display(),
            summary.added.len(),
            summary.updated.len(),
            summary.unchanged.len(),
            summary.removed.len(),
            match (write, existed) {
                (true, _) => "",
                (false, true) => " (not rewritten)",
                (false, false) => " (nothing to record: not written)",
            }
        ));
    }
    Ok(Outcome::Success)
}

pub fn check(
    global: &GlobalArgs,
    args: &ModelsCheckArgs,
    output: &mut Output,
) -> Result<Outcome, CliError> {
    let Some(plans) = plan(&args.manifests, output) else {
        return Ok(Outcome::ManifestProblems);
    };
    let mut locks = Vec::new();
    for plan in &plans {
        locks.push(lockfile::read(&plan.path)?);
    }
    // Asked for only when a locked model is to be compared: a missing lock or model needs
    // no network, and no key.
    let mut client: Option<Client> = None;
    let runtime = runtime()?;
    let mut out_of_date = false;
    for (plan, lock) in plans.iter().zip(locks) {
        let Some(lock) = lock else {
            if !plan.models.is_empty() {
                out_of_date = true;
                output.error_line(&format!(
                    "there is no lock at {}: run `{}`",
                    plan.path.display(),
                    plan.lock_command()
                ));
            }
            continue;
        };
        let mut changed_models = 0;
        for model in &plan.models {
            let report = match lock.get(model) {
                None => vec!["not in the lock".to_owned()],
                Some(entry) => {
                    let client = match &mut client {
                        Some(client) => client,
                        empty => empty.insert(self::client(&global.base_url, api_key()?, None)?),
                    };
                    output.status_line(&format!(
                        "{model}: asking the catalogue for its schema and price"
                    ));
                    compare(entry, runtime.block_on(fetch(client, model))?)
                }
            };
            let stdout = output.stdout();
            if report.is_empty() {
                writeln!(stdout, "{model}: up to date").map_err(CliError::Output)?;
            } else {
                changed_models += 1;
                writeln!(stdout, "{model}: out of date").map_err(CliError::Output)?;
                for line in &report {
                    writeln!(stdout, "  - {line}").map_err(CliError::Output)?;
                }
            }
        }
        output.flush()?;
        if changed_models > 0 {
            out_of_date = true;
            output.error_line(&format!(
                "{} is out of date: {changed_models} of {} model(s) differ from the catalogue; \
                 run `{}` and commit the lock",
                plan.path.display(),
                plan.models.len(),
                plan.lock_command()
            ));
        } else {
            output.status_line(&format!(
                "{}: its {} model(s) match the catalogue",
                plan.path.display(),
                plan.models.len()
            ));
        }
    }
    Ok(if out_of_date {
        Outcome::LockOutOfDate
    } else {
        Outcome::Success
    })
}

/// What differs between a locked model and what the catalogue says now, one line each.
fn compare(entry: &LockedModel, fetched: Fetched) -> Vec<String> {
    match fetched {
        Fetched::Known { schema, price_text } => {
            let rule = price_text
                .as_deref()
                .and_then(|text| price_text::parse(text, &schema));
            diff::changes(entry, &schema, price_text.as_deref(), rule.as_ref())
                .iter()
                .map(ToString::to_string)
                .collect()
        }
        Fetched::Refused(reason) => vec![reason],
        Fetched::Unknown => vec!["no longer in the catalogue".to_owned()],
    }
}
