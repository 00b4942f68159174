//! Retries counted as the account sees them: a hook through which a caller's rate limiter
//! paces the client's own retries.
//!
//! Read [`RetryPacer`]. The service counts every request against the account's limits,
//! first attempts and retries alike (recordInfo: 10 per second). The engine paces first
//! attempts with its limiter; a retry the client makes on its own after a timeout or a 500
//! would bypass that limiter and, under heavy faults, push the account over its limit. The
//! paced calls ([`crate::Client::record_info_paced`], [`crate::Client::download_url_paced`])
//! ask the pacer before every retry. The api crate knows nothing of the limits themselves.

use std::future::Future;
use std::pin::Pin;

/// Decides when the client may send one more request of a paced call.
pub trait RetryPacer: Send + Sync {
    /// Resolves when one more request may be sent, and counts it: the caller's limiter takes
    /// the slot. Asked after the retry policy's own wait, before each retry.
    fn permit(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;

    /// The service answered 429 to a request of a paced call: its window is full, whatever
    /// the caller counted (another process on the same key, clock skew). The pacer should
    /// hold further requests back for a window.
    fn rate_limited(&self) {}
}

/// The pacer of a call whose retries need no pacing: every permit at once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unpaced;

impl RetryPacer for Unpaced {
    fn permit(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(std::future::ready(()))
    }
}
