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

use serde_saphyr::Spanned;

use super::raw::{RawMap, RawValue};

/// One entry of a combination: an axis or include key, and its value.
pub(crate) type Entry<'a> = (&'a str, &'a Spanned<RawValue>);

/// One combination of the matrix.
#[derive(Debug, Clone)]
pub(crate) struct Combination<'a> {
    /// Axis values first (in axis order), then keys added by include entries.
    pub entries: Vec<Entry<'a>>,
    /// How many leading entries name the combination in its derived id: the axis values of
    /// an original combination, or every key of an include entry that stands alone.
    pub naming_entries: usize,
}

impl<'a> Combination<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Spanned<RawValue>> {
        self.entries
            .iter()
            .find(|(name, _)| *name == key)
            .map(|(_, value)| *value)
    }
}

/// An axis: its name and values.
pub(crate) type Axis<'a> = (&'a str, &'a [Spanned<RawValue>]);

/// How many original combinations the axes make, or `None` when that overflows.
pub(crate) fn product_len(axes: &[Axis<'_>]) -> Option<usize> {
    if axes.is_empty() {
        return Some(0);
    }
    axes.iter()
        .try_fold(1usize, |count, (_, values)| count.checked_mul(values.len()))
}

fn matches_all(combination: &Combination<'_>, entry: &RawMap<Spanned<RawValue>>) -> bool {
    entry.entries.iter().all(|(key, value)| {
        combination
            .get(&key.value)
            .is_some_and(|present| present.value.matches(&value.value))
    })
}

/// Expands `axes`, `exclude` and `include` into combinations (see the module docs).
pub(crate) fn expand_matrix<'a>(
    axes: &[Axis<'a>],
    exclude: &'a [Spanned<RawMap<Spanned<RawValue>>>],
    include: &'a [Spanned<RawMap<Spanned<RawValue>>>],
) -> Vec<Combination<'a>> {
    let total = product_len(axes).unwrap_or(0);
    let mut originals: Vec<Combination<'a>> = Vec::with_capacity(total);
    if total > 0 {
        let mut indices = vec![0usize; axes.len()];
        loop {
            let entries: Vec<Entry<'a>> = axes
                .iter()
                .zip(&indices)
                .map(|((name, values), &index)| (*name, &values[index]))
                .collect();
            let combination = Combination {
                naming_entries: entries.len(),
                entries,
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
    let axis_names: Vec<&str> = axes.iter().map(|(name, _)| *name).collect();
    let mut added: Vec<Combination<'a>> = Vec::new();
    for entry in include {
        let mut merged = false;
        for combination in &mut originals {
            let overwrites_original = entry.value.entries.iter().any(|(key, value)| {
                axis_names.contains(&key.value.as_str())
                    && combination
                        .get(&key.value)
                        .is_some_and(|present| !present.value.matches(&value.value))
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
                    Some(slot) => slot.1 = value,
                    None => combination.entries.push((key.value.as_str(), value)),
                }
            }
        }
        if !merged {
            let entries: Vec<Entry<'a>> = entry
                .value
                .entries
                .iter()
                .map(|(key, value)| (key.value.as_str(), value))
                .collect();
            added.push(Combination {
                naming_entries: entries.len(),
                entries,
            });
        }
    }
    originals.extend(added);
    originals
}
