//! A way to the service that cannot work stops the run at its first call, with one line
//! naming the cause, and exit 3 (the account/configuration class), never 5: an untrusted
//! certificate, a dead or refusing proxy, a name that does not resolve, a closed port. The
//! certificate trusted through `SSL_CERT_FILE` makes the same run succeed.
//!
//! HTTPS comes from the testkit's TLS front before the fake, with a self-signed certificate
//! made in the test; proxies are the testkit's refusing proxy, or a closed loopback port.
//! Nothing here leaves loopback but a lookup of a name under `.invalid`, which never
//! resolves.

use std::process::Command;

use sora_batch_testkit::{FakeKie, RefusingProxy, TestCertificate, TlsFront};

use crate::run_support::{Finished, Harness, fast_run, manifest_with_jobs, numbered_jobs};

/// The environment variables that decide which certificates and proxies the binary uses:
/// removed, so that each test sets exactly what it means (this machine's own settings
/// could otherwise make a test pass or fail).
const NETWORK_SETTINGS: &[&str] = &[
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
];

fn without_network_settings(command: &mut Command) -> &mut Command {
    for name in NETWORK_SETTINGS {
        command.env_remove(name);
    }
    command
}

/// A harness with a two-job manifest.
fn harness() -> Harness {
    let harness = Harness::start(FakeKie::builder());
    harness.write_manifest(&manifest_with_jobs(&numbered_jobs(2), &fast_run(2, "30s")));
    harness
}

/// `run` against `base_url` with `settings` as the only network settings.
fn run_against(harness: &Harness, base_url: &str, settings: &[(&str, &str)]) -> Finished {
    let mut command = harness.run_command(&[]);
    without_network_settings(&mut command).env("KIE_BASE_URL", base_url);
    for (name, value) in settings {
        command.env(name, value);
    }
    Harness::finish(command)
}

/// Exit 3, nothing sent to the service, and the cause said on exactly one line of stderr,
/// which holds every one of `words`.
fn assert_stopped_by_configuration(harness: &Harness, finished: &Finished, words: &[&str]) {
    finished.assert_code(3, "a misconfigured way to the service");
    assert!(
        harness.fake.log().requests().is_empty(),
        "nothing reaches the service"
    );
    let naming: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|line| words.iter().all(|words| line.contains(words)))
        .collect();
    assert_eq!(
        naming.len(),
        1,
        "one line names the cause ({words:?}):\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("attempts"),
        "not retried:\n{}",
        finished.stderr
    );
    assert!(
        !finished
            .stderr
            .contains("run the same command again to collect"),
        "not outstanding work:\n{}",
        finished.stderr
    );
    let report = harness.report();
    assert_eq!(report["summary"]["pending"], 2, "{report:#}");
}

#[test]
fn an_untrusted_certificate_exits_3_naming_it_and_trusting_it_lets_the_run_succeed() {
    let harness = harness();
    let certificate = TestCertificate::self_signed();
    let front = harness.block_on(TlsFront::start(&harness.fake.base_url(), &certificate));

    // The system's store does not know a certificate made a moment ago.
    let refused = run_against(&harness, &front.base_url(), &[]);
    assert_stopped_by_configuration(
        &harness,
        &refused,
        &[
            "TLS certificate of 127.0.0.1",
            "unknown issuer",
            "SSL_CERT_FILE",
        ],
    );
    assert_eq!(front.connections(), 1, "one handshake, no retry loop");

    let trusted = harness.dir.path().join("trusted.pem");
    certificate.write_pem(&trusted).expect("writes the PEM");
    let trusted = trusted.display().to_string();
    let finished = run_against(
        &harness,
        &front.base_url(),
        &[("SSL_CERT_FILE", trusted.as_str())],
    );
    finished.assert_code(0, "the certificate trusted through SSL_CERT_FILE");
    harness.assert_all_videos_complete(2);
    harness.assert_each_prompt_created_once(2);
}

#[test]
fn a_closed_port_exits_3() {
    let harness = harness();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let finished = run_against(&harness, &format!("http://{address}"), &[]);
    assert_stopped_by_configuration(
        &harness,
        &finished,
        &[&address.to_string(), "refused the connection"],
    );
}

#[test]
fn a_dead_proxy_and_a_refusing_one_exit_3() {
    let harness = harness();
    let certificate = TestCertificate::self_signed();
    let front = harness.block_on(TlsFront::start(&harness.fake.base_url(), &certificate));
    let trusted = harness.dir.path().join("trusted.pem");
    certificate.write_pem(&trusted).expect("writes the PEM");
    let trusted = trusted.display().to_string();

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let dead = format!("http://{}", listener.local_addr().expect("address"));
    drop(listener);
    let finished = run_against(
        &harness,
        &front.base_url(),
        &[("SSL_CERT_FILE", &trusted), ("HTTPS_PROXY", &dead)],
    );
    assert_stopped_by_configuration(
        &harness,
        &finished,
        &[&format!("the proxy {dead} refused"), "HTTPS_PROXY"],
    );

    for (status, words) in [
        (407, "proxy authorization required"),
        (403, "would not pass the connection on"),
    ] {
        let proxy = harness.block_on(RefusingProxy::start(status));
        let finished = run_against(
            &harness,
            &front.base_url(),
            &[("SSL_CERT_FILE", &trusted), ("HTTPS_PROXY", &proxy.url())],
        );
        assert_stopped_by_configuration(
            &harness,
            &finished,
            &[&format!("the proxy {}", proxy.url()), words],
        );
        assert_eq!(proxy.connections(), 1, "{status}: one attempt");
    }
    assert_eq!(front.connections(), 0, "no proxy passed anything on");
}

/// `.invalid` never resolves (RFC 6761). The system's resolver says so at once here, offline
/// included (measured: a few milliseconds); a resolver that took longer than the client's
/// 10 s connect timeout to give up would make this a timeout instead.
#[test]
fn a_host_name_that_does_not_resolve_exits_3() {
    let harness = harness();
    let finished = run_against(&harness, "https://sora-batch-test.invalid", &[]);
    assert_stopped_by_configuration(
        &harness,
        &finished,
        &["sora-batch-test.invalid does not resolve"],
    );
}

#[test]
fn task_and_models_show_the_same_line_and_exit_3() {
    let harness = harness();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    drop(listener);
    for args in [&["task", "task-1"][..], &["models", "list"][..]] {
        let mut command = harness.command(args);
        without_network_settings(&mut command).env("KIE_BASE_URL", format!("http://{address}"));
        let finished = Harness::finish(command);
        finished.assert_code(3, &args.join(" "));
        let errors: Vec<&str> = finished
            .stderr
            .lines()
            .filter(|line| line.starts_with("error: "))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}:\n{}", finished.stderr);
        assert!(
            errors[0].contains(&format!("{address} refused the connection")),
            "{args:?}: {}",
            errors[0]
        );
    }

    // A certificate file that cannot be used is the same class of error, before any call.
    let mut command = harness.command(&["task", "task-1"]);
    without_network_settings(&mut command).env("SSL_CERT_FILE", harness.dir.path().join("none"));
    let finished = Harness::finish(command);
    finished.assert_code(3, "an unusable SSL_CERT_FILE");
    assert!(
        finished.stderr.contains("SSL_CERT_FILE names"),
        "{}",
        finished.stderr
    );
    assert!(harness.fake.log().requests().is_empty());
}
