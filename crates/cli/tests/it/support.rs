//! Helpers of the cli tests: the binary to run, from the repository root so that paths in
//! its output are the short relative ones users type.

use std::path::PathBuf;

use assert_cmd::Command;

pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `sora-batch` with the repository root as working directory and a clean environment for
/// the variables it reads: no key, no base URL, and a generation-time cache of the tests'
/// own (empty: nothing these commands run writes to it), never the user's.
pub fn sora_batch() -> Command {
    let mut command = assert_cmd::cargo::cargo_bin_cmd!("sora-batch");
    command
        .current_dir(repository_root())
        .env_remove("KIE_BASE_URL")
        .env_remove("KIE_API_KEY")
        .env("SORA_BATCH_CACHE_DIR", empty_cache_dir())
        .env("NO_COLOR", "1");
    command
}

/// A folder in the test target's temporary folder, one per test process, that no cache
/// file is ever written to.
fn empty_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("no-generation-times-{}", std::process::id()))
}

/// Writes `text` to a file in a fresh temporary folder and returns both (the folder must
/// live as long as the file is used).
pub fn manifest_file(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let folder = match tempfile::tempdir() {
        Ok(folder) => folder,
        Err(error) => panic!("cannot create a temporary folder: {error}"),
    };
    let path = folder.path().join(name);
    if let Err(error) = std::fs::write(&path, text) {
        panic!("cannot write {}: {error}", path.display());
    }
    (folder, path)
}

pub fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
