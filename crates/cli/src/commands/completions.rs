//! `sora-batch completions SHELL`: a completion script for bash, zsh, fish, elvish or
//! PowerShell, generated from the same clap definitions as the command line itself.
//!
//! Read [`script`]. clap_complete's scripts are used as they come, but for two gaps, each
//! mended here and held by a test that runs the real shell's logic:
//! - **bash**: the generated function names its states after the binary with `-` made `__`
//!   (`sora__batch__subcmd__run`), but labels the cases that complete a subcommand's flags
//!   with every `-` made `__subcmd__` (`sora__subcmd__batch__subcmd__run`), so that nothing
//!   completed after a subcommand for a binary with a `-` in its name (clap-rs/clap#6421).
//!   The script is generated for a name without `-` ([`BASH_FUNCTION_NAME`]), where both
//!   agree, and registered for `sora-batch`;
//! - **fish**: the generator completes options only, not positional arguments, and the
//!   value of an option given before the subcommand (`sora-batch --color <TAB>`) never
//!   matched its test, so fish offered files for both; lines for them are added
//!   ([`fish_additions`]).

use std::io::Write as _;

use clap::CommandFactory as _;
use clap_complete::Shell;

use crate::cli::{Cli, CompletionsArgs};
use crate::exit::{CliError, Outcome};
use crate::output::Output;

/// The name users type.
const BINARY: &str = "sora-batch";

/// The name the bash script is generated for: without `-`, so that clap_complete's state
/// names and case labels agree. Its function is `_sora_batch`.
const BASH_FUNCTION_NAME: &str = "sora_batch";

pub fn run(args: &CompletionsArgs, output: &mut Output) -> Result<Outcome, CliError> {
    let script = script(args.shell)?;
    output
        .stdout()
        .write_all(script.as_bytes())
        .map_err(CliError::Output)?;
    output.flush()?;
    Ok(Outcome::Success)
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> Result<String, CliError> {
    let mut command = Cli::command();
    match shell {
        Shell::Bash => {
            let generated = generate(shell, &mut command, BASH_FUNCTION_NAME)?;
            register_bash_function_for_binary(&generated)
        }
        Shell::Fish => {
            let mut generated = generate(shell, &mut command, BINARY)?;
            generated.push_str(&fish_additions(&command));
            Ok(generated)
        }
        _ => generate(shell, &mut command, BINARY),
    }
}

fn generate(shell: Shell, command: &mut clap::Command, name: &str) -> Result<String, CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, command, name, &mut script);
    String::from_utf8(script)
        .map_err(|_| CliError::Local("clap_complete wrote a script that is not UTF-8".into()))
}

/// The bash script generated for [`BASH_FUNCTION_NAME`], with its `complete` lines (one
/// for bash 4.4 and later, one for older) registering its function for `sora-batch`.
fn register_bash_function_for_binary(script: &str) -> Result<String, CliError> {
    let function = format!("-F _{BASH_FUNCTION_NAME} ");
    let registered_name = format!(" {BASH_FUNCTION_NAME}");
    let mut registrations = 0;
    let mut fixed = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        match text.strip_suffix(&registered_name) {
            Some(head)
                if text.trim_start().starts_with("complete ") && text.contains(&function) =>
            {
                registrations += 1;
                fixed.push_str(head);
                fixed.push(' ');
                fixed.push_str(BINARY);
                fixed.push_str(&line[text.len()..]);
            }
            _ => fixed.push_str(line),
        }
    }
    if registrations == 0 {
        return Err(CliError::Local(
            "clap_complete's bash script has no `complete -F` line to register for sora-batch"
                .into(),
        ));
    }
    Ok(fixed)
}

/// The fish lines clap_complete's generator leaves out, without which fish offers files:
/// - the value of an option given before the subcommand (`sora-batch --color <TAB>`): the
///   generated test for "no subcommand yet" runs fish's `argparse` over the words so far,
///   which fails on an option still waiting for its value, so none of its lines applied;
/// - positional arguments: the generator completes options only. A positional with a fixed
///   set of values (`completions`' shells) gets them; a subcommand none of whose
///   positionals is a path (`task TASK_ID`, `completions SHELL`) gets no files.
fn fish_additions(command: &clap::Command) -> String {
    let prefix = format!("__fish_{}", BINARY.replace('-', "_"));
    let mut lines = format!(
        "
# Added by sora-batch to clap_complete's script: option values before the subcommand,
# and positional arguments, which the generator leaves to file completion.
function {prefix}_after_option
    set -l words (commandline -opc)
    set -q words[2]; and contains -- $words[-1] $argv
end
"
    );
    for option in command.get_arguments() {
        let Some(long) = option.get_long() else {
            continue;
        };
        if option.is_positional() || !option.get_action().takes_values() {
            continue;
        }
        let values = value_names(option);
        if !values.is_empty() {
            lines.push_str(&format!(
                "complete -c {BINARY} -n \"{prefix}_after_option --{long}\" -f -a \"{values}\"\n"
            ));
        } else if !is_path(option) {
            lines.push_str(&format!(
                "complete -c {BINARY} -n \"{prefix}_after_option --{long}\" -f\n"
            ));
        }
    }
    let mut path = Vec::new();
    add_fish_positionals(command, &prefix, &mut path, &mut lines);
    lines
}

fn add_fish_positionals<'c>(
    command: &'c clap::Command,
    prefix: &str,
    path: &mut Vec<&'c str>,
    lines: &mut String,
) {
    if let Some((first, rest)) = path.split_first() {
        // The generator's own test for "the command line is in this subcommand".
        let mut condition = format!("{prefix}_using_subcommand {first}");
        for name in rest {
            condition.push_str(&format!("; and __fish_seen_subcommand_from {name}"));
        }
        let positionals: Vec<&clap::Arg> = command.get_positionals().collect();
        if !positionals.is_empty() && !positionals.iter().any(|argument| is_path(argument)) {
            lines.push_str(&format!("complete -c {BINARY} -n \"{condition}\" -f\n"));
        }
        for argument in positionals {
            let values = value_names(argument);
            if !values.is_empty() {
                lines.push_str(&format!(
                    "complete -c {BINARY} -n \"{condition}; and not __fish_seen_subcommand_from {values}\" -f -a \"{values}\"\n"
                ));
            }
        }
    }
    for subcommand in command.get_subcommands() {
        path.push(subcommand.get_name());
        add_fish_positionals(subcommand, prefix, path, lines);
        path.pop();
    }
}

/// The values `argument` takes, space-separated, when it has a fixed set.
fn value_names(argument: &clap::Arg) -> String {
    argument
        .get_possible_values()
        .iter()
        .filter(|value| !value.is_hide_set())
        .map(|value| value.get_name().to_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `argument` may be a path, as far as its value hint says (no hint: it may).
fn is_path(argument: &clap::Arg) -> bool {
    use clap::ValueHint;
    argument.get_possible_values().is_empty()
        && matches!(
            argument.get_value_hint(),
            ValueHint::Unknown
                | ValueHint::AnyPath
                | ValueHint::FilePath
                | ValueHint::DirPath
                | ValueHint::ExecutablePath
        )
}
