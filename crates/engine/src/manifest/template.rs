//! Prompt templates: `{name}` is replaced by a variable, `{{` and `}}` are literal braces.
//!
//! Read [`render`]. It reports problems with the byte offset of the offending `{...}` in the
//! template, which the caller maps back to a line and column of the manifest. A prompt
//! without braces is returned as is, without allocating a parse.

use std::borrow::Cow;

/// What went wrong at a place in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateProblem {
    /// Byte offset of the problem in the template text.
    pub offset: usize,
    /// Length in bytes of the offending text (`{name}` for an undefined variable).
    pub len: usize,
    pub kind: TemplateProblemKind,
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

/// Fills in `template`; every problem is returned, not only the first.
pub(crate) fn render<'t, 'v>(
    template: &'t str,
    mut lookup: impl FnMut(&str) -> Lookup<'v>,
) -> Result<Cow<'t, str>, Vec<TemplateProblem>> {
    if !template.contains(['{', '}']) {
        return Ok(Cow::Borrowed(template));
    }
    let mut output = String::with_capacity(template.len() + 32);
    let mut problems = Vec::new();
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
                // A `{` closed by nothing, or by another `{` first, is unmatched.
                let Some(close) = template[index + 1..]
                    .find(['}', '{'])
                    .map(|at| at + index + 1)
                    .filter(|close| bytes[*close] == b'}')
                else {
                    problems.push(TemplateProblem {
                        offset: index,
                        len: 1,
                        kind: TemplateProblemKind::UnmatchedBrace,
                    });
                    index += 1;
                    literal_start = index;
                    continue;
                };
                let name = &template[index + 1..close];
                let len = close + 1 - index;
                if !is_name(name) {
                    problems.push(TemplateProblem {
                        offset: index,
                        len,
                        kind: TemplateProblemKind::InvalidName(name.to_owned()),
                    });
                } else {
                    match lookup(name) {
                        Lookup::Text(text) => output.push_str(&text),
                        Lookup::NotScalar => problems.push(TemplateProblem {
                            offset: index,
                            len,
                            kind: TemplateProblemKind::NotScalar(name.to_owned()),
                        }),
                        Lookup::Missing => problems.push(TemplateProblem {
                            offset: index,
                            len,
                            kind: TemplateProblemKind::Undefined(name.to_owned()),
                        }),
                    }
                }
                index = close + 1;
                literal_start = index;
            }
            b'}' => {
                problems.push(TemplateProblem {
                    offset: index,
                    len: 1,
                    kind: TemplateProblemKind::UnmatchedBrace,
                });
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
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(template: &str) -> Result<String, Vec<TemplateProblem>> {
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
        let kinds: Vec<_> = problems
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
}
