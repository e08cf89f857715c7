//! Invoices: sent by email and paid through the hosted page (invoice and
//! order paid together); tax by country, exclusive and inclusive, and the
//! PDF read back; gapless numbers under 50 concurrent finalizations and a
//! rolled-back one; credit notes to the wallet and to the card; void,
//! uncollectible and pay options.

use super::*;
use crate::harness::{Backend, Options, TestApp, id_of, spawn_paying};
use crate::notify::emails::{SmtpServer, part};
use crate::on_both;
use serde_json::json;

on_both!(
    a_sent_invoice_is_emailed_and_paid_through_its_page,
    tax_by_country_is_exclusive_or_inclusive_and_the_pdf_shows_it,
    fifty_concurrent_finalizations_take_numbers_one_to_fifty,
    a_rolled_back_finalization_leaves_no_gap,
);

async fn a_sent_invoice_is_emailed_and_paid_through_its_page(backend: Backend) {
    let smtp = SmtpServer::start().await;
    let app = spawn_paying(
        backend,
        Options {
            test_clock: true,
            smtp_url: Some(smtp.url()),
            ..Options::default()
        },
    )
    .await;
    let price = plan(&app, "Sent", 2000, 0).await;
    let customer = customer(&app, "sent@example.com", None).await;
    let started = now(&app).await;
    let sub = app
        .post(
            "/v1/subscriptions",
            json!({"customer_id": customer, "price_id": price,
                   "collection_method": "send_invoice", "days_until_due": 10}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(sub["status"], "incomplete", "{sub}");
    let invoice_id = sub["latest_invoice_id"]
        .as_str()
        .expect("invoice")
        .to_owned();
    let open = invoice(&app, &invoice_id).await;
    assert_eq!(open["status"], "open");
    assert_eq!(open["collection_method"], "send_invoice");
    assert_eq!(
        time_of(&open, "due_date"),
        started.plus_ms(10 * obol_core::time::DAY_MS)
    );
    let page_url = open["hosted_invoice_url"]
        .as_str()
        .expect("page")
        .to_owned();

    let messages = smtp.wait_for(1).await;
    let text = part(&messages[0], "text/plain");
    assert_eq!(messages[0]["to"], "sent@example.com");
    let number = open["number"].as_str().expect("number");
    assert!(
        messages[0]["subject"]
            .as_str()
            .unwrap_or_default()
            .contains(number),
        "{messages:#?}"
    );
    assert!(
        text.contains(&page_url),
        "the email links the invoice page: {text}"
    );
    assert!(text.contains("€20.00"), "{text}");

    // The page: the invoice and a button to its order's payment page.
    let page = app.client.get(&page_url).send().await.expect("page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    let order_id = open["order_id"].as_str().expect("order");
    assert!(html.contains(number) && html.contains("€20.00"), "{html}");
    // Slashes in attributes are escaped as HTML allows.
    assert!(html.contains(&format!("{order_id}?sig=")), "{html}");
    let forged = app
        .client
        .get(format!("{}/invoices/{invoice_id}?sig=0000", app.url))
        .send()
        .await
        .expect("page");
    assert_eq!(forged.status(), 404);
    let pdf = app
        .client
        .get(format!(
            "{}/invoices/{invoice_id}/pdf?{}",
            app.url,
            page_url.split_once('?').expect("sig").1
        ))
        .send()
        .await
        .expect("pdf");
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");

    // The customer pays on the payment page (its confirm, with the page's key).
    let paid = app
        .send(
            "POST",
            &format!("/v1/orders/{order_id}/confirm"),
            Some(&app.publishable_key),
            Some(json!({"payment_method": TestApp::card(VISA),
                        "client_secret": app.order(order_id).await["client_secret"]})),
            &[],
        )
        .await;
    paid.expect(200);
    let invoice_after = invoice(&app, &invoice_id).await;
    let order_after = app.order(order_id).await;
    assert_eq!(invoice_after["status"], "paid");
    assert_eq!(order_after["status"], "paid");
    // In one transaction: the same instant on both.
    assert_eq!(
        invoice_after["paid_at"],
        order_after["payments"][0]["status_history"][1]["at"]
    );
    assert_eq!(subscription(&app, &id_of(&sub)).await["status"], "active");
    let page = app
        .client
        .get(&page_url)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    assert!(page.contains("Paid"), "{page}");
    assert!(!page.contains(&format!("{order_id}?sig=")), "{page}");
}

/// `GET /v1/invoices/{id}/pdf` with the brand's key: the PDF's bytes.
async fn pdf_of(app: &TestApp, invoice_id: &str) -> Vec<u8> {
    let answer = app
        .client
        .get(format!("{}/v1/invoices/{invoice_id}/pdf", app.url))
        .bearer_auth(&app.secret_key)
        .send()
        .await
        .expect("pdf");
    assert_eq!(answer.status(), 200);
    answer.bytes().await.expect("bytes").to_vec()
}

/// The text of a PDF, by pdftotext (poppler-utils, as .ci/run installs).
fn pdf_text(bytes: &[u8], name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("obol_pdf_{}", obol_core::id::random_token(8)));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("invoice.pdf");
    std::fs::write(&file, bytes).expect("write the PDF");
    let output = std::process::Command::new("pdftotext")
        .args(["-layout", file.to_str().expect("path"), "-"])
        .output()
        .expect("pdftotext runs: apt-get install poppler-utils, as .ci/run does");
    assert!(output.status.success(), "pdftotext failed");
    // Page 1 as a PNG for people to look at.
    let artifacts = crate::browser::target_dir()
        .join("artifacts")
        .join("invoices");
    std::fs::create_dir_all(&artifacts).expect("artifact dir");
    let png = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&file)
        .arg(artifacts.join(name))
        .status()
        .expect("pdftoppm runs: apt-get install poppler-utils");
    assert!(png.success(), "pdftoppm failed");
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(output.stdout).expect("UTF-8 text")
}

async fn tax_by_country_is_exclusive_or_inclusive_and_the_pdf_shows_it(backend: Backend) {
    let app = billing_app(backend).await;
    app.patch(
        &format!("/v1/brands/{}", app.brand_id),
        json!({"invoice_prefix": "TAX"}),
    )
    .await
    .expect(200);
    let de = app
        .post(
            "/v1/tax_rates",
            json!({"country": "DE", "percentage_bps": 1900}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(de["inclusive"], false);
    app.post(
        "/v1/tax_rates",
        json!({"country": "FR", "percentage_bps": 2000, "inclusive": true}),
    )
    .await
    .expect(200);
    let refused = app
        .post(
            "/v1/tax_rates",
            json!({"country": "XX", "percentage_bps": 1900}),
        )
        .await;
    assert_eq!((refused.status, refused.param()), (400, Some("country")));
    let refused = app
        .post(
            "/v1/tax_rates",
            json!({"country": "DE", "percentage_bps": 10001}),
        )
        .await;
    assert_eq!(
        (refused.status, refused.param()),
        (400, Some("percentage_bps"))
    );

    let package = package(&app, "Consulting").await;
    let hour = app
        .post("/v1/prices", json!({"package_id": package, "currency": "EUR", "unit_amount": 999, "type": "one_time"}))
        .await
        .expect(200)
        .clone();
    let german = customer(&app, "de@example.com", Some("DE")).await;
    // 999 × 19 % = 189.81 → 190 and 1001 × 19 % = 190.19 → 190, per line.
    let invoice = open_invoice(
        &app,
        &german,
        json!([{"price_id": id_of(&hour), "quantity": 1},
               {"description": "Setup", "quantity": 1, "unit_amount": 1001}]),
    )
    .await;
    assert_eq!(invoice["number"], "TAX-000001");
    assert_eq!(
        (
            invoice["subtotal"].as_i64(),
            invoice["tax"].as_i64(),
            invoice["total"].as_i64()
        ),
        (Some(2000), Some(380), Some(2380))
    );
    assert_eq!(invoice["lines"][0]["tax"], 190);
    assert_eq!(invoice["lines"][1]["tax"], 190);
    assert_eq!(invoice["tax_rate"]["percentage_bps"], 1900);
    let pdf = app
        .send_raw(
            "GET",
            &format!("/v1/invoices/{}/pdf", id_of(&invoice)),
            &app.secret_key,
            "",
        )
        .await;
    assert_eq!(pdf.status, 200);
    assert_eq!(pdf.header("content-type"), Some("application/pdf"));
    let bytes = pdf_of(&app, &id_of(&invoice)).await;
    let text = pdf_text(&bytes, "tax-exclusive");
    for expected in [
        "TAX-000001",
        "Consulting",
        "Setup",
        "Tax 19%",
        "€3.80",
        "€23.80",
        "€9.99",
        "€10.01",
    ] {
        assert!(
            text.contains(expected),
            "{expected} missing from the PDF: {text}"
        );
    }
    // It renders the same again, from the template version it names.
    assert_eq!(invoice["template_version"], 1);
    let again = pdf_of(&app, &id_of(&invoice)).await;
    assert_eq!(bytes, again);

    // Inclusive: 1200 with 20 % in it is 1000 + 200, the total unchanged.
    let french = customer(&app, "fr@example.com", Some("FR")).await;
    let inclusive = open_invoice(
        &app,
        &french,
        json!([{"description": "Licence", "quantity": 1, "unit_amount": 1200}]),
    )
    .await;
    assert_eq!(
        (inclusive["tax"].as_i64(), inclusive["total"].as_i64()),
        (Some(200), Some(1200))
    );
    assert_eq!(inclusive["tax_rate"]["inclusive"], true);
    let bytes = pdf_of(&app, &id_of(&inclusive)).await;
    let text = pdf_text(&bytes, "tax-inclusive");
    assert!(
        text.contains("Tax 20% (included)") && text.contains("€12.00"),
        "{text}"
    );

    // A customer of a country without a rate pays no tax; a draft has no PDF.
    let other = customer(&app, "us@example.com", Some("US")).await;
    let draft = app
        .post(
            "/v1/invoices",
            json!({"customer_id": other, "currency": "EUR",
               "lines": [{"description": "Thing", "unit_amount": 500}]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(
        (draft["tax"].as_i64(), draft["total"].as_i64()),
        (Some(0), Some(500))
    );
    let no_pdf = app
        .get(&format!("/v1/invoices/{}/pdf", id_of(&draft)))
        .await;
    assert_eq!(no_pdf.status, 409);
}

async fn fifty_concurrent_finalizations_take_numbers_one_to_fifty(backend: Backend) {
    let app = billing_app(backend).await;
    app.patch(
        &format!("/v1/brands/{}", app.brand_id),
        json!({"invoice_prefix": "SEQ"}),
    )
    .await
    .expect(200);
    let customer = customer(&app, "seq@example.com", None).await;
    let mut drafts = Vec::new();
    for n in 0..50 {
        let draft = app
            .post(
                "/v1/invoices",
                json!({"customer_id": customer, "currency": "EUR",
                   "lines": [{"description": format!("Item {n}"), "unit_amount": 100 + n}]}),
            )
            .await
            .expect(200)
            .clone();
        drafts.push(id_of(&draft));
    }
    let finalized = futures_util::future::join_all(drafts.iter().map(|id| {
        let app = &app;
        async move {
            app.post(&format!("/v1/invoices/{id}/finalize"), json!({}))
                .await
        }
    }))
    .await;
    let mut numbers: Vec<String> = finalized
        .iter()
        .map(|answer| {
            answer.expect(200)["number"]
                .as_str()
                .expect("number")
                .to_owned()
        })
        .collect();
    numbers.sort();
    let expected: Vec<String> = (1..=50).map(|n| format!("SEQ-{n:06}")).collect();
    assert_eq!(numbers, expected);
    // Finalizing again is 409, and takes no number.
    let again = app
        .post(&format!("/v1/invoices/{}/finalize", drafts[0]), json!({}))
        .await;
    assert_eq!(again.status, 409, "{}", again.body);
}

async fn a_rolled_back_finalization_leaves_no_gap(backend: Backend) {
    let app = spawn_paying(
        backend,
        Options {
            failpoint: Some("invoice_finalize_fails"),
            ..Options::default()
        },
    )
    .await;
    let customer = customer(&app, "gap@example.com", None).await;
    let mut drafts = Vec::new();
    for _ in 0..3 {
        let draft = app
            .post(
                "/v1/invoices",
                json!({"customer_id": customer, "currency": "EUR",
                   "lines": [{"description": "Item", "unit_amount": 700}]}),
            )
            .await
            .expect(200)
            .clone();
        drafts.push(id_of(&draft));
    }
    let first = app
        .post(&format!("/v1/invoices/{}/finalize", drafts[0]), json!({}))
        .await;
    assert_eq!(first.status, 200);
    app.arm_failpoint();
    let failed = app
        .send_raw(
            "POST",
            &format!("/v1/invoices/{}/finalize", drafts[1]),
            &app.secret_key,
            "{}",
        )
        .await;
    assert_eq!(failed.status, 500);
    assert_eq!(invoice(&app, &drafts[1]).await["status"], "draft");
    let second = app
        .post(&format!("/v1/invoices/{}/finalize", drafts[2]), json!({}))
        .await;
    let third = app
        .post(&format!("/v1/invoices/{}/finalize", drafts[1]), json!({}))
        .await;
    let number =
        |answer: &crate::harness::Resp| answer.body["number"].as_str().expect("number").to_owned();
    assert_eq!(
        [number(&first), number(&second), number(&third)],
        ["ACME-000001", "ACME-000002", "ACME-000003"]
    );
}
