//! The batch folder's unit tests: its lock, links planted inside it, and downloads
//! streamed into place.

use super::*;

#[test]
fn a_second_lock_on_the_same_folder_is_refused_at_once() {
    let temp = tempfile::tempdir().expect("temp dir");
    let first = BatchFolder::lock(temp.path()).expect("first lock");
    let second = BatchFolder::lock(temp.path()).expect_err("second lock");
    assert!(
        matches!(second, BatchFolderError::Locked { .. }),
        "{second}"
    );
    drop(first);
    BatchFolder::lock(temp.path()).expect("free again once the first is gone");
}

/// Deleting `.lock` (or putting a fresh one in its place), as someone clearing what looks
/// like a stale lock would, must not let a second run into a folder in use.
#[test]
fn deleting_or_replacing_the_lock_file_does_not_admit_a_second_run() {
    let temp = tempfile::tempdir().expect("temp dir");
    let lock_file = temp.path().join(".lock");
    let first = BatchFolder::lock(temp.path()).expect("first lock");
    for put_back in [false, true] {
        match std::fs::remove_file(&lock_file) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => panic!("cannot remove {}: {error}", lock_file.display()),
        }
        if put_back {
            std::fs::write(&lock_file, b"").expect("writes a fresh .lock");
        }
        let second = BatchFolder::lock(temp.path()).expect_err("the folder is in use");
        assert!(
            matches!(second, BatchFolderError::Locked { .. }),
            "{second}"
        );
    }
    drop(first);
    BatchFolder::lock(temp.path()).expect("free again once the first is gone");
}

/// A link planted as the journal is refused before anything is read or written through
/// it, whether its target exists or not.
#[cfg(unix)]
#[test]
fn a_journal_planted_as_a_link_is_refused_and_its_target_left_alone() {
    let temp = tempfile::tempdir().expect("temp dir");
    let outside = tempfile::tempdir().expect("temp dir");
    let existing = outside.path().join("existing.jsonl");
    std::fs::write(&existing, b"").expect("writes");
    let dangling = outside.path().join("dangling.jsonl");
    let journal = temp.path().join(JOURNAL_FILE_NAME);
    for target in [&existing, &dangling] {
        let _ = std::fs::remove_file(&journal);
        std::os::unix::fs::symlink(target, &journal).expect("plants a link");
        let refused = BatchFolder::lock(temp.path()).map(|_| ());
        let Err(error) = refused else {
            panic!("a journal linked to {} was accepted", target.display());
        };
        let message = error.to_string();
        assert!(
            message.contains(&format!(
                "{} is a symbolic link; sora-batch does not follow links inside a batch folder",
                journal.display()
            )),
            "{message}"
        );
    }
    assert_eq!(std::fs::read(&existing).expect("reads"), b"");
    assert!(!dangling.exists(), "nothing is created through a link");
}

/// `.lock` planted as a link to a path outside: nothing is created there.
#[cfg(unix)]
#[test]
fn a_lock_file_planted_as_a_link_creates_nothing_outside() {
    let temp = tempfile::tempdir().expect("temp dir");
    let outside = tempfile::tempdir().expect("temp dir");
    let dangling = outside.path().join("lock-target");
    std::os::unix::fs::symlink(&dangling, temp.path().join(".lock")).expect("plants");
    // Taking the lock may succeed (the folder itself is locked) or refuse the link;
    // either way nothing may appear outside the folder.
    let _ = BatchFolder::lock(temp.path());
    assert!(
        !dangling.exists(),
        "the lock followed a link out of the folder"
    );
}

/// A partial download name planted as a link (after the run removed the leftovers), a
/// symbolic or a hard one, is not written through: the download goes into a new file,
/// and what the link led to keeps its bytes.
#[cfg(unix)]
#[tokio::test]
async fn a_partial_file_planted_as_a_link_is_not_written_through() {
    let temp = tempfile::tempdir().expect("temp dir");
    let outside = tempfile::tempdir().expect("temp dir");
    let target = outside.path().join("victim");
    std::fs::write(&target, b"precious").expect("writes");
    let partial = temp.path().join(partial_file_name("a"));
    for hard in [false, true] {
        if hard {
            std::fs::hard_link(&target, &partial).expect("plants");
        } else {
            std::os::unix::fs::symlink(&target, &partial).expect("plants");
        }
        let mut sink = FileSink::create(temp.path(), "a").await.expect("sink");
        sink.write_chunk(b"video").await.expect("writes");
        sink.complete("https://x/a.mp4").await.expect("completes");
        assert_eq!(std::fs::read(&target).expect("reads"), b"precious");
        let final_path = temp.path().join("a.mp4");
        assert!(
            std::fs::symlink_metadata(&final_path)
                .expect("exists")
                .is_file()
        );
        assert_eq!(std::fs::read(&final_path).expect("reads"), b"video");
    }
}

/// A recorded file replaced by a link to an identical copy elsewhere is not trusted: it
/// is fetched again, and the download's rename replaces the link.
#[cfg(unix)]
#[test]
fn a_recorded_file_replaced_by_a_link_is_not_intact() {
    let temp = tempfile::tempdir().expect("temp dir");
    let outside = tempfile::tempdir().expect("temp dir");
    let copy = outside.path().join("copy.mp4");
    std::fs::write(&copy, b"hello world").expect("writes");
    let path = temp.path().join("a.mp4");
    std::os::unix::fs::symlink(&copy, &path).expect("plants");
    let sha256 = "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
    let modified_ns = std::fs::metadata(&copy)
        .ok()
        .and_then(|metadata| modified_nanos(&metadata));
    for recorded in [modified_ns, None] {
        assert_eq!(
            check_file(&path, 11, sha256, recorded).expect("checks"),
            FileCheck::Altered
        );
    }
}

#[test]
fn file_names_number_further_results() {
    let id = JobId::new_unchecked("intro".into());
    assert_eq!(result_file_stem(&id, 0), "intro");
    assert_eq!(result_file_stem(&id, 1), "intro-2");
    assert_eq!(result_index_of(&id, "intro.mp4"), Some(0));
    assert_eq!(result_index_of(&id, "intro-2.png"), Some(1));
    assert_eq!(result_index_of(&id, "intro-12.mp3"), Some(11));
    for other in [
        "intro.txt",
        "intro-1.mp4",
        "intro-02.mp4",
        "intro-x.mp4",
        "introx.mp4",
    ] {
        assert_eq!(result_index_of(&id, other), None, "{other}");
    }
}

#[tokio::test]
async fn a_file_is_named_by_the_format_its_bytes_show() {
    let temp = tempfile::tempdir().expect("temp dir");
    let png = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13];
    let mut sink = FileSink::create(temp.path(), "cat").await.expect("sink");
    // Written in two pieces: the format is read across them.
    sink.write_chunk(&png[..3]).await.expect("writes");
    sink.write_chunk(&png[3..]).await.expect("writes");
    let done = sink
        .complete("https://files.example/cat.mp4")
        .await
        .expect("completes");
    assert_eq!(done.file_name, "cat.png");
    assert_eq!(done.media_type, "image/png");
    assert!(temp.path().join("cat.png").is_file());
}

#[tokio::test]
async fn a_completed_file_is_whole_and_checksummed() {
    let temp = tempfile::tempdir().expect("temp dir");
    let folder = BatchFolder::lock(temp.path()).expect("lock");
    let mut sink = FileSink::create(folder.root(), "a").await.expect("sink");
    sink.write_chunk(b"stale").await.expect("writes");
    sink.restart().await.expect("restarts");
    sink.write_chunk(b"hello ").await.expect("writes");
    sink.write_chunk(b"world").await.expect("writes");
    let done = sink.complete("https://x/a.mp4").await.expect("completes");
    assert_eq!(
        std::fs::read(temp.path().join("a.mp4")).expect("reads"),
        b"hello world"
    );
    assert_eq!(
        done.sha256,
        "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
    );
    assert_eq!(done.bytes, 11);
    let path = temp.path().join("a.mp4");
    assert!(
        done.modified_ns.is_some(),
        "this file system has modification times"
    );
    // Recorded time and size: taken as intact without reading; a journal without the
    // time (an earlier version's) has the file hashed.
    for recorded in [done.modified_ns, None] {
        assert_eq!(
            check_file(&path, 11, &done.sha256, recorded).expect("checks"),
            FileCheck::Intact
        );
    }
    std::fs::write(&path, b"hello WORLD").expect("alters");
    assert_eq!(
        check_file(&path, 11, &done.sha256, done.modified_ns).expect("checks"),
        FileCheck::Altered,
        "a write changes the time, so the file is hashed"
    );
    std::fs::remove_file(&path).expect("removes");
    assert_eq!(
        check_file(&path, 11, &done.sha256, done.modified_ns).expect("checks"),
        FileCheck::Missing
    );
    assert!(
        std::fs::read_dir(temp.path())
            .expect("lists")
            .all(|e| { !is_partial_file_name(&e.expect("entry").file_name().to_string_lossy()) })
    );
}
