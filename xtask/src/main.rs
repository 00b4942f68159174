//! The project's own tasks, run as `cargo xtask <task>` (alias in `.cargo/config.toml`).
//!
//! Read [`main`] first: a `match` on the task name, one module per task. Arguments are parsed
//! by hand so that xtask builds fast and pulls in no CLI framework.

mod bench;
mod chaos;
mod check_deps;
mod check_layers;
mod demo;
mod fake_server;
mod workspace;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  bench         build sora-batch in release mode and measure it against its speed targets
  demo          build the CLI and run manifests/demo.yaml against a fake Kie.ai on loopback
  fake-server   serve a fake Kie.ai (API and file host) on loopback until ctrl-c
  check-deps    check that crate dependencies point the way ARCHITECTURE.md says
  check-layers  check that the engine's modules depend on each other without cycles,
                the way ARCHITECTURE.md says
  chaos         kill `sora-batch run` at many random instants; check nothing is paid twice

Run `cargo xtask <task> --help` for a task's options.";

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let task = args.next();
    let task_args: Vec<String> = args.collect();
    match task.as_deref() {
        Some("bench") => bench::bench(&task_args),
        Some("demo") => demo::demo(&task_args),
        Some("fake-server") => fake_server::fake_server(&task_args),
        Some("chaos") => chaos::chaos(&task_args),
        Some("check-deps") => match check_deps::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        },
        Some("check-layers") => check_layers::check_layers(&task_args),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(unknown) => {
            eprintln!("error: unknown task `{unknown}`\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
