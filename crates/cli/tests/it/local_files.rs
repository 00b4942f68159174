//! Local files as inputs, end to end on the fake: images beside the manifest uploaded to
//! the fake's upload host by content, their URLs sent in createTask, reused by later runs
//! while the host serves them, and refused by `validate` when they are no media or outside
//! the manifest's folder.

use std::collections::BTreeSet;

use serde_json::Value;
use sora_batch_testkit::{FakeKie, UploadRequest};

use crate::run_support::{
    Harness, SENTINEL_KEY, all_files, contains_bytes, fast_run, quick_schedule, read, sha256_hex,
    write,
};
use crate::support::repository_root;

fn png() -> Vec<u8> {
    read(&repository_root().join("manifests/refs/lighthouse.png"))
}

fn jpeg() -> Vec<u8> {
    read(&repository_root().join("manifests/refs/harbour.jpg"))
}

/// An image-to-video batch: each of `images` (paths beside the manifest) × each motion.
fn manifest(images: &[&str], motions: &[&str]) -> String {
    format!(
        "version: 1\nname: i2v\nmodel: kling-2.6/image-to-video\ndefaults:\n  sound: false\nprompt: \"{{motion}}, slow push-in\"\nmatrix:\n  image_urls: [{}]\n  motion: [{}]\n{}",
        images.join(", "),
        motions.join(", "),
        fast_run(4, "30s")
    )
}

/// The uploads that stored a file: `(file name, sha256)`.
fn stored(uploads: &[UploadRequest]) -> Vec<(String, String)> {
    uploads
        .iter()
        .filter(|upload| upload.stored_a_file())
        .map(|upload| {
            (
                upload.file_name.clone().unwrap_or_default(),
                upload.sha256.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// Every `image_urls` URL of every createTask body, in order.
fn sent_image_urls(harness: &Harness) -> Vec<String> {
    harness
        .fake
        .log()
        .create_task_bodies()
        .iter()
        .flat_map(|body| {
            body["input"]["image_urls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|url| url.as_str().map(str::to_owned))
        .collect()
}

/// `plan` of the harness's manifest and batch folder, its standard output.
fn plan(harness: &Harness) -> String {
    let mut command = harness.command(&["plan"]);
    command
        .arg(harness.manifest_path())
        .arg("--out")
        .arg(harness.out());
    let finished = Harness::finish(command);
    finished.assert_code(0, "plan");
    finished.stdout
}

fn harness_with_images() -> Harness {
    let harness = Harness::start(FakeKie::builder().schedule(quick_schedule()));
    let refs = harness.dir.path().join("refs");
    std::fs::create_dir_all(&refs).unwrap_or_else(|error| panic!("{error}"));
    write(&refs.join("cat.png"), &png());
    // A JPEG saved under a .png name: its bytes decide its name on the host.
    write(&refs.join("dog.png"), &jpeg());
    harness
}

#[test]
fn local_images_are_uploaded_once_each_by_content_and_sent_as_the_hosts_urls() {
    let harness = harness_with_images();
    harness.write_manifest(&manifest(
        &["./refs/cat.png", "./refs/dog.png"],
        &["waves", "clouds"],
    ));
    let (png_hash, jpeg_hash) = (sha256_hex(&png()), sha256_hex(&jpeg()));
    let planned = plan(&harness);
    assert!(
        planned.contains(&format!(
            "local files: 2 to upload ({} B), 0 uploaded before",
            png().len() + jpeg().len()
        )),
        "{planned}"
    );
    assert!(
        planned.contains(&format!("upload as {jpeg_hash}.jpg")),
        "{planned}"
    );
    assert!(harness.fake.uploads().is_empty(), "plan uploads nothing");

    harness.run(&[]).assert_code(0, "the first run");

    let uploads = harness.fake.uploads();
    let stored_files: BTreeSet<(String, String)> = stored(&uploads).into_iter().collect();
    assert_eq!(
        stored(&uploads).len(),
        2,
        "one upload per distinct image: {uploads:#?}"
    );
    assert_eq!(
        stored_files,
        BTreeSet::from([
            (format!("{png_hash}.png"), png_hash.clone()),
            (format!("{jpeg_hash}.jpg"), jpeg_hash.clone()),
        ])
    );
    let urls = sent_image_urls(&harness);
    assert_eq!(urls.len(), 4, "four jobs, one image each");
    for url in &urls {
        assert!(harness.fake.serves_upload(url), "{url} is not the fake's");
    }
    assert_eq!(urls.iter().collect::<BTreeSet<_>>().len(), 2);
    assert_eq!(harness.fake.log().tasks_created(), 4);

    // The key went to the API and upload hosts, and nowhere else.
    let bearer = format!("Bearer {SENTINEL_KEY}");
    for upload in &uploads {
        match upload.method.as_str() {
            "POST" => assert_eq!(upload.authorization.as_deref(), Some(bearer.as_str())),
            _ => assert_eq!(upload.authorization, None, "{upload:?}"),
        }
    }
    assert!(!harness.fake.log().authorization_sent_to_files());
    for file in all_files(&harness.out()) {
        assert!(
            !contains_bytes(&read(&file), SENTINEL_KEY.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
    let journal = harness.journal();
    let uploaded: Vec<&Value> = journal
        .iter()
        .filter(|record| record["type"] == "uploaded")
        .collect();
    assert_eq!(uploaded.len(), 2, "each upload journaled");

    // Within the retention, new jobs reuse the uploads: nothing is uploaded again, and the
    // finished jobs are not submitted again.
    harness.write_manifest(&manifest(
        &["./refs/cat.png", "./refs/dog.png"],
        &["waves", "clouds", "rain"],
    ));
    let planned = plan(&harness);
    assert!(
        planned.contains("local files: 0 to upload (0 B), 2 uploaded before and reused"),
        "{planned}"
    );
    assert!(
        planned.contains(&format!("reuse {png_hash}.png")),
        "{planned}"
    );
    harness
        .run(&[])
        .assert_code(0, "a run within the retention");
    assert_eq!(stored(&harness.fake.uploads()).len(), 2, "no new upload");
    assert_eq!(harness.fake.log().tasks_created(), 6, "two new jobs only");

    // The host forgot the files: the next jobs upload them again, finished jobs stay done.
    harness.fake.forget_uploads();
    harness.write_manifest(&manifest(
        &["./refs/cat.png", "./refs/dog.png"],
        &["waves", "clouds", "rain", "snow"],
    ));
    harness
        .run(&[])
        .assert_code(0, "a run after the host forgot the files");
    assert_eq!(stored(&harness.fake.uploads()).len(), 4, "each image again");
    assert_eq!(harness.fake.log().tasks_created(), 8, "two new jobs only");
    for url in sent_image_urls(&harness).iter().skip(6) {
        assert!(harness.fake.serves_upload(url), "{url} is not served");
    }
}

#[test]
fn new_pixels_rerun_their_jobs_and_a_rename_reruns_nothing() {
    let harness = harness_with_images();
    harness.write_manifest(&manifest(
        &["./refs/cat.png", "./refs/dog.png"],
        &["waves", "clouds"],
    ));
    harness.run(&[]).assert_code(0, "the first run");
    assert_eq!(harness.fake.log().tasks_created(), 4);

    // Renamed: the same content, the same keys, nothing to do.
    let refs = harness.dir.path().join("refs");
    std::fs::rename(refs.join("dog.png"), refs.join("harbour.jpeg"))
        .unwrap_or_else(|error| panic!("{error}"));
    harness.write_manifest(&manifest(
        &["./refs/cat.png", "./refs/harbour.jpeg"],
        &["waves", "clouds"],
    ));
    harness.run(&[]).assert_code(0, "after a rename");
    assert_eq!(
        harness.fake.log().tasks_created(),
        4,
        "a rename reruns nothing"
    );
    assert_eq!(stored(&harness.fake.uploads()).len(), 2);

    // New pixels in cat.png: its two jobs run again, with the new file; dog's do not.
    let mut repainted = png();
    repainted.extend_from_slice(b"new pixels");
    write(&refs.join("cat.png"), &repainted);
    harness.run(&[]).assert_code(0, "after new pixels");
    assert_eq!(harness.fake.log().tasks_created(), 6, "cat's two jobs only");
    let uploads = stored(&harness.fake.uploads());
    assert_eq!(uploads.len(), 3);
    assert_eq!(
        uploads[2],
        (
            format!("{}.png", sha256_hex(&repainted)),
            sha256_hex(&repainted)
        )
    );
}

#[test]
fn a_text_file_or_a_file_outside_the_folder_is_refused_by_validate_and_nothing_is_uploaded() {
    let harness = harness_with_images();
    let refs = harness.dir.path().join("refs");
    write(
        &refs.join("notes.txt"),
        b"private notes, not for the internet",
    );
    let inner = harness.dir.path().join("batch");
    std::fs::create_dir_all(&inner).unwrap_or_else(|error| panic!("{error}"));
    write(
        &inner.join("batch.yaml"),
        b"version: 1\nmodel: kling-2.6/image-to-video\ndefaults:\n  sound: false\njobs:\n  - prompt: a lighthouse\n    image_urls: [../refs/cat.png]\n  - prompt: a note\n    image_urls: [./notes.txt]\n",
    );
    std::fs::copy(refs.join("notes.txt"), inner.join("notes.txt"))
        .unwrap_or_else(|error| panic!("{error}"));
    let finished = Harness::finish(harness.command(&["validate", "batch/batch.yaml"]));
    finished.assert_code(2, "validate");
    let stderr = &finished.stderr;
    assert!(
        stderr.contains("batch/batch.yaml:7:") && stderr.contains("is outside the folders"),
        "{stderr}"
    );
    assert!(
        stderr.contains("batch/batch.yaml:9:")
            && stderr.contains("is not an image, video or audio file"),
        "{stderr}"
    );
    assert!(harness.fake.uploads().is_empty());
    assert!(harness.fake.log().create_task_bodies().is_empty());
}
