//! What the run may spend: estimates (a job's price, or the charge learned from a job of its
//! class), committed spend, jobs of unknown cost, and the account check before the first
//! submission. The decisions that use these are the coordinator's (`coordinator.rs`);
//! `budgets.rs` holds the rules themselves.

use std::collections::HashSet;
use std::collections::hash_map::Entry;

use super::RunEvent;
use super::budgets::{self, AccountCheck, Spend};
use super::coordinator::Coordinator;
use super::state::{JobSlot, Stage};
use crate::job::Credits;
use crate::prices::{Estimate, PriceClass};

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

    /// A job's estimate: the first charge seen for a job of its class (the service's own
    /// figure, which beats a price list that may have moved), else its price.
    pub fn estimate_of(&self, slot: &JobSlot) -> Option<Credits> {
        self.learned_prices
            .get(&slot.job.price_class)
            .copied()
            .or(slot.job.estimated_credits)
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

    /// The charge of a succeeded task prices the jobs of its class: the first one seen
    /// (journaled with the task's final state, so a later run learns it again). A failed
    /// task teaches nothing: its charge of 0 (a refund) is no price, and taking it for one
    /// would let the rest of the class through the cap as if free. Returns the charge when
    /// it changes the class's estimate (the job had no price, or another one).
    pub(super) fn learn_price(&mut self, index: usize) -> Option<Credits> {
        let slot = &self.jobs[index];
        if !matches!(slot.stage, Stage::Succeeded { .. }) {
            return None;
        }
        // A success reported as free is no price either: it would let the class through the
        // cap as if free.
        let credits = slot.credits.filter(|credits| *credits > Credits::ZERO)?;
        match self.learned_prices.entry(slot.job.price_class) {
            Entry::Occupied(_) => None,
            Entry::Vacant(vacant) => {
                vacant.insert(credits);
                (slot.job.estimated_credits != Some(credits)).then_some(credits)
            }
        }
    }

    /// [`Self::learn_price`] for a task that finished in this run, told to the reporter.
    pub(super) fn learn_price_now(&mut self, index: usize) {
        if let Some(credits) = self.learn_price(index) {
            self.emit(RunEvent::PriceLearned {
                id: self.jobs[index].job.id.clone(),
                credits,
                recorded: false,
            });
        }
    }

    /// The charges that earlier runs journaled price the jobs of their class in this one;
    /// the reporter hears of those that price a job still to submit.
    pub(super) fn learn_recorded_prices(&mut self) {
        let waiting: HashSet<PriceClass> = self
            .pending
            .iter()
            .map(|index| self.jobs[*index].job.price_class)
            .collect();
        for index in 0..self.jobs.len() {
            if let Some(credits) = self.learn_price(index)
                && waiting.contains(&self.jobs[index].job.price_class)
            {
                self.emit(RunEvent::PriceLearned {
                    id: self.jobs[index].job.id.clone(),
                    credits,
                    recorded: true,
                });
            }
        }
    }
}
