//! What each model of the jobs API accepts, as data: names, types, allowed values, defaults.
//!
//! Read [`ModelSpec`] first. The Sora 2 family from `kie-api-notes.md` is described here so
//! that a job can be checked before any money is spent, as the seed's contract has it;
//! [`lookup`] returns `None` for any other model, which the engine checks against its JSON
//! Schema instead (from the built-in [`crate::snapshot`] or a lock file).
//!
//! Two facts of the live service shape this module. Documented defaults are not applied by
//! the server ("This field is required"), so [`ModelSpec::complete_input`] fills in every
//! field marked [`Presence::AlwaysSent`]. And optional extras must only be sent when set, so
//! [`Presence::WhenSet`] fields are never filled in.

use serde_json::{Map, Value};

/// How a field's value is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A string of at most this many characters (Unicode scalar values), not empty.
    Text {
        max_chars: usize,
    },
    /// A string from a fixed set. An integer whose decimal form is in the set is accepted and
    /// sent as that string (`n_frames: 10` becomes `"10"`).
    Choice(&'static [&'static str]),
    Bool,
    /// A list of http(s) URLs, with bounds on its length.
    UrlList {
        min: usize,
        max: usize,
    },
    /// A list of non-empty strings, at most `max` long.
    TextList {
        max: usize,
    },
}

/// Whether a field goes into the request when the job does not set it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// The job must set it; there is no default.
    Required,
    /// Sent always; this default when the job does not set it.
    AlwaysSent(DefaultValue),
    /// Sent only when the job sets it.
    WhenSet,
}

/// A default value, as constant data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultValue {
    Text(&'static str),
    Bool(bool),
}

impl DefaultValue {
    fn to_json(self) -> Value {
        match self {
            DefaultValue::Text(text) => Value::String(text.to_owned()),
            DefaultValue::Bool(flag) => Value::Bool(flag),
        }
    }
}

/// One input field of a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    pub name: &'static str,
    pub field_type: FieldType,
    pub presence: Presence,
}

/// A model of the jobs API that sora-batch knows how to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    pub name: &'static str,
    pub fields: &'static [FieldSpec],
    /// How long a task usually takes, in seconds, where a source says so.
    pub typical_generation_seconds: Option<u32>,
}

/// `kie-api-notes.md` (Limits, "seen"): a 10-second Sora 2 clip takes on the order of one to
/// three minutes, about 130 s. No source gives a figure for the Pro models.
const SORA_2_TYPICAL_SECONDS: Option<u32> = Some(130);

/// A problem with one input field, found before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputProblem {
    /// The field's name as written in the input.
    pub field: String,
    pub kind: InputProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputProblemKind {
    /// The model has no such field; `suggestion` is a known field with a close name.
    UnknownField { suggestion: Option<&'static str> },
    /// A required field is missing.
    Missing,
    /// The value has the wrong type or is out of range; `expected` says what fits.
    Invalid { expected: String },
}

impl std::fmt::Display for InputProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            InputProblemKind::UnknownField {
                suggestion: Some(close),
            } => write!(f, "unknown field `{}`, did you mean `{close}`?", self.field),
            InputProblemKind::UnknownField { suggestion: None } => {
                write!(f, "unknown field `{}`", self.field)
            }
            InputProblemKind::Missing => write!(f, "missing required field `{}`", self.field),
            InputProblemKind::Invalid { expected } => {
                write!(f, "invalid `{}`: expected {expected}", self.field)
            }
        }
    }
}

/// The longest prompt the Sora 2 models accept, in characters.
pub const MAX_PROMPT_CHARS: usize = 10_000;

const PROMPT: FieldSpec = FieldSpec {
    name: "prompt",
    field_type: FieldType::Text {
        max_chars: MAX_PROMPT_CHARS,
    },
    presence: Presence::Required,
};
const ASPECT_RATIO: FieldSpec = FieldSpec {
    name: "aspect_ratio",
    field_type: FieldType::Choice(&["portrait", "landscape"]),
    presence: Presence::AlwaysSent(DefaultValue::Text("landscape")),
};
const N_FRAMES: FieldSpec = FieldSpec {
    name: "n_frames",
    field_type: FieldType::Choice(&["10", "15"]),
    presence: Presence::AlwaysSent(DefaultValue::Text("10")),
};
const REMOVE_WATERMARK: FieldSpec = FieldSpec {
    name: "remove_watermark",
    field_type: FieldType::Bool,
    presence: Presence::AlwaysSent(DefaultValue::Bool(true)),
};
const UPLOAD_METHOD: FieldSpec = FieldSpec {
    name: "upload_method",
    field_type: FieldType::Choice(&["s3", "oss"]),
    presence: Presence::WhenSet,
};
const CHARACTER_ID_LIST: FieldSpec = FieldSpec {
    name: "character_id_list",
    field_type: FieldType::TextList { max: 5 },
    presence: Presence::WhenSet,
};
const IMAGE_URLS: FieldSpec = FieldSpec {
    name: "image_urls",
    field_type: FieldType::UrlList { min: 1, max: 1 },
    presence: Presence::Required,
};
const SIZE: FieldSpec = FieldSpec {
    name: "size",
    field_type: FieldType::Choice(&["standard", "high"]),
    presence: Presence::WhenSet,
};

/// The Sora 2 family on the jobs API, as `kie-api-notes.md` describes it.
pub const SORA_2_MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "sora-2-text-to-video",
        fields: &[
            PROMPT,
            ASPECT_RATIO,
            N_FRAMES,
            REMOVE_WATERMARK,
            UPLOAD_METHOD,
            CHARACTER_ID_LIST,
        ],
        typical_generation_seconds: SORA_2_TYPICAL_SECONDS,
    },
    ModelSpec {
        name: "sora-2-image-to-video",
        fields: &[PROMPT, IMAGE_URLS, ASPECT_RATIO, N_FRAMES, REMOVE_WATERMARK],
        typical_generation_seconds: SORA_2_TYPICAL_SECONDS,
    },
    ModelSpec {
        name: "sora-2-pro-text-to-video",
        fields: &[PROMPT, ASPECT_RATIO, N_FRAMES, REMOVE_WATERMARK, SIZE],
        typical_generation_seconds: None,
    },
    ModelSpec {
        name: "sora-2-pro-image-to-video",
        fields: &[
            PROMPT,
            IMAGE_URLS,
            ASPECT_RATIO,
            N_FRAMES,
            REMOVE_WATERMARK,
            SIZE,
        ],
        typical_generation_seconds: None,
    },
    ModelSpec {
        name: "sora-2-text-to-video-stable",
        fields: &[PROMPT, ASPECT_RATIO, N_FRAMES],
        typical_generation_seconds: SORA_2_TYPICAL_SECONDS,
    },
    ModelSpec {
        name: "sora-2-image-to-video-stable",
        fields: &[PROMPT, IMAGE_URLS, ASPECT_RATIO, N_FRAMES],
        typical_generation_seconds: SORA_2_TYPICAL_SECONDS,
    },
];

/// The spec of a model sora-batch validates, or `None` for a model passed through as is.
pub fn lookup(model: &str) -> Option<&'static ModelSpec> {
    SORA_2_MODELS.iter().find(|spec| spec.name == model)
}

impl ModelSpec {
    pub fn field(&self, name: &str) -> Option<&'static FieldSpec> {
        self.fields.iter().find(|field| field.name == name)
    }

    /// Checks every field of `input`, and that required ones are present. All problems are
    /// returned together, in field order, so that a user sees them in one run.
    pub fn validate_input(&self, input: &Map<String, Value>) -> Vec<InputProblem> {
        let mut problems = Vec::new();
        for (name, value) in input {
            match self.field(name) {
                None => problems.push(InputProblem {
                    field: name.clone(),
                    kind: InputProblemKind::UnknownField {
                        suggestion: closest_name(name, self.fields.iter().map(|f| f.name)),
                    },
                }),
                Some(spec) => {
                    if let Err(expected) = check_value(spec.field_type, value) {
                        problems.push(InputProblem {
                            field: name.clone(),
                            kind: InputProblemKind::Invalid { expected },
                        });
                    }
                }
            }
        }
        for spec in self.fields {
            if spec.presence == Presence::Required && !input.contains_key(spec.name) {
                problems.push(InputProblem {
                    field: spec.name.to_owned(),
                    kind: InputProblemKind::Missing,
                });
            }
        }
        problems
    }

    /// Brings a valid input to the exact form that is sent: every always-sent field present
    /// (defaults filled in) and choices given as numbers turned into their strings. Fields
    /// sent only when set are left as they are.
    pub fn complete_input(&self, input: &mut Map<String, Value>) {
        for spec in self.fields {
            match (spec.presence, input.get_mut(spec.name)) {
                (Presence::AlwaysSent(default), None) => {
                    input.insert(spec.name.to_owned(), default.to_json());
                }
                (_, Some(value)) => normalize_value(spec.field_type, value),
                (_, None) => {}
            }
        }
    }
}

fn normalize_value(field_type: FieldType, value: &mut Value) {
    if let (FieldType::Choice(options), Value::Number(number)) = (field_type, &*value) {
        let text = number.to_string();
        if options.contains(&text.as_str()) {
            *value = Value::String(text);
        }
    }
}

fn check_value(field_type: FieldType, value: &Value) -> Result<(), String> {
    match field_type {
        FieldType::Text { max_chars } => match value {
            Value::String(text) if text.trim().is_empty() => Err("a non-empty string".into()),
            Value::String(text) => {
                let chars = text.chars().count();
                if chars > max_chars {
                    Err(format!("at most {max_chars} characters, found {chars}"))
                } else {
                    Ok(())
                }
            }
            _ => Err(format!("a string of at most {max_chars} characters")),
        },
        FieldType::Choice(options) => {
            let given = match value {
                Value::String(text) => Some(text.clone()),
                Value::Number(number) => Some(number.to_string()),
                _ => None,
            };
            match given {
                Some(text) if options.contains(&text.as_str()) => Ok(()),
                _ => Err(format!("one of {}", quoted_list(options))),
            }
        }
        FieldType::Bool => match value {
            Value::Bool(_) => Ok(()),
            _ => Err("true or false".into()),
        },
        FieldType::UrlList { min, max } => {
            let expected = if min == max {
                format!("a list of exactly {min} http(s) URL{}", plural(min))
            } else {
                format!("a list of {min} to {max} http(s) URLs")
            };
            match value {
                Value::Array(items)
                    if (min..=max).contains(&items.len())
                        && items
                            .iter()
                            .all(|item| item.as_str().is_some_and(is_http_url)) =>
                {
                    Ok(())
                }
                _ => Err(expected),
            }
        }
        FieldType::TextList { max } => match value {
            Value::Array(items)
                if items.len() <= max
                    && items
                        .iter()
                        .all(|item| item.as_str().is_some_and(|s| !s.trim().is_empty())) =>
            {
                Ok(())
            }
            _ => Err(format!("a list of at most {max} non-empty strings")),
        },
    }
}

fn is_http_url(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
}

fn plural(count: usize) -> &'static str {
    if count == 1 { "" } else { "s" }
}

fn quoted_list(options: &[&str]) -> String {
    let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
    quoted.join(", ")
}

/// Names longer than this get no suggestion: a typo is a slip in a word, not in a
/// paragraph, and the edit distance costs the product of the two lengths.
const MAX_SUGGESTED_NAME_CHARS: usize = 64;

/// The candidate closest to `name` by edit distance, when close enough to be a likely typo.
///
/// Cheap whatever the input: a name past [`MAX_SUGGESTED_NAME_CHARS`] characters gets no
/// suggestion, and a candidate whose length alone puts it out of reach is not compared
/// (the distance is at least the difference in length).
pub fn closest_name<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let name_chars = name.chars().take(MAX_SUGGESTED_NAME_CHARS + 1).count();
    if name_chars > MAX_SUGGESTED_NAME_CHARS {
        return None;
    }
    let threshold = (name_chars / 3).max(2);
    candidates
        .into_iter()
        .filter(|candidate| {
            let chars = candidate.chars().take(name_chars + threshold + 1).count();
            chars.abs_diff(name_chars) <= threshold
        })
        .map(|candidate| (edit_distance(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= threshold)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance over characters.
fn edit_distance(left: &str, right: &str) -> usize {
    let right: Vec<char> = right.chars().collect();
    let mut previous: Vec<usize> = (0..=right.len()).collect();
    for (i, left_char) in left.chars().enumerate() {
        let mut current = vec![i + 1; right.len() + 1];
        for (j, right_char) in right.iter().enumerate() {
            let substitution = previous[j] + usize::from(left_char != *right_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[right.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn the_seed_fields_are_filled_in_and_extras_are_not() {
        let spec = lookup("sora-2-text-to-video").expect("sora 2 is registered");
        let mut input = object(json!({"prompt": "a cat"}));
        assert!(spec.validate_input(&input).is_empty());
        spec.complete_input(&mut input);
        assert_eq!(
            Value::Object(input),
            json!({"prompt": "a cat", "aspect_ratio": "landscape", "n_frames": "10", "remove_watermark": true})
        );
    }

    #[test]
    fn numbers_for_choices_are_sent_as_strings() {
        let spec = lookup("sora-2-text-to-video").expect("sora 2 is registered");
        let mut input = object(json!({"prompt": "a cat", "n_frames": 15}));
        assert!(spec.validate_input(&input).is_empty());
        spec.complete_input(&mut input);
        assert_eq!(input.get("n_frames"), Some(&json!("15")));
        let twelve = object(json!({"prompt": "a cat", "n_frames": 12}));
        assert_eq!(
            spec.validate_input(&twelve),
            vec![InputProblem {
                field: "n_frames".into(),
                kind: InputProblemKind::Invalid {
                    expected: "one of \"10\", \"15\"".into()
                },
            }]
        );
    }

    #[test]
    fn problems_are_all_reported_with_suggestions() {
        let spec = lookup("sora-2-image-to-video").expect("registered");
        let input = object(json!({
            "aspect_ratio": "square",
            "remove_watermak": true,
            "prompt": "x".repeat(MAX_PROMPT_CHARS + 1),
        }));
        let rendered: Vec<String> = spec
            .validate_input(&input)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            rendered,
            [
                "invalid `aspect_ratio`: expected one of \"portrait\", \"landscape\"",
                "invalid `prompt`: expected at most 10000 characters, found 10001",
                "unknown field `remove_watermak`, did you mean `remove_watermark`?",
                "missing required field `image_urls`",
            ]
        );
    }

    #[test]
    fn the_prompt_limit_counts_characters_not_bytes() {
        let spec = lookup("sora-2-text-to-video").expect("registered");
        let input = object(json!({"prompt": "é".repeat(MAX_PROMPT_CHARS)}));
        assert!(spec.validate_input(&input).is_empty());
    }

    #[test]
    fn suggestions_skip_long_names_and_far_lengths() {
        assert_eq!(closest_name("promt", ["prompt", "takes"]), Some("prompt"));
        let long = "a".repeat(100_000);
        assert_eq!(closest_name(&long, [long.as_str()]), None);
        let near = "b".repeat(MAX_SUGGESTED_NAME_CHARS);
        assert_eq!(
            closest_name(&near, [near.as_str(), long.as_str()]),
            Some(near.as_str())
        );
        assert_eq!(closest_name("ab", ["abcdef"]), None);
    }

    #[test]
    fn stable_models_have_no_watermark_field_and_others_are_unknown() {
        let stable = lookup("sora-2-text-to-video-stable").expect("registered");
        assert!(stable.field("remove_watermark").is_none());
        assert!(lookup("veo3").is_none());
    }
}
