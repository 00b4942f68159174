//! Durable file writes, shared by the batch folder, the journal and the reports.
//!
//! Read [`write_atomically`] first. Everything the engine leaves in a batch folder is either
//! appended to the journal or written whole under a hidden partial name
//! ([`partial_file_name`]), fsynced, renamed into place and made durable with
//! [`sync_folder`]: a reader, a CI cache or the next run sees the previous file or the new
//! one, never half of one. A killed run's partial files are recognised by
//! [`is_partial_file_name`] and removed by the next run, under the folder's lock.
//!
//! Files inside a batch folder are opened with [`open_in_folder`], which does not follow a
//! symbolic link: a link planted as the journal or a partial file would otherwise have the
//! run write wherever it points. Renames into place need no such care: a rename replaces a
//! link at its destination, it does not write through it. The folder itself may be a link
//! (the user's choice of where the batch lives); only entries inside it are guarded.
//!
//! A leaf: nothing else of the engine is used here.

use std::fs::{File, OpenOptions};
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

/// A symbolic link where a batch folder's own file belongs.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} is a symbolic link; sora-batch does not follow links inside a batch folder",
    path.display()
)]
pub struct LinkRefused {
    pub path: PathBuf,
}

/// Whether `path` itself (not what it points to) is a symbolic link.
pub fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.file_type().is_symlink())
}

/// Whether `error` is [`open_in_folder`]'s refusal of a link.
pub fn is_link_refusal(error: &io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<LinkRefused>())
}

/// Opens `path`, an entry of a batch folder, with `options`, refusing a symbolic link there:
/// the error is then a [`LinkRefused`] (see [`is_link_refusal`]) that names the path.
///
/// On Unix the open itself does not follow it (`O_NOFOLLOW`), so a link planted between a
/// check and the open is refused too, and with `create` a dangling link's target is not
/// created. Elsewhere the best available is a look just before the open.
pub fn open_in_folder(path: &Path, options: &mut OpenOptions) -> io::Result<File> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.custom_flags(nix::libc::O_NOFOLLOW);
    }
    #[cfg(not(unix))]
    {
        if is_link(path) {
            return Err(link_refused(path));
        }
    }
    // The refused open's own error differs between systems (ELOOP on Linux and macOS,
    // EMLINK on FreeBSD): what the path is says it better.
    options.open(path).map_err(|error| {
        if is_link(path) {
            link_refused(path)
        } else {
            error
        }
    })
}

fn link_refused(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        LinkRefused {
            path: path.to_owned(),
        },
    )
}

/// Creates the partial file `path` afresh, for writing: whatever is under its name (a
/// leftover, a planted link) is removed first, and the file is then created new. A new file
/// neither follows a link nor shares its data with a name elsewhere (a hard link, which
/// truncating an existing file would empty too), so nothing is written but into a file this
/// run made.
pub fn create_partial_file(path: &Path) -> io::Result<File> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(error),
    }
    open_in_folder(path, OpenOptions::new().write(true).create_new(true))
}

/// Which file an open file is: its device and inode on Unix, so that a file read by one
/// open and written by another can be checked to be the same one, whatever happened to its
/// name in between. Elsewhere there is nothing stable to compare, and every file matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    device: u64,
    inode: u64,
}

impl FileIdentity {
    pub fn of(file: &File) -> io::Result<FileIdentity> {
        let metadata = file.metadata()?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt as _;
            Ok(FileIdentity {
                device: metadata.dev(),
                inode: metadata.ino(),
            })
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            Ok(FileIdentity {
                device: 0,
                inode: 0,
            })
        }
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
        let file = create_partial_file(&partial)?;
        // Buffered: serde writes token by token, and a syscall per token made a
        // 100,000-job report take seconds.
        let mut out = BufWriter::with_capacity(1 << 20, file);
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

    /// A link planted under the partial name (to a file, to nowhere, or a hard link to a
    /// file elsewhere) is not written through: a new file takes its place, and what it led to
    /// keeps its bytes or is not created.
    #[cfg(unix)]
    #[test]
    fn a_partial_name_planted_as_a_link_is_not_written_through() {
        let folder = tempfile::tempdir().expect("temp dir");
        let outside = tempfile::tempdir().expect("temp dir");
        let target = outside.path().join("victim");
        std::fs::write(&target, "precious").expect("writes");
        let dangling = outside.path().join("nothing");
        let partial = folder.path().join(partial_file_name("r.json"));
        let plant: [&dyn Fn(); 3] = [
            &|| std::os::unix::fs::symlink(&target, &partial).expect("plants"),
            &|| std::os::unix::fs::symlink(&dangling, &partial).expect("plants"),
            &|| std::fs::hard_link(&target, &partial).expect("plants"),
        ];
        for plant in plant {
            plant();
            write_atomically(folder.path(), "r.json", |out| {
                use std::io::Write as _;
                out.write_all(b"report")
            })
            .expect("writes");
            assert_eq!(std::fs::read(&target).expect("reads"), b"precious");
            assert!(!dangling.exists(), "a link's target was created");
            let final_path = folder.path().join("r.json");
            assert!(
                std::fs::symlink_metadata(&final_path)
                    .expect("exists")
                    .is_file()
            );
            assert_eq!(std::fs::read(&final_path).expect("reads"), b"report");
        }
    }

    /// The rename into place replaces a link at the final name; it does not write through
    /// it.
    #[cfg(unix)]
    #[test]
    fn the_rename_into_place_replaces_a_link_at_the_final_name() {
        let folder = tempfile::tempdir().expect("temp dir");
        let outside = tempfile::tempdir().expect("temp dir");
        let target = outside.path().join("victim");
        std::fs::write(&target, "precious").expect("writes");
        let final_path = folder.path().join("r.json");
        std::os::unix::fs::symlink(&target, &final_path).expect("plants");
        write_atomically(folder.path(), "r.json", |out| {
            use std::io::Write as _;
            out.write_all(b"report")
        })
        .expect("writes");
        assert_eq!(std::fs::read(&target).expect("reads"), b"precious");
        let metadata = std::fs::symlink_metadata(&final_path).expect("exists");
        assert!(metadata.is_file(), "a regular file replaced the link");
        assert_eq!(std::fs::read(&final_path).expect("reads"), b"report");
    }

    #[test]
    fn hex_is_lowercase_and_two_digits_a_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }
}
