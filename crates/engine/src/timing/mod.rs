//! Generation times: how long a task of a given model and length usually takes, from what is
//! known before a batch starts, so that the first polls land where tasks finish.
//!
//! Read [`Priors::gather`]. A task's time depends on its model and on the inputs that set
//! how much there is to generate ([`TimingClass`]: `duration`, `n_frames`, `resolution`...).
//! For each class of a batch the prior is, the first that applies:
//! 1. this batch folder's journal (earlier runs' `generation_ms`), topped up from the cache;
//! 2. the per-user cache of generation times seen in earlier batches ([`cache`]);
//! 3. the manifest's `run.poll.typical_generation`;
//! 4. the cache's times for the same model in other classes (another duration), weakly;
//! 5. the built-in model snapshot's typical time ([`sora_batch_api::snapshot::typical_generation`]).
//!
//! A prior is a log-normal belief worth some number of tasks ([`Prior::weight`]); the run's
//! poll planner blends it with the batch's own tasks as they finish ([`belief::estimate`]).
//! [`estimate`] turns the priors into what `plan` shows: each job's expected time and the
//! batch's expected wall time.

pub mod belief;
pub mod cache;
pub mod estimate;

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde_json::{Map, Value};

use belief::DEFAULT_SIGMA;
pub use cache::GenerationTimeCache;

/// The most a batch folder's journal counts for, in tasks: enough to set the schedule
/// from the first poll, little enough that a service that became slower since is noticed
/// within the batch.
const JOURNAL_MAX_WEIGHT: f64 = 100.0;
/// The most the cache counts for: other batches, other days.
const CACHE_MAX_WEIGHT: f64 = 30.0;
/// A figure the manifest states for its batch.
const MANIFEST_WEIGHT: f64 = 2.0;
/// The cache's times of the same model at another length or resolution.
const OTHER_CLASS_WEIGHT: f64 = 2.0;
/// A typical time from the model snapshot: one figure from a page or the notes.
const SNAPSHOT_WEIGHT: f64 = 2.0;

/// The inputs that set how much a task has to generate, and so how long it takes. Matched by
/// name, whatever the model; only scalar values count (a URL list is no length).
const LENGTH_FIELDS: &[&str] = &[
    "duration",
    "n_frames",
    "resolution",
    "size",
    "mode",
    "quality",
];
/// A value is cut to this many characters in a class's name.
const MAX_VALUE_CHARS: usize = 32;

/// A model and the inputs that set its tasks' length: `kling-3.0/video duration=5 mode=pro`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimingClass(String);

impl TimingClass {
    /// The class of a task of `model` with `input` (defaults filled in, as sent).
    pub fn of(model: &str, input: &Map<String, Value>) -> TimingClass {
        let mut name = model.to_owned();
        let mut fields: Vec<(&String, &Value)> = input
            .iter()
            .filter(|(key, _)| {
                LENGTH_FIELDS
                    .iter()
                    .any(|field| key.eq_ignore_ascii_case(field))
            })
            .collect();
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, value) in fields {
            let text = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => continue,
            };
            let text: String = text
                .chars()
                .filter(|c| !c.is_whitespace() && *c != '=')
                .take(MAX_VALUE_CHARS)
                .collect();
            name.push_str(&format!(" {key}={text}"));
        }
        TimingClass(name)
    }

    /// A class read back from the cache, as written there.
    pub fn from_name(name: &str) -> TimingClass {
        TimingClass(name.to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The model's id: the name up to its first space.
    pub fn model(&self) -> &str {
        self.0.split(' ').next().unwrap_or_default()
    }
}

impl fmt::Display for TimingClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Weighted mean and spread of log generation times (milliseconds), built one task at a
/// time (Welford's method) and merged across batches.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LogStats {
    /// How many tasks, or what they count for once capped.
    pub weight: f64,
    /// Mean of `ln(milliseconds)`.
    pub mean: f64,
    /// Sum of squared deviations from the mean, times `weight` of unit tasks.
    pub m2: f64,
}

impl LogStats {
    pub fn add(&mut self, generation: Duration) {
        self.add_ms(generation.as_secs_f64() * 1000.0);
    }

    /// One task of `millis`; a time under a millisecond counts as one.
    pub fn add_ms(&mut self, millis: f64) {
        let x = millis.max(1.0).ln();
        self.weight += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.weight;
        self.m2 += delta * (x - self.mean);
    }

    pub fn variance(&self) -> f64 {
        if self.weight > 0.0 {
            (self.m2 / self.weight).max(0.0)
        } else {
            0.0
        }
    }

    /// Both sets of tasks together.
    pub fn merged(&self, other: &LogStats) -> LogStats {
        let weight = self.weight + other.weight;
        if weight <= 0.0 {
            return LogStats::default();
        }
        let delta = other.mean - self.mean;
        LogStats {
            weight,
            mean: self.mean + delta * other.weight / weight,
            m2: self.m2 + other.m2 + delta * delta * self.weight * other.weight / weight,
        }
    }

    /// The same mean and spread, counting for at most `weight` tasks.
    pub fn capped(&self, weight: f64) -> LogStats {
        if self.weight <= weight || self.weight <= 0.0 {
            return *self;
        }
        LogStats {
            weight,
            mean: self.mean,
            m2: self.m2 * weight / self.weight,
        }
    }

    fn is_usable(&self) -> bool {
        self.weight > 0.0 && self.mean.is_finite() && self.m2.is_finite()
    }
}

/// Where a prior came from, for `plan` and the docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PriorSource {
    Journal,
    Cache,
    Manifest,
    OtherClass,
    Snapshot,
}

impl PriorSource {
    /// A short name, for `plan --json`.
    pub fn name(self) -> &'static str {
        match self {
            PriorSource::Journal => "journal",
            PriorSource::Cache => "cache",
            PriorSource::Manifest => "manifest",
            PriorSource::OtherClass => "other_class",
            PriorSource::Snapshot => "snapshot",
        }
    }

    /// The source of [`Self::name`] `name`.
    pub fn from_name(name: &str) -> Option<PriorSource> {
        [
            PriorSource::Journal,
            PriorSource::Cache,
            PriorSource::Manifest,
            PriorSource::OtherClass,
            PriorSource::Snapshot,
        ]
        .into_iter()
        .find(|source| source.name() == name)
    }

    /// In words, for `plan`'s table.
    pub fn describe(self) -> &'static str {
        match self {
            PriorSource::Journal => "this batch folder's earlier runs",
            PriorSource::Cache => "earlier batches (the generation-time cache)",
            PriorSource::Manifest => "the manifest's poll.typical_generation",
            PriorSource::OtherClass => "earlier batches of the model at another length",
            PriorSource::Snapshot => "the built-in model snapshot",
        }
    }
}

/// A log-normal belief about one class's generation times before the batch's own tasks say
/// anything, worth `weight` tasks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prior {
    /// `ln` of the median, in milliseconds.
    pub log_median: f64,
    pub log_sigma: f64,
    pub weight: f64,
    pub source: PriorSource,
}

impl Prior {
    /// The prior of a single figure ("about 130 s"): the assumed spread around it.
    pub fn of_typical(typical: Duration, weight: f64, source: PriorSource) -> Option<Prior> {
        let millis = typical.as_secs_f64() * 1000.0;
        (millis >= 1.0).then(|| Prior {
            log_median: millis.ln(),
            log_sigma: DEFAULT_SIGMA,
            weight,
            source,
        })
    }

    /// The prior of observed tasks: their mean and, from three tasks on, their spread.
    fn of_stats(stats: &LogStats, weight: f64, source: PriorSource) -> Option<Prior> {
        if !stats.is_usable() {
            return None;
        }
        let log_sigma = if stats.weight >= 3.0 {
            stats.variance().sqrt().clamp(0.05, 1.5)
        } else {
            DEFAULT_SIGMA
        };
        Some(Prior {
            log_median: stats.mean,
            log_sigma,
            weight: weight.min(stats.weight),
            source,
        })
    }

    pub fn belief(&self) -> belief::Belief {
        belief::Belief {
            mu: self.log_median,
            sigma: self.log_sigma,
        }
    }
}

/// The prior of every class of a batch.
#[derive(Debug, Clone, Default)]
pub struct Priors {
    by_class: HashMap<TimingClass, Prior>,
}

impl Priors {
    /// The priors of `classes` (those of a batch's jobs), from the times of this batch folder's
    /// finished tasks (`journal`: class and `generation_ms`), the per-user `cache`, the
    /// manifest's `typical_generation` and the model snapshot, in the order of the module's
    /// documentation.
    pub fn gather<'a>(
        classes: impl IntoIterator<Item = &'a TimingClass>,
        journal: impl IntoIterator<Item = (&'a TimingClass, u64)>,
        cache: &GenerationTimeCache,
        typical_generation: Option<Duration>,
    ) -> Priors {
        let mut journal_stats: HashMap<&TimingClass, LogStats> = HashMap::new();
        for (class, millis) in journal {
            journal_stats
                .entry(class)
                .or_default()
                .add_ms(millis as f64);
        }
        let mut by_class = HashMap::new();
        for class in classes {
            if by_class.contains_key(class) {
                continue;
            }
            let from_journal = journal_stats
                .get(class)
                .map(|stats| stats.capped(JOURNAL_MAX_WEIGHT))
                .unwrap_or_default();
            // The cache tops the journal up to its own weight: earlier runs of this folder
            // are in both.
            let room = (CACHE_MAX_WEIGHT - from_journal.weight).max(0.0);
            let from_cache = cache
                .stats(class)
                .map(|stats| stats.capped(room))
                .unwrap_or_default();
            let observed = from_journal.merged(&from_cache);
            let source = if from_journal.weight > 0.0 {
                PriorSource::Journal
            } else {
                PriorSource::Cache
            };
            let prior = Prior::of_stats(&observed, JOURNAL_MAX_WEIGHT, source)
                .or_else(|| {
                    typical_generation.and_then(|typical| {
                        Prior::of_typical(typical, MANIFEST_WEIGHT, PriorSource::Manifest)
                    })
                })
                .or_else(|| {
                    cache.model_stats(class.model()).and_then(|stats| {
                        Prior::of_stats(&stats, OTHER_CLASS_WEIGHT, PriorSource::OtherClass)
                    })
                })
                .or_else(|| {
                    sora_batch_api::snapshot::typical_generation(class.model()).and_then(
                        |typical| {
                            Prior::of_typical(typical, SNAPSHOT_WEIGHT, PriorSource::Snapshot)
                        },
                    )
                });
            if let Some(prior) = prior {
                by_class.insert(class.clone(), prior);
            }
        }
        Priors { by_class }
    }

    pub fn get(&self, class: &TimingClass) -> Option<&Prior> {
        self.by_class.get(class)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_class_is_the_model_and_its_length_inputs() {
        let class = TimingClass::of(
            "kling-3.0/video",
            &input(
                json!({"prompt": "a cat", "duration": "5", "mode": "pro", "sound": true,
                          "image_urls": ["https://x/a.png"]}),
            ),
        );
        assert_eq!(class.as_str(), "kling-3.0/video duration=5 mode=pro");
        assert_eq!(class.model(), "kling-3.0/video");
        let sora = TimingClass::of(
            "sora-2-text-to-video",
            &input(json!({"prompt": "x", "n_frames": "10", "aspect_ratio": "landscape"})),
        );
        assert_eq!(sora.as_str(), "sora-2-text-to-video n_frames=10");
        // Another prompt, another aspect ratio: the same class.
        assert_eq!(
            sora,
            TimingClass::of(
                "sora-2-text-to-video",
                &input(json!({"prompt": "y", "n_frames": "10", "aspect_ratio": "portrait"}))
            )
        );
    }

    #[test]
    fn log_stats_merge_like_one_set() {
        let mut all = LogStats::default();
        let mut first = LogStats::default();
        let mut second = LogStats::default();
        for (index, millis) in [1000.0, 2000.0, 4000.0, 1500.0, 3000.0].iter().enumerate() {
            all.add_ms(*millis);
            if index < 2 {
                first.add_ms(*millis);
            } else {
                second.add_ms(*millis);
            }
        }
        let merged = first.merged(&second);
        assert!((merged.mean - all.mean).abs() < 1e-12);
        assert!((merged.variance() - all.variance()).abs() < 1e-12);
        let capped = all.capped(2.0);
        assert_eq!(capped.weight, 2.0);
        assert!((capped.variance() - all.variance()).abs() < 1e-12);
    }

    fn class(name: &str) -> TimingClass {
        TimingClass::from_name(name)
    }

    #[test]
    fn the_journal_comes_first_then_the_manifest_then_the_snapshot() {
        let sora = class("sora-2-text-to-video n_frames=10");
        let unknown = class("some/model duration=5");
        let cache = GenerationTimeCache::empty();
        let journal = [(&sora, 100_000_u64), (&sora, 120_000), (&sora, 110_000)];
        let priors = Priors::gather([&sora, &unknown], journal, &cache, None);
        let from_journal = priors.get(&sora).expect("a prior");
        assert_eq!(from_journal.source, PriorSource::Journal);
        assert_eq!(from_journal.weight, 3.0);
        assert_eq!(priors.get(&unknown), None, "no source knows this model");

        let priors = Priors::gather([&sora], [], &cache, None);
        let snapshot = priors.get(&sora).expect("the notes' figure");
        assert_eq!(snapshot.source, PriorSource::Snapshot);
        assert!((snapshot.belief().median().as_secs_f64() - 130.0).abs() < 0.01);

        let priors = Priors::gather([&sora], [], &cache, Some(Duration::from_millis(1300)));
        assert_eq!(
            priors.get(&sora).map(|prior| prior.source),
            Some(PriorSource::Manifest)
        );
    }
}
