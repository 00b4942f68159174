//! `sora-batch`: the command line over the engine.
//!
//! Read [`cli::Cli`] for the commands and flags, then [`run`]: it parses, dispatches to one
//! module per command under [`commands`], and hands the outcome to [`exit::exit_code`], the
//! one place that maps outcomes and errors to the documented exit codes.
//!
//! Only this crate knows clap, terminals, colours and exit codes; the engine returns values
//! and diagnostics.

mod cli;
mod commands;
mod exit;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` are "errors" to clap that print to stdout and succeed.
            let _ = error.print();
            return exit::usage_exit_code(&error);
        }
    };
    exit::exit_code(run(&cli))
}

fn run(cli: &cli::Cli) -> Result<exit::Outcome, exit::CliError> {
    let mut output = output::Output::new(&cli.global);
    match &cli.command {
        cli::Command::Validate(args) => commands::validate::run(args, &mut output),
        cli::Command::Plan(args) => commands::plan::run(args, &mut output),
        cli::Command::Run(args) => commands::run::run(&cli.global, args, &mut output),
        cli::Command::Status(args) => commands::status::run(args, &mut output),
        cli::Command::Task(args) => commands::task::run(&cli.global, args, &mut output),
        cli::Command::Schema(args) => commands::schema::run(args, &mut output),
        cli::Command::Completions(args) => commands::completions::run(args, &mut output),
    }
}
