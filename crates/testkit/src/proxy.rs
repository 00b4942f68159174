//! A proxy that refuses: for tests of what a client says when `HTTPS_PROXY` leads nowhere.
//!
//! Read [`RefusingProxy::start`]. It answers every request (a `CONNECT` for an https URL, a
//! plain request for an http one) with one status, 403 or 407 as corporate proxies do, and
//! counts the connections it was offered, so that a test can tell one attempt from a retry
//! loop. Only with the `tls` feature.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The most of a request head the proxy reads before answering.
const MAX_HEAD_BYTES: usize = 16 * 1024;

/// A proxy on a loopback port that refuses everything with one status. Dropping it stops it.
#[derive(Debug)]
pub struct RefusingProxy {
    address: SocketAddr,
    connections: Arc<AtomicUsize>,
    accepting: JoinHandle<()>,
}

impl RefusingProxy {
    /// Starts a proxy answering `status` (403 Forbidden, or 407 Proxy Authentication
    /// Required with a `Proxy-Authenticate` challenge) to every request. Must be called
    /// inside a tokio runtime.
    pub async fn start(status: u16) -> RefusingProxy {
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
        let answer = answer_of(status);
        let accepting = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !head.windows(4).any(|window| window == b"\r\n\r\n")
                        && head.len() < MAX_HEAD_BYTES
                    {
                        match client.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => head.extend_from_slice(&chunk[..read]),
                        }
                    }
                    let _ = client.write_all(answer.as_bytes()).await;
                    let _ = client.shutdown().await;
                });
            }
        });
        RefusingProxy {
            address,
            connections,
            accepting,
        }
    }

    /// `http://127.0.0.1:PORT`: what `HTTPS_PROXY` should say.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many connections clients opened to the proxy so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

fn answer_of(status: u16) -> String {
    let (reason, challenge) = match status {
        407 => (
            "Proxy Authentication Required",
            "Proxy-Authenticate: Basic realm=\"test proxy\"\r\n",
        ),
        403 => ("Forbidden", ""),
        _ => ("Refused", ""),
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\n{challenge}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
}
