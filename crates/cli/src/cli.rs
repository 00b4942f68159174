//! The command line as clap sees it: [`Cli`], its global flags and one struct per command.
//!
//! These are raw flags. Commands turn them into what the engine needs; nothing here checks
//! more than clap can.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum, ValueHint};

/// Run batches of Sora 2 video generations through Kie.ai's jobs API, from YAML manifests.
///
/// A manifest describes the batch (prompts x options); `plan` shows what it would generate
/// and cost, `run` generates it, resumably and within a spending cap.
#[derive(Debug, Parser)]
#[command(
    name = "sora-batch",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The jobs API's base URL.
    #[arg(
        long,
        global = true,
        env = "KIE_BASE_URL",
        default_value = sora_batch_api::DEFAULT_BASE_URL,
        value_name = "URL",
        value_hint = ValueHint::Url
    )]
    pub base_url: String,
    /// Say more: every submission, state change and retry (-vv: more still).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Say less: only problems.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub quiet: u8,
    /// When to colour messages.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// `--color` as clap needs it before it parses anything: help, `--version` and usage errors
/// are printed while parsing, so the choice is read from the raw arguments first (the last
/// `--color WHEN` or `--color=WHEN` before a `--`). A value clap would refuse counts as
/// `auto` here; clap then says why it is refused.
pub fn color_of_arguments(arguments: &[OsString]) -> clap::ColorChoice {
    let mut choice = clap::ColorChoice::Auto;
    let mut words = arguments.iter().skip(1).map(|word| word.to_str());
    while let Some(word) = words.next() {
        let value = match word {
            Some("--") => break,
            Some("--color") => words.next().flatten(),
            Some(word) => word.strip_prefix("--color="),
            None => None,
        };
        choice = match value {
            Some("always") => clap::ColorChoice::Always,
            Some("never") => clap::ColorChoice::Never,
            Some(_) => clap::ColorChoice::Auto,
            None => continue,
        };
    }
    choice
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests: every problem of every file, with its line and column. No network.
    Validate(ValidateArgs),
    /// Show the jobs a manifest expands to, their state and the estimated credits.
    Plan(PlanArgs),
    /// Generate every job of a manifest: submit, poll, download. Run it again to resume.
    ///
    /// Needs KIE_API_KEY. Every step is written to the batch folder's journal first, so the
    /// run can be killed at any moment and the same command resumes it without paying twice.
    #[command(after_long_help = RUN_EXIT_CODES)]
    Run(RunArgs),
    /// Show where a batch stands, from its journal. No network.
    Status(StatusArgs),
    /// Write one report over the batch folders of a batch's shards. No network.
    ///
    /// report.json, report.md and report.html (the gallery, linking each video where it is,
    /// in its shard's folder) go into --report-dir, and with --junit one JUnit file covers
    /// every job. Each job's state comes from the folder of its shard, read as `status` reads
    /// it. Exits 0 once written, whatever the jobs' states (those are in the report).
    Report(ReportArgs),
    /// Show one task as the service reports it (one recordInfo call). Needs KIE_API_KEY.
    Task(TaskArgs),
    /// The jobs API's models: list the catalogue, show one, lock them, check the lock
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Rebuild a lost journal from the batch folder's report.json. No network.
    ///
    /// Every task id the report names is recorded, so that the next `run` polls those tasks
    /// instead of paying for their jobs again; every file whose sha256 still matches is kept.
    Recover(RecoverArgs),
    /// Print the JSON Schema of the manifest format, for editors.
    ///
    /// The schema knows the built-in models and a lock's, and checks each one's input fields.
    /// Save it beside your manifests and name it in the manifest's first line:
    /// `sora-batch schema > manifest.schema.json`, then
    /// `# yaml-language-server: $schema=./manifest.schema.json`.
    Schema(SchemaArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    ///
    /// For example: `sora-batch completions bash > ~/.local/share/bash-completion/completions/sora-batch`.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

const RUN_EXIT_CODES: &str = "\
Exit codes (the first that applies):
  3    the account or its configuration stopped the run: key refused (401), credits out
       (402), usage cap (433); untrusted certificate, refusing proxy, unresolvable or
       refusing API host (nothing more was sent; fix it, then run again)
  4    the spending cap stopped submissions
  6    a local failure stopped the run (disk full, permissions); fix it and run again
  130  interrupted (SIGINT, SIGTERM); run the same command to resume
  5    work outstanding (running, timed out, uncertain or not downloaded); run again to collect
  1    some jobs failed
  0    every job succeeded and is downloaded
  2    usage, manifest or lock error; nothing submitted";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The manifest to run.
    #[arg(value_name = "MANIFEST", value_hint = ValueHint::FilePath)]
    pub manifest: PathBuf,
    /// The batch folder. Default: out/<name>/ beside the manifest.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// Tasks in flight at once (submitted, not finished). Default: the manifest's run.concurrency.
    #[arg(long, value_name = "N", value_hint = ValueHint::Other, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// The spending cap of the batch in credits: nothing is submitted that would take
    /// committed spend above it. Default: the manifest's run.max_credits.
    #[arg(long, value_name = "N", value_hint = ValueHint::Other, value_parser = parse_credits)]
    pub max_credits: Option<f64>,
    /// Submit again the jobs the service failed in earlier runs.
    #[arg(long)]
    pub retry_failed: bool,
    /// Submit again the jobs whose createTask may have reached the service (they may be
    /// charged twice).
    #[arg(long)]
    pub resubmit_uncertain: bool,
    /// Hash every recorded video again, even those whose size and modification time are
    /// as recorded (by default those are taken as intact without being read).
    #[arg(long)]
    pub verify_files: bool,
    /// Run only shard K of N: the jobs whose key hashes to it. Shards are disjoint, cover the
    /// batch, and stay put when the manifest is edited. Default batch folder:
    /// out/<name>-shard-K-of-N/. Shards run at once share the account: the concurrency and
    /// the createTask and recordInfo limits default to 1/N of the batch's (what the manifest
    /// or --concurrency sets is the shard's own).
    #[arg(long, value_name = "K/N", value_hint = ValueHint::Other, value_parser = clap::value_parser!(sora_batch_engine::shard::Shard))]
    pub shard: Option<sora_batch_engine::shard::Shard>,
    /// Also write the outcome as JUnit XML (one testcase per job) to FILE.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub junit: Option<PathBuf>,
}

fn parse_credits(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(credits) if credits.is_finite() && credits >= 0.0 => Ok(credits),
        _ => Err(format!("`{text}` is not a number of credits (0 or more)")),
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The manifest of the batch.
    #[arg(value_name = "MANIFEST", value_hint = ValueHint::FilePath)]
    pub manifest: PathBuf,
    /// The batch folder; repeat it to sum the folders of several shards. Default:
    /// out/<name>/ beside the manifest.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: Vec<PathBuf>,
    /// Print the state as JSON (the report.json format).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The manifest of the batch.
    #[arg(value_name = "MANIFEST", value_hint = ValueHint::FilePath)]
    pub manifest: PathBuf,
    /// A shard's batch folder; repeat it for every shard.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, required = true)]
    pub out: Vec<PathBuf>,
    /// Where to write report.json, report.md and report.html (created if missing); never a
    /// batch folder, whose report.json must stay its own.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath, default_value = ".")]
    pub report_dir: PathBuf,
    /// Also write one JUnit XML file over every job (one testcase per job) to FILE.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub junit: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models of the live catalogue (one call). Needs KIE_API_KEY.
    List(ModelsListArgs),
    /// A model's input fields, price and where that knowledge came from: the lock (beside
    /// you, or --lock), else the built-in snapshot (no network), else the live catalogue.
    Show(ModelsShowArgs),
    /// Fetch the schema and price of every model the manifests use into sora-batch.lock
    /// beside them. Needs KIE_API_KEY.
    ///
    /// The lock is JSON, meant to be committed next to the manifests like Cargo.lock, so
    /// that every machine knows the same of those models. Manifests of one folder share one
    /// lock: their models are added or updated and the lock's other models are kept (use
    /// --prune to drop the models no given manifest uses). Nothing is written unless every
    /// model could be locked. The catalogue allows one request per second: two per model.
    Lock(ModelsLockArgs),
    /// Compare the lock beside the manifests with the live catalogue, for CI. Needs
    /// KIE_API_KEY.
    ///
    /// Prints, model by model, what changed: fields added or removed, allowed values,
    /// required, type, default, limits, price text and the rule read from it. Nothing is
    /// written.
    #[command(after_long_help = CHECK_EXIT_CODES)]
    Check(ModelsCheckArgs),
}

const CHECK_EXIT_CODES: &str = "\
Exit codes:
  0  every model the manifests use is locked and the lock matches the catalogue
  7  the lock is out of date: a model changed, is not in the lock, or there is no lock;
     run `sora-batch models lock MANIFEST...` and commit the lock
  2  usage or manifest error, or a lock that cannot be read
  3  the key was refused
  1  the catalogue could not be asked";

/// What `models list --type` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelType {
    /// `video`, `image` or `audio`: what the model makes, from its task types.
    Output(String),
    /// A task type as the catalogue names it, e.g. `text-to-video`.
    TaskType(String),
}

fn parse_model_type(text: &str) -> Result<ModelType, String> {
    let text = text.trim().to_lowercase();
    match text.as_str() {
        "" => Err("expected video, image, audio or a task type such as text-to-video".into()),
        "video" | "image" | "audio" => Ok(ModelType::Output(text)),
        _ => Ok(ModelType::TaskType(text)),
    }
}

#[derive(Debug, Args)]
pub struct ModelsListArgs {
    /// Only models that make this: video, image or audio (from their task types), or one
    /// task type such as text-to-video.
    #[arg(long = "type", value_name = "TYPE", value_parser = parse_model_type)]
    pub model_type: Option<ModelType>,
    /// Only models whose id, title, provider or description contains these words.
    #[arg(value_name = "QUERY", value_hint = ValueHint::Other)]
    pub query: Option<String>,
    /// Print the list as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModelsShowArgs {
    /// The model's id, e.g. kling-2.6/text-to-video.
    #[arg(value_name = "MODEL", value_hint = ValueHint::Other)]
    pub model: String,
    /// Read the model from this lock. Default: sora-batch.lock in the current folder, when
    /// there is one and it has the model.
    #[arg(long, value_name = "PATH", conflicts_with = "live")]
    pub lock: Option<PathBuf>,
    /// Ask the live catalogue even for a model of the lock or the built-in snapshot. Needs
    /// KIE_API_KEY.
    #[arg(long)]
    pub live: bool,
    /// Print the model as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ModelsLockArgs {
    /// The manifests whose models to lock; each in the lock of its own folder.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
    /// Keep in each lock only the models the given manifests use.
    #[arg(long)]
    pub prune: bool,
    /// Write what sora-batch's built-in snapshot knows of each model (its documentation
    /// page's schema and price rule) instead of asking the live catalogue: no key, no
    /// network. Pins today's knowledge so that a newer sora-batch cannot change it
    /// unnoticed; `models check` still compares it with the live catalogue.
    #[arg(long)]
    pub from_snapshot: bool,
}

#[derive(Debug, Args)]
pub struct ModelsCheckArgs {
    /// The manifests whose locked models to check.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// The manifest of the batch.
    #[arg(value_name = "MANIFEST", value_hint = ValueHint::FilePath)]
    pub manifest: PathBuf,
    /// The batch folder. Default: out/<name>/ beside the manifest.
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TaskArgs {
    /// The task id, as the service issued it.
    #[arg(value_name = "TASK_ID", value_hint = ValueHint::Other)]
    pub task_id: String,
    /// Print the service's record as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files to check.
    #[arg(required = true, value_name = "MANIFEST", value_hint = ValueHint::FilePath)]
    pub manifests: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The manifest to plan.
    #[arg(value_name = "MANIFEST", value_hint = ValueHint::FilePath)]
    pub manifest: PathBuf,
    /// The batch folder. Default: out/<name>/ beside the manifest (out/<name>-shard-K-of-N/
    /// with --shard).
    #[arg(long, value_name = "DIR", value_hint = ValueHint::DirPath)]
    pub out: Option<PathBuf>,
    /// Plan shard K of N as `run --shard K/N` would run it: its jobs, and its part of the
    /// account's limits.
    #[arg(long, value_name = "K/N", value_hint = ValueHint::Other, value_parser = clap::value_parser!(sora_batch_engine::shard::Shard))]
    pub shard: Option<sora_batch_engine::shard::Shard>,
    /// Print the plan as JSON (the report.json format, plus estimated credits).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Also know the models of this lock (their fields replace built-in models' of the same
    /// id). Default: sora-batch.lock in the current folder, when there is one.
    #[arg(long, value_name = "PATH", value_hint = ValueHint::FilePath)]
    pub lock: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn color_of(words: &[&str]) -> clap::ColorChoice {
        let arguments: Vec<OsString> = std::iter::once("sora-batch")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect();
        color_of_arguments(&arguments)
    }

    #[test]
    fn the_colour_is_read_before_clap_parses() {
        assert_eq!(color_of(&["--help"]), clap::ColorChoice::Auto);
        assert_eq!(
            color_of(&["--color", "never", "run", "--bogus"]),
            clap::ColorChoice::Never
        );
        assert_eq!(
            color_of(&["run", "x.yaml", "--color=always"]),
            clap::ColorChoice::Always
        );
        assert_eq!(
            color_of(&["--color", "never", "--color=always"]),
            clap::ColorChoice::Always
        );
        assert_eq!(color_of(&["--color", "sometimes"]), clap::ColorChoice::Auto);
        // After `--` words are values, not flags.
        assert_eq!(
            color_of(&["task", "--", "--color=always"]),
            clap::ColorChoice::Auto
        );
        // A flag waiting for its value at the end leaves the default.
        assert_eq!(color_of(&["--color"]), clap::ColorChoice::Auto);
    }
}
