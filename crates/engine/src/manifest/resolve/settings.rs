//! The manifest's top-level settings: its `name`, `takes`, the `run:` section (concurrency,
//! timeouts, rate limits, polling and retry delays), `prices:` and `vars:`.
//!
//! Read [`Resolver::resolve_run`]. Each setting the manifest gets wrong is reported and
//! replaced by its default, so the rest of the manifest is still checked. Models are not
//! here: they are checked against the registry in [`super::input`].

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use serde_saphyr::Spanned;

use super::Resolver;
use crate::diagnostic::{quoted, shown};
use crate::manifest::identity;
use crate::manifest::raw::{RawLimit, RawManifest};
use crate::manifest::shape::position;
use crate::manifest::{MAX_TAKES, RateLimit, RunSettings};
use crate::prices::{PriceTable, is_price_key};

impl<'a> Resolver<'a> {
    pub(super) fn resolve_name(&mut self, raw: &RawManifest, path: &Path) -> String {
        if let Some(name) = &raw.name {
            // An id's rules (it names the batch folder), in lowercase only.
            let valid = identity::check_explicit_id(&name.value).is_ok()
                && !name.value.bytes().any(|b| b.is_ascii_uppercase());
            if !valid {
                let diagnostic = self
                    .error(position(&name.referenced), format!("invalid name {}", quoted(&name.value)))
                    .expected("lowercase letters, digits, `.`, `_` and `-`, not starting with `.`, without `..`");
                self.push(diagnostic);
            }
            return name.value.clone();
        }
        let stem = path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default();
        let slug = identity::slug(&stem, 12);
        if slug.is_empty() {
            "batch".to_owned()
        } else {
            slug
        }
    }

    /// The takes a manifest asks for, when from 1 to [`MAX_TAKES`]; else the problem is
    /// reported and 1 stands in, so that the rest is checked without a large expansion.
    pub(super) fn check_takes(&mut self, takes: &Spanned<u32>) -> u32 {
        if let Some(valid) = valid_takes(takes.value) {
            return valid;
        }
        let mut diagnostic = self
            .error(
                position(&takes.referenced),
                format!("`takes` is {}", takes.value),
            )
            .expected(format!("a whole number from 1 to {MAX_TAKES}"));
        if takes.value > MAX_TAKES {
            diagnostic = diagnostic.note(
                "takes are repeated videos of one request, each paid for; for more videos, vary the request with a matrix",
            );
        }
        self.push(diagnostic);
        1
    }

    pub(super) fn resolve_run(&mut self, raw: &RawManifest) -> RunSettings {
        let mut run = RunSettings::default();
        let Some(section) = &raw.run else {
            return run;
        };
        if let Some(concurrency) = &section.concurrency {
            if concurrency.value == 0 {
                let diagnostic = self
                    .error(position(&concurrency.referenced), "`concurrency` is 0")
                    .expected("at least 1");
                self.push(diagnostic);
            }
            run.concurrency = concurrency.value.max(1);
            run.set_by_manifest.concurrency = true;
        }
        if let Some(timeout) = &section.timeout
            && let Some(duration) = self.duration(timeout, "timeout")
        {
            run.timeout = duration;
        }
        if let Some(max_credits) = &section.max_credits {
            if max_credits.value.is_finite() && max_credits.value >= 0.0 {
                run.max_credits = Some(crate::job::Credits(max_credits.value));
            } else {
                let diagnostic = self
                    .error(position(&max_credits.referenced), "invalid `max_credits`")
                    .expected("a number of credits, 0 or more");
                self.push(diagnostic);
            }
        }
        if let Some(callback) = &section.callback_url {
            let valid = url::Url::parse(&callback.value)
                .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
            if valid {
                run.callback_url = Some(callback.value.clone());
            } else {
                let diagnostic = self
                    .error(
                        position(&callback.referenced),
                        format!("invalid `callback_url`: {}", shown(&callback.value)),
                    )
                    .expected("an http or https URL, e.g. https://example.com/hook");
                self.push(diagnostic);
            }
        }
        if let Some(limit) = &section.create_limit {
            run.create_limit = self.rate_limit(limit, run.create_limit);
            run.set_by_manifest.create_requests = limit.requests.is_some();
        }
        if let Some(limit) = &section.poll_limit {
            run.poll_limit = self.rate_limit(limit, run.poll_limit);
            run.set_by_manifest.poll_requests = limit.requests.is_some();
        }
        if let Some(poll) = &section.poll {
            let durations = [
                (&poll.first_after, "first_after", &mut run.poll.first_poll),
                (
                    &poll.min_interval,
                    "min_interval",
                    &mut run.poll.min_interval,
                ),
                (
                    &poll.max_interval,
                    "max_interval",
                    &mut run.poll.max_interval,
                ),
            ];
            self.set_durations(durations);
            if let Some(text) = &poll.typical_generation {
                run.poll.typical_generation = self.duration(text, "typical_generation");
            }
            // Only reachable when one of the two was set, since the defaults are in order.
            let set_by_manifest = poll.max_interval.as_ref().or(poll.min_interval.as_ref());
            if run.poll.min_interval > run.poll.max_interval
                && let Some(text) = set_by_manifest
            {
                let diagnostic = self
                    .error(
                        position(&text.referenced),
                        "`run.poll.min_interval` is longer than `max_interval`",
                    )
                    .expected("min_interval <= max_interval");
                self.push(diagnostic);
            }
        }
        if let Some(retry) = &section.retry {
            let durations = [
                (&retry.base_delay, "base_delay", &mut run.retry.base_delay),
                (&retry.max_delay, "max_delay", &mut run.retry.max_delay),
                (
                    &retry.rate_limit_window,
                    "rate_limit_window",
                    &mut run.retry.rate_limit_window,
                ),
                (
                    &retry.maintenance_delay,
                    "maintenance_delay",
                    &mut run.retry.maintenance_delay,
                ),
            ];
            self.set_durations(durations);
        }
        if let Some(retention) = &section.upload_retention
            && let Some(duration) = self.duration(retention, "upload_retention")
        {
            run.upload_retention = duration;
        }
        for folder in section.files_from.iter().flatten() {
            if folder.value.trim().is_empty() {
                let diagnostic = self
                    .error(position(&folder.referenced), "empty folder in `files_from`")
                    .expected("a folder relative to the manifest, e.g. `../shared-refs`");
                self.push(diagnostic);
            } else {
                run.files_from
                    .push(std::path::PathBuf::from(folder.value.trim()));
            }
        }
        run
    }

    /// Sets each target whose key the manifest gives to the duration it reads as.
    fn set_durations<'raw, 'target>(
        &mut self,
        durations: impl IntoIterator<
            Item = (
                &'raw Option<Spanned<String>>,
                &'static str,
                &'target mut Duration,
            ),
        >,
    ) {
        for (raw, key, target) in durations {
            if let Some(text) = raw
                && let Some(duration) = self.duration(text, key)
            {
                *target = duration;
            }
        }
    }

    fn duration(&mut self, text: &Spanned<String>, key: &str) -> Option<Duration> {
        match humantime::parse_duration(text.value.trim()) {
            Ok(duration) if !duration.is_zero() => Some(duration),
            _ => {
                let diagnostic = self
                    .error(
                        position(&text.referenced),
                        format!("invalid duration for `{key}`: {}", quoted(&text.value)),
                    )
                    .expected("a duration above zero such as `40m`, `90s` or `1h 30m`");
                self.push(diagnostic);
                None
            }
        }
    }

    fn rate_limit(&mut self, raw: &RawLimit, default: RateLimit) -> RateLimit {
        let mut limit = default;
        if let Some(requests) = &raw.requests {
            if requests.value == 0 {
                let diagnostic = self
                    .error(position(&requests.referenced), "`requests` is 0")
                    .expected("at least 1");
                self.push(diagnostic);
            } else {
                limit.requests = requests.value;
            }
        }
        if let Some(per) = &raw.per
            && let Some(duration) = self.duration(per, "per")
        {
            limit.per = duration;
        }
        limit
    }

    pub(super) fn resolve_prices(&mut self, raw: &RawManifest) -> PriceTable {
        let mut table = PriceTable::from_book(self.book);
        let Some(prices) = &raw.prices else {
            return table;
        };
        for (model, by_key) in &prices.entries {
            for (key, credits) in &by_key.entries {
                if !is_price_key(&key.value) {
                    let diagnostic = self
                        .error(position(&key.referenced), format!("invalid price key {}", quoted(&key.value)))
                        .expected("a duration in seconds such as \"10\", a duration and a size such as \"15-high\", or \"*\"");
                    self.push(diagnostic);
                } else if !(credits.value.is_finite() && credits.value >= 0.0) {
                    let diagnostic = self
                        .error(position(&credits.referenced), "invalid price")
                        .expected("a number of credits, 0 or more");
                    self.push(diagnostic);
                } else {
                    table.set(&model.value, &key.value, crate::job::Credits(credits.value));
                }
            }
        }
        table
    }

    /// `vars` as text, in order; non-scalar values are reported.
    pub(super) fn resolve_vars(&mut self, raw: &'a RawManifest) -> Vec<(&'a str, Cow<'a, str>)> {
        let mut vars = Vec::new();
        let Some(section) = &raw.vars else {
            return vars;
        };
        for (name, value) in &section.entries {
            match value.value.scalar_text() {
                Some(text) => vars.push((name.value.as_str(), text)),
                None => {
                    let diagnostic = self
                        .error(
                            position(&value.referenced),
                            format!(
                                "variable {} is {}",
                                quoted(&name.value),
                                value.value.kind_name()
                            ),
                        )
                        .expected("a string, a number or a boolean");
                    self.push(diagnostic);
                }
            }
        }
        vars
    }
}

/// `takes` as the jobs it makes when it is valid (from 1 to [`MAX_TAKES`]).
pub(super) fn valid_takes(takes: u32) -> Option<u32> {
    (1..=MAX_TAKES).contains(&takes).then_some(takes)
}
