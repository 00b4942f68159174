//! report.html in a real browser: headless Chromium opens the gallery from disk, with no
//! server and no network, and every succeeded job's `<video>` loads its file and plays.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it). Where it is missing this test
//! says so loudly and passes, except under CI (`CI=true`), where its absence is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sora_batch_testkit::FakeKie;

use crate::run_support::{Harness, fast_run, manifest_with_jobs};

/// A page that opens report.html in a frame and records, for every succeeded job's video,
/// whether the browser could load it (metadata read, duration known) or why not.
const PROBE_PAGE: &str = r#"<!DOCTYPE html>
<html><body><iframe id="gallery" src="report.html" width="1280" height="900"></iframe>
<script>
document.getElementById('gallery').addEventListener('load', function () {
  var page = this.contentDocument;
  var cards = Array.prototype.slice.call(page.querySelectorAll('article[data-state="succeeded"]'));
  Promise.all(cards.map(function (card) { return new Promise(function (done) {
    var video = card.querySelector('video');
    if (!video) { done({job: card.id, video: false}); return; }
    var report = function (loaded) {
      done({job: card.id, video: true, src: video.getAttribute('src'), controls: video.controls,
            loaded: loaded, duration: video.duration, error: video.error ? video.error.code : null});
    };
    if (video.readyState >= 1) { report(true); return; }
    video.addEventListener('loadedmetadata', function () { report(true); });
    video.addEventListener('error', function () { report(false); });
    video.load();
  }); })).then(function (results) {
    document.body.setAttribute('data-results', JSON.stringify(results));
  });
});
</script></body></html>"#;

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let paths = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|name| std::env::split_paths(&paths).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Chromium as the workplace runs it: headless, no sandbox (root), no network chatter.
fn headless(chromium: &Path, profile: &Path) -> Command {
    let mut command = Command::new(chromium);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    command
}

fn clip() -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/media/clip.mp4");
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

#[test]
fn every_succeeded_job_has_a_playable_video_in_the_gallery() {
    let Some(chromium) = chromium() else {
        let message = "CHROMIUM IS NOT INSTALLED: the gallery was NOT checked in a browser \
                       (apt-get install chromium; .ci/run installs it)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("\n!!! {message} !!!\n");
        return;
    };
    let harness = Harness::start(
        FakeKie::builder()
            .file_content(clip())
            .fail_prompts_containing("REFUSE", "400", "flagged by moderation"),
    );
    let jobs = [
        ("lighthouse".to_owned(), "A lighthouse at dawn".to_owned()),
        ("harbour".to_owned(), "A harbour at night".to_owned()),
        ("refused".to_owned(), "REFUSE this one".to_owned()),
    ];
    harness.write_manifest(&manifest_with_jobs(&jobs, &fast_run(3, "30s")));
    harness.run(&[]).assert_code(1, "one job is refused");

    let out = harness.out();
    std::fs::write(out.join("probe.html"), PROBE_PAGE).expect("writes the probe page");
    let profile = tempfile::tempdir().expect("profile folder");
    let dumped = headless(&chromium, profile.path())
        .args([
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", out.join("probe.html").display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&dumped.stdout);
    let Some(start) = dom.find("data-results=\"") else {
        panic!(
            "the probe page never finished\n--- dom\n{dom}\n--- stderr\n{}",
            String::from_utf8_lossy(&dumped.stderr)
        );
    };
    let rest = &dom[start + "data-results=\"".len()..];
    let attribute = &rest[..rest.find('"').unwrap_or(rest.len())];
    let json = attribute.replace("&quot;", "\"").replace("&amp;", "&");
    let results: Vec<Value> = serde_json::from_str(&json).expect("the probe's results are JSON");

    assert_eq!(results.len(), 2, "one card per succeeded job: {results:#?}");
    for result in &results {
        assert_eq!(result["video"], true, "{result}");
        assert_eq!(result["controls"], true, "{result}");
        let src = result["src"].as_str().unwrap_or_default();
        assert!(
            out.join(src).is_file(),
            "{src} is a file in the batch folder"
        );
        assert_eq!(result["loaded"], true, "the browser plays {src}: {result}");
        assert!(
            result["duration"].as_f64().is_some_and(|d| d > 0.5),
            "{result}"
        );
    }

    // A picture of the page, for people to look at when this test is run by hand.
    let screenshot = out.join("gallery.png");
    let shot = headless(&chromium, profile.path())
        .args(["--window-size=1280,900", "--virtual-time-budget=5000"])
        .arg(format!("--screenshot={}", screenshot.display()))
        .arg(format!("file://{}", out.join("report.html").display()))
        .output()
        .expect("chromium runs");
    assert!(
        screenshot.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&shot.stderr)
    );
    if let Some(keep) = std::env::var_os("SORA_BATCH_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&screenshot, keep);
    }
}
