//! The fake service's state and request handling, independent of wiremock's plumbing.
//!
//! Read [`ServiceState`] first: everything both servers share behind one mutex (tasks, account,
//! faults, rate limits, result URLs, the request log), and its two entry points,
//! [`ServiceState::handle_api_request`] and [`ServiceState::handle_files_request`]. The order of
//! checks on the API host follows the live service: Cloudflare's User-Agent check, then the rate
//! limit, then faults, then authentication, then the endpoint itself. The catalogue endpoints
//! are answered by [`crate::catalogue::Catalogue`].

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use wiremock::Request;

use crate::answer::FakeAnswer;
use crate::catalogue::{CATALOGUE_RATE_LIMITED_MSG, Catalogue};
use crate::faults::{
    Endpoint, Fault, FaultBook, INSUFFICIENT_CREDITS_MSG, RateLimiter, UNAUTHORIZED_MSG,
};
use crate::files::{
    ModelOutput, ResultFile, ResultKind, ResultUrls, TokenCheck, expected_file_bytes, mix64,
};
use crate::log::{LoggedRequest, RequestLog, Server};
use crate::pricing::Pricing;
use crate::schedule::{Phase, TimelineSampler};
use crate::schemas::InputSchemas;
use crate::tasks::{
    Completion, FakeTask, PlannedOutcome, TaskView, credits_json, validate_create_task,
};

/// A rule making tasks whose prompt contains `needle` end in `fail`.
#[derive(Clone, Debug)]
pub(crate) struct FailRule {
    pub(crate) needle: String,
    pub(crate) fail_code: String,
    pub(crate) fail_msg: String,
}

/// The builder's settings, which do not change while the fake runs but for the catalogue
/// (a test may change what it says of a model, see [`ServiceState::catalogue_mut`]).
#[derive(Clone, Debug)]
pub(crate) struct ServiceConfig {
    pub(crate) fail_rules: Vec<FailRule>,
    pub(crate) pricing: Pricing,
    pub(crate) unknown_state_name: String,
    pub(crate) file_size: usize,
    /// When set, every result file is these bytes (a real video, for a browser to play).
    pub(crate) file_content: Option<std::sync::Arc<Vec<u8>>>,
    pub(crate) result_urls_per_task: usize,
    /// What tasks of these models return instead of the default result files.
    pub(crate) model_outputs: HashMap<String, ModelOutput>,
    pub(crate) api_key: Option<String>,
    pub(crate) disabled_models: BTreeSet<String>,
    pub(crate) catalogue: Catalogue,
    /// The upload host: the files a task's input may name.
    pub(crate) uploads: std::sync::Arc<std::sync::Mutex<crate::uploads::UploadHost>>,
}

/// Everything the two servers share.
#[derive(Debug)]
pub(crate) struct ServiceState {
    config: ServiceConfig,
    sampler: TimelineSampler,
    faults: FaultBook,
    rate_limiter: RateLimiter,
    result_urls: ResultUrls,
    credits: f64,
    tasks: Vec<FakeTask>,
    task_position_by_id: HashMap<String, usize>,
    /// Positions of tasks not known to be terminal yet, pruned by `settle`.
    in_flight: Vec<usize>,
    log: RequestLog,
    schemas: InputSchemas,
}

/// The parts of a wiremock request the fake uses, copied once.
struct ReceivedRequest {
    method: String,
    path: String,
    query: Option<String>,
    /// The query's parameters, percent-decoded.
    query_pairs: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    received_at: Instant,
}

impl ReceivedRequest {
    fn from_wiremock(request: &Request) -> Self {
        ReceivedRequest {
            method: request.method.as_str().to_owned(),
            path: request.url.path().to_owned(),
            query: request.url.query().map(str::to_owned),
            query_pairs: request
                .url
                .query_pairs()
                .map(|(key, value)| (key.into_owned(), value.into_owned()))
                .collect(),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: request.body.clone(),
            received_at: Instant::now(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header_name, _)| header_name == name)
            .map(|(_, value)| value.as_str())
    }

    fn query_parameter(&self, name: &str) -> Option<String> {
        self.query.as_deref()?.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (key == name).then(|| value.to_owned())
        })
    }

    fn has_user_agent(&self) -> bool {
        self.header("user-agent")
            .is_some_and(|user_agent| !user_agent.trim().is_empty())
    }
}

fn api_route(method: &str, path: &str) -> Option<Endpoint> {
    match (method, path) {
        ("POST", "/api/v1/jobs/createTask") => Some(Endpoint::CreateTask),
        ("GET", "/api/v1/jobs/recordInfo") => Some(Endpoint::RecordInfo),
        ("GET", "/api/v1/chat/credit") => Some(Endpoint::Credit),
        ("POST", "/api/v1/common/download-url") => Some(Endpoint::DownloadUrl),
        ("GET", path) => crate::catalogue::route(path).map(|(endpoint, _)| endpoint),
        _ => None,
    }
}

fn epoch_ms(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_millis() as i64)
}

impl ServiceState {
    pub(crate) fn new(
        config: ServiceConfig,
        sampler: TimelineSampler,
        faults: FaultBook,
        rate_limiter: RateLimiter,
        initial_credits: f64,
        files_base_url: String,
    ) -> Self {
        ServiceState {
            config,
            sampler,
            faults,
            rate_limiter,
            result_urls: ResultUrls::new(files_base_url),
            credits: initial_credits,
            tasks: Vec::new(),
            task_position_by_id: HashMap::new(),
            in_flight: Vec::new(),
            log: RequestLog::default(),
            schemas: InputSchemas::default(),
        }
    }

    pub(crate) fn handle_api_request(&mut self, request: &Request) -> FakeAnswer {
        let received = ReceivedRequest::from_wiremock(request);
        self.settle(received.received_at);
        let endpoint = api_route(&received.method, &received.path);
        let mut created_task = None;
        let answer = match endpoint {
            // Cloudflare sits in front of every path, known or not.
            _ if !received.has_user_agent() => FakeAnswer::cloudflare_1010(),
            None => FakeAnswer::json(404, json!({"code": 404, "msg": "Not Found"})),
            Some(endpoint) => self.answer_api(endpoint, &received, &mut created_task),
        };
        self.record(Server::Api, endpoint, received, &answer, created_task);
        answer
    }

    fn answer_api(
        &mut self,
        endpoint: Endpoint,
        received: &ReceivedRequest,
        created_task: &mut Option<String>,
    ) -> FakeAnswer {
        if !self.rate_limiter.admit(endpoint, received.received_at) {
            // The catalogue's limit answers inside HTTP 200, like most of the service's errors.
            return if endpoint.is_catalogue() {
                FakeAnswer::envelope_error(429, CATALOGUE_RATE_LIMITED_MSG)
            } else {
                FakeAnswer::rate_limited()
            };
        }
        let mut delay = None;
        match self.faults.next_fault(endpoint) {
            Some(Fault::Slow { delay: slow }) => delay = Some(slow),
            Some(fault) => {
                if let Some(answer) = fault.answer() {
                    return answer;
                }
            }
            None => {}
        }
        if let Some(refusal) = self.check_authorization(received) {
            return refusal.with_delay(delay);
        }
        let now = received.received_at;
        let answer = match endpoint {
            Endpoint::CreateTask => self.create_task(&received.body, now, created_task),
            Endpoint::RecordInfo => self.record_info(received.query_parameter("taskId"), now),
            Endpoint::Credit => FakeAnswer::success(credits_json(self.credits)),
            Endpoint::DownloadUrl => self.download_url(&received.body),
            Endpoint::Files => FakeAnswer::json(404, json!({"code": 404, "msg": "Not Found"})),
            Endpoint::ListModels => self.config.catalogue.list(&received.query_pairs),
            Endpoint::ModelSchema | Endpoint::ModelPrice => {
                let model = crate::catalogue::route(&received.path).map_or("", |(_, model)| model);
                if endpoint == Endpoint::ModelSchema {
                    self.config.catalogue.schema(model)
                } else {
                    self.config.catalogue.price(model)
                }
            }
        };
        answer.with_delay(delay)
    }

    /// The live service answers a bad or missing key with HTTP 200 and code 401.
    fn check_authorization(&self, received: &ReceivedRequest) -> Option<FakeAnswer> {
        let bearer = received.header("authorization").and_then(|authorization| {
            let (scheme, token) = authorization.trim().split_once(' ')?;
            let token = token.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
        });
        let accepted = match (bearer, &self.config.api_key) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(token), Some(key)) => token == key,
        };
        (!accepted).then(|| FakeAnswer::envelope_error(401, UNAUTHORIZED_MSG))
    }

    /// A file URL in a field that takes files that the fake cannot fetch: one its upload host
    /// did not issue or has forgotten (and not one of its own result files). The live
    /// service fetches a task's files when it accepts it, and a file it cannot fetch is an
    /// error of the request.
    fn unfetchable_file(
        &mut self,
        model: &str,
        input: Option<&Map<String, Value>>,
    ) -> Option<FakeAnswer> {
        let input = input?;
        let schema = self.schemas.of(model, &self.config.catalogue)?;
        let files_base = format!("{}/", self.files_base_url());
        let uploads = crate::lock_state(&self.config.uploads);
        let now = std::time::Instant::now();
        schema
            .file_urls(input)
            .into_iter()
            .find(|(_, url)| !url.starts_with(&files_base) && !uploads.serves(url, now))
            .map(|(at, _)| {
                FakeAnswer::envelope_error(
                    422,
                    format!(
                        "input.{at}: the file cannot be fetched (not uploaded, or deleted after the retention)"
                    ),
                )
            })
    }

    fn create_task(
        &mut self,
        body: &[u8],
        now: Instant,
        created_task: &mut Option<String>,
    ) -> FakeAnswer {
        let accepted = match validate_create_task(
            body,
            &self.config.disabled_models,
            &mut self.schemas,
            &self.config.catalogue,
        ) {
            Ok(accepted) => accepted,
            Err(refusal) => return refusal,
        };
        let input = accepted.request.get("input").and_then(Value::as_object);
        if let Some(refusal) = self.unfetchable_file(&accepted.model, input) {
            return refusal;
        }
        let charge = self
            .config
            .pricing
            .charge_of(&accepted.model, input.unwrap_or(&Map::new()));
        let price = charge.credits;
        if self.credits < price {
            return FakeAnswer::envelope_error(402, INSUFFICIENT_CREDITS_MSG);
        }
        self.credits -= price;

        let sequence = self.tasks.len() as u64 + 1;
        let task_id = format!("{:016x}{:016x}", mix64(sequence), mix64(!sequence));
        let outcome = self.planned_outcome(accepted.prompt.as_deref(), sequence);
        let task = FakeTask {
            task_id: task_id.clone(),
            accepted,
            created_at: now,
            create_time_ms: epoch_ms(SystemTime::now()),
            timeline: self.sampler.timeline_for_next_task(),
            outcome,
            price,
            charge_reported: charge.reported,
            polls_answered: 0,
            unknown_polls_answered: 0,
            last_reported_state: None,
            completion: None,
        };
        let position = self.tasks.len();
        self.tasks.push(task);
        self.task_position_by_id.insert(task_id.clone(), position);
        self.in_flight.push(position);
        // `settle` ran at the start of this request, so `in_flight` holds exactly the tasks
        // not terminal at this instant, the new one included.
        self.log.max_in_flight = self.log.max_in_flight.max(self.in_flight.len());
        *created_task = Some(task_id.clone());
        // Newer answers carry a recordId beside the taskId; tasks are still polled by taskId.
        let record_id = format!(
            "{:016x}",
            mix64(sequence.wrapping_mul(31) ^ 0x7265_636f_7264)
        );
        FakeAnswer::success(json!({"taskId": task_id, "recordId": record_id}))
    }

    fn planned_outcome(&self, prompt: Option<&str>, sequence: u64) -> PlannedOutcome {
        let Some(prompt) = prompt else {
            return PlannedOutcome::Success;
        };
        match self
            .config
            .fail_rules
            .iter()
            .find(|rule| prompt.contains(&rule.needle))
        {
            None => PlannedOutcome::Success,
            Some(rule) => {
                // The live service sends failCode as a string or as an integer: alternate, so
                // a client that accepts only one of them fails a test.
                let fail_code = match rule.fail_code.parse::<i64>() {
                    Ok(numeric) if sequence.is_multiple_of(2) => json!(numeric),
                    _ => json!(rule.fail_code),
                };
                PlannedOutcome::Fail {
                    fail_code,
                    fail_msg: rule.fail_msg.clone(),
                }
            }
        }
    }

    fn record_info(&mut self, task_id: Option<String>, now: Instant) -> FakeAnswer {
        let Some(position) = task_id
            .as_deref()
            .and_then(|task_id| self.task_position_by_id.get(task_id).copied())
        else {
            return FakeAnswer::envelope_error(422, "recordInfo is null");
        };
        let Some(task) = self.tasks.get_mut(position) else {
            return FakeAnswer::envelope_error(422, "recordInfo is null");
        };
        let phase = if task.is_terminal() {
            Phase::Terminal
        } else {
            task.timeline.phase_for_poll(
                task.polls_answered,
                task.unknown_polls_answered,
                now.saturating_duration_since(task.created_at),
            )
        };
        task.polls_answered = task.polls_answered.saturating_add(1);
        if phase == Phase::Unknown {
            task.unknown_polls_answered += 1;
        }
        if phase == Phase::Terminal && !task.is_terminal() {
            self.complete(position, SystemTime::now());
        }
        let Some(task) = self.tasks.get_mut(position) else {
            return FakeAnswer::envelope_error(422, "recordInfo is null");
        };
        let state = task.state_name(phase, &self.config.unknown_state_name);
        task.last_reported_state = Some(state.clone());
        FakeAnswer::success(task.record_info_data(&state))
    }

    /// Makes a task terminal: result URLs for a success, a refund for a failure.
    fn complete(&mut self, position: usize, complete_time: SystemTime) {
        let Some(task) = self.tasks.get(position) else {
            return;
        };
        if task.is_terminal() {
            return;
        }
        let task_id = task.task_id.clone();
        let succeeded = task.outcome == PlannedOutcome::Success;
        let wants_watermark_urls = task.accepted.remove_watermark;
        let price = task.price;
        let output = self.config.model_outputs.get(&task.accepted.model);
        let text_result = match output {
            Some(ModelOutput::Text(result)) if succeeded => Some(result.clone()),
            _ => None,
        };
        let result_count = match output {
            Some(ModelOutput::Files(files)) => files.len(),
            Some(ModelOutput::Text(_)) => 0,
            None => self.config.result_urls_per_task,
        };
        let mut result_urls = Vec::new();
        let mut watermark_urls = Vec::new();
        if succeeded {
            for index in 0..result_count {
                result_urls.push(self.result_urls.issue(ResultFile {
                    kind: ResultKind::Plain,
                    task_id: task_id.clone(),
                    index,
                }));
                if wants_watermark_urls {
                    watermark_urls.push(self.result_urls.issue(ResultFile {
                        kind: ResultKind::Watermarked,
                        task_id: task_id.clone(),
                        index,
                    }));
                }
            }
        } else {
            self.credits += price;
        }
        if let Some(task) = self.tasks.get_mut(position) {
            task.completion = Some(Completion {
                complete_time_ms: epoch_ms(complete_time),
                result_urls,
                watermark_urls,
                text_result,
            });
        }
    }

    /// Completes the time-based tasks whose time is up, and forgets terminal tasks from the
    /// in-flight list. Called before anything reads tasks or credits.
    pub(crate) fn settle(&mut self, now: Instant) {
        let in_flight = std::mem::take(&mut self.in_flight);
        let mut still_in_flight = Vec::with_capacity(in_flight.len());
        for position in in_flight {
            let Some(task) = self.tasks.get(position) else {
                continue;
            };
            if task.is_terminal() {
                continue;
            }
            match task.timeline.terminal_after() {
                Some(total) if now.saturating_duration_since(task.created_at) >= total => {
                    // Completed at createTime + total, whenever we notice it.
                    let complete_time = UNIX_EPOCH
                        + Duration::from_millis(task.create_time_ms.max(0) as u64)
                        + total;
                    self.complete(position, complete_time);
                }
                _ => still_in_flight.push(position),
            }
        }
        self.in_flight = still_in_flight;
    }

    fn download_url(&mut self, body: &[u8]) -> FakeAnswer {
        let url = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|body| body.get("url").and_then(Value::as_str).map(str::to_owned));
        let Some(url) = url else {
            return FakeAnswer::envelope_error(422, "url is required");
        };
        let Some(file) = self.result_urls.file_of_url(&url) else {
            return FakeAnswer::envelope_error(422, "The url is not a result file of this account");
        };
        if !self.result_file_exists(&file) {
            return FakeAnswer::envelope_error(422, "The url is not a result file of this account");
        }
        FakeAnswer::success(json!(self.result_urls.issue(file)))
    }

    fn result_file_exists(&self, file: &ResultFile) -> bool {
        self.task_position_by_id
            .get(&file.task_id)
            .and_then(|position| self.tasks.get(*position))
            .is_some_and(|task| {
                task.is_terminal()
                    && task.outcome == PlannedOutcome::Success
                    && task
                        .completion
                        .as_ref()
                        .is_some_and(|completion| file.index < completion.result_urls.len())
                    && (file.kind == ResultKind::Plain || task.accepted.remove_watermark)
            })
    }

    pub(crate) fn handle_files_request(&mut self, request: &Request) -> FakeAnswer {
        let received = ReceivedRequest::from_wiremock(request);
        self.settle(received.received_at);
        let file = match received.method.as_str() {
            "GET" => ResultFile::from_path(&received.path),
            _ => None,
        };
        let endpoint = file.as_ref().map(|_| Endpoint::Files);
        let answer = match file {
            None => FakeAnswer::text(404, "text/plain", "Not Found"),
            Some(file) => self.answer_file(&file, &received),
        };
        self.record(Server::Files, endpoint, received, &answer, None);
        answer
    }

    fn answer_file(&mut self, file: &ResultFile, received: &ReceivedRequest) -> FakeAnswer {
        if !self
            .rate_limiter
            .admit(Endpoint::Files, received.received_at)
        {
            return FakeAnswer::text(429, "text/plain", "Too Many Requests");
        }
        let mut delay = None;
        match self.faults.next_fault(Endpoint::Files) {
            Some(Fault::Slow { delay: slow }) => delay = Some(slow),
            Some(fault) => {
                if let Some(answer) = fault.answer() {
                    return answer;
                }
            }
            None => {}
        }
        let token = received.query_parameter("token");
        let answer = match self.result_urls.check(file, token.as_deref()) {
            TokenCheck::Valid if self.result_file_exists(file) => FakeAnswer {
                status: 200,
                body: crate::answer::AnswerBody::Bytes {
                    content_type: self.result_content_type(&file.task_id),
                    bytes: self.result_file_bytes(&file.task_id, file.index),
                },
                headers: Vec::new(),
                delay: None,
            },
            TokenCheck::Valid => FakeAnswer::text(404, "text/plain", "Not Found"),
            // Like an expired or forged signed URL on an object store.
            TokenCheck::Expired => FakeAnswer::text(
                403,
                "application/xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
            ),
            TokenCheck::Unknown => FakeAnswer::text(
                403,
                "application/xml",
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>AccessDenied</Code><Message>Signature does not match</Message></Error>",
            ),
        };
        answer.with_delay(delay)
    }

    fn record(
        &mut self,
        server: Server,
        endpoint: Option<Endpoint>,
        received: ReceivedRequest,
        answer: &FakeAnswer,
        created_task: Option<String>,
    ) {
        self.log.requests.push(LoggedRequest {
            server,
            endpoint,
            method: received.method,
            path: received.path,
            query: received.query,
            query_pairs: received.query_pairs,
            headers: received.headers,
            body: received.body,
            received_at: received.received_at,
            status: answer.status,
            code: answer.envelope_code(),
            created_task,
        });
    }

    pub(crate) fn log_snapshot(&self) -> RequestLog {
        self.log.clone()
    }

    pub(crate) fn inject(&mut self, endpoint: Endpoint, fault: Fault, times: crate::Times) {
        self.faults.inject(endpoint, fault, times);
    }

    pub(crate) fn clear_faults(&mut self) {
        self.faults.clear_injected();
    }

    pub(crate) fn set_credits(&mut self, credits: f64) {
        self.settle(Instant::now());
        self.credits = credits;
    }

    pub(crate) fn credits(&mut self) -> f64 {
        self.settle(Instant::now());
        self.credits
    }

    pub(crate) fn expire_result_urls(&mut self) {
        self.settle(Instant::now());
        self.result_urls.expire_all();
    }

    /// The output set for the model of a task, if any.
    fn model_output_of_task(&self, task_id: &str) -> Option<&ModelOutput> {
        let position = self.task_position_by_id.get(task_id)?;
        let task = self.tasks.get(*position)?;
        self.config.model_outputs.get(&task.accepted.model)
    }

    /// The bytes of result file `index` of a task: the model's files when a test set them,
    /// else every task's.
    pub(crate) fn result_file_bytes(&self, task_id: &str, index: usize) -> Vec<u8> {
        if let Some(ModelOutput::Files(files)) = self.model_output_of_task(task_id) {
            return files
                .get(index)
                .map(|bytes| bytes.as_ref().clone())
                .unwrap_or_default();
        }
        match &self.config.file_content {
            Some(content) => content.as_ref().clone(),
            None => expected_file_bytes(task_id, index, self.config.file_size),
        }
    }

    /// The Content-Type of a task's result files. Object stores often send a generic one:
    /// a client must look at the bytes, as it does for a model's own files here.
    fn result_content_type(&self, task_id: &str) -> &'static str {
        match self.model_output_of_task(task_id) {
            Some(ModelOutput::Files(_)) => "application/octet-stream",
            _ => "video/mp4",
        }
    }

    /// What every task has cost the account so far: charges taken, refunds given back.
    pub(crate) fn charged_credits(&mut self) -> f64 {
        self.settle(Instant::now());
        self.tasks.iter().map(FakeTask::charged).sum()
    }

    /// The catalogue, to change while the fake runs.
    pub(crate) fn catalogue_mut(&mut self) -> &mut Catalogue {
        &mut self.config.catalogue
    }

    pub(crate) fn files_base_url(&self) -> &str {
        self.result_urls.files_base_url()
    }

    pub(crate) fn in_flight(&mut self) -> usize {
        self.settle(Instant::now());
        self.in_flight.len()
    }

    pub(crate) fn task_view(&mut self, task_id: &str) -> Option<TaskView> {
        let now = Instant::now();
        self.settle(now);
        let task = self.tasks.get(*self.task_position_by_id.get(task_id)?)?;
        let phase = if task.is_terminal() {
            Phase::Terminal
        } else {
            match task.timeline.terminal_after() {
                // A poll-based task is where its last poll left it.
                None => match task.polls_answered {
                    0 => Phase::Waiting,
                    polls => task.timeline.phase_for_poll(
                        polls - 1,
                        task.unknown_polls_answered.saturating_sub(1),
                        Duration::ZERO,
                    ),
                },
                Some(_) => task.timeline.phase_for_poll(
                    0,
                    u32::MAX,
                    now.saturating_duration_since(task.created_at),
                ),
            }
        };
        let state = task.state_name(phase, &self.config.unknown_state_name);
        Some(task.view(state))
    }

    pub(crate) fn task_ids(&self) -> Vec<String> {
        self.tasks.iter().map(|task| task.task_id.clone()).collect()
    }
}
