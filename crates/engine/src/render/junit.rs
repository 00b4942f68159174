//! JUnit XML: one testcase per job, so that CI systems list a batch like a test run.
//!
//! Read [`render`]. A succeeded job passes; a failed one is a `<failure>` carrying the
//! service's message and code; a job that a further run would still work on (running, timed
//! out, uncertain, pending) is `<skipped>` with what to do about it.

use std::fmt::Write as _;

use super::{escape_markup, job_label, outstanding, reason};
use crate::job::JobState;
use crate::report::Report;

/// Escapes text for XML attributes and content; drops characters XML 1.0 cannot hold.
fn xml(text: &str) -> String {
    let holdable: String = text
        .chars()
        .filter(|c| {
            matches!(c, '\t' | '\n' | '\r')
                || !((*c as u32) < 0x20 || *c == '\u{FFFE}' || *c == '\u{FFFF}')
        })
        .collect();
    escape_markup(&holdable, "&apos;")
}

pub fn render(report: &Report) -> String {
    let summary = &report.summary;
    let skipped = outstanding(report);
    let total_seconds: f64 = report
        .jobs
        .iter()
        .filter_map(|job| job.duration_ms)
        .map(|ms| ms as f64 / 1000.0)
        .sum();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sora-batch\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total_seconds:.3}\">",
        summary.total, summary.failed
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total_seconds:.3}\">",
        xml(&report.name),
        summary.total,
        summary.failed
    );
    for job in &report.jobs {
        let name = job_label(job);
        let seconds = job.duration_ms.map_or(0.0, |ms| ms as f64 / 1000.0);
        let _ = write!(
            out,
            "    <testcase classname=\"sora-batch.{}\" name=\"{}\" time=\"{seconds:.3}\"",
            xml(&report.name),
            xml(&name)
        );
        match (job.state, reason(job)) {
            (JobState::Succeeded, _) | (_, None) => {
                out.push_str(">\n");
                if !job.files.is_empty() {
                    let files: Vec<&str> = job.files.iter().map(|f| f.path.as_str()).collect();
                    let _ = writeln!(
                        out,
                        "      <system-out>{}</system-out>",
                        xml(&files.join("\n"))
                    );
                }
            }
            (JobState::Failed, Some(why)) => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    xml(&why),
                    xml(job.fail_code.as_deref().unwrap_or("failed")),
                    xml(&why)
                );
            }
            (state, Some(why)) => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}: {}\"/>",
                    state.as_str(),
                    xml(&why)
                );
            }
        }
        out.push_str("    </testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(xml("bell\u{7}tab\tend"), "belltab\tend");
    }
}
