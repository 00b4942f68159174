//! report.html in a real browser: headless Chromium opens the gallery from disk, with no
//! server and no network: every succeeded job's `<video>` loads its file and plays, every
//! image (png, jpg, webp, gif) decodes, every sound (mp3, wav, m4a) loads in its
//! `<audio controls>` player with a duration, each state filter shows exactly its cards,
//! and the grid view lays a matrix out by the axes chosen.
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
    let results = probe(chromium, profile, out, "probe.html", PROBE_PAGE);
    serde_json::from_value(results).expect("the probe's results are a list")
}

/// Opens `page` (written into `out` as `name`, beside report.html) in headless Chromium
/// from disk and returns the JSON it left in its body's `data-results`.
fn probe(chromium: &Path, profile: &Path, out: &Path, name: &str, page: &str) -> Value {
    std::fs::write(out.join(name), page).expect("writes the probe page");
    let dumped = headless(chromium, profile)
        .args([
            "--allow-file-access-from-files",
            "--virtual-time-budget=15000",
            "--dump-dom",
        ])
        .arg(format!("file://{}", out.join(name).display()))
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
    let json = attribute
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    serde_json::from_str(&json).unwrap_or_else(|error| panic!("{error}: {json}"))
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

/// A page that opens report.html in a frame and uses it as a person would: clicks each
/// state filter, then the grid view, chooses its axes and filters, and records what the
/// browser shows after each step (cards with a box on screen, the table's headings and
/// cells).
const GRID_PROBE_PAGE: &str = r#"<!DOCTYPE html>
<html><body><iframe id="gallery" src="report.html" width="1600" height="1000"></iframe>
<script>
document.getElementById('gallery').addEventListener('load', function () {
  var page = this.contentDocument, gallery = this.contentWindow;
  var all = function (selector) { return Array.prototype.slice.call(page.querySelectorAll(selector)); };
  var shown = function (element) { return element.getClientRects().length > 0; };
  var visibleCards = function () { return all('article.job').filter(shown).map(function (card) { return card.id; }); };
  var choose = function (select, value) { select.value = value; select.dispatchEvent(new Event('change')); };
  var grid = function () {
    var table = page.querySelector('#grid table');
    var cells = Array.prototype.slice.call(table.querySelectorAll('td'));
    return {
      rows: Array.prototype.slice.call(table.tBodies[0].rows).map(function (row) { return row.cells[0].textContent; }),
      columns: Array.prototype.slice.call(table.tHead.rows[0].cells, 1).map(function (cell) { return cell.textContent; }),
      cells: cells.length,
      filled: cells.filter(function (cell) { return cell.querySelector('.job') !== null; }).length,
      visible: visibleCards().length,
      media: cells.reduce(function (n, cell) { return n + Array.prototype.filter.call(cell.querySelectorAll('video, img, audio'), shown).length; }, 0),
      listShown: shown(page.querySelector('main')),
      filters: all('.axis-filter').filter(shown).map(function (label) { return label.firstChild.textContent.trim(); })
    };
  };
  var results = { title: page.title, order: visibleCards(), viewsShown: shown(page.querySelector('.views')) };
  results.filters = {};
  all('.filters button').forEach(function (button) {
    button.click();
    results.filters[button.getAttribute('data-filter')] = visibleCards().length;
  });
  page.querySelector('.filters button[data-filter="all"]').click();

  page.querySelector('button[data-view="grid"]').click();
  results.subjectByAspect = grid();
  choose(page.getElementById('grid-rows'), '2');
  choose(page.getElementById('grid-columns'), '0');
  results.styleBySubject = grid();
  choose(page.querySelector('select[data-axis="1"]'), '1');
  results.portraitOnly = grid();
  page.querySelector('.filters button[data-filter="failed"]').click();
  results.portraitFailed = grid();
  page.querySelector('.filters button[data-filter="all"]').click();
  choose(page.getElementById('grid-rows'), '0');
  results.swapped = { rows: page.getElementById('grid-rows').value, columns: page.getElementById('grid-columns').value };

  page.querySelector('button[data-view="cards"]').click();
  results.backToCards = { order: visibleCards(), gridShown: shown(page.getElementById('grid')) };
  results.pwned = gallery.pwned !== undefined;
  results.scripts = all('script').length;
  document.body.setAttribute('data-results', JSON.stringify(results));
});
</script></body></html>"#;

fn texts(list: &[&str]) -> Value {
    Value::from(
        list.iter()
            .map(|text| Value::from(*text))
            .collect::<Vec<_>>(),
    )
}

/// The gallery of a subject × aspect × style matrix (subjects hostile to HTML: a script
/// element, quotes) and one explicit job: each state filter shows exactly its cards, and
/// the grid lays the matrix out by the axes chosen, the third a filter, the jobs outside
/// the matrix in a row of their own, the state filter still applying.
#[test]
fn the_gallery_filters_by_state_and_lays_the_matrix_out_as_a_grid() {
    let Some(chromium) = chromium_or_say_so() else {
        return;
    };
    let harness = Harness::start(
        FakeKie::builder()
            .file_content(clip())
            .fail_prompts_containing("REFUSE", "400", "flagged by moderation"),
    );
    let script = "</p><script>window.pwned = 1</script>";
    let quoted = "a \"quoted\" 'chef' & co";
    let manifest = format!(
        "version: 1
name: e2e
model: sora-2-text-to-video
prompt: \"{{subject}} in a {{style}} style\"
matrix:
  subject: [{}, {}, REFUSE a robot]
  aspect_ratio: [landscape, portrait]
  style: [noir, watercolor]
jobs:
  - id: lighthouse
    prompt: A lighthouse at dawn
{}",
        serde_json::to_string(script).expect("json"),
        serde_json::to_string(quoted).expect("json"),
        fast_run(4, "30s")
    );
    harness.write_manifest(&manifest);
    harness
        .run(&[])
        .assert_code(1, "the robot's four jobs are refused");

    let profile = tempfile::tempdir().expect("profile folder");
    let results = probe(
        &chromium,
        profile.path(),
        &harness.out(),
        "grid-probe.html",
        GRID_PROBE_PAGE,
    );
    assert_eq!(results["title"], "e2e — sora-batch", "{results:#}");
    assert_eq!(
        results["pwned"], false,
        "an axis value ran as a script: {results:#}"
    );
    assert_eq!(
        results["scripts"], 1,
        "only the gallery's own script: {results:#}"
    );
    assert_eq!(results["viewsShown"], true, "{results:#}");
    assert_eq!(
        results["filters"],
        serde_json::json!({"all": 13, "succeeded": 9, "failed": 4}),
        "each filter shows its cards and hides the others: {results:#}"
    );

    let none = "(not in the matrix)";
    let by_aspect = &results["subjectByAspect"];
    assert_eq!(
        by_aspect["rows"],
        texts(&[script, quoted, "REFUSE a robot", none]),
        "{results:#}"
    );
    assert_eq!(
        by_aspect["columns"],
        texts(&["landscape", "portrait", none]),
        "{results:#}"
    );
    assert_eq!(by_aspect["cells"], 12, "{results:#}");
    assert_eq!(
        by_aspect["filled"], 7,
        "six combinations and the explicit job: {results:#}"
    );
    assert_eq!(
        by_aspect["visible"], 13,
        "both styles stacked in each cell: {results:#}"
    );
    assert_eq!(
        by_aspect["media"], 9,
        "a player per succeeded job: {results:#}"
    );
    assert_eq!(by_aspect["listShown"], false, "{results:#}");
    assert_eq!(by_aspect["filters"], texts(&["style"]), "{results:#}");

    let by_subject = &results["styleBySubject"];
    assert_eq!(
        by_subject["rows"],
        texts(&["noir", "watercolor", none]),
        "{results:#}"
    );
    assert_eq!(
        by_subject["columns"],
        texts(&[script, quoted, "REFUSE a robot", none]),
        "{results:#}"
    );
    assert_eq!(by_subject["cells"], 12, "{results:#}");
    assert_eq!(by_subject["filled"], 7, "{results:#}");
    assert_eq!(by_subject["visible"], 13, "{results:#}");
    assert_eq!(
        by_subject["filters"],
        texts(&["aspect_ratio"]),
        "{results:#}"
    );

    let portrait = &results["portraitOnly"];
    assert_eq!(
        portrait["rows"],
        texts(&["noir", "watercolor"]),
        "{results:#}"
    );
    assert_eq!(
        portrait["columns"],
        texts(&[script, quoted, "REFUSE a robot"]),
        "{results:#}"
    );
    assert_eq!(portrait["cells"], 6, "{results:#}");
    assert_eq!(portrait["filled"], 6, "{results:#}");
    assert_eq!(portrait["visible"], 6, "{results:#}");

    let failed = &results["portraitFailed"];
    assert_eq!(failed["cells"], 6, "{results:#}");
    assert_eq!(
        failed["visible"], 2,
        "the robot in both styles: {results:#}"
    );
    assert_eq!(failed["media"], 0, "{results:#}");

    assert_eq!(
        results["swapped"],
        serde_json::json!({"rows": "0", "columns": "2"}),
        "choosing the columns' axis for the rows swaps them: {results:#}"
    );
    assert_eq!(results["backToCards"]["gridShown"], false, "{results:#}");
    assert_eq!(
        results["backToCards"]["order"], results["order"],
        "every card back in the list, in its order: {results:#}"
    );
}
