//! The gallery's grid view as the page carries it: axes once, a few bytes per card, every
//! text from the manifest escaped. (Chromium clicks through it in the cli's tests.)

use sora_batch_engine::render::html;

use crate::step_summary::large_report;

/// Axis names and values are manifest text: shown as text, never markup, wherever the
/// page puts them (select options, the card's values).
#[test]
fn hostile_axis_names_and_values_stay_text() {
    let mut report = large_report(4, "a prompt");
    let name = "<script>alert('name')</script>";
    let value = "\"'><img src=x onerror=alert(1)>";
    let json = serde_json::json!({ name: value, "subject": "a \"chef\" & 'co'" });
    for job in &mut report.jobs {
        job.matrix = serde_json::from_value(json.clone()).expect("matrix values");
    }
    let page = html::render(&report);
    assert_eq!(
        page.matches("<script").count(),
        1,
        "only the page's own script"
    );
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;"));
    assert!(page.contains("&quot;&#39;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains("<option value=\"0\">a &quot;chef&quot; &amp; &#39;co&#39;</option>"));
    assert!(page.contains(" data-matrix=\"0 0\""), "{page}");
}

/// A batch without a matrix has no grid controls: nothing to compare.
#[test]
fn a_batch_without_a_matrix_has_no_grid() {
    let mut report = large_report(3, "a prompt");
    for job in &mut report.jobs {
        job.matrix = Default::default();
    }
    let page = html::render(&report);
    assert!(!page.contains("class=\"views\""));
    assert!(!page.contains(" data-matrix=\""));
    assert!(!page.contains("id=\"grid\""));
}

/// The grid costs a few bytes per card (its place as value indices, and its values for
/// people), not a second copy of the cards: docs/performance.md has the page's sizes.
#[test]
fn the_grid_adds_little_to_a_large_gallery() {
    for jobs in [1_000, 20_000] {
        let with_matrix = large_report(jobs, "smiling, confetti falls and the audience applauds");
        let mut without = with_matrix.clone();
        for job in &mut without.jobs {
            job.matrix = Default::default();
        }
        let (grid, plain) = (html::render(&with_matrix), html::render(&without));
        let per_job = (grid.len() - plain.len()) / jobs;
        eprintln!(
            "{jobs} jobs: report.html {} bytes ({} per job), {} without a matrix; the grid adds {per_job} per job",
            grid.len(),
            grid.len() / jobs,
            plain.len()
        );
        assert!(per_job <= 120, "{per_job} bytes per job for the grid");
    }
}
