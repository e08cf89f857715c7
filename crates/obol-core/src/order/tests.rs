use super::*;
use proptest::prelude::*;

#[test]
fn table_of_allowed_commands() {
    let facts = OrderFacts {
        captured: true,
        ..OrderFacts::default()
    };
    let allowed: Vec<(OrderStatus, OrderCommand)> = ALL_STATUSES
        .iter()
        .flat_map(|&status| ALL_COMMANDS.iter().map(move |&command| (status, command)))
        .filter(|&(status, command)| check(status, command, facts).is_ok())
        .collect();
    use OrderCommand as C;
    use OrderStatus as S;
    let expected = vec![
        (S::InProgress, C::Confirm),
        (S::InProgress, C::Void),
        (S::InProgress, C::ChangeAmount),
        (S::InProgress, C::Expire),
        (S::RequiresAction, C::Void),
        (S::RequiresAction, C::Expire),
        (S::Processing, C::Expire),
        (S::Authorized, C::Capture),
        (S::Authorized, C::IncrementAuthorization),
        (S::Authorized, C::Void),
        (S::Authorized, C::ExpireAuthorization),
        (S::Paid, C::Reverse),
        (S::Paid, C::Refund),
        (S::Paid, C::Clear),
        (S::Completed, C::Refund),
        (S::PartiallyRefunded, C::Refund),
        (S::PartiallyRefunded, C::Clear),
    ];
    assert_eq!(allowed, expected);
}

#[test]
fn in_flight_blocks_every_operation() {
    let busy = OrderFacts {
        in_flight: true,
        ..OrderFacts::default()
    };
    assert!(check(OrderStatus::Authorized, OrderCommand::Capture, busy).is_err());
    assert!(check(OrderStatus::Authorized, OrderCommand::Void, busy).is_err());
    assert!(check(OrderStatus::InProgress, OrderCommand::Confirm, busy).is_err());
    // A refund never overlaps a reverse in flight: the money would go back twice.
    assert!(check(OrderStatus::Paid, OrderCommand::Refund, busy).is_err());
    assert!(check(OrderStatus::Paid, OrderCommand::Clear, busy).is_err());
    let cleared = OrderFacts {
        cleared: true,
        ..OrderFacts::default()
    };
    assert!(check(OrderStatus::Paid, OrderCommand::Reverse, cleared).is_err());
    let refunded = OrderFacts {
        has_refunds: true,
        ..OrderFacts::default()
    };
    assert!(check(OrderStatus::Paid, OrderCommand::Reverse, refunded).is_err());
    let message = check(
        OrderStatus::Canceled,
        OrderCommand::Capture,
        OrderFacts::default(),
    )
    .expect_err("refused")
    .message;
    assert!(
        message.contains("capture") && message.contains("canceled"),
        "{message}"
    );
}

#[test]
fn a_verification_has_nothing_to_reverse_or_refund() {
    let verified = OrderFacts::default();
    for command in [OrderCommand::Reverse, OrderCommand::Refund] {
        let refused = check(OrderStatus::Paid, command, verified).expect_err("refused");
        assert!(
            refused.message.contains("verification"),
            "{}",
            refused.message
        );
    }
    assert!(check(OrderStatus::Completed, OrderCommand::Refund, verified).is_err());
}

#[test]
fn a_processing_order_expires_only_once_its_payment_settled() {
    let open = OrderFacts {
        payment_open: true,
        ..OrderFacts::default()
    };
    let status = OrderStatus::Processing;
    assert!(check(status, OrderCommand::Expire, open).is_err());
    assert!(waits_for_connector(status, OrderCommand::Expire, open));
    assert!(check(status, OrderCommand::Expire, OrderFacts::default()).is_ok());
    let busy = OrderFacts {
        in_flight: true,
        ..OrderFacts::default()
    };
    assert!(check(OrderStatus::InProgress, OrderCommand::Expire, busy).is_err());
    assert!(waits_for_connector(
        OrderStatus::InProgress,
        OrderCommand::Expire,
        busy
    ));
    // Refused for good: no operation will make it allowed.
    assert!(!waits_for_connector(
        OrderStatus::Paid,
        OrderCommand::Expire,
        OrderFacts::default()
    ));
}

#[test]
fn final_transactions_never_move() {
    use TransactionStatus as T;
    for to in [
        T::Pending,
        T::RequiresAction,
        T::Succeeded,
        T::Failed,
        T::Unknown,
    ] {
        assert!(!transaction_may_move(T::Succeeded, to));
        assert!(!transaction_may_move(T::Failed, to));
    }
    assert!(transaction_may_move(T::Unknown, T::Succeeded));
    assert!(transaction_may_move(T::Pending, T::Failed));
}

#[derive(Debug, Clone)]
enum Step {
    Authorize(i64),
    Verify,
    Capture(Option<i64>),
    Increment(i64),
    Refund(Option<i64>),
    RefundSettles(bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..20_000).prop_map(Step::Authorize),
        Just(Step::Verify),
        proptest::option::of(-10i64..30_000).prop_map(Step::Capture),
        (-10i64..40_000).prop_map(Step::Increment),
        proptest::option::of(-10i64..30_000).prop_map(Step::Refund),
        any::<bool>().prop_map(Step::RefundSettles),
    ]
}

proptest! {
    /// No sequence of operations captures more than authorized or refunds
    /// more than captured, counting pending refunds.
    #[test]
    fn money_never_exceeds_its_bounds(steps in proptest::collection::vec(step(), 1..60)) {
        let mut status = OrderStatus::InProgress;
        let mut amounts = Amounts::default();
        let mut pending: Vec<i64> = Vec::new();
        let facts = |amounts: Amounts| OrderFacts {
            has_refunds: amounts.refunded + amounts.refund_pending > 0,
            captured: amounts.captured > 0,
            ..OrderFacts::default()
        };
        for step in steps {
            match step {
                Step::Authorize(amount) => {
                    if check(status, OrderCommand::Confirm, facts(amounts)).is_ok() {
                        amounts.amount = amount;
                        amounts.authorized = amount;
                        status = status_after_payment(TransactionKind::Authorize, CallResult::Succeeded);
                    }
                }
                Step::Verify => {
                    if check(status, OrderCommand::Confirm, facts(amounts)).is_ok() {
                        amounts.amount = 0;
                        status = status_after_payment(TransactionKind::Verify, CallResult::Succeeded);
                    }
                }
                Step::Capture(requested) => {
                    if check(status, OrderCommand::Capture, facts(amounts)).is_ok()
                        && let Ok(amount) = capture_amount(amounts, requested)
                    {
                        amounts.captured = amount;
                        status = OrderStatus::Paid;
                    }
                }
                Step::Increment(total) => {
                    if check(status, OrderCommand::IncrementAuthorization, facts(amounts)).is_ok()
                        && let Ok(total) = increment_amount(amounts, total)
                    {
                        amounts.authorized = total;
                        amounts.amount = total;
                    }
                }
                Step::Refund(requested) => {
                    if check(status, OrderCommand::Refund, facts(amounts)).is_ok()
                        && let Ok(amount) = refund_amount(amounts, requested)
                    {
                        amounts.refund_pending += amount;
                        pending.push(amount);
                    }
                }
                Step::RefundSettles(succeeded) => {
                    if let Some(amount) = pending.pop() {
                        amounts.refund_pending -= amount;
                        if succeeded {
                            amounts.refunded += amount;
                            status = status_after_refund(amounts, status);
                        }
                    }
                }
            }
            if amounts.captured == 0 {
                // Nothing captured (a verification): nothing goes back.
                prop_assert!(check(status, OrderCommand::Refund, facts(amounts)).is_err());
                prop_assert!(check(status, OrderCommand::Reverse, facts(amounts)).is_err());
            }
            prop_assert!(amounts.captured <= amounts.authorized);
            prop_assert!(amounts.refunded + amounts.refund_pending <= amounts.captured);
            prop_assert!(amounts.refunded >= 0 && amounts.refund_pending >= 0);
        }
    }
}
