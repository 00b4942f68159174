//! `report.html`: a self-contained gallery of the batch — look rather than read.
//!
//! Read [`render`]. One card per job: a `<video>` player per downloaded file (paths relative
//! to the batch folder, so the page works opened from disk, with no server and no network),
//! the job's id, prompt, options, state, credits and generation time, and the reason when it
//! did not succeed. Buttons filter the cards by state; without JavaScript every card shows.
//! A batch with a matrix also gets a grid view ([`super::matrix_grid`]): rows and columns
//! chosen from its axes, the cards laid out in the cells. Everything the page needs is
//! inline: no external stylesheet, script, font or image.

use std::fmt::Write as _;
use std::time::Duration;

use super::matrix_grid::{GRID_SCRIPT, GRID_STYLE, MatrixAxes, write_card_values};
use super::{duration_text, escape_markup, input_text, prompt, reason, seconds_text};
use crate::job::JobState;
use crate::media::{Media, MediaKind};
use crate::report::Report;

/// Escapes text for HTML content and attribute values.
fn escape(text: &str) -> String {
    escape_markup(text, "&#39;")
}

/// A relative path as a URL path: every byte outside the unreserved set percent-encoded.
fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

const STATES: [JobState; 6] = [
    JobState::Succeeded,
    JobState::Failed,
    JobState::TimedOut,
    JobState::Uncertain,
    JobState::Running,
    JobState::Pending,
];

fn state_label(state: JobState) -> &'static str {
    match state {
        JobState::Succeeded => "succeeded",
        JobState::Failed => "failed",
        JobState::TimedOut => "timed out",
        JobState::Uncertain => "uncertain",
        JobState::Running => "running",
        JobState::Pending => "pending",
    }
}

const STYLE: &str = r#"
:root { color-scheme: light dark; --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #5d6678;
  --line: #dde1e8; --ok: #1a7f37; --bad: #cf222e; --warn: #9a6700; --info: #0969da; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1217; --card: #181c24; --ink: #e6e9ef;
  --muted: #9aa3b2; --line: #2a3140; --ok: #3fb950; --bad: #f85149; --warn: #d29922; --info: #58a6ff; } }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; background: var(--bg); color: var(--ink); }
header { padding: 24px 28px 8px; }
h1 { margin: 0 0 4px; font-size: 22px; }
.meta { color: var(--muted); margin: 0 0 12px; }
.filters { display: flex; flex-wrap: wrap; gap: 8px; padding: 0 28px 16px; }
.filters button, .views button { border: 1px solid var(--line); background: var(--card); color: var(--ink); border-radius: 999px;
  padding: 5px 12px; font: inherit; cursor: pointer; }
.filters button[aria-pressed="true"], .views button[aria-pressed="true"] { border-color: var(--info); box-shadow: inset 0 0 0 1px var(--info); }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 16px; padding: 0 28px 28px; }
.job { background: var(--card); border: 1px solid var(--line); border-radius: 10px; overflow: hidden; display: flex; flex-direction: column; }
/* A filtered-out card, a view not shown: `display: flex` and `grid` above would otherwise
   beat the `hidden` attribute. */
[hidden] { display: none !important; }
.job video { width: 100%; aspect-ratio: 16 / 9; background: #000; display: block; }
.job img { width: 100%; height: auto; background: #000; display: block; }
.job audio { width: 100%; display: block; }
.job .text-result { display: block; padding: 12px 16px; font-family: ui-monospace, monospace; }
.job.portrait video { aspect-ratio: 9 / 16; max-height: 420px; }
.job .placeholder { aspect-ratio: 16 / 9; display: grid; place-items: center; color: var(--muted);
  background: repeating-linear-gradient(45deg, transparent 0 10px, rgba(127,127,127,.08) 10px 20px); }
.job .body { padding: 12px 14px 14px; }
.job h2 { font-size: 16px; margin: 0 0 6px; word-break: break-all; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; border-radius: 999px; padding: 1px 8px; margin-left: 6px;
  border: 1px solid currentColor; vertical-align: 2px; }
.succeeded .badge { color: var(--ok); } .failed .badge { color: var(--bad); }
.timed_out .badge, .uncertain .badge { color: var(--warn); } .running .badge, .pending .badge { color: var(--info); }
.prompt { margin: 0 0 8px; white-space: pre-wrap; }
dl { display: grid; grid-template-columns: auto 1fr; gap: 2px 10px; margin: 0; color: var(--muted); font-size: 13px; }
dt { font-weight: 600; } dd { margin: 0; word-break: break-all; }
.reason { margin: 8px 0 0; color: var(--bad); }
.timed_out .reason, .uncertain .reason, .running .reason, .pending .reason { color: var(--warn); }
"#;

const SCRIPT: &str = r#"
(function () {
  var buttons = document.querySelectorAll('.filters button');
  buttons.forEach(function (button) {
    button.addEventListener('click', function () {
      var wanted = button.getAttribute('data-filter');
      buttons.forEach(function (b) { b.setAttribute('aria-pressed', String(b === button)); });
      document.querySelectorAll('.job').forEach(function (card) {
        card.hidden = wanted !== 'all' && card.getAttribute('data-state') !== wanted;
      });
    });
  });
})();
"#;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    write(report, &mut out);
    out
}

/// Writes `report.html` into `out` as it goes: for a large batch the page is tens of
/// megabytes, better streamed to its file than held whole. Errors of `out` are its own to
/// keep (see `render::write_batch_reports`).
pub fn write(report: &Report, out: &mut impl std::fmt::Write) {
    let summary = &report.summary;
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{} — sora-batch</title>\n<style>{STYLE}{GRID_STYLE}</style>\n</head>\n<body>\n",
        escape(&report.name)
    );
    let _ = write!(
        out,
        "<header>\n<h1>{}</h1>\n<p class=\"meta\">{} · {} job{} · {} succeeded · {} failed · {} credits charged</p>\n</header>\n",
        escape(&report.name),
        escape(&report.manifest),
        summary.total,
        if summary.total == 1 { "" } else { "s" },
        summary.succeeded,
        summary.failed,
        summary.credits
    );
    let _ = out.write_str("<nav class=\"filters\" aria-label=\"Filter by state\">\n");
    let _ = writeln!(
        out,
        "<button type=\"button\" data-filter=\"all\" aria-pressed=\"true\">all ({})</button>",
        summary.total
    );
    for state in STATES {
        let count = report.jobs.iter().filter(|job| job.state == state).count();
        if count > 0 {
            let _ = writeln!(
                out,
                "<button type=\"button\" data-filter=\"{}\" aria-pressed=\"false\">{} ({count})</button>",
                state.as_str(),
                state_label(state)
            );
        }
    }
    let _ = out.write_str("</nav>\n");
    let axes = MatrixAxes::of(report);
    axes.write_controls(out);
    let _ = out.write_str("<main>\n");
    for job in &report.jobs {
        let aspect = input_text(job, "aspect_ratio");
        let _ = writeln!(
            out,
            "<article class=\"job {}{}\" data-state=\"{}\"{} id=\"job-{}\">",
            job.state.as_str(),
            if aspect.as_deref() == Some("portrait") {
                " portrait"
            } else {
                ""
            },
            job.state.as_str(),
            axes.card_attribute(job),
            escape(job.id.as_str())
        );
        if job.files.is_empty() {
            let _ = writeln!(
                out,
                "<div class=\"placeholder\">{}</div>",
                state_label(job.state)
            );
        }
        for file in &job.files {
            // The recorded media type, else (files of earlier versions) the extension.
            let kind = file
                .media_type
                .as_deref()
                .and_then(Media::from_mime)
                .or_else(|| Media::of_file_name(&file.path))
                .map(|media| media.kind);
            let (src, title) = (escape(&url_path(&file.path)), escape(&file.path));
            let _ = match kind {
                Some(MediaKind::Image) => writeln!(
                    out,
                    "<img loading=\"lazy\" src=\"{src}\" alt=\"{title}\" title=\"{title}\">"
                ),
                Some(MediaKind::Audio) => writeln!(
                    out,
                    "<audio controls preload=\"metadata\" src=\"{src}\" title=\"{title}\"></audio>"
                ),
                Some(MediaKind::Text) => {
                    writeln!(out, "<a class=\"text-result\" href=\"{src}\">{title}</a>")
                }
                _ => writeln!(
                    out,
                    "<video controls preload=\"metadata\" src=\"{src}\" title=\"{title}\"></video>"
                ),
            };
        }
        let _ = writeln!(
            out,
            "<div class=\"body\">\n<h2>{}<span class=\"badge\">{}</span></h2>",
            escape(job.id.as_str()),
            state_label(job.state),
        );
        write_card_values(job, out);
        let _ = writeln!(out, "<p class=\"prompt\">{}</p>\n<dl>", escape(prompt(job)));
        let mut field = |name: &str, value: Option<String>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", escape(name), escape(&value));
            }
        };
        field("model", Some(job.model.clone()));
        field("aspect", aspect.clone());
        field("seconds", seconds_text(job));
        field(
            "watermark",
            job.input
                .get("remove_watermark")
                .and_then(serde_json::Value::as_bool)
                .map(|removed| if removed { "removed" } else { "kept" }.to_owned()),
        );
        for (name, value) in &job.input {
            if !matches!(
                name.as_str(),
                "prompt" | "aspect_ratio" | "n_frames" | "duration" | "remove_watermark"
            ) {
                let text = match value {
                    serde_json::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                field(name, Some(text));
            }
        }
        if job.take > 1 {
            field("take", Some(job.take.to_string()));
        }
        field("credits", job.credits.map(|c| c.to_string()));
        field(
            "time",
            job.duration_ms
                .map(|ms| duration_text(Duration::from_millis(ms))),
        );
        field("task", job.task_id.as_ref().map(ToString::to_string));
        let _ = out.write_str("</dl>\n");
        if let Some(why) = reason(job) {
            let _ = writeln!(out, "<p class=\"reason\">{}</p>", escape(&why));
        }
        let _ = out.write_str("</div>\n</article>\n");
    }
    let _ = out.write_str("</main>\n");
    axes.write_grid_container(out);
    let _ = write!(
        out,
        "<script>{SCRIPT}{GRID_SCRIPT}</script>\n</body>\n</html>\n"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_paths_cannot_break_out_of_the_page() {
        assert_eq!(
            escape("<img onerror='x'>&"),
            "&lt;img onerror=&#39;x&#39;&gt;&amp;"
        );
        assert_eq!(url_path("a b/é.mp4"), "a%20b/%C3%A9.mp4");
    }
}
