//! A way to the service that cannot work: an untrusted, expired or misnamed certificate, a
//! refused connection, a name that does not resolve. Each is told by its cause, is a
//! configuration error (no retry) before the host ever answered, and stays transient after.
//!
//! HTTPS comes from the testkit's TLS front in front of the fake, with a certificate made in
//! the test; which authorities the client trusts is set through
//! `ClientConfig::trusted_certificates`, as `SSL_CERT_FILE` sets it.

use std::path::PathBuf;

use sora_batch_api::{
    CertificateProblem, ClientConfig, ErrorClass, ErrorKind, Misconfiguration, Operation,
};
use sora_batch_testkit::{CertificateFlaw, FakeKie, TestCertificate, TlsFront};

use crate::hostile_server::{Behaviour, HostileServer};
use crate::support::{client_with, config_for, seed_request};

/// `certificate`'s PEM in a file of `folder`, as `SSL_CERT_FILE` would name it.
fn pem_file(folder: &tempfile::TempDir, certificate: &TestCertificate) -> PathBuf {
    let path = folder.path().join("trusted.pem");
    certificate.write_pem(&path).expect("writes the PEM");
    path
}

/// A client of `base_url` that trusts only `trusted`.
fn config_trusting(base_url: &str, trusted: PathBuf) -> ClientConfig {
    let mut config = config_for(base_url);
    config.trusted_certificates = Some(trusted);
    config
}

fn certificate_problem(kind: &ErrorKind) -> Option<&CertificateProblem> {
    match kind {
        ErrorKind::Misconfigured(Misconfiguration::Certificate { problem, .. }) => Some(problem),
        _ => None,
    }
}

#[tokio::test]
async fn an_untrusted_certificate_is_named_with_its_remedy_and_not_retried() {
    let fake = FakeKie::start().await;
    let served = TestCertificate::self_signed();
    let front = TlsFront::start(&fake.base_url(), &served).await;
    // The client trusts another authority only: a company bundle without this one.
    let folder = tempfile::tempdir().expect("temp dir");
    let other = pem_file(&folder, &TestCertificate::self_signed());
    let client = client_with(config_trusting(&front.base_url(), other));

    let error = client.credit_balance().await.expect_err("untrusted");
    assert_eq!(
        error.kind,
        ErrorKind::Misconfigured(Misconfiguration::Certificate {
            host: "127.0.0.1".into(),
            problem: CertificateProblem::UnknownIssuer,
        })
    );
    assert_eq!(error.class(), ErrorClass::Configuration);
    assert_eq!(error.attempts, 1);
    assert_eq!(
        front.connections(),
        1,
        "a refused certificate is not retried"
    );
    assert!(fake.log().requests().is_empty());
    let message = error.to_string();
    assert!(
        message.starts_with("credit balance: cannot connect: "),
        "{message}"
    );
    for words in ["unknown issuer", "SSL_CERT_FILE", "certificate store"] {
        assert!(message.contains(words), "{message:?} lacks {words:?}");
    }
    assert!(!message.contains('\n'), "one line: {message:?}");

    // A createTask refused at the handshake certainly created nothing.
    let failure = client
        .create_task(&seed_request())
        .await
        .expect_err("untrusted");
    assert_eq!(failure.creation, sora_batch_api::TaskCreation::NotCreated);
    assert_eq!(failure.error.operation, Operation::CreateTask);
    assert_eq!(failure.error.class(), ErrorClass::Configuration);
}

#[tokio::test]
async fn the_certificate_trusted_through_the_file_is_accepted() {
    let fake = FakeKie::start().await;
    let served = TestCertificate::self_signed();
    let front = TlsFront::start(&fake.base_url(), &served).await;
    let folder = tempfile::tempdir().expect("temp dir");
    let trusted = pem_file(&folder, &served);
    for base_url in [front.base_url(), front.base_url_by_name()] {
        let client = client_with(config_trusting(&base_url, trusted.clone()));
        let balance = client.credit_balance().await.expect("trusted");
        assert!(balance > 0.0);
    }
    assert_eq!(fake.log().requests().len(), 2);
}

#[tokio::test]
async fn an_expired_certificate_and_one_for_another_name_are_told_apart() {
    let fake = FakeKie::start().await;
    for (flaw, expected) in [
        (CertificateFlaw::Expired, CertificateProblem::Expired),
        (CertificateFlaw::WrongName, CertificateProblem::WrongName),
    ] {
        let served = TestCertificate::with_flaw(flaw);
        let front = TlsFront::start(&fake.base_url(), &served).await;
        let folder = tempfile::tempdir().expect("temp dir");
        // Trusted, so that what is left wrong is the flaw itself.
        let client = client_with(config_trusting(
            &front.base_url(),
            pem_file(&folder, &served),
        ));
        let error = client.credit_balance().await.expect_err("flawed");
        assert_eq!(certificate_problem(&error.kind), Some(&expected), "{error}");
        assert_eq!(error.attempts, 1);
        let message = error.to_string();
        let said = match expected {
            CertificateProblem::Expired => "has expired",
            _ => "is for another name",
        };
        assert!(message.contains(said), "{message}");
    }
    assert!(fake.log().requests().is_empty());
}

#[tokio::test]
async fn an_unusable_certificate_file_stops_the_client_from_being_built() {
    let folder = tempfile::tempdir().expect("temp dir");
    let missing = folder.path().join("missing.pem");
    let not_pem = folder.path().join("notes.txt");
    std::fs::write(&not_pem, "no certificate here\n").expect("writes");
    for path in [missing, not_pem] {
        let config = config_trusting("https://127.0.0.1:9", path.clone());
        let key = sora_batch_api::ApiKey::new("sk-test").expect("valid key");
        let error = sora_batch_api::Client::new(config, key).expect_err("unusable file");
        assert!(error.is_configuration());
        let message = error.to_string();
        assert!(message.contains("SSL_CERT_FILE"), "{message}");
        assert!(message.contains(&path.display().to_string()), "{message}");
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_misconfiguration_until_the_host_has_answered() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let client = client_with(config_for(&format!("http://{address}")));
    let error = client.credit_balance().await.expect_err("nothing listens");
    assert_eq!(
        error.kind,
        ErrorKind::Misconfigured(Misconfiguration::ConnectionRefused {
            host: "127.0.0.1".into(),
            port: address.port(),
        })
    );
    assert_eq!(error.attempts, 1, "not retried");
    assert!(error.to_string().contains("refused the connection"));

    // A host that answered once and then went away is the network's passing trouble.
    let server = HostileServer::start(Behaviour::Whole {
        status: 200,
        body: br#"{"code":200,"msg":"success","data":42}"#.to_vec(),
        chunked: false,
    })
    .await;
    let client = client_with(config_for(&server.base_url()));
    assert_eq!(client.credit_balance().await.expect("answers"), 42.0);
    drop(server);
    let error = client.credit_balance().await.expect_err("gone");
    assert_eq!(error.kind, ErrorKind::Connection);
    assert_eq!(error.class(), ErrorClass::Transient);
    assert_eq!(error.attempts, client.config().retry.max_attempts);
    // The cause is in the message, not only "error sending request".
    assert!(
        error.to_string().to_lowercase().contains("refused")
            || error.to_string().to_lowercase().contains("closed"),
        "{error}"
    );
}

/// `.invalid` never resolves (RFC 6761). The system's resolver answers at once on this
/// project's machines; the connect timeout is raised so that a resolver that takes its time
/// to give up still ends in its own answer rather than in the client's timeout.
#[tokio::test]
async fn a_host_name_that_does_not_resolve_is_named() {
    let mut config = config_for("https://sora-batch-test.invalid");
    config.connect_timeout = std::time::Duration::from_secs(120);
    config.request_timeout = std::time::Duration::from_secs(120);
    let client = client_with(config);
    let error = client.credit_balance().await.expect_err("no such name");
    assert_eq!(
        error.kind,
        ErrorKind::Misconfigured(Misconfiguration::NameNotResolved {
            host: "sora-batch-test.invalid".into(),
        })
    );
    assert_eq!(error.attempts, 1);
    assert!(error.to_string().contains("does not resolve"), "{error}");
}
