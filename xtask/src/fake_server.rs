//! `cargo xtask fake-server`: the testkit's fake Kie.ai as a standalone server, for the demo
//! and for trying the CLI by hand without spending credits.
//!
//! Read [`fake_server`] first. [`FakeServerOptions`] is the hand-parsed command line. The
//! server prints its URLs as `KEY=value` lines on stdout (so a script can `eval` or grep them),
//! everything else on stderr, and serves until ctrl-c.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use sora_batch_testkit::{Endpoint, FakeKie, Schedule};

const HELP: &str = "\
cargo xtask fake-server: serve a fake Kie.ai jobs API on 127.0.0.1 until ctrl-c

The fake behaves like the live service (errors in HTTP 200 with a `code`, 403 `error code:
1010` without a User-Agent, strict Sora 2 input validation, rate limits of 20 createTask per
10 s and 10 recordInfo per second). Generation times are log-normal around --generation-secs
(sigma 0.3). Any non-empty bearer key is accepted unless --api-key is given.

On start it prints on stdout:
  KIE_BASE_URL=http://127.0.0.1:PORT        the API host (the client appends /api/v1/...)
  KIE_FILES_BASE_URL=http://127.0.0.1:PORT  the file host of result URLs
  SORA_BATCH_CACHE_DIR=PATH                 a generation-time cache for runs against the
                                            fake, so that its times stay out of yours

options:
  --port N              API port (default: any free port)
  --files-port N        file host port (default: any free port)
  --generation-secs S   median generation time in seconds (default: 5)
  --fail-prompt TEXT    tasks whose prompt contains TEXT end in `fail` with failCode 400,
                        like a content-moderation refusal, and cost nothing
                        (default: FORCE_FAIL)
  --fault-rate R        probability of a transient fault per request, 0 to 1 (default: 0)
  --seed N              seed of generation times and faults (default: 1)
  --credits C           initial account balance (default: 1000000)
  --api-key KEY         accept only this bearer key
  -h, --help            print this help";

/// The default `--fail-prompt`: plain ASCII, safe unquoted in YAML and in shells, and unlikely
/// in a real prompt.
const DEFAULT_FAIL_PROMPT: &str = "FORCE_FAIL";

/// The command line of `fake-server`.
#[derive(Debug, Clone, PartialEq)]
struct FakeServerOptions {
    port: u16,
    files_port: u16,
    generation_secs: f64,
    fail_prompt: String,
    fault_rate: f64,
    seed: u64,
    credits: f64,
    api_key: Option<String>,
}

impl Default for FakeServerOptions {
    fn default() -> Self {
        FakeServerOptions {
            port: 0,
            files_port: 0,
            generation_secs: 5.0,
            fail_prompt: DEFAULT_FAIL_PROMPT.to_owned(),
            fault_rate: 0.0,
            seed: 1,
            credits: 1_000_000.0,
            api_key: None,
        }
    }
}

/// What the command line asked for.
#[derive(Debug, PartialEq)]
enum Request {
    Help,
    Serve(FakeServerOptions),
}

fn parse_options(args: &[String]) -> Result<Request, String> {
    let mut options = FakeServerOptions::default();
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(Request::Help);
        }
        // Accept both `--flag value` and `--flag=value`.
        let (name, inline_value) = match flag.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (flag.as_str(), None),
        };
        let mut value = || -> Result<String, String> {
            inline_value
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "--port" => options.port = parse_number(name, &value()?)?,
            "--files-port" => options.files_port = parse_number(name, &value()?)?,
            "--generation-secs" => {
                options.generation_secs = parse_number(name, &value()?)?;
                if !(options.generation_secs.is_finite() && options.generation_secs >= 0.0) {
                    return Err("--generation-secs must be a non-negative number".to_owned());
                }
            }
            "--fail-prompt" => options.fail_prompt = value()?,
            "--fault-rate" => {
                options.fault_rate = parse_number(name, &value()?)?;
                if !(0.0..=1.0).contains(&options.fault_rate) {
                    return Err("--fault-rate must be between 0 and 1".to_owned());
                }
            }
            "--seed" => options.seed = parse_number(name, &value()?)?,
            "--credits" => options.credits = parse_number(name, &value()?)?,
            "--api-key" => options.api_key = Some(value()?),
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(Request::Serve(options))
}

fn parse_number<T: std::str::FromStr>(name: &str, text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{name}: `{text}` is not a valid number"))
}

/// Runs `cargo xtask fake-server` with the arguments after the task name.
pub fn fake_server(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(Request::Help) => {
            println!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Ok(Request::Serve(options)) => options,
        Err(message) => {
            eprintln!("error: {message}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    let bind = |port: u16, what: &str| {
        TcpListener::bind(("127.0.0.1", port))
            .map_err(|error| format!("cannot listen on 127.0.0.1:{port} for the {what}: {error}"))
    };
    let listeners =
        bind(options.port, "API").and_then(|api| Ok((api, bind(options.files_port, "file host")?)));
    let (api_listener, files_listener) = match listeners {
        Ok(listeners) => listeners,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(options, api_listener, files_listener))
}

async fn serve(
    options: FakeServerOptions,
    api_listener: TcpListener,
    files_listener: TcpListener,
) -> ExitCode {
    let fail_msg = format!(
        "Content moderation rejected the prompt (fake: it contains {:?}).",
        options.fail_prompt
    );
    let mut builder = FakeKie::builder()
        .schedule(Schedule::LogNormal {
            median: Duration::from_secs_f64(options.generation_secs),
            sigma: 0.3,
            seed: options.seed,
        })
        .fail_prompts_containing(&options.fail_prompt, "400", &fail_msg)
        .credits(options.credits)
        // The live service's documented limits.
        .rate_limit(Endpoint::CreateTask, 20, Duration::from_secs(10))
        .rate_limit(Endpoint::RecordInfo, 10, Duration::from_secs(1))
        .listen(api_listener, files_listener);
    if options.fault_rate > 0.0 {
        builder = builder.random_faults(options.fault_rate, options.seed);
    }
    if let Some(api_key) = &options.api_key {
        builder = builder.api_key(api_key);
    }
    let fake = builder.start().await;

    println!("KIE_BASE_URL={}", fake.base_url());
    println!("KIE_FILES_BASE_URL={}", fake.files_base_url());
    println!("KIE_UPLOAD_URL={}", fake.upload_base_url());
    println!(
        "SORA_BATCH_CACHE_DIR={}",
        crate::workspace::target_dir()
            .join("fake-server-generation-times")
            .display()
    );
    eprintln!(
        "fake Kie.ai serving: generation ~{}s, prompts containing {:?} fail, fault rate {}; ctrl-c to stop",
        options.generation_secs, options.fail_prompt, options.fault_rate
    );

    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for ctrl-c: {error}");
        return ExitCode::FAILURE;
    }
    let log = fake.log();
    eprintln!(
        "stopping: {} requests, {} tasks created, {} rate-limited, {} unexpected",
        log.requests().len(),
        log.tasks_created(),
        log.rate_limited(),
        log.unexpected().len()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Request, String> {
        parse_options(&args.iter().map(|arg| (*arg).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_and_every_option_parse() {
        assert_eq!(parse(&[]), Ok(Request::Serve(FakeServerOptions::default())));
        let parsed = parse(&[
            "--port",
            "8080",
            "--files-port=8081",
            "--generation-secs",
            "0.5",
            "--fail-prompt",
            "nope",
            "--fault-rate",
            "0.1",
            "--seed",
            "9",
            "--credits",
            "60",
            "--api-key",
            "k",
        ]);
        assert_eq!(
            parsed,
            Ok(Request::Serve(FakeServerOptions {
                port: 8080,
                files_port: 8081,
                generation_secs: 0.5,
                fail_prompt: "nope".to_owned(),
                fault_rate: 0.1,
                seed: 9,
                credits: 60.0,
                api_key: Some("k".to_owned()),
            }))
        );
        assert_eq!(parse(&["--port", "1", "-h"]), Ok(Request::Help));
    }

    #[test]
    fn bad_options_are_errors() {
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--port", "http"]).is_err());
        assert!(parse(&["--fault-rate", "2"]).is_err());
        assert!(parse(&["--generation-secs", "-1"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
    }
}
