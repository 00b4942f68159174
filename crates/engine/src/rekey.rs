//! Journals of earlier versions, whose keys were computed from requests written differently.
//!
//! Read [`adopt_earlier_keys`]. Until models were checked against their schemas, a job of
//! any model but Sora 2 sent its fields as written: every key of its matrix combination
//! (template variables too) and no defaults. Today the same job sends only the model's
//! fields, converted to the schema's types, with its defaults filled in — another request,
//! so another key. Without this module a batch begun with the earlier version would pay
//! again for every such job it had already paid for.
//!
//! An earlier job is found again through the batch folder's `report.json`, which holds each
//! job's key and its input exactly as sent: that input, prepared as today's loader prepares
//! a job's (the model's fields only, converted, defaults filled in), gives today's key. When
//! that key is a job of the manifest with no history of its own, the earlier history becomes
//! its. A job whose request really changed (an edited prompt) prepares to a key the manifest
//! does not have, and stays apart, as before. A journal job missing from `report.json` (a
//! run killed before writing it) cannot be found again: it stays an orphan, reported as
//! an edited job's is, and its job is submitted under today's key.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::job::JobKey;
use crate::journal::Replay;
use crate::models::ModelBook;
use crate::models::input::InputSchema;

/// Moves the histories of `replay`'s jobs that the manifest names under an earlier key to
/// today's key (see the module's text), reading the inputs they were sent with from
/// `folder`'s `report.json`. Each move is also put in [`Replay::adopted`] for a run to
/// journal. `manifest_keys` are the keys of the jobs this folder holds (a shard's, under
/// `--shard`). Returns how many jobs moved.
pub fn adopt_earlier_keys(
    folder: &Path,
    replay: &mut Replay,
    manifest_keys: &HashSet<&JobKey>,
    book: &ModelBook,
) -> usize {
    let strangers: Vec<JobKey> = replay
        .jobs
        .keys()
        .filter(|key| !manifest_keys.contains(key))
        .cloned()
        .collect();
    let mut adopted = 0;
    if strangers.is_empty() {
        return adopted;
    }
    // Advice here, never required: a folder without a readable one adopts nothing.
    let report = crate::report::read_folder_report(folder).ok();
    let sent: HashMap<&str, (&str, &Map<String, Value>, u32)> = report
        .as_ref()
        .map(|report| {
            report
                .jobs
                .iter()
                .map(|job| (job.key.as_str(), (job.model.as_str(), &job.input, job.take)))
                .collect()
        })
        .unwrap_or_default();
    let mut schemas: HashMap<String, Option<InputSchema>> = HashMap::new();
    for earlier in strangers {
        let Some((model, input, take)) = sent.get(earlier.as_str()).copied() else {
            continue;
        };
        let schema = schemas.entry(model.to_owned()).or_insert_with(|| {
            book.get(model)
                .and_then(|knowledge| knowledge.input_schema.as_ref())
                .and_then(|schema| InputSchema::compile(schema).ok())
        });
        // A model checked the seed's way (Sora 2) or sent as written: its keys never moved.
        let Some(schema) = schema.as_ref() else {
            continue;
        };
        let Some(today) = key_today(schema, model, input, take) else {
            continue;
        };
        if today != earlier
            && manifest_keys.contains(&today)
            && replay.adopt(&earlier, today.clone())
        {
            replay.adopted.push((earlier, today));
            adopted += 1;
        }
    }
    adopted
}

/// The key today's loader gives the job that was sent `input`: the model's fields only,
/// prepared and checked as a manifest's job is. `None` when today's schema refuses it.
fn key_today(
    schema: &InputSchema,
    model: &str,
    input: &Map<String, Value>,
    take: u32,
) -> Option<JobKey> {
    // The loader's rule for which keys are input (`InputRules::takes_field`).
    let mut prepared: Map<String, Value> = input
        .iter()
        .filter(|(name, _)| schema.lists_field(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let problems = schema.check_and_complete(&mut prepared);
    if problems.iter().any(|problem| problem.kind.is_error()) {
        return None;
    }
    Some(JobKey::compute(model, &prepared, take))
}

#[cfg(test)]
mod tests {
    use crate::job::JobKey;
    use crate::journal::{JobHistory, Replay};

    #[test]
    fn a_history_moves_only_to_a_key_without_one() {
        let (earlier, today, other) = (
            JobKey::from_hex("aa".into()),
            JobKey::from_hex("bb".into()),
            JobKey::from_hex("cc".into()),
        );
        let mut replay = Replay::default();
        replay.jobs.insert(earlier.clone(), JobHistory::default());
        replay.jobs.insert(other.clone(), JobHistory::default());
        assert!(!replay.adopt(&earlier, other.clone()), "other has its own");
        assert!(replay.adopt(&earlier, today.clone()));
        assert!(replay.jobs.contains_key(&today) && !replay.jobs.contains_key(&earlier));
        assert!(
            !replay.adopt(&earlier, JobKey::from_hex("dd".into())),
            "moved already"
        );
    }
}
