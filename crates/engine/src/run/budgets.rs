//! The run's budgets: tasks at once, the spending cap, and the account's balance.
//!
//! Read [`SpendingCap::admits`]: nothing is submitted that would take the batch's committed
//! spend (charges of finished tasks, estimates of tasks that may be running or may have been
//! created) above `max_credits`. [`Slots`] bounds the tasks the service runs for this batch
//! at once. [`check_account`] asks, before the first submission, whether the key is
//! accepted and the balance covers what is left to submit.

use super::StopReason;
use super::service::TaskService;
use crate::job::Credits;
use crate::prices::Estimate;

/// Tasks submitted and not finished (or stuck past their deadline), at most `limit`.
#[derive(Debug, Clone)]
pub(super) struct Slots {
    held: usize,
    limit: usize,
}

impl Slots {
    pub fn new(limit: usize) -> Slots {
        Slots {
            held: 0,
            limit: limit.max(1),
        }
    }

    pub fn free(&self) -> bool {
        self.held < self.limit
    }

    pub fn take(&mut self) {
        self.held += 1;
    }

    pub fn give_back(&mut self) {
        self.held = self.held.saturating_sub(1);
    }
}

/// The batch's spending cap, if it has one.
#[derive(Debug, Clone, Copy)]
pub(super) struct SpendingCap {
    pub max_credits: Option<Credits>,
}

impl SpendingCap {
    /// Whether a job estimated at `next` may be submitted with `committed` already
    /// committed; the stop reason when not. A job of unknown price counts as free here: the
    /// run warns of such jobs before it starts ([`check_account`]).
    pub fn admits(&self, committed: Credits, next: Option<Credits>) -> Result<(), StopReason> {
        let Some(max_credits) = self.max_credits else {
            return Ok(());
        };
        let next = next.unwrap_or(Credits::ZERO);
        if (committed + next).0 > max_credits.0 {
            Err(StopReason::SpendingCap {
                max_credits,
                committed,
                next,
            })
        } else {
            Ok(())
        }
    }
}

/// What the account check found.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum AccountCheck {
    /// The key was refused, or the way to the service is misconfigured: nothing may be sent.
    Stop(StopReason),
    /// Things the user should know; the run goes on.
    Warnings(Vec<String>),
}

/// Before the first submission: is the key accepted, is the service reachable as
/// configured, and does the balance cover what is left to submit (`to_submit`, capped by what the spending cap still allows)? A short
/// balance is a warning: the run goes on and stops at the 402, finishing what is in flight.
pub(super) async fn check_account(
    service: &dyn TaskService,
    to_submit: Estimate,
    cap: SpendingCap,
    committed: Credits,
) -> AccountCheck {
    let mut warnings = Vec::new();
    let mut estimate = to_submit.credits;
    if let Some(max_credits) = cap.max_credits {
        if to_submit.unpriced_jobs > 0 {
            warnings.push(format!(
                "{} job(s) have no known price: under the spending cap each goes alone, with \
                 nothing else submitted until its charge is known, and that charge then prices \
                 the jobs like it (set prices under `prices:` in the manifest to go faster)",
                to_submit.unpriced_jobs
            ));
        }
        estimate = estimate.min((max_credits - committed).max(Credits::ZERO));
    }
    match service.credit_balance().await {
        Ok(balance) if balance < estimate => warnings.push(format!(
            "the account has {} credits, and the jobs left to submit are estimated at {}: \
             the run will likely stop at a 402 before the end (top up, then run the same \
             command again)",
            balance, estimate
        )),
        Ok(_) => {}
        Err(error) => match StopReason::of_error(&error) {
            Some(reason) if reason.stops_everything() => return AccountCheck::Stop(reason),
            _ => warnings.push(format!(
                "could not read the account's balance ({error}); going on"
            )),
        },
    }
    AccountCheck::Warnings(warnings)
}

/// What the batch has committed under its spending cap.
#[derive(Debug, Clone, Default)]
pub(super) struct Spend {
    pub committed: Credits,
    /// Jobs of unknown cost whose charge may become known in this run.
    pub unknown_resolving: usize,
    /// A job of unknown cost whose charge cannot become known in this run.
    pub unknown_for_good: Option<crate::job::JobId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_admits_up_to_and_including_the_cap() {
        let cap = SpendingCap {
            max_credits: Some(Credits(60.0)),
        };
        assert!(cap.admits(Credits(30.0), Some(Credits(30.0))).is_ok());
        assert_eq!(
            cap.admits(Credits(31.0), Some(Credits(30.0))),
            Err(StopReason::SpendingCap {
                max_credits: Credits(60.0),
                committed: Credits(31.0),
                next: Credits(30.0),
            })
        );
        let uncapped = SpendingCap { max_credits: None };
        assert!(uncapped.admits(Credits(1e9), Some(Credits(1e9))).is_ok());
    }

    #[test]
    fn slots_bound_tasks_at_once() {
        let mut slots = Slots::new(0);
        assert!(slots.free(), "a concurrency of 0 still runs one task");
        slots.take();
        assert!(!slots.free());
        slots.give_back();
        slots.give_back();
        assert!(slots.free());
    }
}
