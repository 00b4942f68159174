//! The third pass: from [`RawManifest`] to [`Manifest`], collecting every problem.
//!
//! Read [`resolve`]. Order of work: top-level settings, variables, the matrix checked and
//! expanded, every job's input assembled (`defaults`, then the top-level `prompt`, then the
//! matrix combination or the job's own fields), its prompt filled in, checked against the
//! model registry and completed; then keys and ids. Problems found for many jobs at one
//! place of the manifest (a bad default under 10,000 combinations) are reported once.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};
use sora_batch_api::registry::{self, InputProblemKind, ModelSpec, SORA_2_MODELS, closest_name};

use super::expand::{self, Axis, Combination};
use super::identity::{self, JobId, JobKey, check_explicit_id};
use super::raw::{JOB_KEYS, RawLimit, RawManifest, RawValue};
use super::shape::{START_OF_FILE, position};
use super::template::{self, Lookup, TemplateProblemKind};
use super::{Job, MAX_JOBS, Manifest, RateLimit, RunSettings};
use crate::diagnostic::{Diagnostic, Position, SourceText};
use crate::prices::{PriceTable, is_price_key};

/// One input field of a job in the making: its name, where its key is (when written as a
/// key), and its value.
type Field<'a> = (&'a str, Option<&'a Location>, &'a Spanned<RawValue>);

/// The model a manifest uses when it names none.
const DEFAULT_MODEL: &str = "sora-2-text-to-video";

/// A job before keys and ids: enough to report on it and name it.
struct Draft {
    model: String,
    input: Map<String, Value>,
    take: u32,
    /// The explicit id and where it is written.
    explicit_id: Option<(String, Position)>,
    /// The derived id's base, for jobs without an explicit id.
    derived_base: String,
    /// Where to point at for problems of the whole job.
    anchor: Position,
}

struct Resolver<'a> {
    source: &'a SourceText,
    diagnostics: Vec<Diagnostic>,
    /// (position, message) of every diagnostic so far, to report each problem once.
    seen: HashSet<(Position, String)>,
    /// Models already warned about as not validated.
    warned_models: HashSet<String>,
}

impl<'a> Resolver<'a> {
    fn push(&mut self, diagnostic: Diagnostic) {
        let position = diagnostic
            .label
            .as_ref()
            .map_or(START_OF_FILE, |label| label.position);
        if self.seen.insert((position, diagnostic.message.clone())) {
            self.diagnostics.push(diagnostic);
        }
    }

    fn error(&self, location: Position, message: impl Into<String>) -> Diagnostic {
        Diagnostic::error(self.source, Some(location), message)
    }

    fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Resolves `raw`; returns the manifest when it could be built and every diagnostic (the
/// caller decides that errors among them reject it).
pub(super) fn resolve(
    raw: &RawManifest,
    source: &SourceText,
    path: &Path,
) -> (Option<Manifest>, Vec<Diagnostic>) {
    let mut resolver = Resolver {
        source,
        diagnostics: Vec::new(),
        seen: HashSet::new(),
        warned_models: HashSet::new(),
    };
    let manifest = resolver.resolve(raw, path);
    (manifest, resolver.diagnostics)
}

impl<'a> Resolver<'a> {
    fn resolve(&mut self, raw: &'a RawManifest, path: &Path) -> Option<Manifest> {
        if let Some(version) = &raw.version
            && version.value != 1
        {
            let diagnostic = self
                .error(
                    position(&version.referenced),
                    format!("unsupported manifest version {}", version.value),
                )
                .expected("1");
            self.push(diagnostic);
        }
        let name = self.resolve_name(raw, path);
        let model_default = match &raw.model {
            Some(model) => {
                self.check_model(&model.value, position(&model.referenced));
                model.value.clone()
            }
            None => DEFAULT_MODEL.to_owned(),
        };
        let default_takes = match &raw.takes {
            Some(takes) => self.check_takes(takes),
            None => 1,
        };
        let run = self.resolve_run(raw);
        let prices = self.resolve_prices(raw);
        let vars = self.resolve_vars(raw);
        let drafts = self.expand_jobs(raw, &model_default, default_takes, &vars);
        if self.has_errors() {
            return None;
        }
        let jobs = self.assign_identities(drafts, run.callback_url.as_deref())?;
        if jobs.is_empty() {
            let diagnostic = self
                .error(START_OF_FILE, "the manifest defines no jobs")
                .expected("a `prompt` (with or without a `matrix`) or a list of `jobs`");
            self.push(diagnostic);
            return None;
        }
        Some(Manifest {
            name,
            path: path.to_path_buf(),
            jobs,
            run,
            prices,
        })
    }

    fn resolve_name(&mut self, raw: &RawManifest, path: &Path) -> String {
        if let Some(name) = &raw.name {
            // An id's rules (it names the batch folder), in lowercase only.
            let valid = identity::check_explicit_id(&name.value).is_ok()
                && !name.value.bytes().any(|b| b.is_ascii_uppercase());
            if !valid {
                let diagnostic = self
                    .error(position(&name.referenced), format!("invalid name `{}`", name.value))
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

    fn check_takes(&mut self, takes: &Spanned<u32>) -> u32 {
        if takes.value == 0 {
            let diagnostic = self
                .error(position(&takes.referenced), "`takes` is 0")
                .expected("at least 1");
            self.push(diagnostic);
            return 1;
        }
        takes.value
    }

    /// Warns once per model that sora-batch cannot validate; errors on an empty name.
    fn check_model(&mut self, model: &str, at: Position) {
        if model.trim().is_empty() {
            let diagnostic = self
                .error(at, "empty model name")
                .expected("a model of the jobs API, e.g. sora-2-text-to-video");
            self.push(diagnostic);
            return;
        }
        if registry::lookup(model).is_some() || !self.warned_models.insert(model.to_owned()) {
            return;
        }
        let mut diagnostic = Diagnostic::warning(
            self.source,
            Some(at),
            match closest_name(model, SORA_2_MODELS.iter().map(|m| m.name)) {
                Some(close) => format!(
                    "model `{model}` is not one sora-batch validates, did you mean `{close}`?"
                ),
                None => format!("model `{model}` is not one sora-batch validates"),
            },
        );
        diagnostic = diagnostic.note("its input fields are sent as written, unchecked");
        self.push(diagnostic);
    }

    fn resolve_run(&mut self, raw: &RawManifest) -> RunSettings {
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
        }
        if let Some(timeout) = &section.timeout
            && let Some(duration) = self.duration(timeout, "timeout")
        {
            run.timeout = duration;
        }
        if let Some(max_credits) = &section.max_credits {
            if max_credits.value.is_finite() && max_credits.value >= 0.0 {
                run.max_credits = Some(max_credits.value);
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
                        format!("invalid `callback_url`: {}", callback.value),
                    )
                    .expected("an http or https URL, e.g. https://example.com/hook");
                self.push(diagnostic);
            }
        }
        if let Some(limit) = &section.create_limit {
            run.create_limit = self.rate_limit(limit, run.create_limit);
        }
        if let Some(limit) = &section.poll_limit {
            run.poll_limit = self.rate_limit(limit, run.poll_limit);
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
                        format!("invalid duration for `{key}`: `{}`", text.value),
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

    fn resolve_prices(&mut self, raw: &RawManifest) -> PriceTable {
        let mut table = PriceTable::built_in();
        let Some(prices) = &raw.prices else {
            return table;
        };
        for (model, by_key) in &prices.entries {
            for (key, credits) in &by_key.entries {
                if !is_price_key(&key.value) {
                    let diagnostic = self
                        .error(position(&key.referenced), format!("invalid price key `{}`", key.value))
                        .expected("a duration in seconds such as \"10\", a duration and a size such as \"15-high\", or \"*\"");
                    self.push(diagnostic);
                } else if !(credits.value.is_finite() && credits.value >= 0.0) {
                    let diagnostic = self
                        .error(position(&credits.referenced), "invalid price")
                        .expected("a number of credits, 0 or more");
                    self.push(diagnostic);
                } else {
                    table.set(&model.value, &key.value, credits.value);
                }
            }
        }
        table
    }

    /// `vars` as text, in order; non-scalar values are reported.
    fn resolve_vars(&mut self, raw: &'a RawManifest) -> Vec<(&'a str, Cow<'a, str>)> {
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
                            format!("variable `{}` is {}", name.value, value.value.kind_name()),
                        )
                        .expected("a string, a number or a boolean");
                    self.push(diagnostic);
                }
            }
        }
        vars
    }

    /// Every job of the manifest before identities: matrix jobs, then explicit jobs.
    fn expand_jobs(
        &mut self,
        raw: &'a RawManifest,
        model_default: &str,
        default_takes: u32,
        vars: &[(&'a str, Cow<'a, str>)],
    ) -> Vec<Draft> {
        let defaults: Vec<Field<'a>> = raw
            .defaults
            .iter()
            .flat_map(|defaults| defaults.0.entries.iter())
            .map(|(key, value)| (key.value.as_str(), Some(&key.referenced), value))
            .collect();
        // The top-level prompt, as a field like the others.
        let top_prompt: Option<Spanned<RawValue>> = raw.prompt.as_ref().map(|prompt| Spanned {
            value: RawValue::String(prompt.value.clone()),
            referenced: prompt.referenced,
            defined: prompt.defined,
        });
        let mut drafts = Vec::new();

        // Matrix jobs.
        let combinations: Vec<Combination<'_>> = match &raw.matrix {
            Some(matrix) => match self.matrix_combinations(matrix) {
                Some(combinations) => combinations,
                None => return drafts,
            },
            // A prompt without a matrix is one job.
            None if top_prompt.is_some() => vec![Combination {
                entries: Vec::new(),
                naming_entries: 0,
            }],
            None => Vec::new(),
        };
        let matrix_anchor = raw
            .matrix
            .as_ref()
            .map(|matrix| position(&matrix.referenced))
            .or_else(|| {
                raw.prompt
                    .as_ref()
                    .map(|prompt| position(&prompt.referenced))
            })
            .unwrap_or(START_OF_FILE);
        let explicit_takes: u64 = raw
            .jobs
            .iter()
            .flatten()
            .map(|job| u64::from(job.value.takes.as_ref().map_or(default_takes, |t| t.value)))
            .sum();
        let planned = (combinations.len() as u64)
            .saturating_mul(u64::from(default_takes))
            .saturating_add(explicit_takes);
        if planned > MAX_JOBS as u64 {
            let diagnostic = self
                .error(
                    matrix_anchor,
                    format!("the manifest expands to {planned} jobs"),
                )
                .expected(format!("at most {MAX_JOBS} jobs in one manifest"));
            self.push(diagnostic);
            return drafts;
        }
        drafts.reserve(planned as usize);
        let variable_names: Vec<&str> = self.variable_names(raw, vars);
        for combination in &combinations {
            let model = match combination.get("model") {
                Some(model) => match &model.value {
                    RawValue::String(name) => {
                        self.check_model(name, position(&model.referenced));
                        name.as_str()
                    }
                    other => {
                        let diagnostic = self
                            .error(
                                position(&model.referenced),
                                format!("`model` is {}", other.kind_name()),
                            )
                            .expected("a model name");
                        self.push(diagnostic);
                        continue;
                    }
                },
                None => model_default,
            };
            let spec = registry::lookup(model);
            let mut fields: Vec<Field<'_>> = defaults.clone();
            if let Some(prompt) = &top_prompt {
                fields.push(("prompt", None, prompt));
            }
            for (name, value) in &combination.entries {
                // With a validated model, only its fields are input; other keys are template
                // variables. An unvalidated model's fields are unknown: every key is sent.
                let is_input =
                    *name != "model" && spec.is_none_or(|spec| spec.field(name).is_some());
                if is_input {
                    fields.push((name, None, value));
                }
            }
            let lookup = |name: &str| -> Lookup<'_> {
                if let Some(value) = combination.get(name) {
                    return match value.value.scalar_text() {
                        Some(text) => Lookup::Text(text),
                        None => Lookup::NotScalar,
                    };
                }
                match vars.iter().find(|(var, _)| *var == name) {
                    Some((_, text)) => Lookup::Text(Cow::Borrowed(text.as_ref())),
                    None => Lookup::Missing,
                }
            };
            let Some(input) =
                self.build_input(model, spec, &fields, lookup, &variable_names, matrix_anchor)
            else {
                continue;
            };
            let naming: Vec<Cow<'_, str>> = combination.entries[..combination.naming_entries]
                .iter()
                .filter_map(|(_, value)| value.value.scalar_text())
                .collect();
            let prompt = input.get("prompt").and_then(Value::as_str);
            let derived_base =
                identity::derived_base_id(naming.iter().map(|text| text.as_ref()), prompt);
            for take in 1..=default_takes {
                drafts.push(Draft {
                    model: model.to_owned(),
                    input: input.clone(),
                    take,
                    explicit_id: None,
                    derived_base: derived_base.clone(),
                    anchor: matrix_anchor,
                });
            }
        }

        // Explicit jobs.
        let var_names_only: Vec<&str> = vars.iter().map(|(name, _)| *name).collect();
        for job in raw.jobs.iter().flatten() {
            let anchor = position(&job.referenced);
            let job = &job.value;
            let model = match &job.model {
                Some(model) => {
                    self.check_model(&model.value, position(&model.referenced));
                    model.value.as_str()
                }
                None => model_default,
            };
            let takes = match &job.takes {
                Some(takes) => self.check_takes(takes),
                None => default_takes,
            };
            let explicit_id = job.id.as_ref().and_then(|id| {
                let at = position(&id.referenced);
                match check_explicit_id(&id.value) {
                    Ok(()) => Some((id.value.clone(), at)),
                    Err(expected) => {
                        let diagnostic = self
                            .error(at, format!("unsafe id `{}`", id.value.escape_debug()))
                            .expected(expected)
                            .note("ids name the job's files in the batch folder");
                        self.push(diagnostic);
                        None
                    }
                }
            });
            let spec = registry::lookup(model);
            let mut fields: Vec<Field<'_>> = defaults.clone();
            fields.extend(
                job.input
                    .entries
                    .iter()
                    .map(|(key, value)| (key.value.as_str(), Some(&key.referenced), value)),
            );
            let lookup = |name: &str| -> Lookup<'_> {
                match vars.iter().find(|(var, _)| *var == name) {
                    Some((_, text)) => Lookup::Text(Cow::Borrowed(text.as_ref())),
                    None => Lookup::Missing,
                }
            };
            let Some(input) =
                self.build_input(model, spec, &fields, lookup, &var_names_only, anchor)
            else {
                continue;
            };
            let prompt = input.get("prompt").and_then(Value::as_str);
            let derived_base = identity::derived_base_id(std::iter::empty(), prompt);
            for take in 1..=takes {
                drafts.push(Draft {
                    model: model.to_owned(),
                    input: input.clone(),
                    take,
                    explicit_id: explicit_id.clone(),
                    derived_base: derived_base.clone(),
                    anchor,
                });
            }
        }
        drafts
    }

    /// Names a template may use in matrix jobs: vars, axes and include keys.
    fn variable_names(
        &self,
        raw: &'a RawManifest,
        vars: &[(&'a str, Cow<'a, str>)],
    ) -> Vec<&'a str> {
        let mut names: Vec<&'a str> = vars.iter().map(|(name, _)| *name).collect();
        if let Some(matrix) = &raw.matrix {
            names.extend(matrix.value.axes.iter().map(|(key, _)| key.value.as_str()));
            for entry in &matrix.value.include {
                names.extend(
                    entry
                        .value
                        .entries
                        .iter()
                        .map(|(key, _)| key.value.as_str()),
                );
            }
        }
        names.sort_unstable();
        names.dedup();
        names
    }

    /// Checks the matrix's shape and expands it; `None` when it cannot be expanded.
    fn matrix_combinations(
        &mut self,
        matrix: &'a Spanned<super::raw::RawMatrix>,
    ) -> Option<Vec<Combination<'a>>> {
        let matrix_value = &matrix.value;
        let mut axes: Vec<Axis<'a>> = Vec::new();
        let mut ok = true;
        for (key, value) in &matrix_value.axes {
            match &value.value {
                RawValue::List(values) if !values.is_empty() => {
                    axes.push((key.value.as_str(), values.as_slice()));
                }
                RawValue::List(_) => {
                    let diagnostic = self
                        .error(
                            position(&value.referenced),
                            format!("matrix axis `{}` has no values", key.value),
                        )
                        .expected("a list of at least one value");
                    self.push(diagnostic);
                    ok = false;
                }
                other => {
                    let diagnostic = self
                        .error(
                            position(&value.referenced),
                            format!("matrix axis `{}` is {}", key.value, other.kind_name()),
                        )
                        .expected(format!("a list of values, e.g. `{}: [a, b]`", key.value));
                    self.push(diagnostic);
                    ok = false;
                }
            }
        }
        let axis_names: Vec<&str> = axes.iter().map(|(name, _)| *name).collect();
        for entry in &matrix_value.exclude {
            for (key, _) in &entry.value.entries {
                if !axis_names.contains(&key.value.as_str()) {
                    let message = match closest_name(&key.value, axis_names.iter().copied()) {
                        Some(close) => format!(
                            "exclude key `{}` is not a matrix axis, did you mean `{close}`?",
                            key.value
                        ),
                        None => format!("exclude key `{}` is not a matrix axis", key.value),
                    };
                    let diagnostic = self
                        .error(position(&key.referenced), message)
                        .expected(format!("one of the axes: {}", axis_names.join(", ")));
                    self.push(diagnostic);
                    ok = false;
                }
            }
        }
        if !ok {
            return None;
        }
        match expand::product_len(&axes) {
            Some(count) if count <= MAX_JOBS => {}
            count => {
                let shown = count.map_or_else(|| "too many".to_owned(), |count| count.to_string());
                let diagnostic = self
                    .error(
                        position(&matrix.referenced),
                        format!("the matrix has {shown} combinations"),
                    )
                    .expected(format!("at most {MAX_JOBS} jobs in one manifest"));
                self.push(diagnostic);
                return None;
            }
        }
        Some(expand::expand_matrix(
            &axes,
            &matrix_value.exclude,
            &matrix_value.include,
        ))
    }

    /// Assembles, fills in, checks and completes one job's input.
    fn build_input<'v>(
        &mut self,
        model: &str,
        spec: Option<&'static ModelSpec>,
        fields: &[Field<'_>],
        lookup: impl FnMut(&str) -> Lookup<'v>,
        variable_names: &[&str],
        anchor: Position,
    ) -> Option<Map<String, Value>> {
        // Later fields win: defaults, then the top-level prompt, then the job's own.
        // A handful of fields: a vector beats a hash map here, and this runs once per job.
        let mut origins: Vec<Field<'_>> = Vec::with_capacity(fields.len());
        for field in fields {
            match origins.iter_mut().find(|existing| existing.0 == field.0) {
                Some(slot) => *slot = *field,
                None => origins.push(*field),
            }
        }
        let origin_of = |wanted: &str| {
            origins
                .iter()
                .find(|(name, _, _)| *name == wanted)
                .map(|(_, key, value)| (*key, *value))
        };
        let mut input = Map::new();
        for (name, _, value) in &origins {
            input.insert((*name).to_owned(), value.value.to_json());
        }
        let mut ok = true;
        if let Some((_, prompt)) = origin_of("prompt")
            && let RawValue::String(template) = &prompt.value
        {
            match template::render(template, lookup) {
                Ok(filled) => {
                    if let Cow::Owned(filled) = filled {
                        input.insert("prompt".to_owned(), Value::String(filled));
                    }
                }
                Err(problems) => {
                    for problem in problems {
                        self.report_template_problem(prompt, template, problem, variable_names);
                    }
                    ok = false;
                }
            }
        }
        let Some(spec) = spec else {
            return ok.then_some(input);
        };
        for problem in spec.validate_input(&input) {
            let origin = origin_of(problem.field.as_str());
            let diagnostic = match &problem.kind {
                InputProblemKind::UnknownField { .. } => {
                    let candidates = spec.fields.iter().map(|field| field.name).chain(JOB_KEYS.iter().copied());
                    let message = match closest_name(&problem.field, candidates) {
                        Some(close) => format!(
                            "unknown field `{}` for model `{model}`, did you mean `{close}`?",
                            problem.field
                        ),
                        None => format!("unknown field `{}` for model `{model}`", problem.field),
                    };
                    let at = origin
                        .and_then(|(key, value)| key.map(position).or(Some(position(&value.referenced))))
                        .unwrap_or(anchor);
                    let names: Vec<&str> = spec.fields.iter().map(|field| field.name).collect();
                    self.error(at, message)
                        .expected(format!("one of {}", names.join(", ")))
                }
                InputProblemKind::Missing => self
                    .error(anchor, format!("missing required field `{}` for model `{model}`", problem.field))
                    .expected(if problem.field == "prompt" {
                        "a `prompt` in the job, the top-level `prompt`, a `prompt` axis or `defaults.prompt`".to_owned()
                    } else {
                        format!("`{}` in the job or in `defaults`", problem.field)
                    }),
                InputProblemKind::Invalid { expected } => {
                    let at = origin.map_or(anchor, |(_, value)| position(&value.referenced));
                    let shown = match input.get(&problem.field) {
                        Some(Value::String(text)) if text.chars().count() <= 40 => format!(": `{text}`"),
                        Some(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => format!(": `{value}`"),
                        _ => String::new(),
                    };
                    let message = if problem.field == "prompt" && expected.starts_with("at most") {
                        format!("`prompt` is too long for model `{model}`")
                    } else {
                        format!("invalid value for `{}`{shown}", problem.field)
                    };
                    self.error(at, message).expected(expected)
                }
            };
            self.push(diagnostic);
            ok = false;
        }
        if !ok {
            return None;
        }
        spec.complete_input(&mut input);
        Some(input)
    }

    fn report_template_problem(
        &mut self,
        prompt: &Spanned<RawValue>,
        template: &str,
        problem: template::TemplateProblem,
        variable_names: &[&str],
    ) {
        let offending = template
            .get(problem.offset..problem.offset + problem.len)
            .unwrap_or("{");
        let at = self.locate_in_value(prompt, offending);
        let diagnostic = match problem.kind {
            TemplateProblemKind::Undefined(name) => {
                let message = match closest_name(&name, variable_names.iter().copied()) {
                    Some(close) => {
                        format!("undefined template variable `{name}`, did you mean `{close}`?")
                    }
                    None => format!("undefined template variable `{name}`"),
                };
                let expected = if variable_names.is_empty() {
                    "a variable defined under `vars:` or as a matrix axis".to_owned()
                } else {
                    format!("one of {}", variable_names.join(", "))
                };
                self.error(at, message)
                    .expected(expected)
                    .note("help: write `{{` and `}}` for literal braces")
            }
            TemplateProblemKind::NotScalar(name) => self
                .error(at, format!("template variable `{name}` is not a scalar"))
                .expected("a variable whose value is a string, a number or a boolean"),
            TemplateProblemKind::UnmatchedBrace => self
                .error(at, "unmatched brace in template")
                .expected("`{name}` for a variable, `{{` and `}}` for literal braces"),
            TemplateProblemKind::InvalidName(name) => self
                .error(at, format!("invalid template variable `{{{name}}}`"))
                .expected("`{name}` with a name of letters, digits, `_` and `-`, or `{{` and `}}` for literal braces"),
        };
        self.push(diagnostic);
    }

    /// Where `needle` is in the source text of a string value, or the value's start.
    fn locate_in_value(&self, value: &Spanned<RawValue>, needle: &str) -> Position {
        let fallback = position(&value.referenced);
        let span = value.defined.span();
        let (Some(start), Some(len)) = (span.byte_offset(), span.byte_len()) else {
            return fallback;
        };
        let (Ok(start), Ok(len)) = (usize::try_from(start), usize::try_from(len)) else {
            return fallback;
        };
        let text = &self.source.text;
        let end = start.saturating_add(len).min(text.len());
        let Some(region) = text.get(start..end) else {
            return fallback;
        };
        match region.find(needle) {
            Some(found) => {
                let chars = u32::try_from(needle.chars().count()).unwrap_or(1);
                self.source.position_of_byte(start + found, chars)
            }
            None => fallback,
        }
    }

    /// Keys, ids, and the final jobs; `None` when ids or keys clash.
    fn assign_identities(
        &mut self,
        drafts: Vec<Draft>,
        callback_url: Option<&str>,
    ) -> Option<Vec<Job>> {
        let keys: Vec<JobKey> = drafts
            .iter()
            .map(|draft| JobKey::compute(&draft.model, &draft.input, draft.take))
            .collect();
        // The same request twice would be one job in the journal: say so.
        let mut first_with_key: HashMap<&JobKey, usize> = HashMap::with_capacity(drafts.len());
        for (index, key) in keys.iter().enumerate() {
            if let Some(&first) = first_with_key.get(key) {
                let name_of = |draft: &Draft| match &draft.explicit_id {
                    Some((id, _)) => id.clone(),
                    None => draft.derived_base.clone(),
                };
                let (first_draft, draft) = (&drafts[first], &drafts[index]);
                let diagnostic = self
                    .error(
                        draft.anchor,
                        format!(
                            "jobs `{}` and `{}` make the same request",
                            name_of(first_draft),
                            name_of(draft)
                        ),
                    )
                    .note("they have the same model, input and take, so they would be one video")
                    .note("help: use `takes` for several videos of one request, or use every matrix variable in the prompt");
                self.push(diagnostic);
            } else {
                first_with_key.insert(key, index);
            }
        }
        let take_suffix = |base: &str, take: u32| {
            if take > 1 {
                format!("{base}-t{take}")
            } else {
                base.to_owned()
            }
        };
        let candidates: Vec<String> = drafts
            .iter()
            .map(|draft| match &draft.explicit_id {
                Some((id, _)) => take_suffix(id, draft.take),
                None => take_suffix(&draft.derived_base, draft.take),
            })
            .collect();
        let mut uses: HashMap<&str, usize> = HashMap::with_capacity(candidates.len());
        for candidate in &candidates {
            *uses.entry(candidate.as_str()).or_default() += 1;
        }
        let mut explicit_owner: HashMap<&str, Position> = HashMap::new();
        let mut ids: Vec<String> = Vec::with_capacity(drafts.len());
        for ((draft, candidate), key) in drafts.iter().zip(&candidates).zip(&keys) {
            match &draft.explicit_id {
                Some((_, at)) => {
                    if let Some(first) = explicit_owner.get(candidate.as_str()) {
                        let diagnostic = self
                            .error(*at, format!("duplicate id `{candidate}`"))
                            .note(format!("first used at line {}", first.line))
                            .expected("an id used by one job only");
                        self.push(diagnostic);
                    } else {
                        explicit_owner.insert(candidate, *at);
                    }
                    ids.push(candidate.clone());
                }
                None if uses.get(candidate.as_str()).copied().unwrap_or(0) > 1 => {
                    ids.push(format!(
                        "{candidate}-{}",
                        &key.short()[..8.min(key.short().len())]
                    ));
                }
                None => ids.push(candidate.clone()),
            }
        }
        if self.has_errors() {
            return None;
        }
        // A derived id with its key suffix could still meet an explicit id; ids must be
        // unique whatever the manifest says.
        let mut taken: HashSet<&str> = HashSet::with_capacity(ids.len());
        for (id, draft) in ids.iter().zip(&drafts) {
            if !taken.insert(id.as_str()) {
                let diagnostic = self
                    .error(draft.anchor, format!("duplicate id `{id}`"))
                    .expected("an id used by one job only: give this job an explicit `id`");
                self.push(diagnostic);
            }
        }
        if self.has_errors() {
            return None;
        }
        Some(
            drafts
                .into_iter()
                .zip(keys)
                .zip(ids)
                .map(|((draft, key), id)| Job {
                    id: JobId::new_unchecked(id),
                    key,
                    take: draft.take,
                    model: draft.model,
                    input: draft.input,
                    call_back_url: callback_url.map(str::to_owned),
                })
                .collect(),
        )
    }
}
