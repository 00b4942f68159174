//! Kie's price text (`pricingDesc`, "A 5-second video costs 160 credits (0.80 USD)") read
//! into the snapshot's [`PriceRule`], where the text states one.
//!
//! Read [`parse`] first. The text is prose written for people, so it is read with the
//! model's input schema at hand: `720p` is a condition on the field whose allowed values
//! include `720p`, "with sound" one on the model's boolean sound or audio field, "5 s" one on
//! its length field (`duration`). The forms read:
//!
//! - a price per task ("8 credits per image", "Per task: 57 credits");
//! - a price per second of the job's length ("3.8 credits per second", "19 credits/s",
//!   "10 credits per 5 seconds"), and "a 5-second video costs 160 credits" when the text
//!   names no unit and one length only: 32 credits per second of `duration`;
//! - tiers by an allowed value, the length, sound, or reference media, in lists
//!   ("8 credits per image at 1K, 12 at 2K, 18 at 4K"; "5 s 55 credits without sound, 110
//!   with sound; 10 s 110 without sound, 220 with sound"), where a value stays in force for
//!   the items after it until another value of the same field replaces it, a bare "with"
//!   refers to the last thing mentioned, and a list of bare prices ("with sound 3.5, 7, 15";
//!   "18 / 27") takes the conditions of the list before it, item by item, when both are as
//!   long;
//! - "... billed as well" of reference media: the media's seconds are billed too
//!   (`plus_seconds_of`).
//!
//! **Never a guess.** A word that is not understood where a price is stated, a price in
//! money rather than credits, a unit other than the task or the second, a condition that
//! names a value the schema does not have (unless every price shares it, or it is only
//! another name given in parentheses), two prices for the same conditions: any of these
//! gives `None`, and the model's price is unknown (the spending cap's unknown-price rule
//! applies). Nothing is interpolated or extrapolated beyond "per second" read as such.
//!
//! Deliberately not here: fetching the text ([`crate::Client::model_price`]) and applying
//! the rule ([`PriceRule::price`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::snapshot::{PriceRule, PriceTier};

/// The price rule `text` states for a model whose createTask `input` has `input_schema`;
/// `None` when the text states no rule this reader can read whole.
pub fn parse(text: &str, input_schema: &Value) -> Option<PriceRule> {
    let schema = SchemaIndex::new(input_schema);
    let tokens = lex(text)?;
    let mut reading = Reading::default();
    for sentence in tokens.split(|token| *token == Token::Stop) {
        if !sentence.is_empty() {
            reading.sentence(sentence, &schema)?;
        }
    }
    reading.into_rule(&schema)
}

/// Words that carry no condition and no unit: articles, verbs of pricing, the nouns a price
/// is "for". They are read past; any other word is a value, a unit, a feature, or a reason
/// to give up.
const FILLER: &[&str] = &[
    "a",
    "about",
    "an",
    "approx",
    "approximately",
    "are",
    "around",
    "at",
    "billed",
    "charged",
    "clip",
    "clips",
    "cost",
    "costing",
    "costs",
    "credit",
    "credits",
    "duration",
    "each",
    "every",
    "for",
    "generation",
    "generations",
    "image",
    "images",
    "in",
    "is",
    "job",
    "jobs",
    "length",
    "mode",
    "of",
    "on",
    "output",
    "picture",
    "pictures",
    "price",
    "priced",
    "quality",
    "request",
    "requests",
    "resolution",
    "roughly",
    "task",
    "tasks",
    "the",
    "video",
    "videos",
];

/// What follows "per" when the price is per task.
const TASK_NOUNS: &[&str] = &[
    "call",
    "clip",
    "generation",
    "image",
    "job",
    "output",
    "picture",
    "request",
    "run",
    "task",
    "video",
];

/// Words for a second, after a number ("5 s") or after "per".
const SECOND_WORDS: &[&str] = &["s", "sec", "secs", "second", "seconds"];

/// Adjectives that may stand between "with" and what it is with ("with generated sound").
const FEATURE_ADJECTIVES: &[&str] = &[
    "ai",
    "generated",
    "native",
    "synced",
    "synchronised",
    "synchronized",
];

/// Names of the input field that holds a job's length in seconds, most usual first.
const SECONDS_FIELDS: &[&str] = &[
    "duration",
    "seconds",
    "duration_seconds",
    "video_duration",
    "length",
    "video_length",
];

#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A number not followed by a unit of time: an amount, or a count after "per".
    Number(f64),
    /// A length: "5 s", "5-second", "10s", "5 seconds".
    Seconds(f64),
    /// A number run into letters that are not a unit of time: `720p`, `4k` (lowercase).
    Label(String),
    /// A word, lowercase, without apostrophes.
    Word(String),
    Comma,
    Semicolon,
    Colon,
    Slash,
    Open,
    Close,
    /// The end of a sentence.
    Stop,
}

/// The text as tokens; `None` when it states a price in money outside parentheses.
/// Parentheses that hold money ("(0.80 USD)") are left out: the price in credits is beside
/// them.
fn lex(text: &str) -> Option<Vec<Token>> {
    let lowered = text.to_lowercase();
    let chars: Vec<char> = lowered.chars().collect();
    let mut tokens = Vec::new();
    let mut index = 0;
    let mut paren_start: Option<usize> = None;
    while index < chars.len() {
        let c = chars[index];
        if c.is_ascii_digit() {
            let (number, digits, end) = read_number(&chars, index);
            index = end;
            tokens.push(number_token(number, &digits, &chars, &mut index));
        } else if c.is_alphabetic() {
            let start = index;
            while index < chars.len()
                && (chars[index].is_alphanumeric()
                    || (matches!(chars[index], '-' | '\'' | '’')
                        && chars
                            .get(index + 1)
                            .is_some_and(|next| next.is_alphabetic())))
            {
                index += 1;
            }
            let word: String = chars[start..index]
                .iter()
                .filter(|c| !matches!(c, '\'' | '’'))
                .collect();
            // A trailing possessive apostrophe ("videos'") is not part of the word.
            while chars.get(index).is_some_and(|c| matches!(c, '\'' | '’')) {
                index += 1;
            }
            tokens.push(Token::Word(word));
        } else {
            index += 1;
            match c {
                '$' | '€' | '£' | '¥' => tokens.push(Token::Word("usd".into())),
                ',' => tokens.push(Token::Comma),
                ';' => tokens.push(Token::Semicolon),
                ':' | '=' => tokens.push(Token::Colon),
                '/' => tokens.push(Token::Slash),
                '&' => tokens.push(Token::Word("and".into())),
                '(' | '[' => {
                    paren_start = Some(tokens.len());
                    tokens.push(Token::Open);
                }
                ')' | ']' => {
                    let money = paren_start.take().is_some_and(|start| {
                        let inside = &tokens[start..];
                        let is_money = inside.iter().any(is_money_word);
                        if is_money {
                            tokens.truncate(start);
                        }
                        is_money
                    });
                    if !money {
                        tokens.push(Token::Close);
                    }
                }
                '.' | '!' | '?' | '\n' => tokens.push(Token::Stop),
                // Approximation marks and quotes say nothing a price depends on.
                _ => {}
            }
        }
    }
    if tokens.iter().any(is_money_word) {
        return None;
    }
    Some(per_second_shorthand(tokens))
}

fn is_money_word(token: &Token) -> bool {
    matches!(token, Token::Word(word) if matches!(word.as_str(), "usd" | "eur" | "dollar" | "dollars" | "cents" | "cent"))
}

/// A number at `start`: digits, a decimal part, and thousands written `1,000`. Its value,
/// its digits as written, and where it ends.
fn read_number(chars: &[char], start: usize) -> (f64, String, usize) {
    let mut text = String::new();
    let mut index = start;
    loop {
        while index < chars.len() && chars[index].is_ascii_digit() {
            text.push(chars[index]);
            index += 1;
        }
        let digit_at = |at: usize| chars.get(at).is_some_and(char::is_ascii_digit);
        let thousands = chars.get(index) == Some(&',')
            && (1..=3).all(|offset| digit_at(index + offset))
            && !digit_at(index + 4);
        if thousands {
            index += 1;
            continue;
        }
        if chars.get(index) == Some(&'.') && digit_at(index + 1) && !text.contains('.') {
            text.push('.');
            index += 1;
            continue;
        }
        break;
    }
    let written = chars[start..index].iter().collect();
    (text.parse().unwrap_or(f64::NAN), written, index)
}

/// The token of a number read up to `index`: a length when a unit of time follows it (run
/// in, after a hyphen or after a space), a label when other letters are run into it.
fn number_token(number: f64, digits: &str, chars: &[char], index: &mut usize) -> Token {
    let letters_from = |start: usize| {
        let end = (start..chars.len())
            .find(|&at| !chars[at].is_alphabetic())
            .unwrap_or(chars.len());
        (chars[start..end].iter().collect::<String>(), end)
    };
    let here = *index;
    if chars.get(here).is_some_and(|c| c.is_alphabetic()) {
        let (letters, end) = letters_from(here);
        *index = end;
        if SECOND_WORDS.contains(&letters.as_str()) {
            return Token::Seconds(number);
        }
        return Token::Label(format!("{digits}{letters}"));
    }
    let after_gap = match chars.get(here) {
        Some('-') => Some(here + 1),
        Some(' ') => Some(here + 1),
        _ => None,
    };
    if let Some(start) = after_gap.filter(|&at| chars.get(at).is_some_and(|c| c.is_alphabetic())) {
        let (letters, end) = letters_from(start);
        let whole_word = !chars.get(end).is_some_and(|c| *c == '-' || *c == '\'');
        if SECOND_WORDS.contains(&letters.as_str()) && whole_word {
            *index = end;
            return Token::Seconds(number);
        }
    }
    Token::Number(number)
}

/// `credits/s` (and `credit/second`) as `credits per second`, so that the slash is not
/// read as a list separator.
fn per_second_shorthand(tokens: Vec<Token>) -> Vec<Token> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut index = 0;
    while index < tokens.len() {
        let is_credits = matches!(&tokens[index], Token::Word(word) if word.starts_with("credit"));
        let slash_second = tokens.get(index + 1) == Some(&Token::Slash)
            && matches!(tokens.get(index + 2), Some(Token::Word(word)) if SECOND_WORDS.contains(&word.as_str()));
        if is_credits && slash_second {
            out.push(Token::Word("credits".into()));
            out.push(Token::Word("per".into()));
            out.push(Token::Word("second".into()));
            index += 3;
        } else {
            out.push(tokens[index].clone());
            index += 1;
        }
    }
    out
}

/// What a price is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Unit {
    Task,
    /// Per this many seconds of the job's length.
    Seconds(f64),
}

/// Something a price may be with or without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Feature {
    Sound,
    ReferenceVideo,
    ReferenceImage,
    ReferenceAudio,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Presence {
    With,
    Without,
    /// "with or without": the price does not depend on it.
    Either,
}

/// One condition as written, before it is matched to the schema.
#[derive(Debug, Clone, PartialEq)]
enum Written {
    Length(f64),
    /// A label (`720p`, `4k`: `label` true) or a word (`std`) naming an allowed value. A
    /// word the schema does not allow is not understood; a label may describe the model.
    Value {
        text: String,
        label: bool,
    },
    Feature(Feature, Presence),
    /// A bare "with"/"without": of the last feature mentioned.
    Bare(Presence),
}

/// Which input a condition is about. Conditions on one slot replace each other in a list.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Field(String),
    /// The job's length, when the schema has a field for it.
    Length(String),
    /// A value, length or feature the schema has no field for.
    Unmatched(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    Equals(Value),
    Length(f64),
    Nonempty(bool),
    Boolean(bool),
    /// No condition: "with or without".
    Any,
    /// What was written, for a slot the schema has no field for.
    Unmatched(String),
}

type Conditions = BTreeMap<Slot, Condition>;

/// One item of a list: the text between two commas.
#[derive(Debug, Default)]
struct Item {
    amount: Option<f64>,
    unit: Option<Unit>,
    written: Vec<Written>,
    /// Indexes into `written` of names given in parentheses right after another value.
    aliases: Vec<(usize, usize)>,
}

/// A price as read, with its conditions.
#[derive(Debug, Clone)]
struct Priced {
    amount: f64,
    unit: Option<Unit>,
    conditions: Conditions,
    /// The conditions its item wrote itself (not carried from the items before it).
    own: Conditions,
}

/// What the text has said so far.
#[derive(Debug, Default)]
struct Reading {
    prices: Vec<Priced>,
    /// The last unit named: it holds for the prices after it.
    unit: Option<Unit>,
    /// Features whose media's length is billed as well.
    billed_as_well: Vec<Feature>,
}

impl Reading {
    fn sentence(&mut self, tokens: &[Token], schema: &SchemaIndex) -> Option<()> {
        let has_amount = tokens.iter().any(|token| matches!(token, Token::Number(_)));
        if !has_amount {
            return self.sentence_without_prices(tokens, schema);
        }
        // A head before the first colon ("Per task at 768p:") holds for the whole sentence.
        let (head, body) = match tokens.iter().position(|token| *token == Token::Colon) {
            Some(colon)
                if !tokens[..colon]
                    .iter()
                    .any(|token| matches!(token, Token::Number(_))) =>
            {
                (&tokens[..colon], &tokens[colon + 1..])
            }
            _ => (&tokens[..0], tokens),
        };
        let head = item(head)?;
        if head.amount.is_some() {
            return None;
        }
        if head.unit.is_some() {
            self.unit = head.unit;
        }
        let mut last_feature = None;
        let head_conditions = resolve(&head, schema, &mut last_feature)?;
        let mut previous_group: Vec<Priced> = Vec::new();
        for group in body.split(|token| *token == Token::Semicolon) {
            let mut carried = head_conditions.clone();
            let mut priced_group = Vec::new();
            for tokens in group.split(|token| {
                matches!(token, Token::Comma | Token::Slash) || *token == Token::Word("and".into())
            }) {
                let item = item(tokens)?;
                if item.unit.is_some() {
                    self.unit = item.unit;
                }
                let own = resolve(&item, schema, &mut last_feature)?;
                carried.extend(own.clone());
                match item.amount {
                    Some(amount) => priced_group.push(Priced {
                        amount,
                        unit: self.unit,
                        conditions: carried.clone(),
                        own,
                    }),
                    // "either quality", "with or without sound": nothing to price.
                    None if item
                        .written
                        .iter()
                        .all(|w| matches!(w, Written::Feature(_, Presence::Either))) => {}
                    None => return None,
                }
            }
            inherit_by_position(&mut priced_group, &previous_group);
            self.prices.extend(priced_group.iter().cloned());
            previous_group = priced_group;
        }
        Some(())
    }

    /// A sentence that states no price: that something has no price (harmless: what is not
    /// priced is unknown anyway), that the seconds of reference media are billed as well,
    /// or words with no condition at all. Anything else may change a price in a way not
    /// read here.
    fn sentence_without_prices(&mut self, tokens: &[Token], schema: &SchemaIndex) -> Option<()> {
        let words: Vec<&str> = tokens
            .iter()
            .filter_map(|token| match token {
                Token::Word(word) => Some(word.as_str()),
                _ => None,
            })
            .collect();
        let has = |wanted: &[&str]| words.iter().any(|word| wanted.contains(word));
        let says_unpriced = words.windows(2).any(|pair| {
            (pair[0] == "no" && matches!(pair[1], "row" | "price" | "rate" | "rows"))
                || (pair[0] == "not" && matches!(pair[1], "priced" | "listed"))
        }) || has(&["unpriced"]);
        if says_unpriced {
            return Some(());
        }
        if has(&["billed", "charged"])
            && has(&["well", "too", "also", "additionally", "addition", "extra"])
        {
            let features: Vec<Feature> = words
                .windows(2)
                .filter_map(|pair| reference_feature(pair[0], pair[1]))
                .collect();
            let first = *features.first()?;
            if features.iter().any(|feature| *feature != first) {
                return None;
            }
            schema.feature_field(first)?;
            self.billed_as_well.push(first);
            return Some(());
        }
        for piece in
            tokens.split(|token| matches!(token, Token::Comma | Token::Semicolon | Token::Slash))
        {
            let item = item(piece)?;
            let nothing = item.unit.is_none()
                && item
                    .written
                    .iter()
                    .all(|w| matches!(w, Written::Feature(_, Presence::Either)));
            if !nothing {
                return None;
            }
        }
        Some(())
    }

    fn into_rule(self, schema: &SchemaIndex) -> Option<PriceRule> {
        let mut prices = self.prices;
        if prices.is_empty() {
            return None;
        }
        excuse_shared_unmatched(&mut prices)?;
        let per_second_reading = per_length_reading(&prices);
        let mut tiers: Vec<PriceTier> = Vec::new();
        let mut per_second = false;
        for price in &prices {
            let mut when = Map::new();
            let mut length = None;
            for (slot, condition) in &price.conditions {
                match (slot, condition) {
                    (_, Condition::Any) => {}
                    (Slot::Length(_), Condition::Length(seconds)) => length = Some(*seconds),
                    (Slot::Field(field), Condition::Equals(value)) => {
                        when.insert(field.clone(), value.clone());
                    }
                    (Slot::Field(field), Condition::Boolean(flag)) => {
                        when.insert(field.clone(), Value::Bool(*flag));
                    }
                    (Slot::Field(field), Condition::Nonempty(flag)) => {
                        when.insert(field.clone(), serde_json::json!({ "nonempty": flag }));
                    }
                    _ => return None,
                }
            }
            let (per_task, per_second_amount) = match (price.unit, per_second_reading, length) {
                (None, Some(seconds), Some(_)) => (None, Some(price.amount / seconds)),
                (None | Some(Unit::Task), _, length) => {
                    if let Some(seconds) = length {
                        let (field, _) = schema.seconds_field.as_ref()?;
                        when.insert(field.clone(), schema.length_value(seconds));
                    }
                    (Some(price.amount), None)
                }
                // A length beside a price per second: unclear what it would mean.
                (Some(Unit::Seconds(_)), _, Some(_)) => return None,
                (Some(Unit::Seconds(seconds)), _, None) => (None, Some(price.amount / seconds)),
            };
            per_second |= per_second_amount.is_some();
            let tier = PriceTier {
                when,
                per_task,
                per_second: per_second_amount,
                plus_seconds_of: None,
            };
            match tiers.iter().find(|known| known.when == tier.when) {
                Some(known) if *known == tier => {}
                // Two prices for the same inputs.
                Some(_) => return None,
                None => tiers.push(tier),
            }
        }
        if tiers.iter().any(|tier| {
            tier.per_task
                .or(tier.per_second)
                .is_none_or(|amount| !amount.is_finite() || amount < 0.0)
        }) {
            return None;
        }
        for feature in &self.billed_as_well {
            let field = schema.feature_field(*feature)?;
            let with = serde_json::json!({"nonempty": true});
            let mut marked = false;
            for tier in tiers
                .iter_mut()
                .filter(|tier| tier.when.get(&field) == Some(&with))
            {
                tier.plus_seconds_of = Some(field.clone());
                marked = true;
            }
            if !marked {
                return None;
            }
        }
        // The first tier that holds is the price: more specific tiers go first, so that a
        // price "with sound" is not hidden by the plain price before it.
        tiers.sort_by_key(|tier| std::cmp::Reverse(tier.when.len()));
        let seconds_field = match per_second {
            true => Some(schema.seconds_field.as_ref()?.0.clone()),
            false => None,
        };
        Some(PriceRule {
            tiers,
            seconds_field,
            seconds_default: None,
            unknown_seconds: Vec::new(),
        })
    }
}

/// The tokens of one item: its amount, its unit, and what it is written with.
fn item(tokens: &[Token]) -> Option<Item> {
    let mut item = Item::default();
    let mut index = 0;
    let word_at = |at: usize| match tokens.get(at) {
        Some(Token::Word(word)) => Some(word.as_str()),
        _ => None,
    };
    while index < tokens.len() {
        match &tokens[index] {
            Token::Number(amount) => {
                if item.amount.replace(*amount).is_some() {
                    return None;
                }
            }
            Token::Seconds(seconds) => item.written.push(Written::Length(*seconds)),
            Token::Label(label) => item.written.push(Written::Value {
                text: label.clone(),
                label: true,
            }),
            Token::Open => {
                // `720p (std)`: a second name of the value before it.
                if let (
                    Some(before),
                    Some(Token::Label(name) | Token::Word(name)),
                    Some(Token::Close),
                ) = (
                    item.written.len().checked_sub(1),
                    tokens.get(index + 1),
                    tokens.get(index + 2),
                ) && matches!(item.written.get(before), Some(Written::Value { .. }))
                {
                    item.written.push(Written::Value {
                        text: name.clone(),
                        label: true,
                    });
                    item.aliases.push((before, item.written.len() - 1));
                    index += 3;
                    continue;
                }
            }
            Token::Close | Token::Colon => {}
            Token::Word(word) => match word.as_str() {
                "per" => {
                    let unit = match tokens.get(index + 1)? {
                        Token::Word(next) if SECOND_WORDS.contains(&next.as_str()) => {
                            Unit::Seconds(1.0)
                        }
                        Token::Word(next) if TASK_NOUNS.contains(&next.trim_end_matches('s')) => {
                            Unit::Task
                        }
                        Token::Seconds(seconds) if *seconds > 0.0 => Unit::Seconds(*seconds),
                        _ => return None,
                    };
                    if item.unit.replace(unit).is_some_and(|known| known != unit) {
                        return None;
                    }
                    index += 2;
                    continue;
                }
                "with" | "without" | "no" | "silent" | "muted" | "mute" => {
                    let (written, used) = feature(tokens, index)?;
                    item.written.push(written);
                    index += used;
                    continue;
                }
                "either" | "any" | "all" if word_at(index + 1).is_some() => {
                    index += 2;
                    continue;
                }
                filler if FILLER.contains(&filler) => {}
                value => item.written.push(Written::Value {
                    text: value.to_owned(),
                    label: false,
                }),
            },
            Token::Comma | Token::Semicolon | Token::Slash | Token::Stop => return None,
        }
        index += 1;
    }
    Some(item)
}

/// "with sound", "without reference video", "with or without audio", "silent", a bare
/// "with": what it says and how many tokens it took.
fn feature(tokens: &[Token], start: usize) -> Option<(Written, usize)> {
    let word_at = |at: usize| match tokens.get(at) {
        Some(Token::Word(word)) => Some(word.as_str()),
        _ => None,
    };
    let first = word_at(start)?;
    if matches!(first, "silent" | "muted" | "mute") {
        return Some((Written::Feature(Feature::Sound, Presence::Without), 1));
    }
    let (presence, mut at) = match (first, word_at(start + 1), word_at(start + 2)) {
        ("with", Some("or"), Some("without")) => (Presence::Either, start + 3),
        ("with", _, _) => (Presence::With, start + 1),
        _ => (Presence::Without, start + 1),
    };
    while word_at(at).is_some_and(|word| FEATURE_ADJECTIVES.contains(&word)) {
        at += 1;
    }
    let noun = word_at(at);
    let found = match noun {
        Some("sound" | "sounds" | "audio" | "soundtrack") => Some((Feature::Sound, 1)),
        Some(word) => word_at(at + 1)
            .and_then(|next| reference_feature(word, next))
            .map(|feature| (feature, 2)),
        None => None,
    };
    match found {
        Some((feature, words)) => Some((Written::Feature(feature, presence), at + words - start)),
        // A bare "with" ends its item ("11.5 with"); "no" alone says nothing readable.
        None if first != "no" && presence != Presence::Either && noun.is_none() => {
            Some((Written::Bare(presence), at - start))
        }
        None => None,
    }
}

/// "reference video(s)", "reference image(s)", "reference audio".
fn reference_feature(first: &str, second: &str) -> Option<Feature> {
    if !matches!(first, "reference" | "references" | "input") {
        return None;
    }
    match second {
        "video" | "videos" => Some(Feature::ReferenceVideo),
        "image" | "images" => Some(Feature::ReferenceImage),
        "audio" | "audios" => Some(Feature::ReferenceAudio),
        _ => None,
    }
}

/// The conditions an item writes, matched to the schema. `None` when a value names more
/// than one field, or a bare "with" has nothing to refer to.
fn resolve(
    item: &Item,
    schema: &SchemaIndex,
    last_feature: &mut Option<Feature>,
) -> Option<Conditions> {
    let mut conditions = Conditions::new();
    let aliased: Vec<usize> = item
        .aliases
        .iter()
        .flat_map(|(name, alias)| [*name, *alias])
        .collect();
    let mut alias_slots: Vec<(Slot, Condition)> = Vec::new();
    for (index, written) in item.written.iter().enumerate() {
        let (slot, condition) = match written {
            Written::Length(seconds) => match &schema.seconds_field {
                Some((field, _)) => (Slot::Length(field.clone()), Condition::Length(*seconds)),
                None => (
                    Slot::Unmatched("length".into()),
                    Condition::Unmatched(format!("{seconds} s")),
                ),
            },
            Written::Value { text, label } => match schema.values.get(text.as_str()) {
                Some(fields) if fields.len() == 1 => {
                    let (field, value) = &fields[0];
                    (Slot::Field(field.clone()), Condition::Equals(value.clone()))
                }
                // A word that is neither grammar nor an allowed value ("from 8 credits",
                // "Kling 3.0: ..."): the sentence says something not read here.
                None if !label => return None,
                None => (
                    Slot::Unmatched(format!("value {text}")),
                    Condition::Unmatched(text.clone()),
                ),
                Some(_) => return None,
            },
            Written::Feature(feature, presence) => {
                *last_feature = Some(*feature);
                feature_condition(*feature, *presence, schema)?
            }
            Written::Bare(presence) => feature_condition((*last_feature)?, *presence, schema)?,
        };
        if aliased.contains(&index) {
            alias_slots.push((slot, condition));
        } else {
            conditions.insert(slot, condition);
        }
    }
    // Of a value and its other name in parentheses, the one the schema knows is the
    // condition; when it knows neither (or both differently), the text is not understood.
    for pair in alias_slots.chunks(2) {
        let known: Vec<&(Slot, Condition)> = pair
            .iter()
            .filter(|(slot, _)| !matches!(slot, Slot::Unmatched(_)))
            .collect();
        match known.as_slice() {
            [(slot, condition)] => {
                conditions.insert(slot.clone(), condition.clone());
            }
            [first, second] if first == second => {
                conditions.insert(first.0.clone(), first.1.clone());
            }
            _ => return None,
        }
    }
    Some(conditions)
}

fn feature_condition(
    feature: Feature,
    presence: Presence,
    schema: &SchemaIndex,
) -> Option<(Slot, Condition)> {
    let slot = Slot::Unmatched(format!("{feature:?}"));
    let Some(field) = schema.feature_field(feature) else {
        // No field for it: "with or without" needs none; anything else is an unmatched
        // condition, excused only when every price shares it.
        return Some(match presence {
            Presence::Either => (slot, Condition::Any),
            _ => (
                slot,
                Condition::Unmatched(format!("{feature:?} {presence:?}")),
            ),
        });
    };
    let condition = match (feature, presence) {
        (_, Presence::Either) => Condition::Any,
        (Feature::Sound, presence) => Condition::Boolean(presence == Presence::With),
        (_, presence) => Condition::Nonempty(presence == Presence::With),
    };
    Some((Slot::Field(field), condition))
}

/// A list of bare prices after a list of as many ("with sound 3.5, 7, 15" after "480p 1.75,
/// 720p 3.5, 1080p 7.5"; "18 / 27" after "14 without sound, 20 with sound") takes, item by
/// item, the conditions that told the earlier list's items apart. Only when the new list
/// writes none of those conditions itself: otherwise it is not a parallel list, and its
/// bare prices stay as they are (and conflict, which gives up).
fn inherit_by_position(group: &mut [Priced], previous: &[Priced]) {
    let bare_after_first = group.iter().skip(1).all(|price| price.own.is_empty());
    if group.len() < 2 || group.len() != previous.len() || !bare_after_first {
        return;
    }
    let mut varying: Vec<Slot> = Vec::new();
    for slot in previous.iter().flat_map(|price| price.conditions.keys()) {
        let first = previous[0].conditions.get(slot);
        let varies = previous
            .iter()
            .any(|price| price.conditions.get(slot) != first);
        if varies && !varying.contains(slot) {
            varying.push(slot.clone());
        }
    }
    if varying.is_empty() || varying.iter().any(|slot| group[0].own.contains_key(slot)) {
        return;
    }
    for (price, pattern) in group.iter_mut().zip(previous) {
        for slot in &varying {
            match pattern.conditions.get(slot) {
                Some(condition) => {
                    price.conditions.insert(slot.clone(), condition.clone());
                }
                None => {
                    price.conditions.remove(slot);
                }
            }
        }
    }
}

/// Conditions the schema has no field for are dropped when every price has the same one
/// ("Per task at 768p: ..." of a model whose only resolution is 768p): they describe the
/// model, not a choice. Any other is a condition that cannot be checked: `None`.
fn excuse_shared_unmatched(prices: &mut [Priced]) -> Option<()> {
    for price in prices.iter_mut() {
        price.conditions.retain(|slot, condition| {
            !matches!(slot, Slot::Unmatched(_)) || *condition != Condition::Any
        });
    }
    let mut unmatched: Vec<(Slot, Condition)> = Vec::new();
    for (slot, condition) in prices.iter().flat_map(|price| price.conditions.iter()) {
        let pair = (slot.clone(), condition.clone());
        if matches!(slot, Slot::Unmatched(_)) && !unmatched.contains(&pair) {
            unmatched.push(pair);
        }
    }
    for (slot, condition) in unmatched {
        let shared = prices
            .iter()
            .all(|price| price.conditions.get(&slot) == Some(&condition));
        if !shared {
            return None;
        }
        for price in prices.iter_mut() {
            price.conditions.remove(&slot);
        }
    }
    Some(())
}

/// "A 5-second video costs 160 credits": when no price names a unit and every price is of
/// one same length, the prices are per that many seconds. `Some(seconds)` then.
fn per_length_reading(prices: &[Priced]) -> Option<f64> {
    let mut lengths = prices.iter().map(|price| {
        match (
            price.unit,
            price
                .conditions
                .iter()
                .find(|(slot, _)| matches!(slot, Slot::Length(_))),
        ) {
            (None, Some((_, Condition::Length(seconds)))) => Some(*seconds),
            _ => None,
        }
    });
    let first = lengths.next()??;
    (first > 0.0 && lengths.all(|seconds| seconds == Some(first))).then_some(first)
}

/// What the input schema offers that a price text may name.
#[derive(Debug, Default)]
struct SchemaIndex {
    /// Lowercase allowed value → the fields that allow it, with the value as the schema
    /// spells it.
    values: BTreeMap<String, Vec<(String, Value)>>,
    /// The field of the job's length, and its schema.
    seconds_field: Option<(String, Value)>,
    /// Boolean fields for sound, by name.
    sound_fields: Vec<String>,
    /// Fields that take media, by name.
    media_fields: Vec<String>,
}

impl SchemaIndex {
    fn new(schema: &Value) -> SchemaIndex {
        let mut properties: Vec<(String, Value)> = Vec::new();
        let mut collect = |schema: &Value| {
            if let Some(object) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in object {
                    if !properties.iter().any(|(known, _)| known == name) {
                        properties.push((name.clone(), property.clone()));
                    }
                }
            }
        };
        collect(schema);
        for key in ["oneOf", "anyOf", "allOf"] {
            for alternative in schema
                .get(key)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                collect(alternative);
            }
        }
        let mut index = SchemaIndex::default();
        for (name, property) in &properties {
            for value in allowed_values(property) {
                if let Value::String(text) = &value {
                    let fields = index.values.entry(text.to_lowercase()).or_default();
                    if !fields.iter().any(|(field, _)| field == name) {
                        fields.push((name.clone(), value.clone()));
                    }
                }
            }
            let lower = name.to_lowercase();
            if (lower.contains("sound") || lower.contains("audio")) && is_boolean(property) {
                index.sound_fields.push(name.clone());
            }
            if !is_boolean(property) && !lower.contains("prompt") {
                index.media_fields.push(name.clone());
            }
        }
        index.seconds_field = SECONDS_FIELDS
            .iter()
            .find_map(|wanted| properties.iter().find(|(name, _)| name == wanted).cloned());
        index
    }

    /// The field a feature is about: exactly one, or `None`.
    fn feature_field(&self, feature: Feature) -> Option<String> {
        let candidates: Vec<&String> = match feature {
            Feature::Sound => self.sound_fields.iter().collect(),
            Feature::ReferenceVideo | Feature::ReferenceImage | Feature::ReferenceAudio => {
                let medium = match feature {
                    Feature::ReferenceVideo => "video",
                    Feature::ReferenceImage => "image",
                    _ => "audio",
                };
                self.media_fields
                    .iter()
                    .filter(|name| {
                        let lower = name.to_lowercase();
                        lower.contains(medium) && lower.contains("ref")
                    })
                    .collect()
            }
        };
        match candidates.as_slice() {
            [only] => Some((*only).clone()),
            _ => None,
        }
    }

    /// A length as the length field's value: the allowed value that equals it (`"5"` or
    /// `5`), else a value of the field's type, else either.
    fn length_value(&self, seconds: f64) -> Value {
        let number = if seconds.fract() == 0.0 && seconds.abs() < 1e15 {
            Value::from(seconds as i64)
        } else {
            Value::from(seconds)
        };
        let text = Value::String(number.to_string());
        let Some((_, property)) = &self.seconds_field else {
            return number;
        };
        let allowed: Vec<Value> = allowed_values(property)
            .into_iter()
            .filter(|value| match value {
                Value::String(spelled) => spelled.trim().parse::<f64>().ok() == Some(seconds),
                Value::Number(spelled) => spelled.as_f64() == Some(seconds),
                _ => false,
            })
            .collect();
        match allowed.as_slice() {
            [one] => return one.clone(),
            [_, ..] => return Value::Array(allowed),
            [] => {}
        }
        match property.get("type").and_then(Value::as_str) {
            Some("string") => text,
            Some("integer" | "number") => number,
            _ => Value::Array(vec![number, text]),
        }
    }
}

/// The values a property of a JSON Schema allows, from `enum`, `const` and the same in its
/// alternatives (`anyOf`, `oneOf`), each once, in the order written.
pub fn allowed_values(property: &Value) -> Vec<Value> {
    let mut values = Vec::new();
    if let Some(listed) = property.get("enum").and_then(Value::as_array) {
        values.extend(listed.iter().cloned());
    }
    if let Some(constant) = property.get("const") {
        values.push(constant.clone());
    }
    for key in ["anyOf", "oneOf"] {
        for alternative in property
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for value in allowed_values(alternative) {
                if !values.contains(&value) {
                    values.push(value);
                }
            }
        }
    }
    values
}

fn is_boolean(property: &Value) -> bool {
    match property.get("type") {
        Some(Value::String(kind)) => kind == "boolean",
        Some(Value::Array(kinds)) => kinds.iter().any(|kind| kind == "boolean"),
        _ => ["anyOf", "oneOf"].iter().any(|key| {
            property
                .get(*key)
                .and_then(Value::as_array)
                .is_some_and(|alternatives| alternatives.iter().any(is_boolean))
        }),
    }
}

#[cfg(test)]
mod tests;
