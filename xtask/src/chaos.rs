//! `cargo xtask chaos [--kills N] [--seed S]`: the kill -9 test of the cli's suite, longer.
//!
//! Read [`chaos`]. The end-to-end test
//! `run_kill::killed_at_random_instants_then_run_to_completion_nothing_is_paid_twice_or_lost`
//! (in `crates/cli/tests/it/run_kill.rs`) kills `sora-batch run` at instants chosen on the
//! fake service's request log, a dozen times, then runs the batch to completion and checks
//! that nothing was paid twice beyond the jobs reported uncertain and that every video is
//! whole. This task runs the same test with many more kills (and other seeds), through
//! `cargo test`, so there is one implementation of the checks.

use std::process::{Command, ExitCode};

/// Read by the test: how many kills to reach, and the seed of its first round.
const KILLS_VAR: &str = "SORA_BATCH_CHAOS_KILLS";
const SEED_VAR: &str = "SORA_BATCH_CHAOS_SEED";
const TEST: &str =
    "run_kill::killed_at_random_instants_then_run_to_completion_nothing_is_paid_twice_or_lost";

const HELP: &str = "\
cargo xtask chaos [--kills N] [--seed S]

Kill `sora-batch run` with SIGKILL at N random instants (default 200) across batches run
against the fake Kie service, run each batch to completion, and check that no job was paid
for twice beyond those reported uncertain and that every video is complete. Rounds are
seeded from S (default 1000); a failure names its seed.";

pub fn chaos(args: &[String]) -> ExitCode {
    let mut kills: u64 = 200;
    let mut seed: u64 = 1000;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let number = |value: Option<&String>| value.and_then(|v| v.trim().parse::<u64>().ok());
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{HELP}");
                return ExitCode::SUCCESS;
            }
            "--kills" => match number(args.next()) {
                Some(value) if value > 0 => kills = value,
                _ => return usage("--kills takes a positive number"),
            },
            "--seed" => match number(args.next()) {
                Some(value) => seed = value,
                None => return usage("--seed takes a number"),
            },
            other => return usage(&format!("unknown option `{other}`")),
        }
    }
    eprintln!("==> {kills} kills of `sora-batch run`, seeds from {seed}");
    let cargo = crate::workspace::cargo();
    let output = Command::new(cargo)
        .args([
            "test",
            "--quiet",
            "--package",
            "sora-batch",
            "--test",
            "it",
            "--",
            "--exact",
            TEST,
        ])
        .env(KILLS_VAR, kills.to_string())
        .env(SEED_VAR, seed.to_string())
        .stderr(std::process::Stdio::inherit())
        .output();
    match output {
        Ok(output) => {
            let stdout = String::from_utf8_lossy(&output.stdout);
            print!("{stdout}");
            // A renamed test would match nothing, and cargo passes a run of no test.
            if output.status.success() && stdout.contains("1 passed") {
                eprintln!("==> chaos: every check held");
                ExitCode::SUCCESS
            } else if output.status.success() {
                eprintln!("==> chaos: the test {TEST} did not run");
                ExitCode::FAILURE
            } else {
                eprintln!("==> chaos: a check failed (see the seed in the message above)");
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: could not run cargo test: {error}");
            ExitCode::FAILURE
        }
    }
}

fn usage(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{HELP}");
    ExitCode::from(2)
}
