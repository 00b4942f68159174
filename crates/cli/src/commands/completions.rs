//! `sora-batch completions SHELL`: a completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the same clap definitions as the command line itself.

use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

pub fn run(args: &CompletionsArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "sora-batch", output.stdout());
    output.flush()?;
    Ok(Outcome::Success)
}
