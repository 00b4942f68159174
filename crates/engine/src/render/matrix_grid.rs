//! The gallery's grid view: a matrix laid out as a comparison, rows and columns chosen from
//! the manifest's axes (subject × model), because that is how people judge a matrix.
//!
//! Read [`MatrixAxes`]. The page carries the axes once, as the options of its selects, and
//! each card its place in the matrix as a few value indices (`data-matrix="0 2 -"`, `-`
//! where the job has no value on that axis, as an explicit job has none), so a batch of
//! 20,000 jobs pays a few bytes per card. [`GRID_SCRIPT`] builds the table in the browser
//! and moves the existing cards into its cells (no media is written twice); the axes not
//! chosen are filters, or stack their values in a cell. Every text from the manifest
//! reaches the page escaped, as HTML text, and the script sets text only with
//! `textContent`: an axis value is never markup. Without JavaScript the controls stay
//! hidden and the cards show as a list.

use std::collections::HashMap;
use std::fmt::Write as _;

use super::escape_markup;
use crate::report::{JobReport, Report};

/// The axes the report's jobs show, each with its values, in order of first appearance: for
/// a matrix, the manifest's order (the first axis varies slowest), include keys after.
#[derive(Debug, Default)]
pub(super) struct MatrixAxes<'a> {
    axes: Vec<(&'a str, Vec<&'a str>)>,
    axis_index: HashMap<&'a str, usize>,
    value_index: Vec<HashMap<&'a str, usize>>,
}

impl<'a> MatrixAxes<'a> {
    pub fn of(report: &'a Report) -> MatrixAxes<'a> {
        let mut axes = MatrixAxes::default();
        for job in &report.jobs {
            for (name, value) in job.matrix.iter() {
                let axis = match axes.axis_index.get(name) {
                    Some(&axis) => axis,
                    None => {
                        axes.axes.push((name, Vec::new()));
                        axes.value_index.push(HashMap::new());
                        axes.axis_index.insert(name, axes.axes.len() - 1);
                        axes.axes.len() - 1
                    }
                };
                if !axes.value_index[axis].contains_key(value) {
                    axes.value_index[axis].insert(value, axes.axes[axis].1.len());
                    axes.axes[axis].1.push(value);
                }
            }
        }
        axes
    }

    pub fn is_empty(&self) -> bool {
        self.axes.is_empty()
    }

    /// The card's `data-matrix` attribute: the job's value index on each axis, `-` where it
    /// has none. Empty when the batch has no matrix.
    pub fn card_attribute(&self, job: &JobReport) -> String {
        if self.is_empty() {
            return String::new();
        }
        let mut indices = vec![None; self.axes.len()];
        for (name, value) in job.matrix.iter() {
            if let Some(&axis) = self.axis_index.get(name) {
                indices[axis] = self.value_index[axis].get(value).copied();
            }
        }
        let mut attribute = String::from(" data-matrix=\"");
        for (position, index) in indices.iter().enumerate() {
            if position > 0 {
                attribute.push(' ');
            }
            match index {
                Some(index) => {
                    let _ = write!(attribute, "{index}");
                }
                None => attribute.push('-'),
            }
        }
        attribute.push('"');
        attribute
    }

    /// The controls: cards or grid, the rows' and columns' axes (the first two by
    /// default), and a filter per axis (shown for the axes not laid out). Hidden until the
    /// script shows them.
    pub fn write_controls(&self, out: &mut impl std::fmt::Write) {
        if self.is_empty() {
            return;
        }
        let (rows, columns) = match self.axes.len() {
            1 => (None, Some(0)),
            _ => (Some(0), Some(1)),
        };
        let _ = out.write_str(
            "<nav class=\"views\" aria-label=\"Layout\" hidden>\n\
             <button type=\"button\" data-view=\"cards\" aria-pressed=\"true\">cards</button>\n\
             <button type=\"button\" data-view=\"grid\" aria-pressed=\"false\">grid</button>\n\
             <span class=\"grid-controls\" hidden>\n",
        );
        for (label, id, chosen) in [
            ("rows", "grid-rows", rows),
            ("columns", "grid-columns", columns),
        ] {
            let _ = write!(
                out,
                "<label>{label} <select id=\"{id}\"><option value=\"-1\"{}>none</option>",
                selected(chosen.is_none())
            );
            for (axis, (name, _)) in self.axes.iter().enumerate() {
                let _ = write!(
                    out,
                    "<option value=\"{axis}\"{}>{}</option>",
                    selected(chosen == Some(axis)),
                    escape(name)
                );
            }
            let _ = out.write_str("</select></label>\n");
        }
        for (axis, (name, values)) in self.axes.iter().enumerate() {
            let _ = write!(
                out,
                "<label class=\"axis-filter\">{} <select data-axis=\"{axis}\"><option value=\"\">every value</option>",
                escape(name)
            );
            for (index, value) in values.iter().enumerate() {
                let _ = write!(out, "<option value=\"{index}\">{}</option>", escape(value));
            }
            let _ = out.write_str("</select></label>\n");
        }
        let _ = out.write_str("</span>\n</nav>\n");
    }

    /// Where the script puts the table, and the cards the filters leave out.
    pub fn write_grid_container(&self, out: &mut impl std::fmt::Write) {
        if !self.is_empty() {
            let _ = out.write_str(
                "<section id=\"grid\" aria-label=\"Grid\" hidden></section>\n\
                 <div id=\"parked\" hidden></div>\n",
            );
        }
    }
}

/// A card's place in the matrix for people: `subject: A chef · model: kling-2.6`.
pub(super) fn write_card_values(job: &JobReport, out: &mut impl std::fmt::Write) {
    if job.matrix.is_empty() {
        return;
    }
    let _ = out.write_str("<p class=\"axes\">");
    for (position, (name, value)) in job.matrix.iter().enumerate() {
        let _ = write!(
            out,
            "{}{}: <b>{}</b>",
            if position > 0 { " · " } else { "" },
            escape(name),
            escape(value)
        );
    }
    let _ = out.write_str("</p>\n");
}

fn escape(text: &str) -> String {
    escape_markup(text, "&#39;")
}

fn selected(is: bool) -> &'static str {
    if is { " selected" } else { "" }
}

pub(super) const GRID_STYLE: &str = r#"
.views { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; padding: 0 28px 16px; }
.views label { color: var(--muted); font-size: 14px; }
.views select { font: inherit; color: var(--ink); background: var(--card); border: 1px solid var(--line);
  border-radius: 6px; padding: 3px 6px; max-width: 220px; }
.grid-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 8px 14px; margin-left: 8px; }
.axes { margin: 0 0 6px; color: var(--muted); font-size: 13px; word-break: break-word; }
.axes b { color: var(--ink); font-weight: 600; }
#grid { overflow-x: auto; padding: 0 20px 28px; }
table.matrix { border-collapse: separate; border-spacing: 8px; }
.matrix th { text-align: left; color: var(--muted); font-weight: 600; padding: 4px; word-break: break-word; }
.matrix thead th { vertical-align: bottom; }
.matrix tbody th { vertical-align: top; max-width: 200px; }
.matrix td { vertical-align: top; min-width: 260px; max-width: 380px; }
.matrix td:empty::after { content: "—"; color: var(--muted); display: block; padding: 8px; }
.matrix td .job + .job { margin-top: 8px; }
.matrix .job .prompt, .matrix .job dl { display: none; }
.matrix .job.portrait video { max-height: 300px; }
"#;

/// The grid view: the table built from the selects, the cards moved into its cells, and
/// back into the list in their order when the cards view is chosen again.
pub(super) const GRID_SCRIPT: &str = r#"
(function () {
  var views = document.querySelector('.views');
  if (!views) { return; }
  var list = document.querySelector('main');
  var cards = Array.prototype.slice.call(list.querySelectorAll('.job'));
  var grid = document.getElementById('grid');
  var parked = document.getElementById('parked');
  var controls = views.querySelector('.grid-controls');
  var rows = document.getElementById('grid-rows');
  var columns = document.getElementById('grid-columns');
  var filters = Array.prototype.slice.call(views.querySelectorAll('select[data-axis]'));
  var places = cards.map(function (card) { return card.getAttribute('data-matrix').split(' '); });
  var chosen = { rows: rows.value, columns: columns.value };
  function axisName(axis) { return rows.options[axis + 1].text; }
  function valueName(axis, key) {
    return key === '-' ? '(not in the matrix)' : filters[axis].options[Number(key) + 1].text;
  }
  // Every value of the axis (an empty row or column shows a combination the batch lacks),
  // and a row or column for the jobs outside the matrix when some are shown.
  function keysOf(axis, kept) {
    if (axis < 0) { return ['']; }
    var keys = [];
    for (var i = 1; i < filters[axis].options.length; i++) { keys.push(String(i - 1)); }
    if (kept.some(function (place) { return place[axis] === '-'; })) { keys.push('-'); }
    return keys;
  }
  function heading(text, scope) {
    var th = document.createElement('th');
    th.scope = scope;
    th.textContent = text;
    return th;
  }
  function showGrid() {
    var r = Number(rows.value), c = Number(columns.value);
    filters.forEach(function (filter, axis) { filter.parentNode.hidden = axis === r || axis === c; });
    var kept = places.map(function (place) {
      return filters.every(function (filter, axis) {
        return axis === r || axis === c || filter.value === '' || place[axis] === filter.value;
      }) ? place : null;
    });
    var shown = kept.filter(function (place) { return place !== null; });
    var table = document.createElement('table');
    table.className = 'matrix';
    var head = table.createTHead().insertRow();
    head.appendChild(heading((r < 0 ? '' : axisName(r) + ' ↓ ') + (c < 0 ? '' : axisName(c) + ' →'), 'col'));
    var columnKeys = keysOf(c, shown);
    columnKeys.forEach(function (key) { head.appendChild(heading(c < 0 ? '' : valueName(c, key), 'col')); });
    var body = table.createTBody();
    var cells = {};
    keysOf(r, shown).forEach(function (rowKey) {
      var row = body.insertRow();
      row.appendChild(heading(r < 0 ? '' : valueName(r, rowKey), 'row'));
      columnKeys.forEach(function (columnKey) { cells[rowKey + '|' + columnKey] = row.insertCell(); });
    });
    cards.forEach(function (card, index) {
      var place = kept[index];
      var cell = place ? cells[(r < 0 ? '' : place[r]) + '|' + (c < 0 ? '' : place[c])] : null;
      (cell || parked).appendChild(card);
    });
    while (grid.firstChild) { grid.removeChild(grid.firstChild); }
    grid.appendChild(table);
    list.hidden = true;
    grid.hidden = false;
    controls.hidden = false;
  }
  function showCards() {
    cards.forEach(function (card) { list.appendChild(card); });
    grid.hidden = true;
    list.hidden = false;
    controls.hidden = true;
  }
  [[rows, columns, 'rows'], [columns, rows, 'columns']].forEach(function (pair) {
    pair[0].addEventListener('change', function () {
      // One axis cannot be both: the other select takes this one's former axis.
      if (pair[0].value !== '-1' && pair[0].value === pair[1].value) { pair[1].value = chosen[pair[2]]; }
      chosen.rows = rows.value;
      chosen.columns = columns.value;
      showGrid();
    });
  });
  filters.forEach(function (filter) { filter.addEventListener('change', showGrid); });
  var buttons = views.querySelectorAll('button[data-view]');
  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
      if (button.getAttribute('data-view') === 'grid') { showGrid(); } else { showCards(); }
    });
  });
  views.hidden = false;
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::MatrixValues;
    use std::sync::Arc;

    fn job_with(values: &[(&str, &str)]) -> JobReport {
        let mut job: JobReport = serde_json::from_value(serde_json::json!({
            "id": "j", "key": "k", "take": 1, "model": "m", "input": {}, "task_id": null,
            "state": "pending", "files": [], "fail_code": null, "fail_msg": null,
            "credits": null, "duration_ms": null
        }))
        .unwrap_or_else(|error| panic!("{error}"));
        job.matrix = MatrixValues::new(
            values
                .iter()
                .map(|(name, value)| (Arc::from(*name), Arc::from(*value))),
        );
        job
    }

    #[test]
    fn axes_and_values_in_order_of_appearance_with_gaps_for_missing_values() {
        let mut report: Report = serde_json::from_value(serde_json::json!({
            "version": 1, "name": "n", "manifest": "m.yaml",
            "summary": {"total": 0, "succeeded": 0, "failed": 0, "timed_out": 0,
                        "uncertain": 0, "running": 0, "pending": 0, "credits": 0},
            "jobs": []
        }))
        .unwrap_or_else(|error| panic!("{error}"));
        report.jobs = vec![
            job_with(&[("subject", "a chef"), ("model", "kling")]),
            job_with(&[("subject", "a robot"), ("model", "kling"), ("mood", "calm")]),
            job_with(&[("subject", "a chef"), ("model", "wan")]),
            job_with(&[]),
        ];
        let axes = MatrixAxes::of(&report);
        let attributes: Vec<String> = report
            .jobs
            .iter()
            .map(|job| axes.card_attribute(job))
            .collect();
        assert_eq!(
            attributes,
            [
                " data-matrix=\"0 0 -\"",
                " data-matrix=\"1 0 0\"",
                " data-matrix=\"0 1 -\"",
                " data-matrix=\"- - -\"",
            ]
        );
        let mut controls = String::new();
        axes.write_controls(&mut controls);
        assert!(
            controls.contains("<option value=\"1\" selected>model</option>"),
            "{controls}"
        );
        assert!(controls.contains("<select data-axis=\"0\"><option value=\"\">every value</option><option value=\"0\">a chef</option><option value=\"1\">a robot</option></select>"), "{controls}");
    }
}
