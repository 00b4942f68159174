//! One job's input against the model registry: the model name, the prompt template filled
//! in, every field validated and the defaults the service applies completed.
//!
//! Read [`Resolver::build_input`]. What a model accepts is data in the api crate's
//! registry; a model the registry does not know is warned about once and sent unchecked.

use std::borrow::Cow;

use serde_json::{Map, Value};
use serde_saphyr::Spanned;
use sora_batch_api::registry::{self, InputProblemKind, ModelSpec, SORA_2_MODELS, closest_name};

use super::{Field, Resolver};
use crate::diagnostic::{Diagnostic, Position};
use crate::manifest::raw::{JOB_KEYS, RawValue};
use crate::manifest::shape::position;
use crate::manifest::template::{self, Lookup, TemplateProblemKind};

impl Resolver<'_> {
    /// Warns once per model that sora-batch cannot validate; errors on an empty name.
    pub(super) fn check_model(&mut self, model: &str, at: Position) {
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

    /// Assembles, fills in, checks and completes one job's input.
    pub(super) fn build_input<'v>(
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
}
