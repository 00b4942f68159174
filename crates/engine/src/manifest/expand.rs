//! Matrix expansion with GitHub Actions semantics, as a plain function over borrowed values.
//!
//! Read [`expand_matrix`]. The rules, exactly as GitHub Actions documents them:
//!
//! 1. The axes' cartesian product, first axis varying slowest: the *original* combinations.
//! 2. `exclude`: an original combination is removed when it matches **every** key of some
//!    exclude entry (an entry may name only some axes: a partial match suffices).
//! 3. `include`, entry by entry: the entry is merged into every original (not excluded)
//!    combination none of whose original values it would overwrite. Keys it adds may
//!    overwrite values added by an earlier include entry. An entry that merges into no
//!    combination becomes a combination of its own; later entries never merge into it.
//!
//! Values compare by their text (`10` matches `"10"`). An empty matrix (no axes) has no
//! original combinations, so each include entry is a combination of its own.
//!
//! The rows of a `rows:` table are one more axis, varying slowest: each row is a value of
//! several entries (its cells), and its columns are axes for `exclude` and `include`.

use serde_saphyr::Spanned;

use super::origin::Written;
use super::raw::{RawMap, RawValue};

/// One entry of a combination: an axis, column or include key, and its value.
pub(crate) type Entry<'a> = (&'a str, Written<'a>);

/// One row of a `rows:` table as a value of the rows axis.
#[derive(Debug, Clone)]
pub(crate) struct RowValue<'a> {
    /// Its cells, the ones that name it first (the `id`, when the table has one).
    pub entries: Vec<Entry<'a>>,
    /// How many leading entries name the row in a derived id: its `id`, else all of them.
    pub naming: usize,
    /// Where the row is, for problems of its jobs.
    pub anchor: super::origin::Site,
}

/// The rows of a table: the first axis of the product.
#[derive(Debug, Clone, Default)]
pub(crate) struct RowsAxis<'a> {
    /// Every column's name: axes, for `exclude` and `include`.
    pub columns: Vec<&'a str>,
    pub rows: Vec<RowValue<'a>>,
}

/// One combination of the matrix.
#[derive(Debug, Clone)]
pub(crate) struct Combination<'a> {
    /// Axis values first (in axis order), then keys added by include entries.
    pub entries: Vec<Entry<'a>>,
    /// How many leading entries name the combination in its derived id: the row's naming
    /// cells and the axis values of an original combination, or every key of an include
    /// entry that stands alone.
    pub naming_entries: usize,
    /// The row it comes from, when the manifest has a table.
    pub row: Option<usize>,
}

impl<'a> Combination<'a> {
    pub fn get(&self, key: &str) -> Option<Written<'a>> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
    }
}

/// An axis: its name and values.
pub(crate) type Axis<'a> = (&'a str, &'a [Spanned<RawValue>]);

/// How many original combinations the axes (and the table's rows, when there is a table)
/// make, or `None` when that overflows.
pub(crate) fn product_len(axes: &[Axis<'_>], rows: Option<&RowsAxis<'_>>) -> Option<usize> {
    if axes.is_empty() && rows.is_none() {
        return Some(0);
    }
    let start = rows.map_or(1, |rows| rows.rows.len());
    axes.iter()
        .try_fold(start, |count, (_, values)| count.checked_mul(values.len()))
}

/// An upper bound of how many combinations [`expand_matrix`] makes, computed without
/// expanding anything; `None` when the axes' product overflows.
///
/// The product of the axes, less the combinations the largest `exclude` entry removes (the
/// entries may overlap, so only one of them is sure to remove all of its own), plus one per
/// `include` entry (an entry merges into existing combinations or makes one of its own).
pub(crate) fn combinations_bound(
    axes: &[Axis<'_>],
    rows: Option<&RowsAxis<'_>>,
    exclude: &[Spanned<RawMap<Spanned<RawValue>>>],
    include: &[Spanned<RawMap<Spanned<RawValue>>>],
) -> Option<u64> {
    let product = if axes.is_empty() && rows.is_none() {
        0
    } else {
        let start = rows.map_or(1, |rows| rows.rows.len() as u64);
        axes.iter().try_fold(start, |count, (_, values)| {
            count.checked_mul(values.len() as u64)
        })?
    };
    let removed = exclude
        .iter()
        .map(|entry| excluded_by(axes, rows, &entry.value))
        .max()
        .unwrap_or(0);
    product
        .saturating_sub(removed)
        .checked_add(include.len() as u64)
}

/// How many original combinations one exclude entry removes: on each axis it names, the
/// values it matches; on the others, every value; of the rows, those matching its keys
/// that are columns.
fn excluded_by(
    axes: &[Axis<'_>],
    rows: Option<&RowsAxis<'_>>,
    entry: &RawMap<Spanned<RawValue>>,
) -> u64 {
    if axes.is_empty() && rows.is_none() {
        return 0;
    }
    let matching_rows = rows.map_or(1, |rows| {
        rows.rows
            .iter()
            .filter(|row| {
                entry.entries.iter().all(|(key, wanted)| {
                    !rows.columns.contains(&key.value.as_str())
                        || row
                            .entries
                            .iter()
                            .find(|(name, _)| *name == key.value)
                            .is_some_and(|(_, value)| value.value().matches(&wanted.value))
                })
            })
            .count() as u64
    });
    axes.iter()
        .map(|(name, values)| match entry.get(name) {
            Some(wanted) => values
                .iter()
                .filter(|value| value.value.matches(&wanted.value))
                .count() as u64,
            None => values.len() as u64,
        })
        .fold(matching_rows, u64::saturating_mul)
}

fn matches_all(combination: &Combination<'_>, entry: &RawMap<Spanned<RawValue>>) -> bool {
    entry.entries.iter().all(|(key, value)| {
        combination
            .get(&key.value)
            .is_some_and(|present| present.value().matches(&value.value))
    })
}

/// Expands the rows, `axes`, `exclude` and `include` into combinations (see the module
/// docs).
pub(crate) fn expand_matrix<'a>(
    axes: &[Axis<'a>],
    rows: Option<&RowsAxis<'a>>,
    exclude: &'a [Spanned<RawMap<Spanned<RawValue>>>],
    include: &'a [Spanned<RawMap<Spanned<RawValue>>>],
) -> Vec<Combination<'a>> {
    let total = product_len(axes, rows).unwrap_or(0);
    let mut originals: Vec<Combination<'a>> = Vec::with_capacity(total);
    if total > 0 {
        // With a table, each row is crossed with every combination of the axes; without
        // one, the axes' combinations alone (`None`: no row).
        let row_values: Vec<Option<(usize, &RowValue<'a>)>> = match rows {
            Some(rows) => rows.rows.iter().enumerate().map(Some).collect(),
            None => vec![None],
        };
        for row in row_values {
            let (row_index, row_entries, row_naming) = match row {
                Some((index, row)) => (Some(index), row.entries.as_slice(), row.naming),
                None => (None, &[][..], 0),
            };
            let mut indices = vec![0usize; axes.len()];
            loop {
                let mut entries: Vec<Entry<'a>> =
                    Vec::with_capacity(row_entries.len() + axes.len());
                entries.extend_from_slice(&row_entries[..row_naming]);
                entries.extend(
                    axes.iter()
                        .zip(&indices)
                        .map(|((name, values), &index)| (*name, Written::Yaml(&values[index]))),
                );
                entries.extend_from_slice(&row_entries[row_naming..]);
                let combination = Combination {
                    naming_entries: row_naming + axes.len(),
                    entries,
                    row: row_index,
                };
                if !exclude
                    .iter()
                    .any(|entry| matches_all(&combination, &entry.value))
                {
                    originals.push(combination);
                }
                // Odometer increment, last axis fastest.
                let mut axis = axes.len();
                loop {
                    if axis == 0 {
                        break;
                    }
                    axis -= 1;
                    indices[axis] += 1;
                    if indices[axis] < axes[axis].1.len() {
                        break;
                    }
                    indices[axis] = 0;
                }
                if indices.iter().all(|&index| index == 0) {
                    break;
                }
            }
        }
    }
    let mut axis_names: Vec<&str> = axes.iter().map(|(name, _)| *name).collect();
    if let Some(rows) = rows {
        axis_names.extend(rows.columns.iter().copied());
    }
    let mut added: Vec<Combination<'a>> = Vec::new();
    for entry in include {
        let mut merged = false;
        for combination in &mut originals {
            let overwrites_original = entry.value.entries.iter().any(|(key, value)| {
                axis_names.contains(&key.value.as_str())
                    && combination
                        .get(&key.value)
                        .is_some_and(|present| !present.value().matches(&value.value))
            });
            if overwrites_original {
                continue;
            }
            merged = true;
            for (key, value) in &entry.value.entries {
                if axis_names.contains(&key.value.as_str()) {
                    continue;
                }
                match combination
                    .entries
                    .iter_mut()
                    .find(|(name, _)| *name == key.value)
                {
                    Some(slot) => slot.1 = Written::Yaml(value),
                    None => combination
                        .entries
                        .push((key.value.as_str(), Written::Yaml(value))),
                }
            }
        }
        if !merged {
            let entries: Vec<Entry<'a>> = entry
                .value
                .entries
                .iter()
                .map(|(key, value)| (key.value.as_str(), Written::Yaml(value)))
                .collect();
            added.push(Combination {
                naming_entries: entries.len(),
                entries,
                row: None,
            });
        }
    }
    originals.extend(added);
    originals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::raw::RawMatrix;

    fn matrix(yaml: &str) -> RawMatrix {
        serde_saphyr::from_str(yaml).unwrap_or_default()
    }

    fn axes(matrix: &RawMatrix) -> Vec<Axis<'_>> {
        matrix
            .axes
            .iter()
            .filter_map(|(key, value)| match &value.value {
                RawValue::List(values) => Some((key.value.as_str(), values.as_slice())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_bound_holds_the_expansion_and_counts_excludes_and_includes() {
        // (matrix, bound, combinations it expands to)
        for (yaml, bound, exact) in [
            ("a: [1, 2, 3]\nb: [x, y]\n", 6, 6),
            (
                "a: [1, 2, 3]\nb: [x, y]\nexclude:\n  - a: 1\n  - {a: 2, b: x}\n",
                4,
                3,
            ),
            ("a: [1, 2, 3]\nb: [x, y]\nexclude:\n  - {}\n", 0, 0),
            (
                "a: [1, 2, 3]\nb: [x, y]\ninclude:\n  - c: 1\n  - a: 9\n",
                8,
                7,
            ),
            ("include:\n  - a: 1\n  - a: 2\n", 2, 2),
        ] {
            let matrix = matrix(yaml);
            let axes = axes(&matrix);
            assert_eq!(
                combinations_bound(&axes, None, &matrix.exclude, &matrix.include),
                Some(bound),
                "{yaml}"
            );
            let expanded = expand_matrix(&axes, None, &matrix.exclude, &matrix.include);
            assert_eq!(expanded.len() as u64, exact, "{yaml}");
        }
    }

    #[test]
    fn rows_are_the_slowest_axis_and_exclude_and_include_see_their_columns() {
        use crate::manifest::origin::{Site, TableCell};
        let cell = |text: &str| TableCell {
            value: RawValue::String(text.to_owned()),
            at: crate::manifest::shape::START_OF_FILE,
            span: 0..0,
        };
        let cells = [cell("fox"), cell("A fox"), cell("owl"), cell("An owl")];
        fn row<'a>(id: &'a TableCell, prompt: &'a TableCell) -> RowValue<'a> {
            RowValue {
                entries: vec![("id", Written::Cell(id)), ("prompt", Written::Cell(prompt))],
                naming: 1,
                anchor: Site::Table(crate::manifest::shape::START_OF_FILE),
            }
        }
        let rows = RowsAxis {
            columns: vec!["id", "prompt"],
            rows: vec![row(&cells[0], &cells[1]), row(&cells[2], &cells[3])],
        };
        let matrix = matrix(
            "ratio: [wide, tall]\nexclude:\n  - {id: owl, ratio: tall}\ninclude:\n  - {id: fox, duration: 10}\n",
        );
        let axes = axes(&matrix);
        let expanded = expand_matrix(&axes, Some(&rows), &matrix.exclude, &matrix.include);
        let shown: Vec<String> = expanded
            .iter()
            .map(|combination| {
                combination
                    .entries
                    .iter()
                    .map(|(name, value)| {
                        format!("{name}={}", value.value().scalar_text().unwrap_or_default())
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        assert_eq!(
            shown,
            [
                "id=fox ratio=wide prompt=A fox duration=10",
                "id=fox ratio=tall prompt=A fox duration=10",
                "id=owl ratio=wide prompt=An owl",
            ]
        );
        assert_eq!(expanded[0].naming_entries, 2);
        assert_eq!(expanded[2].row, Some(1));
        assert_eq!(
            combinations_bound(&axes, Some(&rows), &matrix.exclude, &matrix.include),
            Some(4)
        );
    }

    #[test]
    fn an_overflowing_product_has_no_bound() {
        let yaml: String = (0..20)
            .map(|axis| format!("a{axis}: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]\n"))
            .collect();
        let matrix = matrix(&yaml);
        let axes = axes(&matrix);
        assert_eq!(axes.len(), 20);
        assert_eq!(combinations_bound(&axes, None, &[], &[]), None);
    }
}
