//! Reading one journal line quickly: every field of every record type in one flat struct.
//!
//! `Record` derives an internally tagged `Deserialize`, which first buffers each line into
//! serde's generic content tree (an allocation per string) and then reads that again. A
//! resume of a 100,000-job batch replays 400,000 lines, and that detour was most of its
//! time. [`FlatRecord`] reads the same JSON straight into fields, borrowing strings where
//! they need no unescaping, and [`FlatRecord::into_record`] checks that the fields the type
//! requires are there. Writing still goes through `Record`'s derived `Serialize`; the test
//! below reads every kind of record both ways.

use std::borrow::Cow;

use serde::Deserialize;

use super::Record;
use crate::job::{Credits, JobId, JobKey, TaskId};

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum RecordType {
    Header,
    RunStarted,
    RunEnded,
    Intent,
    Submitted,
    NotCreated,
    Uncertain,
    Finished,
    TaskUnknown,
    TimedOut,
    Rekeyed,
    Downloaded,
    Uploaded,
}

#[derive(Deserialize)]
pub(super) struct FlatRecord<'a> {
    #[serde(rename = "type")]
    record_type: RecordType,
    format: Option<u32>,
    #[serde(borrow)]
    created_by: Option<Cow<'a, str>>,
    #[serde(borrow)]
    shard: Option<Cow<'a, str>>,
    #[serde(borrow)]
    key: Option<Cow<'a, str>>,
    #[serde(borrow)]
    from: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    take: Option<u32>,
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    at_ms: Option<i64>,
    #[serde(borrow)]
    task_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    error: Option<Cow<'a, str>>,
    code: Option<i64>,
    job_failed: Option<bool>,
    success: Option<bool>,
    result_urls: Option<Vec<String>>,
    fail_code: Option<String>,
    fail_msg: Option<String>,
    credits: Option<f64>,
    generation_ms: Option<u64>,
    text_result: Option<serde_json::Value>,
    index: Option<usize>,
    #[serde(borrow)]
    path: Option<Cow<'a, str>>,
    #[serde(borrow)]
    url: Option<Cow<'a, str>>,
    #[serde(borrow)]
    sha256: Option<Cow<'a, str>>,
    bytes: Option<u64>,
    modified_ns: Option<u64>,
    #[serde(borrow)]
    media_type: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, String> {
    value.ok_or_else(|| format!("missing field `{field}`"))
}

fn text(value: Option<Cow<'_, str>>, field: &str) -> Result<String, String> {
    required(value, field).map(Cow::into_owned)
}

fn key(value: Option<Cow<'_, str>>) -> Result<JobKey, String> {
    text(value, "key").map(JobKey::from_hex)
}

fn task_id(value: Option<Cow<'_, str>>) -> Result<TaskId, String> {
    text(value, "task_id").map(TaskId::new)
}

impl FlatRecord<'_> {
    /// The record, or what a required field lacks (serde's wording).
    pub(super) fn into_record(self) -> Result<Record, String> {
        let record = match self.record_type {
            RecordType::Header => Record::Header {
                format: required(self.format, "format")?,
                created_by: text(self.created_by, "created_by")?,
            },
            RecordType::RunStarted => Record::RunStarted {
                shard: self.shard.map(Cow::into_owned),
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::RunEnded => Record::RunEnded {
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Intent => Record::Intent {
                key: key(self.key)?,
                id: JobId::new_unchecked(text(self.id, "id")?),
                take: required(self.take, "take")?,
                model: text(self.model, "model")?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Submitted => Record::Submitted {
                key: key(self.key)?,
                task_id: task_id(self.task_id)?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::NotCreated => Record::NotCreated {
                key: key(self.key)?,
                error: text(self.error, "error")?,
                code: self.code,
                job_failed: required(self.job_failed, "job_failed")?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Uncertain => Record::Uncertain {
                key: key(self.key)?,
                error: text(self.error, "error")?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Finished => Record::Finished {
                key: key(self.key)?,
                task_id: task_id(self.task_id)?,
                success: required(self.success, "success")?,
                result_urls: required(self.result_urls, "result_urls")?,
                fail_code: self.fail_code,
                fail_msg: self.fail_msg,
                credits: self.credits.map(Credits),
                generation_ms: self.generation_ms,
                text_result: self.text_result,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::TaskUnknown => Record::TaskUnknown {
                key: key(self.key)?,
                task_id: task_id(self.task_id)?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::TimedOut => Record::TimedOut {
                key: key(self.key)?,
                task_id: task_id(self.task_id)?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Rekeyed => Record::Rekeyed {
                key: key(self.key)?,
                from: text(self.from, "from").map(JobKey::from_hex)?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Downloaded => Record::Downloaded {
                key: key(self.key)?,
                index: required(self.index, "index")?,
                path: text(self.path, "path")?,
                url: text(self.url, "url")?,
                sha256: text(self.sha256, "sha256")?,
                bytes: required(self.bytes, "bytes")?,
                modified_ns: self.modified_ns,
                media_type: self.media_type.map(Cow::into_owned),
                at_ms: required(self.at_ms, "at_ms")?,
            },
            RecordType::Uploaded => Record::Uploaded {
                name: text(self.name, "name")?,
                sha256: text(self.sha256, "sha256")?,
                url: text(self.url, "url")?,
                bytes: required(self.bytes, "bytes")?,
                at_ms: required(self.at_ms, "at_ms")?,
            },
        };
        Ok(record)
    }
}

/// Parses one journal line.
pub(super) fn parse_line(line: &[u8]) -> Result<Record, String> {
    serde_json::from_slice::<FlatRecord<'_>>(line)
        .map_err(|error| error.to_string())
        .and_then(FlatRecord::into_record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<Record> {
        let key = || JobKey::from_hex("k\"ey\\1".to_owned());
        vec![
            Record::Header {
                format: 1,
                created_by: "sora-batch 0.1.0".into(),
            },
            Record::RunStarted {
                shard: Some("2/3".into()),
                at_ms: 1,
            },
            Record::RunStarted {
                shard: None,
                at_ms: 1,
            },
            Record::RunEnded { at_ms: 10 },
            Record::Rekeyed {
                key: key(),
                from: JobKey::from_hex("0ld".to_owned()),
                at_ms: 11,
            },
            Record::Intent {
                key: key(),
                id: JobId::new_unchecked("a-cat".into()),
                take: 2,
                model: "sora-2-text-to-video".into(),
                at_ms: 1,
            },
            Record::Submitted {
                key: key(),
                task_id: TaskId::new("t1"),
                at_ms: 2,
            },
            Record::NotCreated {
                key: key(),
                error: "refused \u{1F600}".into(),
                code: Some(422),
                job_failed: true,
                at_ms: 3,
            },
            Record::NotCreated {
                key: key(),
                error: "down".into(),
                code: None,
                job_failed: false,
                at_ms: 3,
            },
            Record::Uncertain {
                key: key(),
                error: "502".into(),
                at_ms: 4,
            },
            Record::Finished {
                key: key(),
                task_id: TaskId::new("t1"),
                success: true,
                result_urls: vec!["https://x/1.mp4".into(), "https://x/2.mp4".into()],
                fail_code: None,
                fail_msg: None,
                credits: Some(Credits(30.5)),
                generation_ms: Some(130_000),
                text_result: None,
                at_ms: 5,
            },
            Record::Finished {
                key: key(),
                task_id: TaskId::new("t1"),
                success: false,
                result_urls: vec![],
                fail_code: Some("500".into()),
                fail_msg: Some("line\nbreak".into()),
                credits: Some(Credits(0.0)),
                generation_ms: None,
                text_result: None,
                at_ms: 5,
            },
            Record::Finished {
                key: key(),
                task_id: TaskId::new("t2"),
                success: true,
                result_urls: vec![],
                fail_code: None,
                fail_msg: None,
                credits: Some(Credits(3.0)),
                generation_ms: Some(4_000),
                text_result: Some(serde_json::json!({"caption": "a \"cat\"", "tags": ["x"]})),
                at_ms: 5,
            },
            Record::TaskUnknown {
                key: key(),
                task_id: TaskId::new("t1"),
                at_ms: 6,
            },
            Record::TimedOut {
                key: key(),
                task_id: TaskId::new("t1"),
                at_ms: 7,
            },
            Record::Downloaded {
                key: key(),
                index: 1,
                path: "a-cat-2.mp4".into(),
                url: "https://x/2.mp4".into(),
                sha256: "ab".repeat(32),
                bytes: 13_800,
                modified_ns: Some(1_763_900_000_123_456_789),
                media_type: Some("image/png".into()),
                at_ms: 8,
            },
            Record::Downloaded {
                key: key(),
                index: 0,
                path: "a-cat.mp4".into(),
                url: "https://x/1.mp4".into(),
                sha256: "cd".repeat(32),
                bytes: 1,
                modified_ns: None,
                media_type: None,
                at_ms: 9,
            },
            Record::Uploaded {
                name: format!("{}.jpg", "ef".repeat(32)),
                sha256: "ef".repeat(32),
                url: "https://tempfile.example/sora-batch/ef.jpg".into(),
                bytes: 631,
                at_ms: 10,
            },
        ]
    }

    #[test]
    fn every_record_reads_back_as_the_derived_reader_reads_it() {
        for record in every_kind() {
            let line = serde_json::to_vec(&record).unwrap_or_default();
            let derived: Result<Record, _> = serde_json::from_slice(&line);
            assert_eq!(parse_line(&line).ok(), derived.ok());
            assert_eq!(parse_line(&line), Ok(record));
        }
    }

    #[test]
    fn a_missing_field_or_unknown_type_is_refused() {
        assert_eq!(
            parse_line(br#"{"type":"submitted","key":"k","at_ms":1}"#),
            Err("missing field `task_id`".into())
        );
        assert!(parse_line(br#"{"type":"teleported","key":"k"}"#).is_err());
        assert!(parse_line(br#"{"key":"k"}"#).is_err());
        assert!(parse_line(br#"{"type":"intent","key":"k""#).is_err());
    }
}
