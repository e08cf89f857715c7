//! The wire types' translations, checked against Stripe's documented shapes.
use super::*;

fn money(amount_minor: i64, code: &str) -> Money {
    let currency = Currency::parse(code).expect("a known code");
    Money {
        amount_minor,
        currency,
    }
}

#[test]
fn amounts_cross_in_stripes_unit() {
    let table = [
        (8925, "EUR", 8925),
        (5, "USD", 5),
        (500, "JPY", 500),
        (1000, "KRW", 1000),
        (12_345, "HUF", 12_345),
        (500, "ISK", 50_000),
        (12_300, "MGA", 123),
        (5120, "KWD", 5120),
        (100, "TND", 100),
        (0, "EUR", 0),
    ];
    for (obol, code, stripe) in table {
        assert_eq!(
            to_stripe_amount(money(obol, code)).ok(),
            Some(stripe),
            "{code}"
        );
        let currency = Currency::parse(code).expect("known");
        assert_eq!(
            from_stripe_amount(stripe, currency).ok(),
            Some(obol),
            "{code}"
        );
    }
}

#[test]
fn amounts_stripe_cannot_take_are_refused() {
    for (obol, code) in [
        (12_345, "MGA"),
        (5124, "KWD"),
        (1000, "IQD"),
        (i64::MAX, "ISK"),
    ] {
        let result = to_stripe_amount(money(obol, code));
        assert!(
            matches!(result, Err(ConnectorError::Invalid(_))),
            "{code}: {result:?}"
        );
    }
    let isk = Currency::parse("ISK").expect("known");
    assert!(from_stripe_amount(50_050, isk).is_err());
}

#[test]
fn obol_exponents_agree_with_stripe_where_stripe_says_so() {
    // ISO 4217 and Stripe agree on every zero-decimal currency but MGA
    // (ISO: 2), on every three-decimal one, and on HUF and TWD (2 for
    // charges); ISK is whole krónur written with two decimals.
    for code in ZERO_DECIMAL {
        let currency = Currency::parse(code).expect("Obol knows every Stripe currency");
        let expected = if *code == "MGA" { 2 } else { 0 };
        assert_eq!(currency.exponent(), expected, "{code}");
    }
    for code in THREE_DECIMAL {
        assert_eq!(
            Currency::parse(code).map(Currency::exponent),
            Some(3),
            "{code}"
        );
    }
    for code in ["HUF", "TWD", "EUR", "USD", "GBP", "CHF"] {
        assert_eq!(
            Currency::parse(code).map(Currency::exponent),
            Some(2),
            "{code}"
        );
    }
    assert_eq!(Currency::parse("ISK").map(Currency::exponent), Some(0));
}

#[test]
fn decline_codes_map_to_obols() {
    let error = |code: Option<&str>, decline: Option<&str>| ApiError {
        code: code.map(str::to_owned),
        decline_code: decline.map(str::to_owned),
        ..ApiError::default()
    };
    let table = [
        (
            Some("card_declined"),
            Some("insufficient_funds"),
            "insufficient_funds",
        ),
        (
            Some("card_declined"),
            Some("generic_decline"),
            "generic_decline",
        ),
        (Some("card_declined"), Some("fraudulent"), "fraudulent"),
        (
            Some("card_declined"),
            Some("do_not_honor"),
            "generic_decline",
        ),
        (Some("card_declined"), Some("stolen_card"), "fraudulent"),
        (Some("card_declined"), Some("lost_card"), "fraudulent"),
        (Some("card_declined"), Some("merchant_blacklist"), "blocked"),
        (Some("expired_card"), None, "expired_card"),
        (
            Some("incorrect_cvc"),
            Some("incorrect_cvc"),
            "incorrect_cvc",
        ),
        (Some("card_declined"), None, "generic_decline"),
        (None, None, "generic_decline"),
    ];
    for (code, decline, obol) in table {
        assert_eq!(
            decline_code(&error(code, decline)),
            obol,
            "{code:?}/{decline:?}"
        );
    }
}

#[test]
fn a_real_stripe_decline_reads_as_obols() {
    // Stripe's answer to a PaymentIntent confirmed with 4000000000009995.
    let body = r#"{"error": {"code": "card_declined", "decline_code": "insufficient_funds",
        "doc_url": "https://stripe.com/docs/error-codes/card-declined",
        "message": "Your card has insufficient funds.",
        "payment_intent": {"id": "pi_3Q", "object": "payment_intent", "status": "requires_payment_method"},
        "request_log_url": "https://dashboard.stripe.com/test/logs/req_1", "type": "card_error"}}"#;
    let error = serde_json::from_str::<ErrorBody>(body)
        .expect("Stripe's shape")
        .error;
    assert_eq!(error.kind.as_deref(), Some("card_error"));
    assert_eq!(
        error.payment_intent.map(|pi| pi.id).as_deref(),
        Some("pi_3Q")
    );
    let outcome = declined(Some(
        &serde_json::from_str::<ErrorBody>(body).expect("ok").error,
    ));
    assert_eq!(
        outcome,
        Outcome::Declined {
            code: "insufficient_funds".into(),
            message: "Your card has insufficient funds.".into()
        }
    );
}

#[test]
fn a_redirect_is_the_challenge_and_stripe_js_gets_the_banks_page_or_obols() {
    let intent = |next_action: &str| -> PaymentIntent {
        serde_json::from_str(&format!(
            r#"{{"id": "pi_1", "status": "requires_action", "amount": 1000, "currency": "eur",
                "latest_charge": null, "metadata": {{}}, "next_action": {next_action}}}"#
        ))
        .expect("Stripe's shape")
    };
    let redirect = intent(
        r#"{"type": "redirect_to_url", "redirect_to_url": {"return_url": "https://shop.example/done",
            "url": "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1"}}"#,
    );
    assert_eq!(
        payment_outcome(&redirect, || "unused".into()),
        Outcome::RequiresAction {
            url: "https://hooks.stripe.com/3d_secure_2/hosted?merchant=acct_1".into()
        }
    );
    let hosted = intent(
        r#"{"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect",
            "stripe_js": "https://hooks.stripe.com/redirect/authenticate/src_1"}}"#,
    );
    assert_eq!(
        payment_outcome(&hosted, || "unused".into()),
        Outcome::RequiresAction {
            url: "https://hooks.stripe.com/redirect/authenticate/src_1".into()
        }
    );
    for sdk in [
        r#"{"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}"#,
        r#"{"type": "use_stripe_sdk", "use_stripe_sdk": {"stripe_js": ""}}"#,
        r#"{"type": "use_stripe_sdk", "use_stripe_sdk": {"stripe_js": "javascript:alert(1)"}}"#,
    ] {
        assert_eq!(
            payment_outcome(&intent(sdk), || "https://obol.test/stripe/challenge/c/pi_1"
                .into()),
            Outcome::RequiresAction {
                url: "https://obol.test/stripe/challenge/c/pi_1".into()
            },
            "{sdk}"
        );
    }
}

#[test]
fn intents_read_with_ids_or_expanded_objects() {
    let expanded: PaymentIntent = serde_json::from_str(
        r#"{"id": "pi_1", "status": "succeeded", "amount": 1000, "amount_received": 1000,
            "currency": "eur", "customer": "cus_1", "latest_charge": {"id": "ch_1", "amount": 1000},
            "metadata": {"obol_transaction_id": "txn_1", "obol_setup_mandate": "true"},
            "payment_method": {"id": "pm_1", "card": {"brand": "visa", "last4": "4242",
                "exp_month": 12, "exp_year": 2030, "fingerprint": "x"}}}"#,
    )
    .expect("expanded");
    assert_eq!(expanded.transaction_id(), Some("txn_1"));
    assert!(expanded.keeps_mandate());
    let mandate = mandate_of(expanded.customer.as_ref(), expanded.payment_method.as_ref());
    assert_eq!(
        mandate,
        Some(StoredMandate {
            token: "cus_1/pm_1".into(),
            card_brand: "visa".into(),
            last4: "4242".into(),
            exp_month: 12,
            exp_year: 2030,
        })
    );
    let plain: PaymentIntent = serde_json::from_str(
        r#"{"id": "pi_2", "status": "processing", "amount": 5, "currency": "usd",
            "payment_method": "pm_2", "metadata": null}"#,
    )
    .expect("plain");
    assert_eq!(plain.transaction_id(), None);
    assert_eq!(
        plain.payment_method.as_ref().map(Expandable::id),
        Some("pm_2")
    );
    assert_eq!(payment_outcome(&plain, String::new), Outcome::Pending);
}

#[test]
fn mandate_tokens() {
    assert_eq!(
        parse_mandate_token("cus_A1/pm_B2").ok(),
        Some(("cus_A1", "pm_B2"))
    );
    for bad in [
        "",
        "cus_A1",
        "pm_B2/cus_A1",
        "cus_A1/pm_B2/x",
        "cus_/pm_B2?x=1",
        "cus_A/pm_../x",
    ] {
        assert!(parse_mandate_token(bad).is_err(), "{bad}");
    }
}

#[test]
fn forms_encode_brackets_and_hide_values_from_debug() {
    let form = Form::new()
        .with("card[number]", "4242424242424242")
        .with("metadata[obol_transaction_id]", "txn_1")
        .with_some("email", None::<&str>);
    assert_eq!(
        form.encode(),
        "card%5Bnumber%5D=4242424242424242&metadata%5Bobol_transaction_id%5D=txn_1"
    );
    let debug = format!("{form:?}");
    assert!(!debug.contains("4242"), "{debug}");
    assert!(debug.contains("card[number]"), "{debug}");
}

#[test]
fn error_messages_lose_card_numbers() {
    let error = ApiError {
        message: Some("No such card 4242424242424242 (cvc 123).".into()),
        ..ApiError::default()
    };
    assert_eq!(error.message(), "No such card [redacted] (cvc 123).");
}
