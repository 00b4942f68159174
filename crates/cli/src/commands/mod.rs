//! One module per command; each has a `run(.., output)` that returns an
//! [`crate::exit::Outcome`].

pub mod completions;
pub mod models;
pub mod models_lock;
pub mod plan;
pub mod recover;
pub mod report;
pub mod run;
pub mod schema;
pub mod status;
pub mod task;
pub mod validate;

use std::path::Path;

use sora_batch_engine::manifest::{self, Loaded};

use crate::output::Output;

/// Loads a manifest for a command, printing its problems (and, unless quiet, its warnings).
/// `None` when it has problems: the caller exits 2.
pub fn load_manifest(path: &Path, what_stops: &str, output: &mut Output) -> Option<Loaded> {
    match manifest::load(path) {
        Ok(loaded) => {
            if !output.quiet {
                output.diagnostics(&loaded.warnings);
            }
            Some(loaded)
        }
        Err(errors) => {
            output.diagnostics(&errors.diagnostics);
            output.error_line(&format!("{} has problems; {what_stops}", path.display()));
            None
        }
    }
}

/// The process ends right after a command: freeing a large batch's allocations one by one
/// takes longer than anything left to do (for 100,000 jobs, about 0.4 s), and the system
/// takes the memory back at once.
pub fn forget_at_exit<T>(value: T) {
    std::mem::forget(value);
}

/// The folder of the per-user generation-time cache: `SORA_BATCH_CACHE_DIR` when set (set
/// empty, no cache at all), else the platform's cache folder — `$XDG_CACHE_HOME/sora-batch`,
/// else `~/Library/Caches/sora-batch` on macOS, `%LOCALAPPDATA%\sora-batch` on Windows and
/// `~/.cache/sora-batch` elsewhere. `None` when none can be found: runs then go without.
pub fn generation_time_cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let set = |name: &str| std::env::var_os(name).filter(|value| !value.is_empty());
    if let Some(chosen) = std::env::var_os("SORA_BATCH_CACHE_DIR") {
        return (!chosen.is_empty()).then(|| PathBuf::from(chosen));
    }
    // The XDG rule: a relative path is invalid and ignored.
    if let Some(xdg) = set("XDG_CACHE_HOME").map(PathBuf::from)
        && xdg.is_absolute()
    {
        return Some(xdg.join("sora-batch"));
    }
    if cfg!(windows) {
        return set("LOCALAPPDATA").map(|local| PathBuf::from(local).join("sora-batch"));
    }
    let home = set("HOME").map(PathBuf::from)?;
    Some(if cfg!(target_os = "macos") {
        home.join("Library").join("Caches").join("sora-batch")
    } else {
        home.join(".cache").join("sora-batch")
    })
}

/// The API key from `KIE_API_KEY`, the only place it is read from.
pub fn api_key() -> Result<sora_batch_api::ApiKey, crate::exit::CliError> {
    let value = std::env::var("KIE_API_KEY").unwrap_or_default();
    if value.trim().is_empty() {
        return Err(crate::exit::CliError::MissingApiKey);
    }
    sora_batch_api::ApiKey::new(&value).map_err(|_| crate::exit::CliError::InvalidApiKey)
}

/// A client for `base_url` with `key`; its upload host is `KIE_UPLOAD_URL` when set
/// (Kie's, `https://kieai.redpandaai.co`, otherwise).
pub fn client(
    base_url: &str,
    key: sora_batch_api::ApiKey,
    retry: Option<&sora_batch_engine::manifest::RetryTiming>,
) -> Result<sora_batch_api::Client, crate::exit::CliError> {
    let mut config = sora_batch_api::ClientConfig::new(base_url)
        .map_err(|e| crate::exit::CliError::Usage(e.to_string()))?;
    // Local files named as inputs go to Kie's upload host, another host than the API's;
    // the fake Kie of the tests serves it on a server of its own.
    if let Ok(upload_url) = std::env::var("KIE_UPLOAD_URL")
        && !upload_url.trim().is_empty()
    {
        config = config
            .with_upload_url(upload_url.trim())
            .map_err(|e| crate::exit::CliError::Usage(format!("KIE_UPLOAD_URL: {e}")))?;
    }
    if let Some(timing) = retry {
        config.retry = timing.apply_to(config.retry);
        config.download_retry = timing.apply_to(config.download_retry);
    }
    sora_batch_api::Client::new(config, key).map_err(|e| {
        if e.is_configuration() {
            crate::exit::CliError::Configuration(e.to_string())
        } else {
            crate::exit::CliError::Usage(e.to_string())
        }
    })
}

/// A runtime for a command that talks to the network.
pub fn runtime() -> Result<tokio::runtime::Runtime, crate::exit::CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::exit::CliError::Local(format!("cannot start the async runtime: {e}")))
}
