//! The wallet property test's model: what each customer's paid and
//! granted credit should be after each step, spent and given back in the
//! orders README ("Customer wallets") states.

use super::{CLEARING_MS, CUSTOMERS};

/// A grant as the model sees it. Its index in `Model::grants` is its
/// creation order, which is also the order of the product's grant ids
/// (time-ordered and increasing within a process).
#[derive(Debug)]
pub(super) struct Grant {
    pub(super) customer: usize,
    pub(super) remaining: i64,
    pub(super) expires_at_ms: Option<i64>,
    pub(super) expired: bool,
}

#[derive(Debug)]
pub(super) struct Order {
    pub(super) id: String,
    pub(super) customer: usize,
    pub(super) amount: i64,
    pub(super) refunded: i64,
    /// Refunds made (a reverse needs none).
    pub(super) refunds: u32,
    pub(super) paid_at_ms: i64,
    pub(super) reversed: bool,
    /// For a wallet payment, what it took from each grant and has not had
    /// back, in the order it spent them; `None` for a top-up.
    pub(super) spends: Option<Vec<(usize, i64)>>,
}

#[derive(Debug)]
pub(super) struct Code {
    pub(super) id: String,
    pub(super) text: String,
    pub(super) amount: i64,
    pub(super) max_redemptions: i64,
    pub(super) expires_at_ms: Option<i64>,
    pub(super) disabled: bool,
    pub(super) redeemed_by: Vec<usize>,
}

/// What the wallets of one case's customers should hold.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) now_ms: i64,
    pub(super) paid: [i64; CUSTOMERS],
    pub(super) grants: Vec<Grant>,
    pub(super) orders: Vec<Order>,
    pub(super) codes: Vec<Code>,
}

impl Model {
    pub(super) fn granted(&self, customer: usize) -> i64 {
        self.grants
            .iter()
            .filter(|grant| grant.customer == customer && !grant.expired)
            .map(|grant| grant.remaining)
            .sum()
    }

    pub(super) fn cleared(&self, order: &Order) -> bool {
        self.now_ms >= order.paid_at_ms + CLEARING_MS
    }

    /// Spends `amount` from the customer's wallet (granted credit expiring
    /// soonest first, then other granted credit oldest first, then paid
    /// credit): what each grant gave, or `None` when the wallet is short.
    pub(super) fn spend(&mut self, customer: usize, amount: i64) -> Option<Vec<(usize, i64)>> {
        if amount > self.paid[customer] + self.granted(customer) {
            return None;
        }
        let mut live: Vec<usize> = (0..self.grants.len())
            .filter(|&at| {
                let grant = &self.grants[at];
                grant.customer == customer && !grant.expired && grant.remaining > 0
            })
            .collect();
        live.sort_by_key(|&at| {
            (
                self.grants[at].expires_at_ms.is_none(),
                self.grants[at].expires_at_ms,
                at,
            )
        });
        let mut left = amount;
        let mut spends = Vec::new();
        for at in live {
            let take = self.grants[at].remaining.min(left);
            if take == 0 {
                break;
            }
            self.grants[at].remaining -= take;
            spends.push((at, take));
            left -= take;
        }
        self.paid[customer] -= left;
        Some(spends)
    }

    /// Gives `amount` of a wallet payment back: paid credit first, then the
    /// granted part to its grants; a grant that has expired since keeps
    /// nothing (its part goes to promotions).
    pub(super) fn refund_wallet_payment(&mut self, order: usize, amount: i64) {
        let (customer, unrefunded) = {
            let order = &self.orders[order];
            (order.customer, order.amount - order.refunded)
        };
        let mut spends = self.orders[order].spends.take().expect("a wallet payment");
        let granted_left: i64 = spends.iter().map(|(_, taken)| taken).sum();
        let to_paid = amount.min((unrefunded - granted_left).max(0));
        self.paid[customer] += to_paid;
        let mut to_granted = amount - to_paid;
        // The grant spent last gets its part back first.
        for at in (0..spends.len()).rev() {
            let (grant, taken) = &mut spends[at];
            let back = (*taken).min(to_granted);
            *taken -= back;
            to_granted -= back;
            if !self.grants[*grant].expired {
                self.grants[*grant].remaining += back;
            }
        }
        assert_eq!(to_granted, 0, "the model refunds more than was spent");
        self.orders[order].spends = Some(spends);
    }

    pub(super) fn advance(&mut self, ms: i64) {
        self.now_ms += ms;
        for grant in &mut self.grants {
            if grant.expires_at_ms.is_some_and(|at| at <= self.now_ms) && !grant.expired {
                grant.expired = true;
                grant.remaining = 0;
            }
        }
    }
}
