//! `sora-batch`: the command line over the engine.
//!
//! Read [`cli::Cli`] for the commands and flags, then [`run`]: it parses, dispatches to one
//! module per command under [`commands`], and hands the outcome to [`exit::exit_code`], the
//! one place that maps outcomes and errors to the documented exit codes.
//!
//! Only this crate knows clap, terminals, colours and exit codes; the engine returns values
//! and diagnostics.

/// mimalloc rather than the system allocator: with it a 10,000-job run holds 13 MB more
/// per extra 10,000 jobs instead of 22, and planning or resuming 100,000 jobs is 30-40%
/// faster (measured in `docs/performance.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod cli;
mod commands;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

fn main() -> ExitCode {
    let arguments: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // `--color` reaches clap too, so that help and usage errors honour it.
    let mut command = cli::Cli::command().color(cli::color_of_arguments(&arguments));
    let parsed = command
        .try_get_matches_from_mut(&arguments)
        .and_then(|matches| cli::Cli::from_arg_matches(&matches))
        .map_err(|error| error.format(&mut command));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(error) => {
            // clap names a subcommand's version `sora-batch-run`; the program is `sora-batch`
            // whichever command is asked.
            if error.kind() == clap::error::ErrorKind::DisplayVersion {
                println!("sora-batch {}", env!("CARGO_PKG_VERSION"));
                return exit::usage_exit_code(&error);
            }
            // `--help` is an "error" to clap that prints to stdout and succeeds.
            let _ = error.print();
            return exit::usage_exit_code(&error);
        }
    };
    exit::exit_code(run(&cli))
}

fn run(cli: &cli::Cli) -> Result<exit::Outcome, exit::CliError> {
    let mut output = output::Output::new(&cli.global);
    init_tracing(cli.global.verbose, output.color());
    match &cli.command {
        cli::Command::Validate(args) => commands::validate::run(args, &mut output),
        cli::Command::Plan(args) => commands::plan::run(args, &mut output),
        cli::Command::Run(args) => commands::run::run(&cli.global, args, &mut output),
        cli::Command::Status(args) => commands::status::run(args, &mut output),
        cli::Command::Report(args) => commands::report::run(args, &mut output),
        cli::Command::Task(args) => commands::task::run(&cli.global, args, &mut output),
        cli::Command::Recover(args) => commands::recover::run(args, &mut output),
        cli::Command::Models(cli::ModelsCommand::List(args)) => {
            commands::models::list(&cli.global, args, &mut output)
        }
        cli::Command::Models(cli::ModelsCommand::Show(args)) => {
            commands::models::show(&cli.global, args, &mut output)
        }
        cli::Command::Models(cli::ModelsCommand::Lock(args)) => {
            commands::models_lock::lock(&cli.global, args, &mut output)
        }
        cli::Command::Models(cli::ModelsCommand::Check(args)) => {
            commands::models_lock::check(&cli.global, args, &mut output)
        }
        cli::Command::Schema(args) => commands::schema::run(args, &mut output),
        cli::Command::Completions(args) => commands::completions::run(args, &mut output),
    }
}

/// `-v` shows what the client and the run do in detail (retries and their reasons, waits),
/// `-vv` more still; `RUST_LOG` overrides both. Only sora-batch's own crates speak: the HTTP
/// stack's logs could carry request headers, and with them the API key.
fn init_tracing(verbose: u8, color: bool) {
    let level = match verbose {
        0 => return,
        1 => "debug",
        _ => "trace",
    };
    let default_filter =
        format!("sora_batch={level},sora_batch_api={level},sora_batch_engine={level}");
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}
