//! The last step: each [`Draft`]'s key and id, and the final [`Job`]s.
//!
//! Read [`Resolver::assign_identities`]. How a key is computed and what makes an id safe
//! live in [`crate::manifest::identity`]; here are the clashes between jobs: two jobs
//! making the same request, and ids used twice.

use std::collections::{HashMap, HashSet};

use super::{Draft, Resolver};
use crate::diagnostic::quoted;
use crate::manifest::Job;
use crate::manifest::identity::{JobId, JobKey};
use crate::manifest::origin::Site;

impl Resolver<'_> {
    /// Keys, ids, and the final jobs; `None` when ids or keys clash.
    pub(super) fn assign_identities(
        &mut self,
        drafts: Vec<Draft>,
        callback_url: Option<&str>,
    ) -> Option<Vec<Job>> {
        let keys: Vec<JobKey> = drafts
            .iter()
            .map(|draft| JobKey::compute(&draft.model, &draft.input, draft.take))
            .collect();
        // The same request twice would be one job in the journal: say so.
        let mut first_with_key: HashMap<&JobKey, usize> = HashMap::with_capacity(drafts.len());
        for (index, key) in keys.iter().enumerate() {
            if let Some(&first) = first_with_key.get(key) {
                let name_of = |draft: &Draft| match &draft.explicit_id {
                    Some((id, _)) => id.clone(),
                    None => draft.derived_base.clone(),
                };
                let (first_draft, draft) = (&drafts[first], &drafts[index]);
                let diagnostic = self
                    .error_at(
                        draft.anchor,
                        format!(
                            "jobs {} and {} make the same request",
                            quoted(&name_of(first_draft)),
                            quoted(&name_of(draft))
                        ),
                    )
                    .note("they have the same model, input and take, so they would be one video")
                    .note("help: use `takes` for several videos of one request, or use every matrix variable in the prompt");
                self.push(diagnostic);
            } else {
                first_with_key.insert(key, index);
            }
        }
        let take_suffix = |base: &str, take: u32| {
            if take > 1 {
                format!("{base}-t{take}")
            } else {
                base.to_owned()
            }
        };
        let candidates: Vec<String> = drafts
            .iter()
            .map(|draft| match &draft.explicit_id {
                Some((id, _)) => take_suffix(id, draft.take),
                None => take_suffix(&draft.derived_base, draft.take),
            })
            .collect();
        let mut uses: HashMap<&str, usize> = HashMap::with_capacity(candidates.len());
        for candidate in &candidates {
            *uses.entry(candidate.as_str()).or_default() += 1;
        }
        let mut explicit_owner: HashMap<&str, Site> = HashMap::new();
        let mut ids: Vec<String> = Vec::with_capacity(drafts.len());
        for ((draft, candidate), key) in drafts.iter().zip(&candidates).zip(&keys) {
            match &draft.explicit_id {
                Some((_, at)) => {
                    if let Some(first) = explicit_owner.get(candidate.as_str()) {
                        let diagnostic = self
                            .error_at(*at, format!("duplicate id {}", quoted(candidate)))
                            .note(format!("first used at {}", self.describe_line(*first)))
                            .expected("an id used by one job only");
                        self.push(diagnostic);
                    } else {
                        explicit_owner.insert(candidate, *at);
                    }
                    ids.push(candidate.clone());
                }
                None if uses.get(candidate.as_str()).copied().unwrap_or(0) > 1 => {
                    ids.push(format!(
                        "{candidate}-{}",
                        &key.short()[..8.min(key.short().len())]
                    ));
                }
                None => ids.push(candidate.clone()),
            }
        }
        if self.has_errors() {
            return None;
        }
        // A derived id with its key suffix could still meet an explicit id; ids must be
        // unique whatever the manifest says.
        let mut taken: HashSet<&str> = HashSet::with_capacity(ids.len());
        for (id, draft) in ids.iter().zip(&drafts) {
            if !taken.insert(id.as_str()) {
                let diagnostic = self
                    .error_at(draft.anchor, format!("duplicate id {}", quoted(id)))
                    .expected("an id used by one job only: give this job an explicit `id`");
                self.push(diagnostic);
            }
        }
        if self.has_errors() {
            return None;
        }
        Some(
            drafts
                .into_iter()
                .zip(keys)
                .zip(ids)
                .map(|((draft, key), id)| Job {
                    id: JobId::new_unchecked(id),
                    key,
                    take: draft.take,
                    model: draft.model,
                    input: draft.input,
                    call_back_url: callback_url.map(str::to_owned),
                    matrix: draft.matrix,
                })
                .collect(),
        )
    }
}
