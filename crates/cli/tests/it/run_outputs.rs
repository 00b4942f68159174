//! Outputs of any kind, end to end: images and sounds saved under the extension their bytes
//! show (`<id>.<ext>`, `<id>-2.<ext>`... for several), a text result saved as `<id>.json`,
//! and the media type recorded in the journal and report.json.
//!
//! The result files are real, small media (`fixtures/media/`), served by the fake under URLs
//! that end in `.mp4` with a generic Content-Type: only the bytes say what they are. The
//! built-in snapshot has no audio or text model, so a video model's tasks are told to return
//! sounds, and another's a text result: the run decides by what comes back, never by the
//! model.

use std::path::Path;

use serde_json::{Value, json};
use sora_batch_testkit::FakeKie;

use crate::run_support::{Harness, fast_run, read, sha256_hex};

/// The bytes of `fixtures/media/<name>`.
pub fn media(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/media")
        .join(name);
    read(&path)
}

pub const IMAGES: [(&str, &str, &str); 4] = [
    ("still.png", "png", "image/png"),
    ("still.jpg", "jpg", "image/jpeg"),
    ("still.webp", "webp", "image/webp"),
    ("still.gif", "gif", "image/gif"),
];

pub const SOUNDS: [(&str, &str, &str); 3] = [
    ("tone.mp3", "mp3", "audio/mpeg"),
    ("tone.wav", "wav", "audio/wav"),
    ("tone.m4a", "m4a", "audio/mp4"),
];

/// A fake whose Nano Banana 2 tasks return the four images, Grok Imagine's the three
/// sounds, and Kling 2.6's a text result.
pub fn fake_of_every_output() -> sora_batch_testkit::FakeKieBuilder {
    FakeKie::builder()
        .model_result_files(
            "nano-banana-2",
            IMAGES.iter().map(|(file, _, _)| media(file)).collect(),
        )
        .model_result_files(
            "grok-imagine/text-to-video",
            SOUNDS.iter().map(|(file, _, _)| media(file)).collect(),
        )
        .model_text_result(
            "kling-2.6/text-to-video",
            json!({"caption": "A lantern on a quay", "tags": ["lantern", "night"]}),
        )
}

/// Three jobs, one per output kind, each with every field its model's schema requires or
/// defaults, then `run_section`.
pub fn manifest_of_every_output(run_section: &str) -> String {
    format!(
        "version: 1
name: outputs
model: nano-banana-2
jobs:
  - id: pictures
    prompt: \"A pear on a plate\"
    aspect_ratio: \"1:1\"
    resolution: \"1K\"
    output_format: \"png\"
  - id: sounds
    model: grok-imagine/text-to-video
    prompt: \"A bell over a valley\"
    aspect_ratio: \"16:9\"
    mode: \"normal\"
    duration: \"6\"
    resolution: \"480p\"
    nsfw_checker: false
  - id: caption
    model: kling-2.6/text-to-video
    prompt: \"A lantern on a quay\"
    sound: false
    aspect_ratio: \"16:9\"
    duration: \"5\"
{run_section}"
    )
}

fn job<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["jobs"]
        .as_array()
        .and_then(|jobs| jobs.iter().find(|job| job["id"] == id))
        .unwrap_or_else(|| panic!("{id} is not in report.json"))
}

#[test]
fn images_sounds_and_text_are_saved_as_what_they_are() {
    let harness = Harness::start(fake_of_every_output());
    harness.write_manifest(&manifest_of_every_output(&fast_run(3, "30s")));
    harness.run(&[]).assert_code(0, "every job succeeds");

    let report = harness.report();
    let journal = harness.journal();
    let expect_files = |id: &str, files: &[(&str, &str, &str)]| {
        let listed = job(&report, id)["files"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(listed.len(), files.len(), "{id}: {listed:#?}");
        for (index, ((fixture, extension, mime), file)) in files.iter().zip(&listed).enumerate() {
            let name = match index {
                0 => format!("{id}.{extension}"),
                n => format!("{id}-{}.{extension}", n + 1),
            };
            assert_eq!(file["path"], name.as_str(), "{id} {index}");
            assert_eq!(file["media_type"], *mime, "{name} in report.json");
            let bytes = read(&harness.out().join(&name));
            assert!(bytes == media(fixture), "{name} holds {fixture}'s bytes");
            assert_eq!(file["sha256"], sha256_hex(&bytes).as_str());
            let recorded = journal
                .iter()
                .find(|record| record["type"] == "downloaded" && record["path"] == name.as_str())
                .unwrap_or_else(|| panic!("{name} is not journaled"));
            assert_eq!(recorded["media_type"], *mime, "{name} in the journal");
        }
    };
    expect_files("pictures", &IMAGES);
    expect_files("sounds", &SOUNDS);

    let caption = job(&report, "caption");
    assert_eq!(caption["state"], "succeeded");
    assert_eq!(caption["files"][0]["path"], "caption.json");
    assert_eq!(caption["files"][0]["media_type"], "application/json");
    let saved: Value = serde_json::from_slice(&read(&harness.out().join("caption.json")))
        .expect("caption.json is JSON");
    assert_eq!(
        saved,
        json!({"caption": "A lantern on a quay", "tags": ["lantern", "night"]})
    );
    let finished = journal
        .iter()
        .find(|record| record["type"] == "finished" && record["text_result"].is_object())
        .expect("the text result is journaled with its task's end");
    assert_eq!(finished["text_result"]["caption"], "A lantern on a quay");

    // A lost text file is written again from the journal, with no call to the service.
    std::fs::remove_file(harness.out().join("caption.json")).expect("removes caption.json");
    let before = harness.fake.log().requests().len();
    let again = harness.run(&[]);
    again.assert_code(0, "the rerun mends the folder");
    assert!(
        again.stderr.contains("caption.json is missing"),
        "{}",
        again.stderr
    );
    let after: Value = serde_json::from_slice(&read(&harness.out().join("caption.json")))
        .expect("caption.json is back");
    assert_eq!(after, saved);
    assert_eq!(
        harness.fake.log().requests().len(),
        before,
        "nothing was asked of the service"
    );

    let gallery = String::from_utf8_lossy(&read(&harness.out().join("report.html"))).into_owned();
    assert!(
        gallery.contains("<img loading=\"lazy\" src=\"pictures-3.webp\""),
        "{gallery}"
    );
    assert!(gallery.contains("<audio controls preload=\"metadata\" src=\"sounds-2.wav\""));
    assert!(gallery.contains("<a class=\"text-result\" href=\"caption.json\">"));
}
