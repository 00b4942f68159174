//! Faults the fake answers instead of (or on top of) the normal answer, and its rate limits.
//!
//! Read [`Fault`] first: one kind of misbehaviour of the live service. Tests queue them per
//! [`Endpoint`] with [`crate::FakeKie::inject`]; [`FaultBook`] keeps those queues and the
//! seeded random faults of [`crate::FakeKieBuilder::random_faults`]. [`RateLimiter`] is the
//! per-endpoint request budget of [`crate::FakeKieBuilder::rate_limit`], plus the budget the
//! catalogue calls share ([`crate::FakeKieBuilder::catalogue_rate_limit`]).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::answer::FakeAnswer;
use crate::catalogue::CATALOGUE_RATE_LIMITED_MSG;

/// The routes of the fake, the unit of fault injection and rate limiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `POST /api/v1/jobs/createTask`
    CreateTask,
    /// `GET /api/v1/jobs/recordInfo?taskId=`
    RecordInfo,
    /// `GET /api/v1/chat/credit`
    Credit,
    /// `POST /api/v1/common/download-url`
    DownloadUrl,
    /// `GET` of a result file on the file host.
    Files,
    /// `GET /api/v1/models[?taskType=&provider=&q=]`: the model catalogue.
    ListModels,
    /// `GET /api/v1/models/{model}/schema`: a model's OpenAPI document.
    ModelSchema,
    /// `GET /api/v1/models/{model}/price`: a model's price, in prose.
    ModelPrice,
}

impl Endpoint {
    /// Every endpoint, in a fixed order (used to seed one random generator per endpoint:
    /// new endpoints go at the end, so that the faults of the others stay what they were).
    pub const ALL: [Endpoint; 8] = [
        Endpoint::CreateTask,
        Endpoint::RecordInfo,
        Endpoint::Credit,
        Endpoint::DownloadUrl,
        Endpoint::Files,
        Endpoint::ListModels,
        Endpoint::ModelSchema,
        Endpoint::ModelPrice,
    ];

    /// The catalogue calls, which share one rate limit on the live service.
    pub fn is_catalogue(self) -> bool {
        matches!(
            self,
            Endpoint::ListModels | Endpoint::ModelSchema | Endpoint::ModelPrice
        )
    }
}

/// How many requests an injected fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Times {
    /// The next request of the endpoint only.
    Once,
    /// The next `n` requests of the endpoint.
    Next(usize),
    /// Every request of the endpoint until [`crate::FakeKie::clear_faults`].
    Always,
}

/// One misbehaviour of the live service, as seen by a client.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// HTTP 200 with `{"code": code, "msg": msg, "data": null}`: how the live service reports
    /// most errors.
    Code { code: i64, msg: String },
    /// HTTP 429 with `{"code": 429, "msg": ...}` and no Retry-After header, as documented.
    RateLimited,
    /// HTTP 429 with a `Retry-After: secs` header.
    RetryAfter { secs: u64 },
    /// HTTP 200 `{"code": 500, "msg": "This field is required"}`: the live service's answer to
    /// an omitted input field, here on demand.
    FieldRequired,
    /// A body that is not JSON, as text/html (e.g. a 502 proxy page).
    NonJson { status: u16, body: String },
    /// The normal answer, delivered after `delay`. Its side effects happen: a slow createTask
    /// still creates (and charges) the task, whether or not the client waits for the answer.
    Slow { delay: Duration },
    /// HTTP 403 text/plain `error code: 1010`, Cloudflare's answer to a missing User-Agent.
    Cloudflare1010,
    /// HTTP `status` with exactly this JSON body: an answer of a shape the service does not
    /// document, e.g. `{"code": 200, "data": {"modelz": []}}`.
    Json {
        status: u16,
        body: serde_json::Value,
    },
}

impl Fault {
    /// A [`Fault::Code`] with a message.
    pub fn code(code: i64, msg: impl Into<String>) -> Fault {
        Fault::Code {
            code,
            msg: msg.into(),
        }
    }

    /// 401: a bad or missing key.
    pub fn unauthorized() -> Fault {
        Fault::code(401, UNAUTHORIZED_MSG)
    }

    /// 402: the account has too few credits.
    pub fn insufficient_credits() -> Fault {
        Fault::code(402, INSUFFICIENT_CREDITS_MSG)
    }

    /// 433: the key's usage cap is reached.
    pub fn usage_cap() -> Fault {
        Fault::code(
            433,
            "The usage limit of this API key has been reached. Please adjust it in the console.",
        )
    }

    /// 455: the service is under maintenance.
    pub fn maintenance() -> Fault {
        Fault::code(455, "Service maintenance, please try again later.")
    }

    /// 505: the model (feature) is disabled.
    pub fn model_disabled() -> Fault {
        Fault::code(505, MODEL_DISABLED_MSG)
    }

    /// 501: the generation failed.
    pub fn generation_failed() -> Fault {
        Fault::code(501, "Generation failed.")
    }

    /// 500: a server error.
    pub fn server_error() -> Fault {
        Fault::code(500, "Server error")
    }

    /// 400: invalid request parameters.
    pub fn bad_request(msg: impl Into<String>) -> Fault {
        Fault::code(400, msg)
    }

    /// 422: parameter validation failed.
    pub fn validation(msg: impl Into<String>) -> Fault {
        Fault::code(422, msg)
    }

    /// 429 inside HTTP 200: how the catalogue calls refuse a request over their shared limit
    /// of 1 per second.
    pub fn catalogue_rate_limited() -> Fault {
        Fault::code(429, CATALOGUE_RATE_LIMITED_MSG)
    }

    /// A 502 with an HTML page, like a proxy between the client and the service.
    pub fn bad_gateway_html() -> Fault {
        Fault::NonJson {
            status: 502,
            body: BAD_GATEWAY_HTML.to_owned(),
        }
    }

    /// The answer of this fault, or `None` for [`Fault::Slow`], which only delays the normal one.
    pub(crate) fn answer(&self) -> Option<FakeAnswer> {
        match self {
            Fault::Code { code, msg } => Some(FakeAnswer::envelope_error(*code, msg.clone())),
            Fault::RateLimited => Some(FakeAnswer::rate_limited()),
            Fault::RetryAfter { secs } => Some(
                FakeAnswer::json(
                    429,
                    json!({"code": 429, "msg": "Too many requests, please retry later.", "data": null}),
                )
                .with_header("retry-after", secs.to_string()),
            ),
            Fault::FieldRequired => Some(FakeAnswer::envelope_error(500, FIELD_REQUIRED_MSG)),
            Fault::NonJson { status, body } => Some(FakeAnswer::text(
                *status,
                "text/html; charset=utf-8",
                body.clone(),
            )),
            Fault::Slow { .. } => None,
            Fault::Cloudflare1010 => Some(FakeAnswer::cloudflare_1010()),
            Fault::Json { status, body } => Some(FakeAnswer::json(*status, body.clone())),
        }
    }
}

pub(crate) const UNAUTHORIZED_MSG: &str =
    "Unauthorized – Authentication failed. Please check your API key.";
pub(crate) const INSUFFICIENT_CREDITS_MSG: &str =
    "The current credits are insufficient. Please top up.";
pub(crate) const FIELD_REQUIRED_MSG: &str = "This field is required";
pub(crate) const MODEL_DISABLED_MSG: &str = "This feature (model) is currently disabled.";
const BAD_GATEWAY_HTML: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const FILES_UNAVAILABLE_HTML: &str = "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service Temporarily Unavailable</h1></center></body></html>";

/// A queued injected fault and how many more requests it applies to (`None`: always).
#[derive(Clone, Debug)]
struct InjectedFault {
    fault: Fault,
    remaining: Option<usize>,
}

/// Seeded transient faults: one generator per endpoint, so that the faults of one endpoint
/// depend only on the seed and on how many requests that endpoint received, not on how the
/// client interleaved its calls to the other endpoints.
#[derive(Debug)]
struct RandomFaults {
    rate: f64,
    generator_per_endpoint: HashMap<Endpoint, fastrand::Rng>,
}

impl RandomFaults {
    fn new(rate: f64, seed: u64) -> Self {
        let generator_per_endpoint = Endpoint::ALL
            .iter()
            .enumerate()
            .map(|(position, endpoint)| {
                let endpoint_seed =
                    seed ^ (position as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (*endpoint, fastrand::Rng::with_seed(endpoint_seed))
            })
            .collect();
        RandomFaults {
            rate,
            generator_per_endpoint,
        }
    }

    fn draw(&mut self, endpoint: Endpoint) -> Option<Fault> {
        let generator = self.generator_per_endpoint.get_mut(&endpoint)?;
        if generator.f64() >= self.rate {
            return None;
        }
        if endpoint == Endpoint::Files {
            return Some(Fault::NonJson {
                status: 503,
                body: FILES_UNAVAILABLE_HTML.to_owned(),
            });
        }
        // Only faults that leave no trace in the service: none of these creates a task.
        Some(match generator.usize(0..4) {
            0 => Fault::server_error(),
            1 => Fault::code(455, "Service maintenance"),
            2 => Fault::bad_gateway_html(),
            // The catalogue's rate limit answers inside HTTP 200, the others with HTTP 429.
            _ if endpoint.is_catalogue() => Fault::catalogue_rate_limited(),
            _ => Fault::RateLimited,
        })
    }
}

/// The injected fault queues (first in, first out, per endpoint) and the random faults.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    injected: HashMap<Endpoint, VecDeque<InjectedFault>>,
    random: Option<RandomFaults>,
}

impl FaultBook {
    pub(crate) fn with_random_faults(rate: f64, seed: u64) -> Self {
        FaultBook {
            injected: HashMap::new(),
            random: Some(RandomFaults::new(rate, seed)),
        }
    }

    pub(crate) fn inject(&mut self, endpoint: Endpoint, fault: Fault, times: Times) {
        let remaining = match times {
            Times::Once => Some(1),
            Times::Next(count) => Some(count),
            Times::Always => None,
        };
        self.injected
            .entry(endpoint)
            .or_default()
            .push_back(InjectedFault { fault, remaining });
    }

    /// Forgets the injected faults; random faults go on.
    pub(crate) fn clear_injected(&mut self) {
        self.injected.clear();
    }

    /// The fault for the next request of `endpoint`, if any: an injected one first, else
    /// possibly a random one.
    pub(crate) fn next_fault(&mut self, endpoint: Endpoint) -> Option<Fault> {
        if let Some(queue) = self.injected.get_mut(&endpoint) {
            while let Some(front) = queue.front_mut() {
                match &mut front.remaining {
                    None => return Some(front.fault.clone()),
                    Some(0) => {
                        queue.pop_front();
                    }
                    Some(remaining) => {
                        *remaining -= 1;
                        let fault = front.fault.clone();
                        if *remaining == 0 {
                            queue.pop_front();
                        }
                        return Some(fault);
                    }
                }
            }
        }
        self.random
            .as_mut()
            .and_then(|random| random.draw(endpoint))
    }
}

/// A sliding-window request budget per endpoint, and one the catalogue endpoints share.
/// Requests refused with 429 do not use up the budget: they had no effect.
#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    limits: HashMap<Endpoint, SlidingWindow>,
    /// Counts the requests of every [`Endpoint::is_catalogue`] endpoint together.
    catalogue: Option<SlidingWindow>,
}

#[derive(Debug)]
struct SlidingWindow {
    max_requests: u32,
    window: Duration,
    accepted_at: VecDeque<Instant>,
}

impl SlidingWindow {
    fn new(max_requests: u32, window: Duration) -> Self {
        SlidingWindow {
            max_requests,
            window,
            accepted_at: VecDeque::new(),
        }
    }

    /// Whether one more request fits at `now`, once requests a whole window old are gone.
    fn has_room(&mut self, now: Instant) -> bool {
        while let Some(oldest) = self.accepted_at.front() {
            if now.saturating_duration_since(*oldest) >= self.window {
                self.accepted_at.pop_front();
            } else {
                break;
            }
        }
        self.accepted_at.len() < self.max_requests as usize
    }
}

impl RateLimiter {
    pub(crate) fn set_limit(&mut self, endpoint: Endpoint, max_requests: u32, window: Duration) {
        self.limits
            .insert(endpoint, SlidingWindow::new(max_requests, window));
    }

    /// The budget of the catalogue endpoints together, on top of any of their own.
    pub(crate) fn set_catalogue_limit(&mut self, max_requests: u32, window: Duration) {
        self.catalogue = Some(SlidingWindow::new(max_requests, window));
    }

    /// Whether a request of `endpoint` arriving at `now` is within the budget (and counts it,
    /// in every budget it belongs to, only if it is within all of them).
    pub(crate) fn admit(&mut self, endpoint: Endpoint, now: Instant) -> bool {
        let own = self.limits.get_mut(&endpoint);
        let shared = self.catalogue.as_mut().filter(|_| endpoint.is_catalogue());
        let mut budgets: Vec<&mut SlidingWindow> = own.into_iter().chain(shared).collect();
        if !budgets.iter_mut().all(|budget| budget.has_room(now)) {
            return false;
        }
        for budget in budgets {
            budget.accepted_at.push_back(now);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn injected_faults_are_consumed_first_in_first_out() {
        let mut book = FaultBook::default();
        book.inject(Endpoint::CreateTask, Fault::maintenance(), Times::Next(2));
        book.inject(Endpoint::CreateTask, Fault::RateLimited, Times::Once);
        book.inject(Endpoint::CreateTask, Fault::server_error(), Times::Next(0));
        assert_eq!(
            book.next_fault(Endpoint::CreateTask),
            Some(Fault::maintenance())
        );
        assert_eq!(book.next_fault(Endpoint::RecordInfo), None);
        assert_eq!(
            book.next_fault(Endpoint::CreateTask),
            Some(Fault::maintenance())
        );
        assert_eq!(
            book.next_fault(Endpoint::CreateTask),
            Some(Fault::RateLimited)
        );
        assert_eq!(book.next_fault(Endpoint::CreateTask), None);
    }

    #[test]
    fn always_faults_stay_until_cleared() {
        let mut book = FaultBook::default();
        book.inject(Endpoint::Credit, Fault::usage_cap(), Times::Always);
        for _ in 0..5 {
            assert_eq!(book.next_fault(Endpoint::Credit), Some(Fault::usage_cap()));
        }
        book.clear_injected();
        assert_eq!(book.next_fault(Endpoint::Credit), None);
    }

    #[test]
    fn sliding_window_refuses_the_excess_and_recovers_after_the_window() {
        let mut limiter = RateLimiter::default();
        limiter.set_limit(Endpoint::CreateTask, 2, Duration::from_secs(10));
        let start = Instant::now();
        assert!(limiter.admit(Endpoint::CreateTask, start));
        assert!(limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(1)));
        assert!(!limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(2)));
        assert!(limiter.admit(Endpoint::RecordInfo, start));
        assert!(limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(10)));
        assert!(!limiter.admit(Endpoint::CreateTask, start + Duration::from_secs(10)));
    }

    #[test]
    fn the_catalogue_endpoints_share_one_budget() {
        let mut limiter = RateLimiter::default();
        limiter.set_catalogue_limit(1, Duration::from_secs(1));
        let start = Instant::now();
        assert!(limiter.admit(Endpoint::ModelSchema, start));
        assert!(!limiter.admit(Endpoint::ModelPrice, start + Duration::from_millis(500)));
        assert!(!limiter.admit(Endpoint::ListModels, start + Duration::from_millis(999)));
        assert!(
            limiter.admit(Endpoint::CreateTask, start),
            "not a catalogue call"
        );
        assert!(limiter.admit(Endpoint::ModelPrice, start + Duration::from_secs(1)));
        // A refused request used no budget: the next window starts at the last accepted one.
        assert!(!limiter.admit(Endpoint::ListModels, start + Duration::from_millis(1999)));
        assert!(limiter.admit(Endpoint::ListModels, start + Duration::from_secs(2)));
    }
}
