//! What the run may spend: estimates (a job's price, or the charge learned from a job of its
//! class), committed spend, jobs of unknown cost, and the account check before the first
//! submission. The decisions that use these are the coordinator's (`coordinator.rs`);
//! `budgets.rs` holds the rules themselves.

use super::RunEvent;
use super::budgets::{self, AccountCheck, Spend};
use super::coordinator::Coordinator;
use super::state::JobSlot;
use crate::job::Credits;
use crate::prices::Estimate;

impl Coordinator {
    /// The account check before the first submission, applied: a refused key or a
    /// misconfigured way to the service stops the run before anything is sent; anything
    /// else is a warning.
    pub async fn check_account(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let mut to_submit = Estimate::default();
        for index in &self.pending {
            to_submit.add(self.estimate_of(&self.jobs[*index]));
        }
        let committed = self.committed_spend();
        let check =
            budgets::check_account(self.service.as_ref(), to_submit, self.cap, committed).await;
        match check {
            AccountCheck::Stop(reason) => self.stop_with(reason),
            AccountCheck::Warnings(warnings) => {
                for message in warnings {
                    self.emit(RunEvent::Warning { message });
                }
            }
        }
    }

    /// A job's estimate: its price, else the charge learned from a job of its class.
    pub fn estimate_of(&self, slot: &JobSlot) -> Option<Credits> {
        slot.job
            .estimated_credits
            .or_else(|| self.learned_prices.get(&slot.job.price_class).copied())
    }

    /// What the batch has spent or may have spent; see [`JobSlot::committed_spend`].
    pub fn committed_spend(&self) -> Credits {
        self.spend().committed
    }

    /// Committed spend, and the jobs whose cost is unknown. One pass over the batch; only
    /// under a spending cap.
    pub(super) fn spend(&self) -> Spend {
        let mut spend = Spend::default();
        for slot in &self.jobs {
            let estimate = self.estimate_of(slot);
            spend.committed += slot.committed_spend(estimate);
            match slot.unknown_cost(estimate) {
                Some(true) => spend.unknown_resolving += 1,
                Some(false) if spend.unknown_for_good.is_none() => {
                    spend.unknown_for_good = Some(slot.job.id.clone());
                }
                _ => {}
            }
        }
        spend
    }

    /// The charge of a finished task of unknown price prices the jobs of its class.
    pub(super) fn learn_price(&mut self, index: usize) {
        let slot = &self.jobs[index];
        if slot.job.estimated_credits.is_none()
            && let Some(credits) = slot.credits
        {
            self.learned_prices
                .entry(slot.job.price_class)
                .or_insert(credits);
        }
    }
}
