//! Client-side rate limits that keep a batch under the account's limits.
//!
//! Read [`SlidingWindowLimiter`]. The service counts requests in a window (createTask: 20 per
//! 10 s; recordInfo: 10 per s) and drops the excess with a 429. A limiter that enforces the
//! same rule with a slightly lower count lets the scheduler go exactly as fast as the account
//! allows and no faster, so a 429 is an accident rather than the control loop. The poll
//! limiter is a [`SharedLimiter`]: the client's own retries count against it too.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sora_batch_api::RetryPacer;
use tokio::time::Instant;

/// At most `max_requests` in any window of `window` (and, when smoothed, at most half of
/// them in any half window).
#[derive(Debug, Clone)]
pub struct SlidingWindowLimiter {
    max_requests: usize,
    window: Duration,
    /// A tighter rule inside the window, `(requests, window)`, when smoothed.
    burst: Option<(usize, Duration)>,
    /// When the last `max_requests` requests were let through, oldest first.
    recent: VecDeque<Instant>,
}

impl SlidingWindowLimiter {
    pub fn new(max_requests: u32, window: Duration) -> Self {
        let max_requests = usize::try_from(max_requests.max(1)).unwrap_or(usize::MAX);
        SlidingWindowLimiter {
            max_requests,
            window,
            burst: None,
            recent: VecDeque::with_capacity(max_requests.min(1024)),
        }
    }

    /// Like [`new`](Self::new), and at most half the requests in any half window: the same
    /// rate without full-window bursts. A burst that a network delay pushes late can land in
    /// the service's next window together with that window's own burst; half bursts leave
    /// room for that.
    pub fn smoothed(max_requests: u32, window: Duration) -> Self {
        let mut limiter = SlidingWindowLimiter::new(max_requests, window);
        if limiter.max_requests >= 2 {
            limiter.burst = Some((limiter.max_requests.div_ceil(2), window / 2));
        }
        limiter
    }

    /// The rules in force: the window, and the burst rule when smoothed.
    fn rules(&self) -> impl Iterator<Item = (usize, Duration)> + use<> {
        std::iter::once((self.max_requests, self.window)).chain(self.burst)
    }

    /// When the next request may go: `now` if there is room in every window.
    pub fn next_free_at(&self, now: Instant) -> Instant {
        let mut free_at = now;
        for (max_requests, window) in self.rules() {
            let in_window = self
                .recent
                .iter()
                .rev()
                .take_while(|at| **at + window > now)
                .count();
            if in_window >= max_requests
                && let Some(at) = self
                    .recent
                    .len()
                    .checked_sub(max_requests)
                    .and_then(|i| self.recent.get(i))
            {
                free_at = free_at.max(*at + window);
            }
        }
        free_at
    }

    /// Takes a slot if one is free at `now`.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        while let Some(oldest) = self.recent.front() {
            if *oldest + self.window <= now {
                self.recent.pop_front();
            } else {
                break;
            }
        }
        if self.next_free_at(now) <= now {
            self.recent.push_back(now);
            true
        } else {
            false
        }
    }

    /// A request let through at `granted` actually left at `sent` (a createTask waits for its
    /// intent to be durable first): it counts from `sent`, when the service saw it. Without
    /// this, a slow fsync before one burst and a quick one before the next put more requests
    /// in the service's window than the limit.
    pub fn sent_later(&mut self, granted: Instant, sent: Instant) {
        if sent <= granted {
            return;
        }
        if let Some(position) = self.recent.iter().position(|at| *at == granted) {
            self.recent.remove(position);
            let at = self.recent.partition_point(|t| *t <= sent);
            self.recent.insert(at, sent);
        }
    }

    /// Pushes the window back after the service answered 429 anyway (another client on the
    /// same key, or clock skew): nothing more until a full window has passed.
    pub fn back_off(&mut self, now: Instant) {
        self.recent.clear();
        for _ in 0..self.max_requests {
            self.recent.push_back(now);
        }
    }
}

/// One limiter for every request the account counts against one limit: the coordinator's
/// first polls take from it at once or not at all ([`SharedLimiter::try_acquire`]), and the
/// client's own retries of recordInfo and download-url wait for it as a [`RetryPacer`].
/// Without this, retries under heavy faults went around the limiter and past the account's
/// limit.
#[derive(Debug, Clone)]
pub(super) struct SharedLimiter(Arc<Mutex<SlidingWindowLimiter>>);

impl SharedLimiter {
    pub fn new(limiter: SlidingWindowLimiter) -> SharedLimiter {
        SharedLimiter(Arc::new(Mutex::new(limiter)))
    }

    fn lock(&self) -> MutexGuard<'_, SlidingWindowLimiter> {
        // The limiter holds no invariant a panic elsewhere could break half-way.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn try_acquire(&self, now: Instant) -> bool {
        self.lock().try_acquire(now)
    }

    pub fn next_free_at(&self, now: Instant) -> Instant {
        self.lock().next_free_at(now)
    }

    pub fn back_off(&self, now: Instant) {
        self.lock().back_off(now);
    }

    pub fn sent_later(&self, granted: Instant, sent: Instant) {
        self.lock().sent_later(granted, sent);
    }
}

impl RetryPacer for SharedLimiter {
    fn permit(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            loop {
                let now = Instant::now();
                let free_at = {
                    let mut limiter = self.lock();
                    if limiter.try_acquire(now) {
                        return;
                    }
                    limiter.next_free_at(now)
                };
                // Another request may take the slot first (the coordinator's, or another
                // retry's): then this one waits for the next.
                tokio::time::sleep_until(free_at.max(now + Duration::from_millis(1))).await;
            }
        })
    }

    fn rate_limited(&self) {
        self.back_off(Instant::now());
    }
}

/// A rate-limit window lengthened by 5%, for the time requests take to reach the service.
pub(super) fn with_latency_guard(window: std::time::Duration) -> std::time::Duration {
    window + window / 20
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_the_limit_in_any_window() {
        let start = Instant::now();
        let window = Duration::from_secs(10);
        let mut limiter = SlidingWindowLimiter::new(3, window);
        let mut granted = Vec::new();
        for step in 0..400u64 {
            let now = start + Duration::from_millis(step * 100);
            if limiter.try_acquire(now) {
                granted.push(now);
            }
        }
        for (index, at) in granted.iter().enumerate() {
            let in_window = granted[index..]
                .iter()
                .take_while(|later| **later < *at + window)
                .count();
            assert!(in_window <= 3);
        }
        assert_eq!(granted.len(), 12, "3 per 10 s over 40 s");
    }

    #[test]
    fn a_request_that_left_late_counts_from_when_it_left() {
        let start = Instant::now();
        let window = Duration::from_secs(1);
        let mut limiter = SlidingWindowLimiter::new(2, window);
        assert!(limiter.try_acquire(start));
        assert!(limiter.try_acquire(start));
        // The first one left 300 ms after it was let through.
        limiter.sent_later(start, start + Duration::from_millis(300));
        assert!(limiter.try_acquire(start + window));
        assert!(!limiter.try_acquire(start + window));
        assert_eq!(
            limiter.next_free_at(start + window),
            start + window + Duration::from_millis(300)
        );
    }

    #[test]
    fn a_smoothed_limiter_lets_half_a_window_through_per_half_window() {
        let start = Instant::now();
        let window = Duration::from_secs(1);
        let mut limiter = SlidingWindowLimiter::smoothed(4, window);
        assert!(limiter.try_acquire(start));
        assert!(limiter.try_acquire(start));
        assert!(!limiter.try_acquire(start));
        assert_eq!(
            limiter.next_free_at(start),
            start + Duration::from_millis(500)
        );
        let half = start + Duration::from_millis(500);
        assert!(limiter.try_acquire(half));
        assert!(limiter.try_acquire(half));
        // Four in the window now: the full rule holds the next one back to `start + 1 s`.
        let later = start + Duration::from_millis(900);
        assert!(!limiter.try_acquire(later));
        assert_eq!(limiter.next_free_at(later), start + window);
        assert!(limiter.try_acquire(start + window));
    }

    #[test]
    fn next_free_at_is_when_the_oldest_leaves_the_window() {
        let start = Instant::now();
        let mut limiter = SlidingWindowLimiter::new(2, Duration::from_secs(1));
        assert!(limiter.try_acquire(start));
        assert!(limiter.try_acquire(start + Duration::from_millis(300)));
        let later = start + Duration::from_millis(500);
        assert_eq!(limiter.next_free_at(later), start + Duration::from_secs(1));
        assert!(!limiter.try_acquire(later));
        assert!(limiter.try_acquire(start + Duration::from_secs(1)));
        limiter.back_off(start + Duration::from_secs(2));
        assert!(!limiter.try_acquire(start + Duration::from_millis(2500)));
        assert!(limiter.try_acquire(start + Duration::from_secs(3)));
    }
}
