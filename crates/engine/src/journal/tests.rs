//! The journal's unit tests: replay of each kind of history, torn tails, the writer.

use std::io;
use std::path::Path;

use super::replay::replay_lines;
use super::writer::encode;
use super::*;
use crate::job::Phase;

fn line(record: &Record) -> Vec<u8> {
    encode(record).expect("encodes")
}

fn intent(key: &str) -> Record {
    Record::Intent {
        key: JobKey::from_hex(key.into()),
        id: JobId::new_unchecked(format!("id-{key}")),
        take: 1,
        model: "sora-2-text-to-video".into(),
        at_ms: 1,
    }
}

fn submitted(key: &str, task: &str) -> Record {
    Record::Submitted {
        key: JobKey::from_hex(key.into()),
        task_id: TaskId::new(task),
        at_ms: 2,
    }
}

fn journal_text(records: &[Record]) -> Vec<u8> {
    let mut text = line(&Record::Header {
        format: JOURNAL_FORMAT,
        created_by: "test".into(),
    });
    for record in records {
        text.extend(line(record));
    }
    text
}

#[test]
fn an_intent_without_outcome_is_uncertain_and_a_task_id_is_submitted() {
    let text = journal_text(&[intent("a"), intent("b"), submitted("b", "t-b")]);
    let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
    assert_eq!(replay.jobs["a"].phase, Phase::Uncertain);
    assert_eq!(replay.jobs["b"].phase, Phase::Submitted);
    assert_eq!(
        replay.jobs["b"].task_id.as_ref().map(TaskId::as_str),
        Some("t-b")
    );
    assert!(replay.warnings.is_empty());
}

#[test]
fn the_last_run_is_the_last_run_started_and_its_end() {
    let started = |shard: Option<&str>, at_ms| Record::RunStarted {
        shard: shard.map(str::to_owned),
        at_ms,
    };
    let text = journal_text(&[
        started(None, 1_000),
        intent("a"),
        Record::RunEnded { at_ms: 5_000 },
        started(Some("2/3"), 9_000),
        submitted("a", "t-a"),
        Record::RunEnded { at_ms: 49_250 },
    ]);
    let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
    let run = replay.last_run.expect("a run is recorded");
    assert_eq!(run.shard.as_deref(), Some("2/3"));
    assert_eq!(
        run.wall_time(),
        Some(std::time::Duration::from_millis(40_250))
    );
    assert_eq!(replay.jobs["a"].phase, Phase::Submitted);

    // A run killed before its end has no wall time; a journal without runs has no run.
    let killed = journal_text(&[started(None, 1_000), intent("a")]);
    let replay = replay_lines(Path::new("j"), killed.as_slice()).expect("replays");
    assert_eq!(replay.last_run.and_then(|run| run.wall_time()), None);
    let older = journal_text(&[intent("a")]);
    let replay = replay_lines(Path::new("j"), older.as_slice()).expect("replays");
    assert_eq!(replay.last_run, None);
}

#[test]
fn a_torn_last_line_is_ignored_with_a_warning() {
    let mut text = journal_text(&[intent("a"), submitted("a", "t-a")]);
    let whole = text.len() as u64;
    text.extend_from_slice(br#"{"type":"finished","key":"a","task"#);
    let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
    assert_eq!(replay.jobs["a"].phase, Phase::Submitted);
    assert_eq!(replay.warnings.len(), 1);
    assert_eq!(replay.valid_len, whole);
}

/// A file another process is appending to: the first read ends halfway through a line,
/// and the rest of the line arrives after that end was seen.
struct GrowingFile {
    parts: Vec<Vec<u8>>,
}

impl io::Read for GrowingFile {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        if self.parts.is_empty() {
            return Ok(0);
        }
        let part = self.parts.remove(0);
        let taken = part.len().min(buffer.len());
        buffer[..taken].copy_from_slice(&part[..taken]);
        if taken < part.len() {
            self.parts.insert(0, part[taken..].to_vec());
        }
        Ok(taken)
    }
}

#[test]
fn a_line_being_written_while_the_journal_is_read_is_not_damage() {
    let whole = journal_text(&[intent("a")]);
    let line = line(&submitted("a", "t-a"));
    let (first_half, second_half) = line.split_at(line.len() / 2);
    let mut read_now = whole.clone();
    read_now.extend_from_slice(first_half);
    // Between the two parts, the reader sees the end of the file (an empty read).
    let growing = GrowingFile {
        parts: vec![read_now, Vec::new(), second_half.to_vec()],
    };
    let replay = replay_lines(Path::new("j"), io::BufReader::new(growing)).expect("replays");
    assert_eq!(replay.jobs["a"].phase, Phase::Uncertain);
    assert_eq!(replay.warnings.len(), 1, "the half line is a torn tail");
    assert_eq!(replay.valid_len, whole.len() as u64);
}

#[test]
fn damage_before_the_end_is_an_error() {
    let mut text = journal_text(&[intent("a")]);
    text.extend_from_slice(b"garbage\n");
    text.extend(line(&submitted("a", "t")));
    let error = replay_lines(Path::new("j"), text.as_slice()).expect_err("corrupt");
    assert!(
        matches!(error, JournalError::Corrupt { line: 3, .. }),
        "{error}"
    );
}

#[test]
fn a_newer_format_is_refused() {
    let text = line(&Record::Header {
        format: JOURNAL_FORMAT + 1,
        created_by: "future".into(),
    });
    let error = replay_lines(Path::new("j"), text.as_slice()).expect_err("newer");
    assert!(error.to_string().contains("upgrade sora-batch"), "{error}");
}

#[test]
fn a_new_intent_starts_the_job_over() {
    let failed = Record::Finished {
        key: JobKey::from_hex("a".into()),
        task_id: TaskId::new("t1"),
        success: false,
        result_urls: vec![],
        fail_code: Some("400".into()),
        fail_msg: Some("moderation".into()),
        credits: Some(Credits::ZERO),
        generation_ms: Some(5),
        text_result: None,
        at_ms: 3,
    };
    let text = journal_text(&[intent("a"), submitted("a", "t1"), failed, intent("a")]);
    let replay = replay_lines(Path::new("j"), text.as_slice()).expect("replays");
    let job = &replay.jobs["a"];
    assert_eq!(job.phase, Phase::Uncertain);
    assert_eq!(job.task_id, None);
    assert_eq!(job.fail_msg, None);
    assert_eq!(job.intents, 2);
}

#[tokio::test]
async fn the_writer_appends_after_a_torn_tail_and_groups_fsyncs() {
    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join(JOURNAL_FILE_NAME);
    {
        let empty = replay(&path).expect("missing is empty");
        let (writer, handle) = JournalWriter::open(&path, &empty).expect("opens");
        writer.append_durable(&intent("a")).await.expect("written");
        drop(writer);
        handle.finish();
    }
    let mut bytes = std::fs::read(&path).expect("reads");
    bytes.extend_from_slice(b"{\"type\":\"subm");
    std::fs::write(&path, &bytes).expect("tears");

    let torn = replay(&path).expect("replays");
    assert_eq!(torn.warnings.len(), 1);
    let (writer, handle) = JournalWriter::open(&path, &torn).expect("opens");
    let appends: Vec<_> = (0..50)
        .map(|n| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .append_durable(&submitted(&format!("k{n}"), "t"))
                    .await
            })
        })
        .collect();
    for append in appends {
        append.await.expect("joins").expect("written");
    }
    drop(writer);
    let stats = handle.finish();
    assert_eq!(stats.records, 50);
    assert!(stats.fsyncs <= 50);
    let clean = replay(&path).expect("replays clean");
    assert!(clean.warnings.is_empty());
    assert_eq!(clean.jobs.len(), 51);
}

/// A journal planted as a link, to a file or to nowhere, is neither written through nor
/// created at its target.
#[cfg(unix)]
#[test]
fn the_writer_does_not_follow_a_journal_planted_as_a_link() {
    let folder = tempfile::tempdir().expect("temp dir");
    let outside = tempfile::tempdir().expect("temp dir");
    let existing = outside.path().join("existing");
    std::fs::write(&existing, b"").expect("writes");
    let dangling = outside.path().join("dangling");
    let path = folder.path().join(JOURNAL_FILE_NAME);
    for target in [&existing, &dangling] {
        let _ = std::fs::remove_file(&path);
        std::os::unix::fs::symlink(target, &path).expect("plants");
        let replayed = replay(&path);
        let error = match &replayed {
            Ok(read) => JournalWriter::open(&path, read).map(|_| ()).err(),
            Err(_) => None,
        };
        assert!(
            replayed.is_err() || error.is_some(),
            "the journal was opened through a link to {}",
            target.display()
        );
        for error in [replayed.err(), error].into_iter().flatten() {
            assert!(error.to_string().contains("is a symbolic link"), "{error}");
        }
    }
    assert_eq!(std::fs::read(&existing).expect("reads"), b"");
    assert!(!dangling.exists());
}

/// The writer appends only to the very file the replay read: a journal put in its place
/// after the replay, or one that appeared where the replay found none, is left alone
/// (appending to it, or cutting it to the length of the one read, would destroy it).
#[test]
fn the_writer_refuses_a_journal_other_than_the_one_replayed() {
    let folder = tempfile::tempdir().expect("temp dir");
    let path = folder.path().join(JOURNAL_FILE_NAME);
    let other = journal_text(&[intent("x"), submitted("x", "t9"), intent("y")]);

    let none_yet = replay(&path).expect("missing is empty");
    std::fs::write(&path, &other).expect("another program writes a journal");
    let appeared = JournalWriter::open(&path, &none_yet).map(|_| ());
    assert!(appeared.is_err(), "a journal that appeared was adopted");
    assert_eq!(std::fs::read(&path).expect("reads"), other);

    let mine = journal_text(&[intent("a")]);
    std::fs::write(&path, &mine).expect("writes");
    let read = replay(&path).expect("replays");
    let replacement = folder.path().join("replacement");
    std::fs::write(&replacement, &other).expect("writes");
    std::fs::rename(&replacement, &path).expect("replaces the journal");
    let replaced = JournalWriter::open(&path, &read).map(|_| ());
    assert!(replaced.is_err(), "a replaced journal was adopted");
    assert_eq!(std::fs::read(&path).expect("reads"), other);
}
