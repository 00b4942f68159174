//! The command line as clap sees it: [`Cli`], its global flags and one struct per command.
//!
//! These are raw flags. Commands turn them into what the engine needs; nothing here checks
//! more than clap can.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
pub struct GlobalArgs {
    /// The jobs API's base URL.
    #[arg(
        long,
        global = true,
        env = "KIE_BASE_URL",
        default_value = sora_batch_api::DEFAULT_BASE_URL,
        value_name = "URL"
    )]
    pub base_url: String,
    /// Say more (repeat for more detail).
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check manifests: every problem of every file, with its line and column. No network.
    Validate(ValidateArgs),
    /// Show the jobs a manifest expands to, their state and the estimated credits.
    Plan(PlanArgs),
    /// Print the JSON Schema of the manifest format, for editors.
    Schema(SchemaArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Manifest files to check.
    #[arg(required = true, value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The manifest to plan.
    #[arg(value_name = "MANIFEST")]
    pub manifest: PathBuf,
    /// The batch folder. Default: out/<name>/ beside the manifest.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (the report.json format, plus estimated credits).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {}
