//! Local files named in a model's file fields: replaced by placeholders that hold their
//! content hash before the input is checked, so the key follows the content; every problem
//! located and reported together, with no network.

use std::path::PathBuf;

use serde_json::json;
use sora_batch_engine::local_files::PLACEHOLDER_PREFIX;
use sora_batch_engine::manifest::{self, Loaded, ManifestErrors};

const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89,
];
const JPEG: &[u8] = &[
    0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01,
];

struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    fn new() -> Folder {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let folder = Folder { dir };
        folder.write("batch/refs/a.png", PNG);
        folder.write("batch/refs/b.png", JPEG);
        folder.write("batch/refs/notes.txt", b"not for the internet");
        folder
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn write(&self, relative: &str, bytes: &[u8]) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|error| panic!("{error}"));
        }
        std::fs::write(&path, bytes).unwrap_or_else(|error| panic!("{error}"));
    }

    fn load(&self, text: &str) -> Result<Loaded, ManifestErrors> {
        self.write("batch/batch.yaml", text.as_bytes());
        manifest::load(&self.path("batch/batch.yaml"))
    }
}

fn loaded(result: Result<Loaded, ManifestErrors>) -> Loaded {
    result.unwrap_or_else(|errors| panic!("{errors}"))
}

fn hash(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sora_batch_engine::durable::hex(&sha2::Sha256::digest(bytes))
}

const KLING: &str = "version: 1\nmodel: kling-2.6/image-to-video\ndefaults:\n  sound: false\n";
const SEEDANCE: &str = "version: 1\nmodel: bytedance/seedance-2-mini\n";

#[test]
fn a_local_image_becomes_a_placeholder_of_its_content_and_the_key_follows_the_content() {
    let folder = Folder::new();
    let first = loaded(folder.load(&format!(
        "{KLING}jobs:\n  - {{id: a, prompt: a cat, image_urls: [./refs/a.png]}}\n  - {{id: b, prompt: a dog, image_urls: refs/b.png}}\n"
    )))
    .manifest;
    let expected_a = format!("{PLACEHOLDER_PREFIX}{}.png", hash(PNG));
    let expected_b = format!("{PLACEHOLDER_PREFIX}{}.jpg", hash(JPEG));
    assert_eq!(first.jobs[0].input["image_urls"], json!([expected_a]));
    // A single path in a list field is a list of one; a JPEG named .png is a .jpg.
    assert_eq!(first.jobs[1].input["image_urls"], json!([expected_b]));
    assert_eq!(first.local_files.len(), 2);
    let file = &first.local_files[&format!("{}.png", hash(PNG))];
    assert_eq!(
        (file.written.as_str(), file.size),
        ("./refs/a.png", PNG.len() as u64)
    );

    // Renamed: same keys.
    std::fs::rename(
        folder.path("batch/refs/a.png"),
        folder.path("batch/refs/renamed.png"),
    )
    .unwrap_or_else(|error| panic!("{error}"));
    let renamed = loaded(folder.load(&format!(
        "{KLING}jobs:\n  - {{id: a, prompt: a cat, image_urls: [./refs/renamed.png]}}\n  - {{id: b, prompt: a dog, image_urls: refs/b.png}}\n"
    )))
    .manifest;
    assert_eq!(renamed.jobs[0].key, first.jobs[0].key);
    assert_eq!(renamed.jobs[1].key, first.jobs[1].key);

    // New pixels: only that job's key changes.
    let mut repainted = PNG.to_vec();
    repainted.push(0);
    folder.write("batch/refs/renamed.png", &repainted);
    let repainted_manifest = loaded(folder.load(&format!(
        "{KLING}jobs:\n  - {{id: a, prompt: a cat, image_urls: [./refs/renamed.png]}}\n  - {{id: b, prompt: a dog, image_urls: refs/b.png}}\n"
    )))
    .manifest;
    assert_ne!(repainted_manifest.jobs[0].key, first.jobs[0].key);
    assert_eq!(repainted_manifest.jobs[1].key, first.jobs[1].key);
}

#[test]
fn a_glob_expands_to_a_list_in_name_order_and_the_schemas_counts_hold() {
    let folder = Folder::new();
    let ok = loaded(folder.load(&format!(
        "{SEEDANCE}jobs:\n  - {{prompt: two refs, reference_image_urls: [./refs/*.png], duration: 5}}\n"
    )))
    .manifest;
    let urls = ok.jobs[0].input["reference_image_urls"].clone();
    assert_eq!(
        urls,
        json!([
            format!("{PLACEHOLDER_PREFIX}{}.png", hash(PNG)),
            format!("{PLACEHOLDER_PREFIX}{}.jpg", hash(JPEG)),
        ])
    );
    // Kling takes one image: a pattern of two is over its maxItems, before any upload.
    let errors = folder
        .load(&format!(
            "{KLING}jobs:\n  - {{prompt: two images, image_urls: [./refs/*.png]}}\n"
        ))
        .expect_err("two images for a field of one");
    let text = errors.to_string();
    assert!(
        text.contains("image_urls") && text.contains("found 2 items"),
        "{text}"
    );
}

#[test]
fn every_unusable_reference_is_a_located_error_reported_together() {
    let folder = Folder::new();
    folder.write("outside-of-the-batch.png", PNG);
    let errors = folder
        .load(&format!(
            "{SEEDANCE}jobs:
  - {{prompt: text, reference_image_urls: [./refs/notes.txt], duration: 5}}
  - {{prompt: missing, reference_image_urls: [./refs/missing.png], duration: 5}}
  - {{prompt: outside, reference_image_urls: [../outside-of-the-batch.png], duration: 5}}
  - {{prompt: nothing matches, reference_image_urls: [./refs/*.webp], duration: 5}}
  - {{prompt: a pattern for one file, first_frame_url: ./refs/*.png, duration: 5}}
  - {{prompt: a placeholder, first_frame_url: \"{PLACEHOLDER_PREFIX}x.png\", duration: 5}}
"
        ))
        .expect_err("six bad references");
    let lines: Vec<(usize, &str)> = errors
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.is_error())
        .map(|diagnostic| {
            (
                diagnostic
                    .label
                    .as_ref()
                    .map_or(0, |label| label.position.line as usize),
                diagnostic.message.as_str(),
            )
        })
        .collect();
    let expect = |line: usize, needle: &str| {
        assert!(
            lines
                .iter()
                .any(|(at, message)| *at == line && message.contains(needle)),
            "no error at line {line} containing {needle:?}: {lines:#?}"
        );
    };
    expect(4, "is not an image, video or audio file");
    expect(5, "no such file");
    expect(6, "outside the folders");
    expect(7, "matches no file");
    expect(8, "is a pattern, and `first_frame_url` takes one file");
    expect(9, "placeholder sora-batch writes itself");
    assert_eq!(lines.len(), 6, "one error each, nothing more: {lines:#?}");
}

#[test]
fn run_files_from_allows_another_folder() {
    let folder = Folder::new();
    folder.write("shared/frame.png", PNG);
    let text = format!("{KLING}jobs:\n  - {{prompt: shared, image_urls: [../shared/frame.png]}}\n");
    std::fs::write(folder.path("batch/batch.yaml"), &text)
        .unwrap_or_else(|error| panic!("{error}"));
    let refused = manifest::load(&folder.path("batch/batch.yaml"))
        .expect_err("outside the manifest's folder")
        .to_string();
    assert!(
        refused.contains("run.files_from") || refused.contains("`run.files_from`"),
        "{refused}"
    );
    let missing = format!("{text}run:\n  files_from: [../no-such-folder]\n");
    std::fs::write(folder.path("batch/batch.yaml"), &missing)
        .unwrap_or_else(|error| panic!("{error}"));
    let missing = manifest::load(&folder.path("batch/batch.yaml"))
        .expect_err("a folder that is not there")
        .to_string();
    assert!(
        missing.contains("`files_from` names `../no-such-folder`, which is not a folder"),
        "{missing}"
    );
    let allowed = format!("{text}run:\n  files_from: [../shared]\n  upload_retention: 12h\n");
    std::fs::write(folder.path("batch/batch.yaml"), &allowed)
        .unwrap_or_else(|error| panic!("{error}"));
    let manifest = loaded(manifest::load(&folder.path("batch/batch.yaml"))).manifest;
    assert_eq!(manifest.local_files.len(), 1);
    assert_eq!(
        manifest.run.upload_retention,
        std::time::Duration::from_secs(12 * 3600)
    );
}

#[test]
fn a_file_over_the_models_documented_size_is_refused_with_the_limit_named() {
    let folder = Folder::new();
    let mut large = PNG.to_vec();
    large.resize(10 * 1024 * 1024 + 1, 0);
    folder.write("batch/refs/large.png", &large);
    let errors = folder
        .load(&format!(
            "{KLING}jobs:\n  - {{prompt: too large, image_urls: [./refs/large.png]}}\n"
        ))
        .expect_err("over 10 MB");
    let text = errors.to_string();
    assert!(
        text.contains("`./refs/large.png` is 10485761 bytes, over the 10 MB (10485760 bytes) that model `kling-2.6/image-to-video` takes in `image_urls`"),
        "{text}"
    );
    // The same file is fine for a model whose page allows 30 MB.
    loaded(folder.load(&format!(
        "{SEEDANCE}jobs:\n  - {{prompt: large is fine, reference_image_urls: [./refs/large.png], duration: 5}}\n"
    )));
}
