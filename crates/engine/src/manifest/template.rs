//! Prompt templates: `{name}` is replaced by a variable, `{{` and `}}` are literal braces.
//!
//! Read [`render`]. It reports problems with the byte offset of the offending `{...}` in the
//! template, which the caller maps back to a line and column of the manifest. A prompt
//! without braces is returned as is, without allocating a parse.
//!
//! Problems are grouped as they are found: one [`TemplateProblem`] per distinct problem
//! (an undefined name, an unmatched `{`), at its first occurrence and with how many times it
//! occurs, and no more than [`MAX_TEMPLATE_PROBLEMS`] of them. A megabyte of `{x}` is one
//! problem found in one pass, not a third of a million diagnostics each quoting the prompt.

use std::borrow::Cow;
use std::collections::HashMap;

/// The most distinct problems reported for one template; the others are only counted. Ten
/// is more than a prompt written by hand gets wrong at once, and a generated one with more
/// needs fixing at its source rather than reading through.
pub const MAX_TEMPLATE_PROBLEMS: usize = 10;

/// A distinct problem of a template, at its first occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateProblem {
    /// Byte offset of the first occurrence in the template text.
    pub offset: usize,
    /// Length in bytes of the offending text (`{name}` for an undefined variable).
    pub len: usize,
    pub kind: TemplateProblemKind,
    /// How many times the template has this problem (the same name, the same brace).
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TemplateProblemKind {
    /// `{name}` names no variable.
    Undefined(String),
    /// `{name}` names a list or a mapping, which has no text.
    NotScalar(String),
    /// A `{` without its `}`, or a `}` alone.
    UnmatchedBrace,
    /// `{...}` whose content is not a variable name.
    InvalidName(String),
}

/// Every problem of a template, grouped (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateProblems {
    /// The first [`MAX_TEMPLATE_PROBLEMS`] distinct problems, in the order they first occur.
    pub shown: Vec<TemplateProblem>,
    /// How many distinct problems there are beyond those.
    pub omitted: usize,
}

/// What makes two occurrences the same problem; borrowed from the template, so that
/// grouping allocates nothing per occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ProblemKey<'t> {
    Undefined(&'t str),
    NotScalar(&'t str),
    Unmatched(u8),
    InvalidName(&'t str),
}

/// Collects problems as [`render`] finds them.
#[derive(Default)]
struct Collector<'t> {
    /// For each distinct problem, its index in `shown`, or `None` once the cap is reached.
    seen: HashMap<ProblemKey<'t>, Option<usize>>,
    /// The last problem added and its slot: a problem repeated back to back (`{x} {x} ...`)
    /// is counted without hashing its name again.
    last: Option<(ProblemKey<'t>, Option<usize>)>,
    shown: Vec<TemplateProblem>,
    omitted: usize,
}

impl<'t> Collector<'t> {
    fn add(&mut self, key: ProblemKey<'t>, offset: usize, len: usize) {
        let slot = match self.last {
            Some((last, slot)) if last == key => Some(slot),
            _ => self.seen.get(&key).copied(),
        };
        if let Some(slot) = slot {
            if let Some(problem) = slot.and_then(|index| self.shown.get_mut(index)) {
                problem.count += 1;
            }
            self.last = Some((key, slot));
            return;
        }
        if self.shown.len() >= MAX_TEMPLATE_PROBLEMS {
            self.omitted += 1;
            self.seen.insert(key, None);
            self.last = Some((key, None));
            return;
        }
        let kind = match key {
            ProblemKey::Undefined(name) => TemplateProblemKind::Undefined(name.to_owned()),
            ProblemKey::NotScalar(name) => TemplateProblemKind::NotScalar(name.to_owned()),
            ProblemKey::Unmatched(_) => TemplateProblemKind::UnmatchedBrace,
            ProblemKey::InvalidName(name) => TemplateProblemKind::InvalidName(name.to_owned()),
        };
        let slot = Some(self.shown.len());
        self.seen.insert(key, slot);
        self.last = Some((key, slot));
        self.shown.push(TemplateProblem {
            offset,
            len,
            kind,
            count: 1,
        });
    }

    fn is_empty(&self) -> bool {
        self.shown.is_empty()
    }
}

/// What a variable lookup found.
pub(crate) enum Lookup<'a> {
    Text(Cow<'a, str>),
    NotScalar,
    Missing,
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Fills in `template`; every problem is returned (grouped), not only the first. One pass
/// over the template: the work and the memory grow with its length, not with its problems.
pub(crate) fn render<'t, 'v>(
    template: &'t str,
    mut lookup: impl FnMut(&str) -> Lookup<'v>,
) -> Result<Cow<'t, str>, TemplateProblems> {
    if !template.contains(['{', '}']) {
        return Ok(Cow::Borrowed(template));
    }
    let mut output = String::with_capacity(template.len() + 32);
    let mut problems = Collector::default();
    let bytes = template.as_bytes();
    let mut index = 0;
    let mut literal_start = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'{' if bytes.get(index + 1) == Some(&b'{') => {
                output.push_str(&template[literal_start..=index]);
                index += 2;
                literal_start = index;
            }
            b'}' if bytes.get(index + 1) == Some(&b'}') => {
                output.push_str(&template[literal_start..=index]);
                index += 2;
                literal_start = index;
            }
            b'{' => {
                output.push_str(&template[literal_start..index]);
                // A `{` closed by nothing, or by another `{` first, is unmatched. The search
                // stops at the next brace, so the template is still read once in all.
                let Some(close) = template[index + 1..]
                    .find(['}', '{'])
                    .map(|at| at + index + 1)
                    .filter(|close| bytes[*close] == b'}')
                else {
                    problems.add(ProblemKey::Unmatched(b'{'), index, 1);
                    index += 1;
                    literal_start = index;
                    continue;
                };
                let name = &template[index + 1..close];
                let len = close + 1 - index;
                if !is_name(name) {
                    problems.add(ProblemKey::InvalidName(name), index, len);
                } else {
                    match lookup(name) {
                        Lookup::Text(text) => output.push_str(&text),
                        Lookup::NotScalar => problems.add(ProblemKey::NotScalar(name), index, len),
                        Lookup::Missing => problems.add(ProblemKey::Undefined(name), index, len),
                    }
                }
                index = close + 1;
                literal_start = index;
            }
            b'}' => {
                problems.add(ProblemKey::Unmatched(b'}'), index, 1);
                output.push_str(&template[literal_start..index]);
                index += 1;
                literal_start = index;
            }
            _ => index += 1,
        }
    }
    output.push_str(&template[literal_start..]);
    if problems.is_empty() {
        Ok(Cow::Owned(output))
    } else {
        Err(TemplateProblems {
            shown: problems.shown,
            omitted: problems.omitted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(template: &str) -> Result<String, TemplateProblems> {
        render(template, |name| match name {
            "who" => Lookup::Text(Cow::Borrowed("a chef")),
            "list" => Lookup::NotScalar,
            _ => Lookup::Missing,
        })
        .map(Cow::into_owned)
    }

    #[test]
    fn variables_and_escapes() {
        assert_eq!(fill("{who} says {{hi}}").as_deref(), Ok("a chef says {hi}"));
        assert_eq!(fill("no braces").as_deref(), Ok("no braces"));
        assert_eq!(fill("é{who}é").as_deref(), Ok("éa chefé"));
    }

    #[test]
    fn every_problem_is_reported_with_its_offset() {
        let problems = fill("{nope} {list} { x } {who").expect_err("four problems");
        assert_eq!(problems.omitted, 0);
        let kinds: Vec<_> = problems
            .shown
            .iter()
            .map(|p| (p.offset, p.len, p.kind.clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (0, 6, TemplateProblemKind::Undefined("nope".into())),
                (7, 6, TemplateProblemKind::NotScalar("list".into())),
                (14, 5, TemplateProblemKind::InvalidName(" x ".into())),
                (20, 1, TemplateProblemKind::UnmatchedBrace),
            ]
        );
        assert!(fill("a } b").is_err());
    }

    #[test]
    fn repeated_problems_are_grouped_at_their_first_occurrence() {
        let problems = fill("{who} {x} {x} } {x} }").expect_err("problems");
        let grouped: Vec<_> = problems
            .shown
            .iter()
            .map(|p| (p.offset, p.len, p.kind.clone(), p.count))
            .collect();
        assert_eq!(
            grouped,
            vec![
                (6, 3, TemplateProblemKind::Undefined("x".into()), 3),
                (14, 1, TemplateProblemKind::UnmatchedBrace, 2),
            ]
        );
    }

    #[test]
    fn distinct_problems_past_the_cap_are_counted() {
        let template: String = (0..MAX_TEMPLATE_PROBLEMS + 5)
            .map(|i| format!("{{v{i}}} {{v{i}}}"))
            .collect();
        let problems = fill(&template).expect_err("problems");
        assert_eq!(problems.shown.len(), MAX_TEMPLATE_PROBLEMS);
        assert_eq!(problems.omitted, 5);
        assert!(problems.shown.iter().all(|problem| problem.count == 2));
    }
}
