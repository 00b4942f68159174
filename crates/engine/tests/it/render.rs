//! The reports for people and CI, rendered from one report with a job in every state.

use sora_batch_engine::manifest;
use sora_batch_engine::prices::Credits;
use sora_batch_engine::render::{html, junit, markdown};
use sora_batch_engine::report::{FileReport, JobState, Report};

use crate::support::SOURCE_NAME;

/// A report as a run could leave it: one job in each state, a failure with the service's
/// words, a prompt with characters that need escaping everywhere.
pub(crate) fn report_with_every_state() -> Report {
    let yaml = r#"
version: 1
name: every-state
defaults: {aspect_ratio: landscape, n_frames: "10"}
jobs:
  - id: done
    prompt: "A <b>bold</b> claim & a 'quote' | with a pipe"
  - id: refused
    prompt: A scene the service refuses
  - id: slow
    prompt: A slow one
    aspect_ratio: portrait
  - id: unsure
    prompt: An uncertain one
  - id: busy
    prompt: Still generating
  - id: waiting
    prompt: Not yet submitted
    n_frames: 15
"#;
    let loaded = manifest::load_str(SOURCE_NAME, yaml).expect("the manifest is valid");
    let mut report = Report::plan(&loaded.manifest, "manifests/every-state.yaml");
    report.estimated_credits = None;
    let states = [
        JobState::Succeeded,
        JobState::Failed,
        JobState::TimedOut,
        JobState::Uncertain,
        JobState::Running,
        JobState::Pending,
    ];
    for (job, state) in report.jobs.iter_mut().zip(states) {
        job.estimated_credits = None;
        job.state = state;
        if state != JobState::Pending {
            job.task_id = Some(sora_batch_engine::job::TaskId::new(format!(
                "task-{}",
                job.id
            )));
        }
    }
    let done = &mut report.jobs[0];
    done.credits = Some(Credits(30.0));
    done.duration_ms = Some(131_122);
    done.files = vec![FileReport {
        path: "done.mp4".into(),
        url: "https://file.example/done.mp4".into(),
        sha256: "ab".repeat(32),
        bytes: 1_234_567,
        media_type: None,
    }];
    let refused = &mut report.jobs[1];
    refused.credits = Some(Credits(0.0));
    refused.duration_ms = Some(20_500);
    refused.fail_code = Some("400".into());
    refused.fail_msg = Some("Your prompt was flagged by <moderation> & \"policy\"".into());
    report.summary = sora_batch_engine::report::Summary::of(&report.jobs);
    report
}

#[test]
fn markdown_summary() {
    insta::assert_snapshot!(markdown::render(&report_with_every_state()));
}

/// The run's wall time: less than the jobs' generation times added up (they overlap).
const WALL_TIME: std::time::Duration = std::time::Duration::from_millis(132_405);

#[test]
fn junit_xml_parses_and_has_one_testcase_per_job() {
    let xml = junit::render(&report_with_every_state(), Some(WALL_TIME));
    sora_batch_testkit::junit_schema::assert_valid_junit(&xml);
    assert!(
        xml.contains("<testsuite name=\"every-state\" tests=\"6\" failures=\"1\" errors=\"0\" skipped=\"4\" time=\"132.405\" file=\"manifests/every-state.yaml\">"),
        "the suite's time is the run's, its file the manifest: {xml}"
    );
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut testcases = 0;
    let mut failures = Vec::new();
    let mut skipped = 0;
    loop {
        match reader.read_event().expect("the JUnit XML is well-formed") {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(element) | quick_xml::events::Event::Empty(element) => {
                match element.name().into_inner() {
                    "testcase" => testcases += 1,
                    "skipped" => skipped += 1,
                    "failure" => {
                        let message = element
                            .try_get_attribute("message")
                            .expect("attributes parse")
                            .expect("a failure has a message")
                            .normalized_value(quick_xml::XmlVersion::Explicit1_0)
                            .expect("the message unescapes")
                            .into_owned();
                        failures.push(message);
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    assert_eq!(testcases, 6);
    assert_eq!(skipped, 4);
    assert_eq!(
        failures,
        ["Your prompt was flagged by <moderation> & \"policy\" (code 400)"]
    );
    insta::assert_snapshot!(xml);
}

#[test]
fn html_gallery_is_self_contained_with_a_player_per_video() {
    let page = html::render(&report_with_every_state());
    assert_eq!(page.matches("<video ").count(), 1);
    assert!(page.contains("<video controls preload=\"metadata\" src=\"done.mp4\""));
    assert_eq!(page.matches("<article class=\"job").count(), 6);
    for state in [
        "succeeded",
        "failed",
        "timed_out",
        "uncertain",
        "running",
        "pending",
    ] {
        assert!(
            page.contains(&format!("data-filter=\"{state}\"")),
            "{state}"
        );
        assert!(page.contains(&format!("data-state=\"{state}\"")), "{state}");
    }
    // Nothing is fetched from anywhere: the page works opened from disk, offline.
    for external in [
        "<link",
        "src=\"http",
        "href=\"http",
        "<script src",
        "@import",
        "url(",
    ] {
        assert!(!page.contains(external), "external resource: {external}");
    }
    // The prompt's markup is shown as text, never interpreted.
    assert!(page.contains("A &lt;b&gt;bold&lt;/b&gt; claim &amp; a &#39;quote&#39;"));
    assert!(!page.contains("<b>bold</b>"));
    assert!(page.contains(
        "Your prompt was flagged by &lt;moderation&gt; &amp; &quot;policy&quot; (code 400)"
    ));
}

#[test]
fn images_and_audio_show_as_what_they_are_in_the_gallery() {
    let mut report = report_with_every_state();
    let file = |path: &str, media_type: Option<&str>| FileReport {
        path: path.into(),
        url: format!("https://file.example/{path}"),
        sha256: "cd".repeat(32),
        bytes: 10,
        media_type: media_type.map(str::to_owned),
    };
    report.jobs[0].files = vec![
        file("done.png", Some("image/png")),
        file("done-2.mp3", Some("audio/mpeg")),
        // A file of an earlier version has no media type: its extension says.
        file("done-3.webp", None),
        file("done-4.mp4", None),
    ];
    let page = html::render(&report);
    assert!(
        page.contains("<img loading=\"lazy\" src=\"done.png\""),
        "{page}"
    );
    assert!(
        page.contains("<audio controls preload=\"metadata\" src=\"done-2.mp3\""),
        "{page}"
    );
    assert!(
        page.contains("<img loading=\"lazy\" src=\"done-3.webp\""),
        "{page}"
    );
    assert!(
        page.contains("<video controls preload=\"metadata\" src=\"done-4.mp4\""),
        "{page}"
    );
}

#[test]
fn junit_counts_a_succeeded_job_without_its_file_as_a_failure() {
    let mut report = report_with_every_state();
    report.jobs[0].files.clear();
    let xml = junit::render(&report, Some(WALL_TIME));
    sora_batch_testkit::junit_schema::assert_valid_junit(&xml);
    assert!(xml.contains("failures=\"2\""), "{xml}");
    assert!(
        xml.contains(
            "<failure message=\"succeeded on the service, but its file is not downloaded yet"
        ),
        "{xml}"
    );
}
