//! Durable file writes, shared by the batch folder, the journal and the reports.
//!
//! Read [`write_atomically`] first. Everything the engine leaves in a batch folder is either
//! appended to the journal or written whole under a hidden partial name
//! ([`partial_file_name`]), fsynced, renamed into place and made durable with
//! [`sync_folder`]: a reader, a CI cache or the next run sees the previous file or the new
//! one, never half of one. A killed run's partial files are recognised by
//! [`is_partial_file_name`] and removed by the next run, under the folder's lock.
//!
//! A leaf: nothing else of the engine is used here.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// What ends the name of a file being written.
const PARTIAL_SUFFIX: &str = ".partial";

/// The hidden name under which `name` is written before it is complete: `.<name>.partial`.
pub fn partial_file_name(name: &str) -> String {
    format!(".{name}{PARTIAL_SUFFIX}")
}

/// Whether `name` is one of [`partial_file_name`]'s names.
pub fn is_partial_file_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(PARTIAL_SUFFIX)
}

/// fsyncs a folder, so that a file created or renamed in it survives a crash.
pub fn sync_folder(folder: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(folder)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = folder;
        Ok(())
    }
}

/// A file that could not be written, with the OS's error as it came.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct WriteError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// Writes `name` in `folder` through a hidden partial file, fsynced and renamed into place
/// (the rename is made durable by the caller's [`sync_folder`], once for several files).
/// On failure the partial file is removed and the final one is left as it was.
pub fn write_atomically(
    folder: &Path,
    name: &str,
    contents: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<PathBuf, WriteError> {
    let final_path = folder.join(name);
    let partial = folder.join(partial_file_name(name));
    let written = (|| {
        // Buffered: serde writes token by token, and a syscall per token made a
        // 100,000-job report take seconds.
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&partial)?);
        contents(&mut out)?;
        let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, &final_path)
    })();
    if let Err(source) = written {
        // A full disk should not also keep the half-written copy taking its space.
        let _ = std::fs::remove_file(&partial);
        return Err(WriteError {
            path: final_path,
            source,
        });
    }
    Ok(final_path)
}

/// Lowercase hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_names_are_hidden_and_recognised() {
        assert_eq!(partial_file_name("a.mp4"), ".a.mp4.partial");
        assert!(is_partial_file_name(&partial_file_name("report.json")));
        assert!(!is_partial_file_name("a.mp4"));
        assert!(!is_partial_file_name("a.partial"));
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_partial_one() {
        let folder = tempfile::tempdir().expect("temp dir");
        std::fs::write(folder.path().join("r.json"), "old").expect("writes");
        let error = write_atomically(folder.path(), "r.json", |out| {
            use std::io::Write as _;
            out.write_all(b"new, half")?;
            Err(io::Error::from_raw_os_error(28))
        })
        .expect_err("fails");
        assert_eq!(error.source.raw_os_error(), Some(28));
        assert_eq!(
            std::fs::read_to_string(folder.path().join("r.json")).expect("reads"),
            "old"
        );
        let names: Vec<String> = std::fs::read_dir(folder.path())
            .expect("lists")
            .map(|entry| entry.expect("entry").file_name().to_string_lossy().into())
            .collect();
        assert_eq!(names, vec!["r.json".to_owned()]);
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }
}
