//! JUnit XML: one testcase per job, so that CI systems list a batch like a test run.
//!
//! Read [`render`]. A succeeded job whose files are in the batch folder passes; a failed one
//! is a `<failure>` carrying the service's message and code, and so is a succeeded one whose
//! file is not downloaded (nothing to show for what was paid, yet); a job that a further run
//! would still work on (running, timed out, uncertain, pending) is `<skipped>` with what to do
//! about it.
//!
//! The document is valid against Jenkins' `junit-10.xsd` (xunit-plugin; vendored in
//! `fixtures/junit/`, and every JUnit file the tests write is checked against it): no
//! `skipped` on `<testsuites>`, no `file` on `<testcase>` (that schema refuses both), so the
//! manifest's path is the `<testsuite>`'s `file`, which annotation tools fall back to. Times
//! are never negative, and the suite's time is the run's wall time, not the sum of its jobs'
//! generation times (which overlap).

use std::fmt::Write as _;
use std::time::Duration;

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

/// The JUnit document of `report`. `wall_time` is how long the run took, start to end (for
/// several shards, from the first start to the last end); without it, the suites carry no
/// `time` rather than a made-up one.
pub fn render(report: &Report, wall_time: Option<Duration>) -> String {
    let summary = &report.summary;
    let skipped = outstanding(report);
    let not_downloaded = report
        .jobs
        .iter()
        .filter(|job| job.state == JobState::Succeeded && job.files.is_empty())
        .count() as u64;
    let failures = summary.failed + not_downloaded;
    let time = wall_time.map_or_else(String::new, |wall| {
        format!(" time=\"{}\"", seconds(wall.as_millis()))
    });
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"sora-batch\" tests=\"{}\" failures=\"{failures}\" errors=\"0\"{time}>",
        summary.total
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\"{time} file=\"{}\">",
        xml(&report.name),
        summary.total,
        xml(&report.manifest)
    );
    for job in &report.jobs {
        let name = job_label(job);
        let time = seconds(u128::from(job.duration_ms.unwrap_or(0)));
        let _ = write!(
            out,
            "    <testcase classname=\"sora-batch.{}\" name=\"{}\" time=\"{time}\"",
            xml(&report.name),
            xml(&name),
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

/// Milliseconds as seconds with three decimals, from whole numbers: never `-0.000`, never
/// an exponent, always what the schema's `SUREFIRE_TIME` pattern accepts.
fn seconds(milliseconds: u128) -> String {
    format!("{}.{:03}", milliseconds / 1000, milliseconds % 1000)
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
        let xml = super::render(&report, Some(std::time::Duration::ZERO));
        assert!(!xml.contains("-0.000"), "{xml}");
        assert!(xml.contains("time=\"0.000\""), "{xml}");
        let without_wall_time = super::render(&report, None);
        assert!(!without_wall_time.contains("time="), "{without_wall_time}");
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
