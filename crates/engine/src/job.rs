//! Who a job is and where it stands: the types every part of the engine shares.
//!
//! Read [`JobKey`] (what was asked for: it decides what is already done), [`JobId`] (what
//! people and file names call a job), [`MatrixValues`] (where a job sits in its manifest's
//! matrix, for the gallery's grid), [`Credits`], then [`Phase::job_state`]: the one
//! mapping from what the journal says of a job to the [`JobState`] that `plan`, `status`,
//! `run` and the reports show, with its reason. A task id is the api crate's [`TaskId`].
//!
//! A leaf: nothing else of the engine is used here, so that manifests, the journal, the run
//! and the reports can all share these types without depending on one another. How a key is
//! computed (a hash of the canonical request) is the manifest's business
//! (`manifest::identity`).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
pub use sora_batch_api::TaskId;

/// The stable identity of a job: lowercase hex SHA-256 of its canonical request and take.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobKey(String);

impl JobKey {
    /// A key as computed (`manifest::identity`) or as recorded in a journal.
    pub(crate) fn from_hex(key: String) -> JobKey {
        JobKey(key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The first 12 hex digits, for tables and file-name suffixes.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

/// Lets maps keyed by [`JobKey`] be searched with a `&str`.
impl std::borrow::Borrow<str> for JobKey {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A job's name in a manifest, its report and its file names.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// Wraps an id already known to be safe: checked or derived by the manifest, or read
    /// back from the journal that recorded one.
    pub(crate) fn new_unchecked(id: String) -> JobId {
        JobId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job sits in its manifest's matrix: its axis values, then the keys an `include`
/// entry added, each as text, in the manifest's order. Empty for an explicit job. Not part
/// of the job's key: it names the job's place in a comparison, not what is asked for.
///
/// Shared rather than copied: every take of a combination holds the same values, and names
/// and values repeat across a matrix, so a large batch keeps one copy of each text.
/// Serialized as a JSON object in that order (`{"subject": "A chef", "model": "sora-2"}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatrixValues(Arc<[(Arc<str>, Arc<str>)]>);

impl MatrixValues {
    pub fn new(entries: impl IntoIterator<Item = (Arc<str>, Arc<str>)>) -> MatrixValues {
        MatrixValues(entries.into_iter().collect())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `(name, value)` pairs in the manifest's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(name, value)| (&**name, &**value))
    }

    /// The value of the axis or include key `name`, if the job has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(axis, _)| *axis == name)
            .map(|(_, value)| value)
    }
}

impl Serialize for MatrixValues {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.iter() {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for MatrixValues {
    /// Keeps the document's order of keys, which a `serde_json::Map` would sort.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries;
        impl<'de> serde::de::Visitor<'de> for Entries {
            type Value = MatrixValues;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of matrix values, each a string")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<MatrixValues, A::Error> {
                let mut entries = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    if entries
                        .iter()
                        .any(|(seen, _): &(Arc<str>, Arc<str>)| **seen == *name)
                    {
                        return Err(serde::de::Error::custom(format!(
                            "matrix value `{name}` given twice"
                        )));
                    }
                    entries.push((Arc::from(name), Arc::from(value)));
                }
                Ok(MatrixValues::new(entries))
            }
        }
        deserializer.deserialize_map(Entries)
    }
}

/// An amount of Kie credits (1 credit is about $0.005). Printed as an integer when whole.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Credits(pub f64);

impl Credits {
    pub const ZERO: Credits = Credits(0.0);

    /// The larger of the two.
    pub fn max(self, other: Credits) -> Credits {
        Credits(self.0.max(other.0))
    }

    /// The smaller of the two.
    pub fn min(self, other: Credits) -> Credits {
        Credits(self.0.min(other.0))
    }
}

impl std::ops::Add for Credits {
    type Output = Credits;
    fn add(self, other: Credits) -> Credits {
        Credits(self.0 + other.0)
    }
}

impl std::ops::AddAssign for Credits {
    fn add_assign(&mut self, other: Credits) {
        self.0 += other.0;
    }
}

impl std::ops::Sub for Credits {
    type Output = Credits;
    fn sub(self, other: Credits) -> Credits {
        Credits(self.0 - other.0)
    }
}

impl std::iter::Sum for Credits {
    fn sum<I: Iterator<Item = Credits>>(iter: I) -> Credits {
        iter.fold(Credits::ZERO, |total, credits| total + credits)
    }
}

impl Serialize for Credits {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let value = self.0;
        // 2^53: every whole f64 below it is an exact integer.
        if value.fract() == 0.0 && value.abs() < 9_007_199_254_740_992.0 {
            #[allow(clippy::cast_possible_truncation)]
            serializer.serialize_i64(value as i64)
        } else {
            serializer.serialize_f64(value)
        }
    }
}

impl<'de> Deserialize<'de> for Credits {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        f64::deserialize(deserializer).map(Credits)
    }
}

impl fmt::Display for Credits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.fract() == 0.0 {
            write!(f, "{:.0}", self.0)
        } else {
            write!(f, "{:.2}", self.0)
        }
    }
}

/// Where a job stands, as people and reports see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Not submitted.
    Pending,
    /// Submitted; the service has not finished it.
    Running,
    Succeeded,
    Failed,
    /// Past its deadline; the next run polls it again.
    TimedOut,
    /// Its createTask may or may not have reached the service: it may be charged.
    Uncertain,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::TimedOut => "timed_out",
            JobState::Uncertain => "uncertain",
        }
    }
}

/// Where a job stands according to the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// Nothing sent yet, or every createTask so far certainly created nothing.
    #[default]
    Pending,
    /// An intent without outcome, or a createTask that may have created a task.
    Uncertain,
    /// A task id is known and the task was not seen final.
    Submitted,
    /// The task was still running at its deadline.
    TimedOut,
    /// The task succeeded on the service.
    Succeeded,
    /// The service failed the task, or refused the job.
    Failed,
    /// The service does not know the recorded task id.
    TaskUnknown,
}

/// The reason shown for a job whose task the service does not know.
pub const TASK_UNKNOWN_REASON: &str = "task unknown to the service";

impl Phase {
    /// The state a job in this phase is shown in, and the reason to show when the journal
    /// records none of its own. `run`, `status`, `plan` and the reports all use this one
    /// mapping, so that they cannot tell a job's story differently.
    pub fn job_state(self) -> (JobState, Option<&'static str>) {
        match self {
            Phase::Pending => (JobState::Pending, None),
            Phase::Uncertain => (JobState::Uncertain, None),
            Phase::Submitted => (JobState::Running, None),
            Phase::TimedOut => (JobState::TimedOut, None),
            Phase::Succeeded => (JobState::Succeeded, None),
            Phase::Failed => (JobState::Failed, None),
            Phase::TaskUnknown => (JobState::Failed, Some(TASK_UNKNOWN_REASON)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credits_print_as_integers_when_whole_and_add_up() {
        assert_eq!(
            serde_json::to_string(&Credits(30.0)).ok().as_deref(),
            Some("30")
        );
        assert_eq!(
            serde_json::to_string(&Credits(0.5)).ok().as_deref(),
            Some("0.5")
        );
        let total: Credits = [Credits(1.5), Credits(2.0)].into_iter().sum();
        assert_eq!(total, Credits(3.5));
        assert_eq!(total.to_string(), "3.50");
        assert_eq!(
            (Credits(3.0) - Credits(5.0)).max(Credits::ZERO),
            Credits::ZERO
        );
    }

    #[test]
    fn every_phase_maps_to_one_state_and_only_task_unknown_adds_a_reason() {
        let all = [
            Phase::Pending,
            Phase::Uncertain,
            Phase::Submitted,
            Phase::TimedOut,
            Phase::Succeeded,
            Phase::Failed,
            Phase::TaskUnknown,
        ];
        let states: Vec<_> = all.iter().map(|phase| phase.job_state()).collect();
        assert_eq!(
            states,
            vec![
                (JobState::Pending, None),
                (JobState::Uncertain, None),
                (JobState::Running, None),
                (JobState::TimedOut, None),
                (JobState::Succeeded, None),
                (JobState::Failed, None),
                (JobState::Failed, Some(TASK_UNKNOWN_REASON)),
            ]
        );
    }

    #[test]
    fn matrix_values_keep_the_manifest_order_through_json() {
        let values = MatrixValues::new(
            [
                ("subject", "A chef"),
                ("model", "sora-2"),
                ("aspect", "<b>\"x\"</b>"),
            ]
            .map(|(name, value)| (Arc::from(name), Arc::from(value))),
        );
        let json = serde_json::to_string(&values).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"subject":"A chef","model":"sora-2","aspect":"<b>\"x\"</b>"}"#
        );
        let back: MatrixValues = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, values);
        assert_eq!(back.get("model"), Some("sora-2"));
        assert!(serde_json::from_str::<MatrixValues>(r#"{"a":"1","a":"2"}"#).is_err());
        assert!(serde_json::from_str::<MatrixValues>(r#"{"a":1}"#).is_err());
    }

    #[test]
    fn a_key_map_is_searched_with_text() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(JobKey::from_hex("ab".repeat(32)), 1);
        assert_eq!(map.get("ab".repeat(32).as_str()), Some(&1));
        assert_eq!(JobKey::from_hex("ab".repeat(32)).short(), "abababababab");
    }
}
