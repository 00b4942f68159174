//! Scenario 1, schedule: how close batches come to what the service's limits allow, and how
//! many calls they spend, beside what users write instead.
//!
//! Every run is against a fake with the live service's limits on a clock 100 times faster:
//! 20 createTask per 10 s become 20 per 100 ms, 10 recordInfo per second become 10 per
//! 10 ms, and generation times are drawn log-normally ([`MODELS`]: a Sora 2 clip around
//! 130 s as the notes report it, and a second model around 75 s). For each model and each
//! batch size ([`SIZES`]: 10, 60 and 1,000 jobs), four clients run the batch, each against
//! a fresh fake with the same seed — the same generation times, drawn in creation order:
//! - sora-batch **cold**: a new generation-time cache; the manifest's
//!   `run.poll.typical_generation` is the model snapshot's typical time scaled like
//!   everything else (as a live run would start from the snapshot), none where the snapshot
//!   has none;
//! - sora-batch **warm**: another batch of the same model (other prompts) with the cache
//!   the cold run left;
//! - the user's loops ([`super::user_loop`]) polling every 5 s and every 30 s, 100 jobs at
//!   once at most, a 429 retried after 10 s.
//!
//! Then three sora-batch shards (`--shard K/3`) of a 1,000-job batch at once, on one account.
//! The manifests' `run:` sections are the defaults scaled by 1/100, as a user of a 100 times
//! faster service would set them. Per run: wall time (from the first createTask the fake
//! received to the last file it served) against the **ideal client's** (it
//! submits at exactly the rate limit whenever one of the 100 task slots is free and learns of
//! each completion the instant it happens; simulated on the drawn times, [`ideal_wall_time`]),
//! 429s, recordInfo calls per job (median and mean), and the detection delay (from the
//! instant a task was done on the fake to the request for its file; median, against the
//! median drawn generation time).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sora_batch_testkit::{Endpoint, FakeKie, Schedule, Server};

use super::user_loop::{LoopTiming, UserJob, run_user_loop};
use super::{Row, run_batch};

/// How many times faster than the live service the scenario runs.
const TIME_SCALE: f64 = 100.0;
/// Tasks the service runs at once for one account.
const TASK_SLOTS: usize = 100;
const CREATE_LIMIT: u32 = 20;
const POLL_LIMIT: u32 = 10;
const SIZES: [usize; 3] = [10, 60, 1000];
const SHARDS: u32 = 3;

/// A model of the scenario: what the fake draws for it, and what its jobs send.
struct Model {
    id: &'static str,
    label: &'static str,
    /// The fake's median generation time, live.
    median_secs: f64,
    sigma: f64,
    seed: u64,
    /// The manifest's `defaults:` lines for this model.
    defaults: &'static str,
}

/// Sora 2 at the notes' ~130 s for a 10 s clip (the snapshot's figure too); a 480p
/// Seedance 2 mini clip, of which no source states a time and the snapshot has none: 75 s
/// is the bench's assumption, long enough that 100 task slots, not the createTask limit,
/// bound a batch, as for Sora.
const MODELS: [Model; 2] = [
    Model {
        id: "sora-2-text-to-video",
        label: "Sora 2, ~130 s",
        median_secs: 130.0,
        sigma: 0.3,
        seed: 2026,
        defaults: "",
    },
    Model {
        id: "bytedance/seedance-2-mini",
        label: "Seedance 2 mini 480p, ~75 s",
        median_secs: 75.0,
        sigma: 0.35,
        seed: 2027,
        defaults: "defaults:\n  resolution: 480p\n  duration: 5\n",
    },
];

fn scaled(live: Duration) -> Duration {
    live.div_f64(TIME_SCALE)
}

/// Who ran a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    Cold,
    Warm,
    EveryFive,
    EveryThirty,
    Shards,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Cold => "sora-batch, cold",
            Client::Warm => "sora-batch, warm",
            Client::EveryFive => "fixed 5 s poll loop",
            Client::EveryThirty => "fixed 30 s poll loop",
            Client::Shards => "sora-batch, 3 shards at once",
        }
    }

    fn is_sora_batch(self) -> bool {
        matches!(self, Client::Cold | Client::Warm | Client::Shards)
    }
}

/// What one run cost, from the fake's log.
struct Outcome {
    model: &'static str,
    jobs: usize,
    /// Tasks the fake created: `jobs`, but for shards that left jobs for another run.
    created: usize,
    /// The shards' exit codes.
    exit_codes: Vec<Option<i32>>,
    client: Client,
    /// From the first createTask the fake received to the last file it was asked for.
    wall: Duration,
    /// The client's own wall time: the process (or the loop) from start to end.
    process_wall: Duration,
    ideal: Duration,
    rate_limited: usize,
    rate_limited_by_endpoint: BTreeMap<String, usize>,
    polls_median: usize,
    polls_mean: f64,
    delay_median: Duration,
    generation_median: Duration,
    most_at_once: usize,
}

impl Outcome {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.ideal.as_secs_f64().max(f64::EPSILON)
    }

    fn delay_share(&self) -> f64 {
        self.delay_median.as_secs_f64() / self.generation_median.as_secs_f64().max(f64::EPSILON)
    }
}

/// A manifest of `jobs` jobs of `model`, for one of `shares` clients running at once on the
/// account: a manifest's own figures are not divided among shards, so, as the README tells
/// a user of `--shard K/N` who sets them, it sets its share of the account's.
fn manifest(
    path: &Path,
    model: &Model,
    jobs: usize,
    variant: &str,
    shares: u32,
) -> Result<(), String> {
    let share = |figure: u32| (figure / shares).max(1);
    let millis = |live: Duration| format!("{}ms", scaled(live).as_millis().max(1));
    let subjects: Vec<String> = (0..10).map(|i| format!("s{i}")).collect();
    let times: Vec<String> = (0..jobs.div_ceil(10)).map(|i| format!("t{i}")).collect();
    let defaults = sora_batch_engine::manifest::RunSettings::default();
    let retry = &defaults.retry;
    // As a live run starts from the snapshot's figure, scaled like the rest.
    let typical = sora_batch_api::snapshot::typical_generation(model.id)
        .map(|typical| format!(", typical_generation: {}", millis(typical)))
        .unwrap_or_default();
    let text = format!(
        "version: 1\nname: {variant}-{jobs}\nmodel: {model}\n{defaults_lines}\
         prompt: \"{{subject}} at {{time}}, {variant}\"\nmatrix:\n  subject: [{}]\n  time: [{}]\n\
         run:\n  concurrency: {}\n  timeout: {}\n  \
         create_limit: {{requests: {}, per: {}}}\n  poll_limit: {{requests: {}, per: {}}}\n  \
         poll: {{first_after: {}, min_interval: {}, max_interval: {}{typical}}}\n  \
         retry: {{base_delay: {}, max_delay: {}, rate_limit_window: {}, maintenance_delay: {}}}\n",
        subjects.join(", "),
        times.join(", "),
        share(u32::try_from(TASK_SLOTS).unwrap_or(u32::MAX)),
        millis(defaults.timeout),
        share(defaults.create_limit.requests),
        millis(defaults.create_limit.per),
        share(defaults.poll_limit.requests),
        millis(defaults.poll_limit.per),
        millis(defaults.poll.first_poll),
        millis(defaults.poll.min_interval),
        millis(defaults.poll.max_interval),
        millis(retry.base_delay),
        millis(retry.max_delay),
        millis(retry.rate_limit_window),
        millis(retry.maintenance_delay),
        model = model.id,
        defaults_lines = model.defaults,
    );
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The wall time of the ideal client on `generation` (in the order the tasks were created):
/// job `i` is submitted as soon as all of these hold — job `i - 1` was submitted, one of
/// `slots` task slots is free (a slot frees the instant its task is done), and the
/// submission keeps at most `limit` in any `window` — and is done `generation[i]` later.
/// The engine's `timing::estimate::expected_wall_time` simulates the same client for
/// `plan`; the bench keeps its own, so that the yardstick does not share the measured
/// code's mistakes.
pub(crate) fn ideal_wall_time(
    generation: &[Duration],
    slots: usize,
    limit: usize,
    window: Duration,
) -> Duration {
    let mut running: BinaryHeap<Reverse<Duration>> = BinaryHeap::new();
    let mut recent_submissions: VecDeque<Duration> = VecDeque::new();
    let mut last_submission = Duration::ZERO;
    let mut last_completion = Duration::ZERO;
    for generation in generation {
        let mut at = last_submission;
        if running.len() >= slots.max(1)
            && let Some(Reverse(freed)) = running.pop()
        {
            at = at.max(freed);
        }
        if recent_submissions.len() >= limit.max(1)
            && let Some(oldest) = recent_submissions.pop_front()
        {
            at = at.max(oldest + window);
        }
        recent_submissions.push_back(at);
        last_submission = at;
        let done = at + *generation;
        last_completion = last_completion.max(done);
        running.push(Reverse(done));
    }
    last_completion
}

fn median<T: Copy + Ord>(values: &mut [T]) -> Option<T> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

fn fake_for(runtime: &tokio::runtime::Runtime, model: &Model) -> FakeKie {
    runtime.block_on(
        FakeKie::builder()
            .schedule(Schedule::LogNormal {
                median: scaled(Duration::from_secs_f64(model.median_secs)),
                sigma: model.sigma,
                seed: model.seed,
            })
            .rate_limit(
                Endpoint::CreateTask,
                CREATE_LIMIT,
                scaled(Duration::from_secs(10)),
            )
            .rate_limit(
                Endpoint::RecordInfo,
                POLL_LIMIT,
                scaled(Duration::from_secs(1)),
            )
            .file_size(4096)
            .credits(1e9)
            .start(),
    )
}

/// The fake's log and tasks read into an [`Outcome`]. `origin` relates the log's
/// `Instant`s to the tasks' epoch milliseconds (one pair of readings taken before the run).
fn outcome(
    fake: &FakeKie,
    origin: (Instant, SystemTime),
    model: &Model,
    jobs: usize,
    client: Client,
    process_wall: Duration,
) -> Result<Outcome, String> {
    let log = fake.log();
    let task_ids = log.created_task_ids();
    // Shards that do not divide the account's limits may leave jobs for another run: their
    // figures are over the tasks they created.
    if task_ids.len() != jobs && client != Client::Shards {
        return Err(format!(
            "expected {jobs} tasks created, the fake saw {}",
            task_ids.len()
        ));
    }
    let mut generation = Vec::with_capacity(task_ids.len());
    let mut completed_at_ms = BTreeMap::new();
    for id in &task_ids {
        let task = fake
            .task(id)
            .ok_or_else(|| format!("the fake lost task {id}"))?;
        let complete = task
            .complete_time_ms
            .ok_or_else(|| format!("task {id} never completed"))?;
        generation.push(Duration::from_millis(
            u64::try_from(complete - task.create_time_ms).unwrap_or(0),
        ));
        completed_at_ms.insert(id.clone(), complete);
    }
    let ideal = ideal_wall_time(
        &generation,
        TASK_SLOTS,
        CREATE_LIMIT as usize,
        scaled(Duration::from_secs(10)),
    );
    // The batch as the service sees it: from the first createTask to the last file fetched.
    // A process's start and its reports at the end take the same milliseconds on any clock;
    // on this one, 100 times faster, they would weigh 100 times what they do live (2-3% of
    // a 10-job batch). `process_wall` keeps them, for the record.
    let first_create = log
        .requests_to(Endpoint::CreateTask)
        .first()
        .map(|request| request.received_at);
    let last_file = log
        .requests()
        .iter()
        .filter(|request| request.server == Server::Files)
        .map(|request| request.received_at)
        .max();
    let wall = match (first_create, last_file) {
        (Some(first), Some(last)) => last.saturating_duration_since(first),
        _ => return Err("no createTask or no file request in the fake's log".into()),
    };
    let mut polls_per_task: BTreeMap<&str, usize> =
        task_ids.iter().map(|id| (id.as_str(), 0)).collect();
    for request in log.requests_to(Endpoint::RecordInfo) {
        if let Some(count) = request
            .query_parameter("taskId")
            .and_then(|id| polls_per_task.get_mut(id))
        {
            *count += 1;
        }
    }
    let mut polls: Vec<usize> = polls_per_task.values().copied().collect();
    let (instant_origin, epoch_origin) = origin;
    let epoch_ms_of = |at: Instant| -> i64 {
        let epoch = epoch_origin + at.saturating_duration_since(instant_origin);
        epoch
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    };
    let mut first_download_ms: BTreeMap<String, i64> = BTreeMap::new();
    for request in log.requests() {
        if request.server != Server::Files {
            continue;
        }
        let Some(task) = request
            .path
            .strip_prefix("/r/")
            .and_then(|rest| rest.split('/').next())
        else {
            continue;
        };
        first_download_ms
            .entry(task.to_owned())
            .or_insert_with(|| epoch_ms_of(request.received_at));
    }
    let mut delays_ms: Vec<i64> = completed_at_ms
        .iter()
        .filter_map(|(id, done)| first_download_ms.get(id).map(|started| started - done))
        .collect();
    if delays_ms.len() != task_ids.len() {
        return Err(format!(
            "{} of {} tasks were downloaded",
            delays_ms.len(),
            task_ids.len()
        ));
    }
    let rate_limited_by_endpoint = log
        .requests()
        .iter()
        .filter(|request| request.status == 429)
        .fold(BTreeMap::new(), |mut counts, request| {
            let name = request
                .endpoint
                .map_or_else(|| "other".to_owned(), |e| format!("{e:?}"));
            *counts.entry(name).or_insert(0) += 1;
            counts
        });
    let polls_mean = polls.iter().sum::<usize>() as f64 / polls.len().max(1) as f64;
    Ok(Outcome {
        model: model.label,
        jobs,
        created: task_ids.len(),
        exit_codes: Vec::new(),
        client,
        wall,
        process_wall,
        ideal,
        rate_limited: log.rate_limited(),
        rate_limited_by_endpoint,
        polls_median: median(&mut polls).unwrap_or(0),
        polls_mean,
        delay_median: Duration::from_millis(
            u64::try_from(median(&mut delays_ms).unwrap_or(0)).unwrap_or(0),
        ),
        generation_median: median(&mut generation).unwrap_or_default(),
        most_at_once: log.max_in_flight(),
    })
}

fn origin() -> (Instant, SystemTime) {
    (Instant::now(), SystemTime::now())
}

/// A sora-batch run of `manifest` into `out` with the cache in `cache`.
fn sora_batch_run(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    (model, jobs, client): (&Model, usize, Client),
    manifest: &Path,
    out: &Path,
    cache: &Path,
) -> Result<Outcome, String> {
    let fake = fake_for(runtime, model);
    let origin = origin();
    let measured = run_batch(binary, manifest, out, &fake, &["-q"], cache)?;
    outcome(&fake, origin, model, jobs, client, measured.wall)
}

/// The user's loop polling every `poll_every` (live) over the jobs of `manifest`.
fn user_loop_run(
    runtime: &tokio::runtime::Runtime,
    model: &Model,
    jobs: usize,
    client: Client,
    manifest: &Path,
    poll_every: Duration,
) -> Result<Outcome, String> {
    let loaded = sora_batch_engine::load(manifest)
        .map_err(|errors| format!("{}: {errors}", manifest.display()))?;
    let user_jobs: Vec<UserJob> = loaded
        .manifest
        .jobs
        .into_iter()
        .map(|job| UserJob {
            model: job.model,
            input: job.input,
        })
        .collect();
    let fake = fake_for(runtime, model);
    let origin = origin();
    let wall = run_user_loop(
        &fake.base_url(),
        user_jobs,
        LoopTiming {
            threads: jobs.min(TASK_SLOTS),
            poll_every: scaled(poll_every),
            rate_limited_wait: scaled(Duration::from_secs(10)),
        },
    )?;
    outcome(&fake, origin, model, jobs, client, wall)
}

/// `SHARDS` sora-batch processes, `--shard K/N` of the 1,000-job manifest, at once on one
/// fake (one account); the wall time is from the first start to the last exit.
fn shards_run(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    model: &Model,
    manifest: &Path,
    work: &Path,
) -> Result<Outcome, String> {
    let jobs = 1000;
    let fake = fake_for(runtime, model);
    let origin = origin();
    let started = Instant::now();
    let mut children = Vec::new();
    for shard in 1..=SHARDS {
        let out = work.join(format!("shard-{shard}"));
        children.push(
            Command::new(binary)
                .arg("run")
                .arg(manifest)
                .arg("--out")
                .arg(&out)
                .arg("--shard")
                .arg(format!("{shard}/{SHARDS}"))
                .arg("-q")
                .env("KIE_BASE_URL", fake.base_url())
                .env("KIE_API_KEY", "bench-key-for-the-fake")
                .env("SORA_BATCH_CACHE_DIR", work.join("shards-cache"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| format!("could not run the binary: {e}"))?,
        );
    }
    // A shard that leaves work for another run (exit 5) is what is measured, not a failure
    // of the bench: its figures say why.
    let mut exit_codes = Vec::new();
    for child in children {
        let output = child
            .wait_with_output()
            .map_err(|e| format!("a shard: {e}"))?;
        let code = output.status.code();
        if !matches!(code, Some(0 | 5)) {
            return Err(format!(
                "a shard exited {code:?}:\n{}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        exit_codes.push(code);
    }
    let mut measured = outcome(
        &fake,
        origin,
        model,
        jobs,
        Client::Shards,
        started.elapsed(),
    )?;
    measured.exit_codes = exit_codes;
    Ok(measured)
}

pub(super) fn schedule(
    runtime: &tokio::runtime::Runtime,
    binary: &Path,
    work: &Path,
) -> Result<Vec<Row>, String> {
    let started = Instant::now();
    eprintln!("{COMPARISON_HEADER}");
    let mut outcomes = Outcomes {
        all: Vec::new(),
        started,
    };
    for (model_index, model) in MODELS.iter().enumerate() {
        for jobs in SIZES {
            eprintln!(
                "==> schedule: {}, {jobs} jobs, live limits on a {TIME_SCALE}x faster clock",
                model.label
            );
            let folder = |name: &str| work.join(format!("schedule-{model_index}-{jobs}-{name}"));
            let cache: PathBuf = folder("cache");
            let cold = folder("cold.yaml");
            let warm = folder("warm.yaml");
            manifest(&cold, model, jobs, "cold", 1)?;
            manifest(&warm, model, jobs, "warm", 1)?;
            for (client, manifest_path) in [(Client::Cold, &cold), (Client::Warm, &warm)] {
                let out = folder(if client == Client::Cold {
                    "cold"
                } else {
                    "warm"
                });
                outcomes.push(sora_batch_run(
                    runtime,
                    binary,
                    (model, jobs, client),
                    manifest_path,
                    &out,
                    &cache,
                )?);
            }
            for (client, every) in [(Client::EveryFive, 5), (Client::EveryThirty, 30)] {
                outcomes.push(user_loop_run(
                    runtime,
                    model,
                    jobs,
                    client,
                    &cold,
                    Duration::from_secs(every),
                )?);
            }
        }
    }
    eprintln!(
        "==> schedule: {SHARDS} shards of 1,000 {} jobs at once",
        MODELS[0].label
    );
    let shards_manifest = work.join("schedule-shards.yaml");
    manifest(&shards_manifest, &MODELS[0], 1000, "shards", SHARDS)?;
    outcomes.push(shards_run(
        runtime,
        binary,
        &MODELS[0],
        &shards_manifest,
        work,
    )?);
    eprintln!("==> schedule took {:.0} s", started.elapsed().as_secs_f64());
    print_comparison(&outcomes.all);
    Ok(target_rows(&outcomes.all))
}

/// The outcomes so far; each is shown on stderr as it comes, so that a long bench shows its
/// progress and a failure late in it loses nothing measured before.
struct Outcomes {
    all: Vec<Outcome>,
    started: Instant,
}

impl Outcomes {
    fn push(&mut self, outcome: Outcome) {
        eprintln!(
            "{}   [{:.0} s]",
            comparison_line(&outcome),
            self.started.elapsed().as_secs_f64()
        );
        self.all.push(outcome);
    }
}

const COMPARISON_HEADER: &str = "| model | jobs | client | wall / ideal | 429s | recordInfo per job, median (mean) | detection delay, median |\n|---|---:|---|---:|---:|---|---|";

/// The side-by-side table, on stdout before the results table.
fn print_comparison(outcomes: &[Outcome]) {
    println!("{COMPARISON_HEADER}");
    for outcome in outcomes {
        println!("{}", comparison_line(outcome));
    }
    println!();
}

/// One line of the side-by-side table.
fn comparison_line(outcome: &Outcome) -> String {
    let jobs = if outcome.created == outcome.jobs {
        outcome.jobs.to_string()
    } else {
        format!("{} ({} created)", outcome.jobs, outcome.created)
    };
    let client = if outcome.exit_codes.is_empty() {
        outcome.client.label().to_owned()
    } else {
        let codes: Vec<String> = outcome
            .exit_codes
            .iter()
            .map(|code| code.map_or_else(|| "killed".to_owned(), |c| c.to_string()))
            .collect();
        format!("{} (exits {})", outcome.client.label(), codes.join(", "))
    };
    format!(
        "| {} | {jobs} | {client} | {:.3} ({:.2} s / {:.2} s; process {:.2} s) | {} | {} ({:.1}) | {:.1}% ({} ms of {} ms) |",
        outcome.model,
        outcome.ratio(),
        outcome.wall.as_secs_f64(),
        outcome.ideal.as_secs_f64(),
        outcome.process_wall.as_secs_f64(),
        if outcome.rate_limited == 0 {
            "0".to_owned()
        } else {
            format!(
                "{} {:?}",
                outcome.rate_limited, outcome.rate_limited_by_endpoint
            )
        },
        outcome.polls_median,
        outcome.polls_mean,
        outcome.delay_share() * 100.0,
        outcome.delay_median.as_millis(),
        outcome.generation_median.as_millis(),
    )
}

/// The targets, one row each, for the results table.
fn target_rows(outcomes: &[Outcome]) -> Vec<Row> {
    let mut rows = Vec::new();
    for outcome in outcomes.iter().filter(|o| o.client.is_sora_batch()) {
        let name = format!(
            "{}, {} jobs, {}",
            outcome.model,
            outcome.jobs,
            outcome.client.label()
        );
        let wall_target = if outcome.jobs >= 1000 { 1.03 } else { 1.05 };
        rows.push(Row {
            scenario: "1 schedule",
            measure: format!("{name}: wall time / ideal"),
            figure: format!(
                "{:.3} ({:.2} s / {:.2} s)",
                outcome.ratio(),
                outcome.wall.as_secs_f64(),
                outcome.ideal.as_secs_f64()
            ),
            target: format!("<= {wall_target}"),
            pass: outcome.ratio() <= wall_target,
        });
        rows.push(Row {
            scenario: "1 schedule",
            measure: format!("{name}: 429s received"),
            figure: if outcome.rate_limited == 0 {
                "0".into()
            } else {
                format!(
                    "{} {:?}",
                    outcome.rate_limited, outcome.rate_limited_by_endpoint
                )
            },
            target: "0".into(),
            pass: outcome.rate_limited == 0,
        });
        let polls_target = if outcome.client == Client::Warm { 5 } else { 8 };
        rows.push(Row {
            scenario: "1 schedule",
            measure: format!("{name}: recordInfo calls per job, median (mean)"),
            figure: format!("{} ({:.1})", outcome.polls_median, outcome.polls_mean),
            target: format!("<= {polls_target}"),
            pass: outcome.polls_median <= polls_target,
        });
        rows.push(Row {
            scenario: "1 schedule",
            measure: format!("{name}: detection delay, median, share of median generation"),
            figure: format!(
                "{:.1}% ({} ms of {} ms)",
                outcome.delay_share() * 100.0,
                outcome.delay_median.as_millis(),
                outcome.generation_median.as_millis()
            ),
            target: "<= 5%".into(),
            pass: outcome.delay_share() <= 0.05,
        });
        rows.push(Row {
            scenario: "1 schedule",
            measure: format!("{name}: tasks running at once on the service (most)"),
            figure: outcome.most_at_once.to_string(),
            target: format!("<= {TASK_SLOTS}"),
            pass: outcome.most_at_once <= TASK_SLOTS,
        });
        rows.extend(against_the_loops(outcome, outcomes));
    }
    rows
}

/// Whether `ours` is ahead of both user loops of its model and size: on recordInfo per job
/// (a lower median, or the same median and a lower mean) at every size, and on wall / ideal
/// at 1,000 jobs.
fn against_the_loops(ours: &Outcome, outcomes: &[Outcome]) -> Vec<Row> {
    if ours.client == Client::Shards {
        return Vec::new();
    }
    let loops: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| {
            o.model == ours.model
                && o.jobs == ours.jobs
                && matches!(o.client, Client::EveryFive | Client::EveryThirty)
        })
        .collect();
    let name = format!(
        "{}, {} jobs, {}",
        ours.model,
        ours.jobs,
        ours.client.label()
    );
    let fewer_polls = loops.iter().all(|other| {
        ours.polls_median < other.polls_median
            || (ours.polls_median == other.polls_median && ours.polls_mean < other.polls_mean)
    });
    let polls_of_loops: Vec<String> = loops
        .iter()
        .map(|other| format!("{} ({:.1})", other.polls_median, other.polls_mean))
        .collect();
    let mut rows = vec![Row {
        scenario: "1 schedule",
        measure: format!("{name}: recordInfo per job against the 5 s and 30 s loops"),
        figure: format!(
            "{} ({:.1}) vs {}",
            ours.polls_median,
            ours.polls_mean,
            polls_of_loops.join(", ")
        ),
        target: "fewer than both".into(),
        pass: fewer_polls,
    }];
    if ours.jobs >= 1000 {
        let ratios: Vec<String> = loops.iter().map(|o| format!("{:.3}", o.ratio())).collect();
        rows.push(Row {
            scenario: "1 schedule",
            measure: format!("{name}: wall / ideal against the 5 s and 30 s loops"),
            figure: format!("{:.3} vs {}", ours.ratio(), ratios.join(", ")),
            target: "below both".into(),
            pass: loops.iter().all(|other| ours.ratio() < other.ratio()),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_ideal_client_is_bound_by_slots_when_tasks_are_long() {
        // 2 slots, no effective rate limit: jobs of 10 s run two at a time.
        let wall = ideal_wall_time(&[secs(10); 4], 2, 100, secs(1));
        assert_eq!(wall, secs(20));
    }

    #[test]
    fn the_ideal_client_is_bound_by_the_rate_limit_when_tasks_are_short() {
        // 2 per 10 s, plenty of slots: submissions at 0, 0, 10, 10, 20; the last is done at 21.
        let wall = ideal_wall_time(&[secs(1); 5], 100, 2, secs(10));
        assert_eq!(wall, secs(21));
    }

    #[test]
    fn a_freed_slot_is_taken_at_once_by_the_next_job() {
        // One slot: 3 s, then 1 s, then 2 s, back to back.
        let wall = ideal_wall_time(&[secs(3), secs(1), secs(2)], 1, 100, secs(1));
        assert_eq!(wall, secs(6));
    }
}
