use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

use SubscriptionCommand as C;
use SubscriptionStatus as S;

#[test]
fn statuses_parse_and_print() {
    for status in ALL_STATUSES {
        assert_eq!(SubscriptionStatus::parse(status.as_str()), Some(status));
    }
    assert_eq!(SubscriptionStatus::parse("past_due"), Some(S::PastDue));
    assert_eq!(
        SubscriptionStatus::parse("incomplete_expired"),
        Some(S::IncompleteExpired)
    );
    assert_eq!(SubscriptionStatus::parse("PastDue"), None);
    let terminal: Vec<_> = ALL_STATUSES
        .into_iter()
        .filter(|s| s.is_terminal())
        .collect();
    assert_eq!(terminal, [S::Canceled, S::IncompleteExpired]);
}

#[test]
fn initial_status_depends_on_the_trial() {
    assert_eq!(initial_status(true), S::Trialing);
    assert_eq!(initial_status(false), S::Incomplete);
}

#[test]
fn price_changes_and_billing_by_status() {
    let changeable: Vec<_> = ALL_STATUSES
        .into_iter()
        .filter(|&s| may_change_price(s))
        .collect();
    assert_eq!(changeable, [S::Trialing, S::Active, S::PastDue]);
    let billing: Vec<_> = ALL_STATUSES.into_iter().filter(|&s| bills(s)).collect();
    assert_eq!(billing, [S::Trialing, S::Active, S::PastDue, S::Unpaid]);
}

#[test]
fn table_of_transitions() {
    let allowed: Vec<(S, C, S, Option<&str>)> = ALL_STATUSES
        .iter()
        .flat_map(|&from| ALL_COMMANDS.iter().map(move |&command| (from, command)))
        .filter_map(|(from, command)| {
            transition(from, command)
                .ok()
                .map(|result| (from, command, result.to, result.event))
        })
        .collect();
    let activated = Some("subscription.activated");
    let past_due = Some("subscription.past_due");
    let paused = Some("subscription.paused");
    let canceled = Some("subscription.canceled");
    let expected = vec![
        (S::Incomplete, C::InvoicePaid, S::Active, activated),
        (S::Incomplete, C::PaymentFailed, S::Incomplete, None),
        (
            S::Incomplete,
            C::FirstInvoiceExpired,
            S::IncompleteExpired,
            None,
        ),
        (S::Incomplete, C::Cancel, S::Canceled, canceled),
        (S::Trialing, C::InvoicePaid, S::Active, activated),
        (S::Trialing, C::PaymentFailed, S::PastDue, past_due),
        (S::Trialing, C::Pause, S::Paused, paused),
        (S::Trialing, C::Cancel, S::Canceled, canceled),
        (S::Active, C::InvoicePaid, S::Active, None),
        (S::Active, C::PaymentFailed, S::PastDue, past_due),
        (S::Active, C::Pause, S::Paused, paused),
        (S::Active, C::Cancel, S::Canceled, canceled),
        (S::PastDue, C::InvoicePaid, S::Active, activated),
        (S::PastDue, C::PaymentFailed, S::PastDue, None),
        (
            S::PastDue,
            C::RetriesExhausted,
            S::Unpaid,
            Some("subscription.unpaid"),
        ),
        (S::PastDue, C::Pause, S::Paused, paused),
        (S::PastDue, C::Cancel, S::Canceled, canceled),
        (S::Unpaid, C::InvoicePaid, S::Active, activated),
        (S::Unpaid, C::PaymentFailed, S::Unpaid, None),
        (S::Unpaid, C::Cancel, S::Canceled, canceled),
        (
            S::Paused,
            C::Resume,
            S::Active,
            Some("subscription.resumed"),
        ),
        (S::Paused, C::Cancel, S::Canceled, canceled),
    ];
    assert_eq!(allowed, expected);
}

#[test]
fn refusals_say_why() {
    let message = |from, command| transition(from, command).expect_err("refused").to_string();
    assert_eq!(
        message(S::Canceled, C::Pause),
        "a canceled subscription cannot be paused"
    );
    assert_eq!(
        message(S::Paused, C::Pause),
        "the subscription is already paused"
    );
    assert_eq!(
        message(S::Canceled, C::Cancel),
        "the subscription is already canceled"
    );
    assert_eq!(
        message(S::IncompleteExpired, C::Cancel),
        "an incomplete_expired subscription cannot be canceled"
    );
    assert_eq!(
        message(S::Active, C::Resume),
        "only a paused subscription can be resumed; this one is active"
    );
    assert_eq!(
        message(S::Paused, C::InvoicePaid),
        "a paused subscription cannot be activated by a payment"
    );
    assert_eq!(
        message(S::Paused, C::PaymentFailed),
        "a paused subscription cannot record a failed payment"
    );
    assert_eq!(
        message(S::Active, C::RetriesExhausted),
        "only a past_due subscription can run out of payment retries; this one is active"
    );
    assert_eq!(
        message(S::Active, C::FirstInvoiceExpired),
        "only an incomplete subscription's first invoice can expire; this one is active"
    );
    assert_eq!(
        message(S::Unpaid, C::Pause),
        "an unpaid subscription cannot be paused"
    );
}

/// Every status some sequence of commands leads to from `start`.
fn reachable(start: SubscriptionStatus) -> BTreeSet<&'static str> {
    let mut seen = BTreeSet::from([start.as_str()]);
    let mut frontier = vec![start];
    // At most one pass per status: the set only grows, up to eight.
    while let Some(status) = frontier.pop() {
        for command in ALL_COMMANDS {
            if let Ok(next) = transition(status, command)
                && seen.insert(next.to.as_str())
            {
                frontier.push(next.to);
            }
        }
    }
    seen
}

#[test]
fn every_status_is_reachable_from_a_new_subscription() {
    let mut all = reachable(initial_status(false));
    all.extend(reachable(initial_status(true)));
    let expected: BTreeSet<_> = ALL_STATUSES.iter().map(|s| s.as_str()).collect();
    assert_eq!(all, expected);
    // A trial is never incomplete: its first invoice comes at the trial's end.
    assert!(!reachable(S::Trialing).contains("incomplete"));
}

fn any_status() -> impl Strategy<Value = SubscriptionStatus> {
    proptest::sample::select(ALL_STATUSES.to_vec())
}

fn any_command() -> impl Strategy<Value = SubscriptionCommand> {
    proptest::sample::select(ALL_COMMANDS.to_vec())
}

/// The invariants of one step from `from` by `command`.
fn check_step(
    from: SubscriptionStatus,
    command: SubscriptionCommand,
    result: Result<SubscriptionTransition, SubscriptionError>,
) -> Result<(), TestCaseError> {
    if from.is_terminal() {
        prop_assert!(result.is_err(), "{command:?} left terminal {from:?}");
    }
    if command == C::Cancel && !from.is_terminal() {
        prop_assert_eq!(result.map(|t| t.to), Ok(S::Canceled));
    }
    if from == S::Paused {
        prop_assert_eq!(result.is_ok(), matches!(command, C::Resume | C::Cancel));
    }
    if command == C::InvoicePaid && matches!(from, S::PastDue | S::Unpaid) {
        prop_assert_eq!(result.map(|t| t.to), Ok(S::Active));
    }
    if let Ok(step) = result {
        let silent_change = from == S::Incomplete && command == C::FirstInvoiceExpired;
        prop_assert_eq!(step.event.is_some(), step.to != from && !silent_change);
    }
    Ok(())
}

proptest! {
    #[test]
    fn random_command_sequences_keep_the_rules(
        start in any_status(),
        commands in proptest::collection::vec(any_command(), 0..40),
    ) {
        let allowed = reachable(start);
        let mut status = start;
        for command in commands {
            let result = transition(status, command);
            check_step(status, command, result)?;
            if let Ok(step) = result {
                status = step.to;
            }
            prop_assert!(allowed.contains(status.as_str()));
        }
    }
}
