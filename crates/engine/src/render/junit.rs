//! JUnit XML: one testcase per job, so that CI systems list a batch like a test run.
//!
//! Read [`render`]. A succeeded job whose files are in the batch folder passes; a failed one
//! is a `<failure>` carrying the service's message and code, and so is a succeeded one whose
//! file is not downloaded (nothing to show for what was paid, yet); a job that a further run
//! would still work on (running, timed out, uncertain, pending) is `<skipped>` with what to do
//! about it. Attributes are those Jenkins' `junit-10.xsd` allows where they stand (no
//! `skipped` on `<testsuites>`), every testcase names the manifest as its `file`, and times
//! are never negative.

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

/// A succeeded job with nothing in the batch folder yet.
const NOT_DOWNLOADED: &str =
    "succeeded on the service, but its file is not downloaded yet; run again to fetch it";

pub fn render(report: &Report) -> String {
    let summary = &report.summary;
    let skipped = outstanding(report);
    let not_downloaded = report
        .jobs
        .iter()
        .filter(|job| job.state == JobState::Succeeded && job.files.is_empty())
        .count() as u64;
    let failures = summary.failed + not_downloaded;
    // A fold from +0.0: an empty float sum is -0.0, which prints as "-0.000".
    let total_seconds: f64 = report
        .jobs
        .iter()
        .filter_map(|job| job.duration_ms)
        .map(|ms| ms as f64 / 1000.0)
        .fold(0.0, |total, seconds| total + seconds);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sora-batch\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{total_seconds:.3}\">",
        summary.total
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{total_seconds:.3}\" file=\"{}\">",
        xml(&report.name),
        summary.total,
        xml(&report.manifest)
    );
    for job in &report.jobs {
        let name = job_label(job);
        let seconds = job
            .duration_ms
            .map_or(0.0, |ms| ms as f64 / 1000.0)
            .max(0.0);
        let _ = write!(
            out,
            "    <testcase classname=\"sora-batch.{}\" name=\"{}\" file=\"{}\" time=\"{seconds:.3}\"",
            xml(&report.name),
            xml(&name),
            xml(&report.manifest)
        );
        match (job.state, reason(job)) {
            (JobState::Succeeded, _) if job.files.is_empty() => {
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{NOT_DOWNLOADED}\" type=\"not_downloaded\">{NOT_DOWNLOADED}</failure>"
                );
            }
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
    fn a_report_without_durations_has_no_negative_time() {
        let report = crate::report::Report {
            version: 1,
            name: "empty".into(),
            manifest: "m.yaml".into(),
            summary: crate::report::Summary::default(),
            jobs: Vec::new(),
            estimated_credits: None,
            unpriced_jobs: 0,
            orphaned: Vec::new(),
            expected_wall_ms: None,
            expected_from: Vec::new(),
        };
        let xml = super::render(&report);
        assert!(!xml.contains("-0.000"), "{xml}");
        assert!(xml.contains("time=\"0.000\""), "{xml}");
        let suites = xml.lines().nth(1).unwrap_or_default();
        assert!(!suites.contains("skipped"), "{suites}");
    }

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(xml("bell\u{7}tab\tend"), "belltab\tend");
    }
}
