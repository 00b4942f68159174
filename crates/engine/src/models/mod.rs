//! What sora-batch knows of each model of Kie's jobs API: its input JSON Schema, its price
//! and where that knowledge came from, gathered into one [`ModelBook`].
//!
//! Read [`ModelBook`] first. Knowledge comes from three sources, highest first:
//!
//! 1. **locked** entries ([`ModelBook::with_locked`]): what `sora-batch models lock` fetched
//!    from Kie's live catalogue into `sora-batch.lock` beside a manifest;
//! 2. the **built-in snapshot** of popular models (`sora_batch_api::snapshot`), written from
//!    Kie's documentation pages and compiled in, so that `validate` and `plan` work offline;
//! 3. the **Sora 2 family** (`sora_batch_api::registry`), the seed's contract: validated by
//!    the registry's hand-written fields exactly as before, and marked [`Withdrawn`].
//!
//! A model in none of them is unknown, and a manifest that uses it does not load.
//! [`InputSchema`] (in `input.rs`) checks one job's input against a model's schema: values
//! converted to the schema's types, defaults filled in, every problem with the path of the
//! value that caused it. Locating those paths in a manifest is the manifest's business.
//!
//! Deliberately not here: reading or writing the lock file, and fetching anything.

mod describe;
pub mod input;
mod prepare;
mod sora;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;
use sora_batch_api::registry::{self, ModelSpec, closest_name};
use sora_batch_api::snapshot::{self, ModelFacts, PriceRule};

pub use describe::describe;
pub use input::{FileField, InputSchema, PathSegment, SchemaProblem, SchemaProblemKind, path_text};

/// What a model makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputKind {
    Video,
    Image,
    Audio,
}

impl OutputKind {
    /// `video`, `image` or `audio`, as the snapshot's files and Kie's catalogue spell them;
    /// `None` for anything else.
    pub fn parse(text: &str) -> Option<OutputKind> {
        match text.trim().to_ascii_lowercase().as_str() {
            "video" => Some(OutputKind::Video),
            "image" => Some(OutputKind::Image),
            "audio" => Some(OutputKind::Audio),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OutputKind::Video => "video",
            OutputKind::Image => "image",
            OutputKind::Audio => "audio",
        }
    }
}

/// Where what sora-batch knows of a model came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnowledgeSource {
    /// An entry of a lock file: fetched from Kie's catalogue by `sora-batch models lock`.
    Lock {
        /// The lock file the entry was read from.
        path: PathBuf,
        /// When it was fetched, as the lock file writes it (RFC 3339).
        fetched_at: String,
        /// What it was fetched from: the catalogue's base URL.
        fetched_from: String,
    },
    /// The built-in snapshot, written from this documentation page.
    Snapshot { page: String },
    /// The Sora 2 family as the seed's contract describes it (`kie-api-notes.md`).
    SeedContract,
}

impl KnowledgeSource {
    /// A few words for messages: `sora-batch.lock`, `the built-in snapshot`, ...
    pub fn describe(&self) -> String {
        match self {
            KnowledgeSource::Lock { path, .. } => path.display().to_string(),
            KnowledgeSource::Snapshot { .. } => "the built-in snapshot".to_owned(),
            KnowledgeSource::SeedContract => "the Sora 2 registry".to_owned(),
        }
    }
}

/// A model the service no longer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Withdrawn {
    /// Since when Kie refuses its tasks, `YYYY-MM-DD`.
    pub since: String,
    /// How the service answers a task of it, for the warning.
    pub answer: String,
    /// Why it is gone, in a sentence.
    pub reason: String,
}

/// Everything sora-batch knows of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelKnowledge {
    /// The id sent as `model` to createTask.
    pub model: String,
    /// What it makes, when known.
    pub output: Option<OutputKind>,
    /// The JSON Schema of createTask's `input`. `None` for the Sora 2 family (checked by the
    /// api crate's registry) and for a locked model whose schema Kie did not publish (its
    /// input is sent as written).
    pub input_schema: Option<Value>,
    /// The price as Kie states it, in words; empty when unknown.
    pub price_text: String,
    /// The price as data; `None` when it cannot be estimated before a run.
    pub price_rule: Option<PriceRule>,
    pub source: KnowledgeSource,
    /// Set when the service no longer runs the model.
    pub withdrawn: Option<Withdrawn>,
    /// The largest local file each field that takes files may name, as the model's
    /// documentation states it: `(bytes, the limit in the page's words)`.
    pub file_limits: BTreeMap<String, (u64, String)>,
}

impl ModelKnowledge {
    /// A model of the built-in snapshot.
    pub fn from_snapshot(facts: &ModelFacts) -> ModelKnowledge {
        let page = facts
            .source
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        ModelKnowledge {
            model: facts.model.clone(),
            output: OutputKind::parse(&facts.output),
            input_schema: Some(facts.input_schema.clone()),
            price_text: facts.pricing_desc.clone(),
            price_rule: facts.price_rule.clone(),
            source: KnowledgeSource::Snapshot { page },
            withdrawn: None,
            file_limits: facts
                .file_limits
                .iter()
                .map(|(field, limit)| (field.clone(), (limit.max_bytes, limit.stated.clone())))
                .collect(),
        }
    }

    /// The registry's fields for a model checked the seed's way: the Sora 2 family, unless
    /// a lock gave it a schema.
    pub fn registry_spec(&self) -> Option<&'static ModelSpec> {
        match (&self.source, &self.input_schema) {
            (KnowledgeSource::SeedContract, None) => registry::lookup(&self.model),
            _ => None,
        }
    }
}

/// The knowledge of every model sora-batch can check and price, by model id: locked entries
/// over the built-in snapshot over the Sora 2 family.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelBook {
    models: BTreeMap<String, ModelKnowledge>,
}

impl ModelBook {
    /// The built-in snapshot and the Sora 2 family: what every manifest can use with no
    /// lock. Built once per process; each call hands out a copy (a few dozen kilobytes).
    pub fn built_in() -> ModelBook {
        static BOOK: OnceLock<ModelBook> = OnceLock::new();
        BOOK.get_or_init(|| {
            let mut models = BTreeMap::new();
            for knowledge in sora::seed_contract() {
                models.insert(knowledge.model.clone(), knowledge);
            }
            // The snapshot over the seed's contract: were a Sora model ever in the snapshot,
            // its documented schema would be the better knowledge.
            for facts in snapshot::built_in() {
                models.insert(facts.model.clone(), ModelKnowledge::from_snapshot(facts));
            }
            ModelBook { models }
        })
        .clone()
    }

    /// This book with `entries` over what it knows: a locked entry replaces the snapshot's
    /// (or the seed contract's) knowledge of its model whole.
    #[must_use]
    pub fn with_locked(mut self, entries: impl IntoIterator<Item = ModelKnowledge>) -> Self {
        for mut knowledge in entries {
            // A lock carries no file limits (Kie's schemas state them in prose only): a
            // locked model keeps the ones the snapshot read from its page.
            if knowledge.file_limits.is_empty()
                && let Some(known) = self.models.get(&knowledge.model)
            {
                knowledge.file_limits = known.file_limits.clone();
            }
            self.models.insert(knowledge.model.clone(), knowledge);
        }
        self
    }

    /// What the book knows of `model`.
    pub fn get(&self, model: &str) -> Option<&ModelKnowledge> {
        self.models.get(model)
    }

    /// Every model id of the book, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.models.keys().map(String::as_str)
    }

    /// Every model of the book, sorted by id.
    pub fn models(&self) -> impl Iterator<Item = &ModelKnowledge> {
        self.models.values()
    }

    /// The known id closest to `model` when it is likely a typo of it (`kling-2.6/text-to-vido`
    /// for `kling-2.6/text-to-video`): a live model when one is close, else a withdrawn one.
    pub fn closest_id(&self, model: &str) -> Option<&str> {
        let live = self
            .models
            .values()
            .filter(|knowledge| knowledge.withdrawn.is_none())
            .map(|knowledge| knowledge.model.as_str());
        closest_name(model, live).or_else(|| closest_name(model, self.ids()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn locked(model: &str) -> ModelKnowledge {
        ModelKnowledge {
            model: model.to_owned(),
            output: Some(OutputKind::Video),
            input_schema: Some(serde_json::json!({"type": "object"})),
            price_text: String::new(),
            price_rule: None,
            source: KnowledgeSource::Lock {
                path: PathBuf::from("sora-batch.lock"),
                fetched_at: "2026-11-29T12:00:00Z".into(),
                fetched_from: "https://api.kie.ai".into(),
            },
            withdrawn: None,
            file_limits: BTreeMap::new(),
        }
    }

    #[test]
    fn the_built_in_book_has_the_snapshot_and_the_withdrawn_sora_family() {
        let book = ModelBook::built_in();
        assert_eq!(book.ids().count(), snapshot::built_in().len() + 6);
        let kling = book
            .get("kling-2.6/text-to-video")
            .expect("in the snapshot");
        assert!(
            matches!(kling.source, KnowledgeSource::Snapshot { ref page } if page.starts_with("https://docs.kie.ai/"))
        );
        assert!(kling.input_schema.is_some() && kling.price_rule.is_some());
        assert_eq!(kling.output, Some(OutputKind::Video));
        for spec in registry::SORA_2_MODELS {
            let sora = book.get(spec.name).expect("the seed's models are known");
            assert_eq!(sora.source, KnowledgeSource::SeedContract);
            assert!(sora.input_schema.is_none());
            assert_eq!(sora.registry_spec(), Some(spec));
            assert!(sora.withdrawn.is_some(), "{} is withdrawn", spec.name);
            assert!(
                sora.price_rule.is_some(),
                "{} keeps its estimate",
                spec.name
            );
        }
    }

    #[test]
    fn a_locked_entry_replaces_what_the_book_knew_of_its_model() {
        let book = ModelBook::built_in().with_locked([
            locked("kling-2.6/text-to-video"),
            locked("sora-2-text-to-video"),
            locked("acme/new-video-model"),
        ]);
        for model in [
            "kling-2.6/text-to-video",
            "sora-2-text-to-video",
            "acme/new-video-model",
        ] {
            let knowledge = book.get(model).expect("locked");
            assert!(matches!(knowledge.source, KnowledgeSource::Lock { .. }));
            assert_eq!(knowledge.price_rule, None);
            assert_eq!(
                knowledge.registry_spec(),
                None,
                "{model}: a lock's schema rules"
            );
        }
        assert!(book.get("kling-3.0/video").is_some(), "the rest stays");
    }

    #[test]
    fn typos_of_ids_are_suggested_live_models_first() {
        let book = ModelBook::built_in();
        assert_eq!(
            book.closest_id("kling-2.6/text-to-vido"),
            Some("kling-2.6/text-to-video")
        );
        assert_eq!(
            book.closest_id("sora-2-text-to-vidoe"),
            Some("sora-2-text-to-video")
        );
        assert_eq!(book.closest_id("veo3"), None);
    }

    #[test]
    fn output_kinds_parse_as_the_catalogue_spells_them() {
        assert_eq!(OutputKind::parse("Image"), Some(OutputKind::Image));
        assert_eq!(OutputKind::parse("text"), None);
        assert_eq!(OutputKind::Audio.as_str(), "audio");
    }
}
