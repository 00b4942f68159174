//! HTTPS on loopback for tests of TLS trust: a certificate made on the spot, and a TLS front
//! that passes each connection on to a plain server (the fake's API host).
//!
//! Read [`TestCertificate`], then [`TlsFront::start`]. The certificate is self-signed, as a
//! developer's or a company's own service's often is; what a client makes of it depends on
//! what it trusts: nothing by default (an unknown issuer), or this very certificate when its
//! PEM is handed to the client (`SSL_CERT_FILE`). A [`CertificateFlaw`] makes it wrong in one
//! more way, so that each certificate problem can be told from the others.
//!
//! Only with the `tls` feature: the tests that need it ask for it, nothing else builds it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// What is wrong with a [`TestCertificate`] beyond being self-signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertificateFlaw {
    /// Valid now, for `127.0.0.1` and `localhost`.
    None,
    /// Valid for the right names, but it expired in 2020.
    Expired,
    /// Valid now, but for `elsewhere.invalid` only.
    WrongName,
}

/// A self-signed server certificate and its key.
pub struct TestCertificate {
    pem: String,
    der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TestCertificate")
            .field("pem", &self.pem)
            .finish_non_exhaustive()
    }
}

impl TestCertificate {
    /// A self-signed certificate for `127.0.0.1` and `localhost`, valid now.
    pub fn self_signed() -> TestCertificate {
        TestCertificate::with_flaw(CertificateFlaw::None)
    }

    /// A self-signed certificate with `flaw`.
    pub fn with_flaw(flaw: CertificateFlaw) -> TestCertificate {
        let names = match flaw {
            CertificateFlaw::WrongName => vec!["elsewhere.invalid".to_owned()],
            CertificateFlaw::None | CertificateFlaw::Expired => {
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()]
            }
        };
        let made = (|| {
            let mut params = rcgen::CertificateParams::new(names)?;
            // A name of its own: two test certificates must not pass for the same issuer.
            params.distinguished_name.push(
                rcgen::DnType::CommonName,
                format!("sora-batch test service {:016x}", fastrand::u64(..)),
            );
            if flaw == CertificateFlaw::Expired {
                params.not_before = rcgen::date_time_ymd(2019, 1, 1);
                params.not_after = rcgen::date_time_ymd(2020, 1, 1);
            }
            let key = rcgen::KeyPair::generate()?;
            let certificate = params.self_signed(&key)?;
            Ok::<_, rcgen::Error>((certificate, key))
        })();
        let (certificate, key) = match made {
            Ok(made) => made,
            Err(error) => panic!("rcgen cannot make a test certificate: {error}"),
        };
        TestCertificate {
            pem: certificate.pem(),
            der: certificate.der().clone(),
            key_der: key.serialize_der(),
        }
    }

    /// The certificate in PEM, as `SSL_CERT_FILE` holds trusted ones.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// Writes [`Self::pem`] to `path`.
    pub fn write_pem(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, &self.pem)
    }

    fn server_config(&self) -> rustls::ServerConfig {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .and_then(|builder| {
                builder
                    .with_no_client_auth()
                    .with_single_cert(vec![self.der.clone()], key)
            });
        match config {
            Ok(config) => config,
            Err(error) => panic!("rustls refuses the test certificate: {error}"),
        }
    }
}

/// A TLS server on a loopback port that hands every connection, decrypted, to a plain TCP
/// server. It counts the connections clients open, so that a test can tell one attempt from
/// a retry loop. Dropping it stops accepting.
#[derive(Debug)]
pub struct TlsFront {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    accepting: JoinHandle<()>,
}

impl TlsFront {
    /// Serves `certificate` on a fresh loopback port in front of `upstream`, a plain
    /// `http://host:port` URL such as [`crate::FakeKie::base_url`]. Must be called inside a
    /// tokio runtime, which keeps serving while it runs.
    pub async fn start(upstream: &str, certificate: &TestCertificate) -> TlsFront {
        let upstream = upstream_address(upstream);
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(certificate.server_config()));
        let listener = match TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(error) => panic!("cannot listen on loopback: {error}"),
        };
        let address = match listener.local_addr() {
            Ok(address) => address,
            Err(error) => panic!("no local address: {error}"),
        };
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&connections);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to
                    // pass on.
                    let Ok(mut decrypted) = acceptor.accept(client).await else {
                        return;
                    };
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut decrypted, &mut server).await;
                });
            }
        });
        TlsFront {
            address,
            connections,
            accepting,
        }
    }

    /// How many connections clients opened so far, handshakes refused included.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// `https://127.0.0.1:PORT`: the base URL to hand a client.
    pub fn base_url(&self) -> String {
        format!("https://{}", self.address)
    }

    /// `https://localhost:PORT`: the same server by name.
    pub fn base_url_by_name(&self) -> String {
        format!("https://localhost:{}", self.address.port())
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// `host:port` of a plain `http://` URL on loopback.
fn upstream_address(url: &str) -> SocketAddr {
    let authority = url
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or(rest));
    match authority.and_then(|authority| authority.parse().ok()) {
        Some(address) => address,
        None => panic!("the TLS front needs a plain http://IP:PORT upstream, not {url:?}"),
    }
}
