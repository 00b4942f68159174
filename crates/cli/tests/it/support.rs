//! Helpers of the cli tests: the binary to run, from the repository root so that paths in
//! its output are the short relative ones users type.

use std::path::PathBuf;

use assert_cmd::Command;

pub fn repository_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `sora-batch` with the repository root as working directory and a clean environment for
/// the variables it reads.
pub fn sora_batch() -> Command {
    let mut command = assert_cmd::cargo::cargo_bin_cmd!("sora-batch");
    command
        .current_dir(repository_root())
        .env_remove("KIE_BASE_URL")
        .env_remove("KIE_API_KEY")
        .env("NO_COLOR", "1");
    command
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
