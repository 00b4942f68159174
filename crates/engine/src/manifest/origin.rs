//! Where a value a job uses is written: in the manifest's YAML, or in a cell of its `rows:`
//! table. Diagnostics point at a [`Site`]; jobs are assembled from [`Written`] values.
//!
//! Read [`Site`] first. YAML values carry serde-saphyr's own locations (which only its
//! parser can make), table cells carry the line and column the table reader found; the
//! resolver turns either into a diagnostic rendered against the right file's text, in one
//! place (`Resolver::error_at`).

use std::ops::Range;

use serde_json::Value;
use serde_saphyr::Spanned;

use super::raw::RawValue;
use super::shape::position;
use crate::diagnostic::Position;

/// A place a diagnostic can point at: in the manifest, or in its rows table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Site {
    Manifest(Position),
    /// In the table `rows:` names (a manifest has at most one).
    Table(Position),
}

impl Site {
    pub(crate) fn position(self) -> Position {
        match self {
            Site::Manifest(position) | Site::Table(position) => position,
        }
    }
}

/// One cell of the rows table as a value of a job: its value, and where it is.
#[derive(Debug, Clone)]
pub(crate) struct TableCell {
    pub value: RawValue,
    pub at: Position,
    /// The bytes of the table's text the cell takes (quotes included), to find a
    /// template's `{name}` inside it.
    pub span: Range<usize>,
}

/// A value a job uses, with where it is written.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Written<'a> {
    /// A value of the manifest, positions all the way down.
    Yaml(&'a Spanned<RawValue>),
    /// A cell of the rows table; what is inside it (a JSON Lines list) is located at the
    /// cell.
    Cell(&'a TableCell),
}

impl<'a> Written<'a> {
    pub(crate) fn value(self) -> &'a RawValue {
        match self {
            Written::Yaml(spanned) => &spanned.value,
            Written::Cell(cell) => &cell.value,
        }
    }

    pub(crate) fn site(self) -> Site {
        match self {
            Written::Yaml(spanned) => Site::Manifest(position(&spanned.referenced)),
            Written::Cell(cell) => Site::Table(cell.at),
        }
    }
}

/// A JSON value (a cell of a JSON Lines table) as a value of the manifest; what is
/// inside it has no place in the manifest.
pub(crate) fn raw_value_of_json(value: &Value) -> RawValue {
    fn unplaced<T>(value: T) -> Spanned<T> {
        Spanned {
            value,
            referenced: serde_saphyr::Location::UNKNOWN,
            defined: serde_saphyr::Location::UNKNOWN,
        }
    }
    match value {
        Value::Null => RawValue::Null,
        Value::Bool(flag) => RawValue::Bool(*flag),
        Value::Number(number) => RawValue::Number(number.clone()),
        Value::String(text) => RawValue::String(text.clone()),
        Value::Array(items) => RawValue::List(
            items
                .iter()
                .map(|item| unplaced(raw_value_of_json(item)))
                .collect(),
        ),
        Value::Object(object) => RawValue::Map(
            object
                .iter()
                .map(|(key, value)| (unplaced(key.clone()), unplaced(raw_value_of_json(value))))
                .collect(),
        ),
    }
}
