//! A fake of Kie.ai's jobs API on wiremock, strict like the live service, faults included.
//!
//! Read [`FakeKie`] first: three local servers (the API host, a second host for result
//! files, as the live service's results live on other hosts, and the upload host of
//! `uploads.rs`, which takes the API key like the live one), set up with
//! [`FakeKieBuilder`], steered while running ([`FakeKie::inject`], [`FakeKie::set_credits`],
//! [`FakeKie::expire_result_urls`], the catalogue's [`FakeKie::edit_model_openapi`] and
//! [`FakeKie::set_model_price`]) and inspected through [`RequestLog`] and [`TaskView`].
//!
//! The fake behaves like the live service as described in `kie-api-notes.md`: most errors in
//! HTTP 200 with an envelope `code`, Cloudflare's 403 `error code: 1010` without a User-Agent,
//! no defaults filled in for omitted Sora 2 input fields, `param` and `resultJson` as JSON
//! strings (with the newer `response`, `successFlag` and `recordId` beside them), `failCode`
//! sometimes a string and sometimes an integer, rate limits that drop the request, and result
//! URLs that expire. It also serves the model catalogue (`/api/v1/models`, a model's `schema`
//! and `price`) from `fixtures/api/catalogue/`, under the shared limit of 1 request per second
//! that the live catalogue enforces (see `catalogue.rs`). createTask holds each model's input
//! to its schema (`schemas.rs`: a missing or defaulted-but-absent field is code 500 "This
//! field is required", a bad value 422) and charges each task by its model's price rule
//! (`pricing.rs`), both from the built-in snapshot of `crates/api/models/`.
//!
//! [`junit_schema`] is test support of another kind: it checks the JUnit files sora-batch
//! writes against Jenkins' schema.
//!
//! Deliberately not here: callbacks (`callBackUrl` is recorded, never called), prices read
//! from the catalogue's prose, the catalogue's `success-rate` call, and any network beyond
//! loopback.
//!
//! With the `tls` feature, two more fakes for tests of what stands between a client and the
//! service: `TlsFront`, HTTPS with a certificate made on the spot in front of the fake, and
//! `RefusingProxy`, a proxy that answers 403 or 407 (`tls.rs`, `proxy.rs`).
//!
//! ```no_run
//! # async fn example() {
//! use sora_batch_testkit::{FakeKie, Schedule};
//! let fake = FakeKie::builder()
//!     .schedule(Schedule::Polls { waiting: 1, queuing: 1, generating: 2 })
//!     .fail_prompts_containing("forbidden", "400", "Content moderation")
//!     .start()
//!     .await;
//! let api_base_url = fake.base_url(); // the client appends /api/v1/...
//! # }
//! ```

mod answer;
mod catalogue;
mod faults;
mod files;
pub mod junit_schema;
mod log;
mod pricing;
#[cfg(feature = "tls")]
mod proxy;
mod schedule;
mod schemas;
mod service;
mod tasks;
#[cfg(feature = "tls")]
mod tls;
mod uploads;

use std::collections::{BTreeSet, HashMap};
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub use crate::faults::{Endpoint, Fault, Times};
pub use crate::log::{LoggedRequest, RequestLog, Server};
pub use crate::pricing::{Charge, INPUT_MEDIUM_SECONDS, MODEL_CHOSEN_SECONDS};
#[cfg(feature = "tls")]
pub use crate::proxy::RefusingProxy;
pub use crate::schedule::Schedule;
pub use crate::tasks::{MAX_PROMPT_CHARS, TaskView};
#[cfg(feature = "tls")]
pub use crate::tls::{CertificateFlaw, TestCertificate, TlsFront};
pub use crate::uploads::{DEFAULT_UPLOAD_RETENTION, STREAM_UPLOAD_PATH, UploadRequest};

use crate::catalogue::{Catalogue, CatalogueModel};
use crate::faults::{FaultBook, RateLimiter};
use crate::files::ModelOutput;
use crate::pricing::Pricing;
use crate::schedule::TimelineSampler;
use crate::service::{FailRule, ServiceConfig, ServiceState};
use crate::uploads::UploadHost;

/// The price of a successful task of a model without a price rule (the Sora 2 family, models
/// the fake does not know) unless [`FakeKieBuilder::price_per_task`] says otherwise: about
/// what a 10 s `sora-2-text-to-video` clip costs.
pub const DEFAULT_PRICE_PER_TASK: f64 = 30.0;
/// The account balance unless [`FakeKieBuilder::credits`] says otherwise.
pub const DEFAULT_CREDITS: f64 = 1_000_000.0;
/// The size of every result file unless [`FakeKieBuilder::file_size`] says otherwise.
pub const DEFAULT_FILE_SIZE: usize = 64 * 1024;
/// The catalogue calls' shared limit unless [`FakeKieBuilder::catalogue_rate_limit`] says
/// otherwise: the live service's 1 request per second per account.
pub const DEFAULT_CATALOGUE_RATE_LIMIT: (u32, Duration) = (1, Duration::from_secs(1));

/// A running fake Kie.ai: the API server and the file server. Dropping it stops both.
pub struct FakeKie {
    api_server: MockServer,
    files_server: MockServer,
    upload_server: MockServer,
    state: Arc<Mutex<ServiceState>>,
    uploads: Arc<Mutex<UploadHost>>,
}

impl std::fmt::Debug for FakeKie {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FakeKie")
            .field("base_url", &self.base_url())
            .field("files_base_url", &self.files_base_url())
            .finish_non_exhaustive()
    }
}

impl FakeKie {
    pub fn builder() -> FakeKieBuilder {
        FakeKieBuilder::default()
    }

    /// A fake with every default: `FakeKie::builder().start().await`.
    pub async fn start() -> FakeKie {
        FakeKie::builder().start().await
    }

    /// The API host, e.g. `http://127.0.0.1:PORT` (the client appends `/api/v1/...`).
    pub fn base_url(&self) -> String {
        self.api_server.uri()
    }

    /// The file host of result URLs (a second server, on another port).
    pub fn files_base_url(&self) -> String {
        self.files_server.uri()
    }

    /// The upload host (a third server), for `KIE_UPLOAD_URL`.
    pub fn upload_base_url(&self) -> String {
        self.upload_server.uri()
    }

    /// Every request the upload host received, in order.
    pub fn uploads(&self) -> Vec<UploadRequest> {
        lock_state(&self.uploads).log()
    }

    /// Forgets every uploaded file, as the live host does after its retention.
    pub fn forget_uploads(&self) {
        lock_state(&self.uploads).forget_all();
    }

    /// Whether `url` is an upload URL this fake handed out and still serves.
    pub fn serves_upload(&self, url: &str) -> bool {
        lock_state(&self.uploads).serves(url, std::time::Instant::now())
    }

    fn lock(&self) -> MutexGuard<'_, ServiceState> {
        lock_state(&self.state)
    }

    /// A snapshot of everything received so far.
    pub fn log(&self) -> RequestLog {
        self.lock().log_snapshot()
    }

    /// Answers the next requests of `endpoint` with `fault`. Faults of one endpoint are used
    /// first in, first out; injected faults take precedence over random ones.
    pub fn inject(&self, endpoint: Endpoint, fault: Fault, times: Times) {
        self.lock().inject(endpoint, fault, times);
    }

    /// Forgets every injected fault (random faults go on).
    pub fn clear_faults(&self) {
        self.lock().clear_faults();
    }

    /// Sets the account balance. A createTask needs at least the price of a task.
    pub fn set_credits(&self, credits: f64) {
        self.lock().set_credits(credits);
    }

    /// The account balance now (tasks are charged at creation and refunded when they fail).
    pub fn credits(&self) -> f64 {
        self.lock().credits()
    }

    /// What all tasks together have cost the account: every task's charge, failed ones
    /// refunded, whether or not recordInfo reports it ([`Charge::Unreported`]).
    pub fn charged_credits(&self) -> f64 {
        self.lock().charged_credits()
    }

    /// Makes every result URL handed out so far answer 403, like an expired signed URL.
    /// download-url then hands out fresh ones.
    pub fn expire_result_urls(&self) {
        self.lock().expire_result_urls();
    }

    /// The bytes of result file `index` (0-based) of a task: deterministic per task and index.
    pub fn expected_file_bytes(&self, task_id: &str, index: usize) -> Vec<u8> {
        self.lock().result_file_bytes(task_id, index)
    }

    /// A copy of a task as the fake sees it now.
    pub fn task(&self, task_id: &str) -> Option<TaskView> {
        self.lock().task_view(task_id)
    }

    /// Every taskId, in creation order.
    pub fn task_ids(&self) -> Vec<String> {
        self.lock().task_ids()
    }

    /// How many tasks are in flight (created, not yet terminal) now.
    pub fn in_flight(&self) -> usize {
        self.lock().in_flight()
    }

    /// Changes the OpenAPI document the catalogue serves for `model` (its schema answer),
    /// as the live catalogue changes under a lock: `edit` gets the document to change in
    /// place (`Value::Null` is "not yet synced"). Panics when the catalogue has no such
    /// model: the test is wrong, not the client.
    pub fn edit_model_openapi(&self, model: &str, edit: impl FnOnce(&mut Value)) {
        let mut state = self.lock();
        match state.catalogue_mut().model_mut(model) {
            Some(known) => edit(&mut known.openapi),
            None => panic!("the fake's catalogue has no model {model}"),
        }
    }

    /// Changes the price text the catalogue gives for `model`, in its price answer and its
    /// entry of the list. Panics when the catalogue has no such model.
    pub fn set_model_price(&self, model: &str, pricing_desc: &str) {
        let mut state = self.lock();
        match state.catalogue_mut().model_mut(model) {
            Some(known) => {
                known.pricing_desc = Value::from(pricing_desc);
                if let Some(summary) = known.summary.as_object_mut() {
                    summary.insert("pricingDesc".into(), Value::from(pricing_desc));
                }
            }
            None => panic!("the fake's catalogue has no model {model}"),
        }
    }

    /// Removes `model` from the catalogue: its schema and price calls answer code 404, and
    /// the list no longer shows it. Panics when the catalogue has no such model.
    pub fn remove_model(&self, model: &str) {
        if !self.lock().catalogue_mut().remove(model) {
            panic!("the fake's catalogue has no model {model}");
        }
    }
}

/// A poisoned lock only means a test panicked while holding it; the state is still usable.
pub(crate) fn lock_state<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Settings of a [`FakeKie`]; every setter takes and returns the builder.
#[derive(Debug)]
pub struct FakeKieBuilder {
    schedule: Schedule,
    fail_rules: Vec<FailRule>,
    price_per_task: f64,
    charges: HashMap<String, Charge>,
    credits: f64,
    rate_limits: Vec<(Endpoint, u32, Duration)>,
    random_faults: Option<(f64, u64)>,
    unknown_state: Option<(String, u32)>,
    file_size: usize,
    file_content: Option<Arc<Vec<u8>>>,
    result_urls_per_task: usize,
    model_outputs: HashMap<String, ModelOutput>,
    api_key: Option<String>,
    disabled_models: BTreeSet<String>,
    catalogue: Catalogue,
    catalogue_rate_limit: (u32, Duration),
    upload_retention: Duration,
    listeners: Option<(TcpListener, TcpListener)>,
}

impl Default for FakeKieBuilder {
    fn default() -> Self {
        FakeKieBuilder {
            schedule: Schedule::default(),
            fail_rules: Vec::new(),
            price_per_task: DEFAULT_PRICE_PER_TASK,
            charges: HashMap::new(),
            credits: DEFAULT_CREDITS,
            rate_limits: Vec::new(),
            random_faults: None,
            unknown_state: None,
            file_size: DEFAULT_FILE_SIZE,
            file_content: None,
            result_urls_per_task: 1,
            model_outputs: HashMap::new(),
            api_key: None,
            disabled_models: BTreeSet::new(),
            catalogue: Catalogue::from_fixtures(),
            catalogue_rate_limit: DEFAULT_CATALOGUE_RATE_LIMIT,
            upload_retention: DEFAULT_UPLOAD_RETENTION,
            listeners: None,
        }
    }
}

impl FakeKieBuilder {
    /// When tasks change state; default `Schedule::Polls { waiting: 1, queuing: 0, generating: 1 }`.
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Tasks whose `input.prompt` contains `needle` end in `fail` with this code and message
    /// (e.g. moderation), with `creditsConsumed` 0. The first matching rule wins. When
    /// `fail_code` is numeric, every other failing task reports it as an integer, as the live
    /// service sometimes does.
    pub fn fail_prompts_containing(
        mut self,
        needle: &str,
        fail_code: &str,
        fail_msg: &str,
    ) -> Self {
        self.fail_rules.push(FailRule {
            needle: needle.to_owned(),
            fail_code: fail_code.to_owned(),
            fail_msg: fail_msg.to_owned(),
        });
        self
    }

    /// The credits a task of a model without a price rule costs (the Sora 2 family, models
    /// the fake does not know, inputs no tier of a rule prices), taken at creation and kept
    /// on success; default 30. Models of the built-in snapshot cost what their rule says of
    /// the input as sent (see `pricing.rs`).
    pub fn price_per_task(mut self, credits: f64) -> Self {
        self.price_per_task = credits;
        self
    }

    /// Tasks of `model` cost `charge` instead of what its price rule says: a price that
    /// changed since the client's estimate, or a charge recordInfo never reports.
    pub fn charge(mut self, model: &str, charge: Charge) -> Self {
        self.charges.insert(model.to_owned(), charge);
        self
    }

    /// The initial account balance; default 1,000,000.
    pub fn credits(mut self, initial: f64) -> Self {
        self.credits = initial;
        self
    }

    /// At most `max` requests of `endpoint` per sliding `window`; the excess is answered 429
    /// and has no effect (no task is created, nothing is queued).
    pub fn rate_limit(mut self, endpoint: Endpoint, max: u32, window: Duration) -> Self {
        self.rate_limits.push((endpoint, max, window));
        self
    }

    /// With probability `rate` per request, a transient fault instead of the answer: on the
    /// API, code 500 "Server error" or 455 in HTTP 200, a 502 HTML page, or a 429; on the file
    /// host, a 503. None of them creates a task. Each endpoint draws from its own generator
    /// seeded from `seed`, so the faults of an endpoint are the same on every run.
    pub fn random_faults(mut self, rate: f64, seed: u64) -> Self {
        self.random_faults = Some((rate, seed));
        self
    }

    /// Each task first reports the undocumented state `name` for `polls` polls after
    /// `waiting`, then goes on. Under a time-based schedule those polls are skipped if the
    /// task's time runs out first.
    pub fn unknown_state(mut self, name: &str, polls: u32) -> Self {
        self.unknown_state = Some((name.to_owned(), polls));
        self
    }

    /// The size of every result file; default 64 KiB.
    pub fn file_size(mut self, bytes: usize) -> Self {
        self.file_size = bytes;
        self
    }

    /// Serve exactly these bytes as every result file, e.g. a real video that a browser can
    /// play; `file_size` is then ignored.
    pub fn file_content(mut self, bytes: Vec<u8>) -> Self {
        self.file_content = Some(Arc::new(bytes));
        self
    }

    /// How many result URLs a successful task has; default 1.
    pub fn result_urls_per_task(mut self, count: usize) -> Self {
        self.result_urls_per_task = count;
        self
    }

    /// A successful task of `model` has one result URL per file, serving these bytes (an
    /// image, a sound), in this order, with a generic Content-Type and a URL that ends in
    /// `.mp4` whatever they are: a client tells what a file is from its bytes.
    pub fn model_result_files(mut self, model: &str, files: Vec<Vec<u8>>) -> Self {
        let files = files.into_iter().map(Arc::new).collect();
        self.model_outputs
            .insert(model.to_owned(), ModelOutput::Files(files));
        self
    }

    /// A successful task of `model` has this text result (`resultObject`) and no result
    /// URL, like Kie's text models.
    pub fn model_text_result(mut self, model: &str, result: Value) -> Self {
        self.model_outputs
            .insert(model.to_owned(), ModelOutput::Text(result));
        self
    }

    /// Accept only this bearer key (any other: HTTP 200 with code 401). Without it, any
    /// non-empty bearer is accepted. A missing Authorization header is always a 401.
    pub fn api_key(mut self, key: &str) -> Self {
        self.api_key = Some(key.to_owned());
        self
    }

    /// createTask for `model` answers code 505 (feature disabled) and creates nothing.
    pub fn disable_model(mut self, model: &str) -> Self {
        self.disabled_models.insert(model.to_owned());
        self
    }

    /// Adds a model to the catalogue, or replaces the fixture model of the same id.
    /// `summary` is its entry in the list (`{"model", "slug", "title", "provider",
    /// "taskType": [..], "description", "pricingDesc"}`, its `model` the id), `openapi` its
    /// OpenAPI document (`Value::Null`: not yet synced) and `pricing_desc` its price answer.
    /// Nothing is checked: a test may serve any shape it needs. When the document has a
    /// createTask schema, createTask holds the model's input to it (before the snapshot's).
    pub fn catalogue_model(mut self, summary: Value, openapi: Value, pricing_desc: &str) -> Self {
        let id = summary
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        self.catalogue.insert(CatalogueModel {
            id,
            summary,
            openapi,
            pricing_desc: Value::from(pricing_desc),
            given_by_test: true,
        });
        self
    }

    /// At most `max` catalogue requests (list, schema and price together) per sliding
    /// `window`; the excess is answered with code 429 in HTTP 200, like the live service.
    /// Default [`DEFAULT_CATALOGUE_RATE_LIMIT`], the live limit; tests shorten the window to
    /// stay quick.
    pub fn catalogue_rate_limit(mut self, max: u32, window: Duration) -> Self {
        self.catalogue_rate_limit = (max, window);
        self
    }

    /// How long the upload host serves a file after its upload; default
    /// [`DEFAULT_UPLOAD_RETENTION`]. [`FakeKie::forget_uploads`] forgets them at once.
    pub fn upload_retention(mut self, retention: Duration) -> Self {
        self.upload_retention = retention;
        self
    }

    /// Serve on these listeners (for a standalone server on fixed ports) instead of random
    /// ports.
    pub fn listen(mut self, api: TcpListener, files: TcpListener) -> Self {
        self.listeners = Some((api, files));
        self
    }

    pub async fn start(self) -> FakeKie {
        let (api_builder, files_builder) = match self.listeners {
            Some((api, files)) => (
                MockServer::builder().listener(api),
                MockServer::builder().listener(files),
            ),
            None => (MockServer::builder(), MockServer::builder()),
        };
        // We keep our own log; wiremock's would grow without bound in long benchmarks.
        let files_server = files_builder.disable_request_recording().start().await;
        let api_server = api_builder.disable_request_recording().start().await;
        let upload_server = MockServer::builder()
            .disable_request_recording()
            .start()
            .await;
        let uploads = Arc::new(Mutex::new(UploadHost::new(
            upload_server.uri(),
            self.api_key.clone(),
            self.upload_retention,
        )));

        let (unknown_state_name, unknown_polls) = self.unknown_state.unwrap_or_default();
        let mut rate_limiter = RateLimiter::default();
        for (endpoint, max, window) in self.rate_limits {
            rate_limiter.set_limit(endpoint, max, window);
        }
        let (catalogue_max, catalogue_window) = self.catalogue_rate_limit;
        rate_limiter.set_catalogue_limit(catalogue_max, catalogue_window);
        let faults = match self.random_faults {
            Some((rate, seed)) => FaultBook::with_random_faults(rate, seed),
            None => FaultBook::default(),
        };
        let config = ServiceConfig {
            fail_rules: self.fail_rules,
            pricing: Pricing::new(self.price_per_task, self.charges),
            unknown_state_name,
            file_size: self.file_size,
            file_content: self.file_content,
            result_urls_per_task: self.result_urls_per_task,
            model_outputs: self.model_outputs,
            api_key: self.api_key,
            disabled_models: self.disabled_models,
            catalogue: self.catalogue,
            uploads: Arc::clone(&uploads),
        };
        let state = Arc::new(Mutex::new(ServiceState::new(
            config,
            TimelineSampler::new(self.schedule, unknown_polls),
            faults,
            rate_limiter,
            self.credits,
            files_server.uri(),
        )));

        Mock::given(any())
            .respond_with(ApiResponder {
                state: Arc::clone(&state),
            })
            .mount(&api_server)
            .await;
        Mock::given(any())
            .respond_with(FilesResponder {
                state: Arc::clone(&state),
            })
            .mount(&files_server)
            .await;
        Mock::given(any())
            .respond_with(UploadResponder {
                uploads: Arc::clone(&uploads),
            })
            .mount(&upload_server)
            .await;
        debug_assert_eq!(lock_state(&state).files_base_url(), files_server.uri());

        FakeKie {
            api_server,
            files_server,
            upload_server,
            state,
            uploads,
        }
    }
}

/// Answers every request of the API server.
struct ApiResponder {
    state: Arc<Mutex<ServiceState>>,
}

impl Respond for ApiResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        // The guard is dropped before wiremock waits out any delay: never held across await.
        let answer = lock_state(&self.state).handle_api_request(request);
        answer.into_response_template()
    }
}

/// Answers every request of the upload server.
struct UploadResponder {
    uploads: Arc<Mutex<UploadHost>>,
}

impl Respond for UploadResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answer = lock_state(&self.uploads).handle(request);
        answer.into_response_template()
    }
}

/// Answers every request of the file server.
struct FilesResponder {
    state: Arc<Mutex<ServiceState>>,
}

impl Respond for FilesResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let answer = lock_state(&self.state).handle_files_request(request);
        answer.into_response_template()
    }
}
