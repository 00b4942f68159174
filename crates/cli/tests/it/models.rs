//! `sora-batch models list|show`: the live catalogue through the fake, and the built-in
//! snapshot offline.

use sora_batch_testkit::FakeKie;

use crate::run_support::Harness;
use crate::support::{sora_batch, stdout_of};

#[test]
fn show_reads_the_built_in_snapshot_with_no_key_and_no_network() {
    // No KIE_BASE_URL and no key: a call to the network would fail the command.
    let output = sora_batch()
        .args(["models", "show", "kling-2.6/text-to-video"])
        .output()
        .expect("runs");
    assert!(output.status.success(), "{output:?}");
    let text = stdout_of(&output);
    for expected in [
        "duration",
        "\"5\", \"10\"",
        "sound",
        "55 credits",
        "built-in snapshot, from https://docs.kie.ai/",
    ] {
        assert!(text.contains(expected), "{expected:?} in\n{text}");
    }
}

#[test]
fn list_and_show_live_ask_the_catalogue() {
    let harness = Harness::start(FakeKie::builder());
    let listed = Harness::finish({
        let mut command = harness.command(&["models", "list", "--type", "text-to-video"]);
        command.env_remove("NO_COLOR");
        command
    });
    listed.assert_code(0, "models list");
    assert!(
        listed.stdout.contains("kling-2.6/text-to-video"),
        "{}",
        listed.stdout
    );
    assert!(
        !listed.stdout.contains("nano-banana-2"),
        "an image model under --type text-to-video:\n{}",
        listed.stdout
    );
    let log = harness.fake.log();
    let requests = log.requests();
    assert!(
        requests
            .iter()
            .any(|request| request.query_parameter("taskType") == Some("text-to-video")),
        "{requests:#?}"
    );

    let shown =
        Harness::finish(harness.command(&["models", "show", "kling-2.6/text-to-video", "--live"]));
    shown.assert_code(0, "models show --live");
    assert!(
        shown.stdout.contains("the live catalogue"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("prompt"), "{}", shown.stdout);
}
