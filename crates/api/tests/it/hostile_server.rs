//! A hostile HTTP/1.1 server on loopback that writes its answers by hand.
//!
//! Read [`Behaviour`] first. wiremock answers with whole, well-formed responses; the attacks
//! tested in `hostile.rs` are answers that never end, that announce more than a client
//! should read, that trickle one byte at a time or that fall silent after the headers. A
//! `TcpListener` writing raw HTTP/1.1 can send all of them. Each request is counted, so that
//! tests assert on how many the client made rather than on the clock. Connections end when
//! the client hangs up, and everything stops when the server is dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// What the server does with every request it reads.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// HTTP 200 with a JSON envelope that starts well and never ends (chunked).
    EndlessJson,
    /// `status` with a chunked body of filler that never ends: a broken proxy's error page.
    EndlessBody { status: u16 },
    /// `status` and `body`, whole: with a Content-Length, or chunked in small pieces.
    Whole {
        status: u16,
        body: Vec<u8>,
        chunked: bool,
    },
    /// HTTP 200 announcing `content_length` bytes, then nothing; the connection stays open.
    SilentAfterHeaders { content_length: u64 },
    /// Reads the request and never answers; the connection stays open.
    NeverAnswers,
    /// HTTP 200 announcing `content_length` bytes, then one byte every `interval`.
    Trickle {
        content_length: u64,
        interval: Duration,
    },
}

/// The server; dropping it closes the listener and every connection.
#[derive(Debug)]
pub struct HostileServer {
    address: SocketAddr,
    requests: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl HostileServer {
    pub async fn start(behaviour: Behaviour) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("a bound address");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let accept = tokio::spawn(async move {
            // Owned here so that aborting this task aborts every connection with it.
            let mut connections = JoinSet::new();
            while let Ok((stream, _)) = listener.accept().await {
                connections.spawn(serve(stream, behaviour.clone(), Arc::clone(&counter)));
            }
        });
        HostileServer {
            address,
            requests,
            accept,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url())
    }

    /// Requests read so far, over all connections.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

async fn serve(mut stream: TcpStream, behaviour: Behaviour, requests: Arc<AtomicUsize>) {
    // An error on the socket means the client hung up, which is how every hostile answer
    // is meant to end.
    let _ = answer_requests(&mut stream, &behaviour, &requests).await;
}

async fn answer_requests(
    stream: &mut TcpStream,
    behaviour: &Behaviour,
    requests: &AtomicUsize,
) -> std::io::Result<()> {
    let mut buffer = Vec::new();
    while read_request(stream, &mut buffer).await? {
        requests.fetch_add(1, Ordering::SeqCst);
        match behaviour {
            Behaviour::Whole {
                status,
                body,
                chunked: false,
            } => {
                stream
                    .write_all(&head(*status, &format!("content-length: {}", body.len())))
                    .await?;
                stream.write_all(body).await?;
            }
            Behaviour::Whole {
                status,
                body,
                chunked: true,
            } => {
                stream
                    .write_all(&head(*status, "transfer-encoding: chunked"))
                    .await?;
                for piece in body.chunks(1000) {
                    stream.write_all(&chunk(piece)).await?;
                }
                stream.write_all(b"0\r\n\r\n").await?;
            }
            Behaviour::EndlessJson => {
                stream
                    .write_all(&head(200, "transfer-encoding: chunked"))
                    .await?;
                stream
                    .write_all(&chunk(br#"{"code":200,"msg":"success","data":{"taskId":""#))
                    .await?;
                endless_filler(stream).await?;
            }
            Behaviour::EndlessBody { status } => {
                stream
                    .write_all(&head(*status, "transfer-encoding: chunked"))
                    .await?;
                endless_filler(stream).await?;
            }
            Behaviour::SilentAfterHeaders { content_length } => {
                stream
                    .write_all(&head(200, &format!("content-length: {content_length}")))
                    .await?;
                hold_until_hung_up(stream).await?;
            }
            Behaviour::NeverAnswers => hold_until_hung_up(stream).await?,
            Behaviour::Trickle {
                content_length,
                interval,
            } => {
                stream
                    .write_all(&head(200, &format!("content-length: {content_length}")))
                    .await?;
                for _ in 0..*content_length {
                    stream.write_all(b"x").await?;
                    tokio::time::sleep(*interval).await;
                }
            }
        }
    }
    Ok(())
}

/// Reads one request (head and Content-Length body) off the connection; `false` when the
/// client closed it instead. Bytes of a following request stay in `buffer`.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut piece = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let read = stream.read(&mut piece).await?;
        if read == 0 {
            return Ok(false);
        }
        buffer.extend_from_slice(&piece[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let body_length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + body_length {
        let read = stream.read(&mut piece).await?;
        if read == 0 {
            return Ok(false);
        }
        buffer.extend_from_slice(&piece[..read]);
    }
    buffer.drain(..head_end + body_length);
    Ok(true)
}

fn head(status: u16, framing: &str) -> Vec<u8> {
    format!("HTTP/1.1 {status} Hostile\r\ncontent-type: application/json\r\n{framing}\r\n\r\n")
        .into_bytes()
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
    framed.extend_from_slice(data);
    framed.extend_from_slice(b"\r\n");
    framed
}

/// 64 KiB chunks of filler for as long as the client reads them, as fast as it reads.
async fn endless_filler(stream: &mut TcpStream) -> std::io::Result<()> {
    let filler = chunk(&b"hostile ".repeat(8 * 1024));
    loop {
        stream.write_all(&filler).await?;
    }
}

/// Keeps the connection open, sending nothing, until the client hangs up.
async fn hold_until_hung_up(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut discard = [0u8; 1024];
    while stream.read(&mut discard).await? > 0 {}
    Ok(())
}
