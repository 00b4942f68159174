//! report.html in a real browser: headless Chromium opens the gallery from disk, with no
//! server and no network: every succeeded job's `<video>` loads its file and plays, every
//! image (png, jpg, webp, gif) decodes, and every sound (mp3, wav, m4a) loads in its
//! `<audio controls>` player with a duration.
//!
//! Chromium is Debian's `chromium` (`.ci/run` installs it). Where it is missing this test
//! says so loudly and passes, except under CI (`CI=true`), where its absence is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use sora_batch_testkit::FakeKie;

use crate::run_outputs::{IMAGES, SOUNDS, fake_of_every_output, manifest_of_every_output};
use crate::run_support::{Harness, fast_run, manifest_with_jobs};

/// A page that opens report.html in a frame and records, for every media element of every
/// succeeded job's card (`<video>`, `<audio>`, `<img>`), whether the browser could load it
/// (a video's or sound's metadata read and its duration known, an image decoded to its
/// natural size) or why not.
const PROBE_PAGE: &str = r#"<!DOCTYPE html>
<html><body><iframe id="gallery" src="report.html" width="1280" height="900"></iframe>
<script>
document.getElementById('gallery').addEventListener('load', function () {
  var page = this.contentDocument;
  var cards = Array.prototype.slice.call(page.querySelectorAll('article[data-state="succeeded"]'));
  var probes = [];
  cards.forEach(function (card) {
    var elements = Array.prototype.slice.call(card.querySelectorAll('video, audio, img'));
    if (elements.length === 0) { probes.push(Promise.resolve({job: card.id, tag: null})); }
    elements.forEach(function (element) { probes.push(new Promise(function (done) {
      var tag = element.tagName.toLowerCase();
      var report = function (loaded) {
        done({job: card.id, tag: tag, src: element.getAttribute('src'), controls: !!element.controls,
              loaded: loaded, duration: tag === 'img' ? null : element.duration,
              readyState: tag === 'img' ? null : element.readyState,
              naturalWidth: tag === 'img' ? element.naturalWidth : null,
              error: element.error ? element.error.code : null});
      };
      if (tag === 'img') {
        if (element.complete) { report(element.naturalWidth > 0); return; }
        element.addEventListener('load', function () { report(true); });
        element.addEventListener('error', function () { report(false); });
        return;
      }
      if (element.readyState >= 1) { report(true); return; }
      element.addEventListener('loadedmetadata', function () { report(true); });
      element.addEventListener('error', function () { report(false); });
      element.load();
    })); });
  });
  Promise.all(probes).then(function (results) {
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

/// Chromium, or `None` after saying loudly that the gallery is not checked (a failure
/// under CI).
fn chromium_or_say_so() -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        let message = "CHROMIUM IS NOT INSTALLED: the gallery was NOT checked in a browser \
                       (apt-get install chromium; .ci/run installs it)";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("\n!!! {message} !!!\n");
    }
    found
}

/// Opens the gallery of the batch folder `out` through [`PROBE_PAGE`] in headless Chromium
/// and returns what it found of each media element.
fn probe_gallery(chromium: &Path, profile: &Path, out: &Path) -> Vec<Value> {
    std::fs::write(out.join("probe.html"), PROBE_PAGE).expect("writes the probe page");
    let dumped = headless(chromium, profile)
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
    serde_json::from_str(&json).expect("the probe's results are JSON")
}

#[test]
fn every_succeeded_job_has_a_playable_video_in_the_gallery() {
    let Some(chromium) = chromium_or_say_so() else {
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
    let profile = tempfile::tempdir().expect("profile folder");
    let results = probe_gallery(&chromium, profile.path(), &out);

    assert_eq!(
        results.len(),
        2,
        "one video per succeeded job: {results:#?}"
    );
    for result in &results {
        assert_eq!(result["tag"], "video", "{result}");
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

#[test]
fn images_and_sounds_show_and_load_in_the_gallery() {
    let Some(chromium) = chromium_or_say_so() else {
        return;
    };
    let harness = Harness::start(fake_of_every_output());
    harness.write_manifest(&manifest_of_every_output(&fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "every job succeeds");

    let out = harness.out();
    let profile = tempfile::tempdir().expect("profile folder");
    let results = probe_gallery(&chromium, profile.path(), &out);
    let of = |job: &str, tag: &str| -> Vec<Value> {
        results
            .iter()
            // A card's HTML id is `job-<id>`.
            .filter(|result| result["job"] == format!("job-{job}").as_str() && result["tag"] == tag)
            .cloned()
            .collect()
    };

    let images = of("pictures", "img");
    assert_eq!(images.len(), IMAGES.len(), "{results:#?}");
    for (image, (_, extension, _)) in images.iter().zip(IMAGES) {
        let src = image["src"].as_str().unwrap_or_default();
        assert!(src.ends_with(extension), "{image}");
        assert!(out.join(src).is_file(), "{src} is in the batch folder");
        assert_eq!(image["loaded"], true, "the browser decodes {src}: {image}");
        assert_eq!(image["naturalWidth"], 32, "{image}");
    }
    assert!(of("pictures", "video").is_empty() && of("pictures", "audio").is_empty());

    let sounds = of("sounds", "audio");
    assert_eq!(sounds.len(), SOUNDS.len(), "{results:#?}");
    for (sound, (_, extension, _)) in sounds.iter().zip(SOUNDS) {
        let src = sound["src"].as_str().unwrap_or_default();
        assert!(src.ends_with(extension), "{sound}");
        assert_eq!(sound["controls"], true, "a player: {sound}");
        assert_eq!(sound["loaded"], true, "the browser loads {src}: {sound}");
        assert!(
            sound["readyState"].as_u64().is_some_and(|state| state >= 1),
            "{sound}"
        );
        // Each tone lasts one second.
        assert!(
            sound["duration"]
                .as_f64()
                .is_some_and(|seconds| (0.9..1.2).contains(&seconds)),
            "{sound}"
        );
    }
    assert!(of("sounds", "video").is_empty());

    // The text result is a link, not a player.
    assert_eq!(of("caption", "video").len() + of("caption", "img").len(), 0);
}
