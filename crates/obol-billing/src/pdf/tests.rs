//! The invoice PDFs, read back with poppler's tools (pdftotext, pdfinfo,
//! pdftoppm from poppler-utils), which `.ci/run` installs.

use std::path::{Path, PathBuf};
use std::process::Command;

use proptest::prelude::*;

use super::{
    CURRENT_TEMPLATE_VERSION, DocumentLine, DocumentTotal, InvoiceDocument, MAX_LINES, PdfError,
    render,
};

fn line(description: &str, quantity: &str, unit_amount: &str, amount: &str) -> DocumentLine {
    DocumentLine {
        description: description.to_owned(),
        period: Some("2026-11-04 – 2026-12-04".to_owned()),
        quantity: quantity.to_owned(),
        unit_amount: unit_amount.to_owned(),
        amount: amount.to_owned(),
    }
}

fn total(label: &str, amount: &str, emphasis: bool) -> DocumentTotal {
    DocumentTotal {
        label: label.to_owned(),
        amount: amount.to_owned(),
        emphasis,
    }
}

fn sample() -> InvoiceDocument {
    InvoiceDocument {
        brand_name: "Acme Tools".to_owned(),
        title: "Invoice".to_owned(),
        number: "ACME-000042".to_owned(),
        status: "paid".to_owned(),
        issued_on: "2026-12-04".to_owned(),
        due_on: Some("2026-12-18".to_owned()),
        customer_name: Some("Jane Doe".to_owned()),
        customer_email: Some("jane@example.com".to_owned()),
        customer_country: Some("Germany".to_owned()),
        lines: vec![
            line("Pro plan", "1", "€1,000.00", "€1,000.00"),
            line("Extra seats", "3", "€10.00", "€30.00"),
        ],
        totals: vec![
            total("Subtotal", "€1,030.00", false),
            total("Discount", "-€30.00", false),
            total("VAT 19% (exclusive)", "€190.00", false),
            total("Total", "€1,190.00", true),
            total("Amount paid", "€1,190.00", false),
            total("Amount due", "€0.00", false),
        ],
        footer: Some("Pay online: https://pay.example.com/in_42".to_owned()),
    }
}

/// Runs a poppler tool; fails the test, saying what to install, when it is
/// missing or fails.
fn poppler(tool: &str, args: &[&str]) -> String {
    let output = Command::new(tool).args(args).output().unwrap_or_else(|error| {
        panic!("{tool} could not run ({error}): install poppler-utils (apt-get install poppler-utils)")
    });
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes `pdf` to a file of its own under the temporary directory.
fn write_temp(name: &str, pdf: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("obol-{}-{name}.pdf", std::process::id()));
    std::fs::write(&path, pdf).expect("the temporary directory is writable");
    path
}

fn text_of(name: &str, pdf: &[u8]) -> String {
    let path = write_temp(name, pdf);
    let text = poppler("pdftotext", &["-layout", path_str(&path), "-"]);
    let _ = std::fs::remove_file(&path);
    text
}

fn page_count(name: &str, pdf: &[u8]) -> usize {
    let path = write_temp(name, pdf);
    let info = poppler("pdfinfo", &[path_str(&path)]);
    let _ = std::fs::remove_file(&path);
    info.lines()
        .find_map(|row| row.strip_prefix("Pages:"))
        .and_then(|pages| pages.trim().parse().ok())
        .unwrap_or_else(|| panic!("pdfinfo gave no page count:\n{info}"))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("the temporary path is UTF-8")
}

/// The build's target directory: `CARGO_TARGET_DIR`, or the one holding this
/// test executable (`<target>/debug/deps/…`).
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test executable has a path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn render_current(doc: &InvoiceDocument) -> Vec<u8> {
    render(CURRENT_TEMPLATE_VERSION, doc).expect("the document renders")
}

#[test]
fn renders_the_same_bytes_every_time() {
    let first = render_current(&sample());
    let second = render_current(&sample());
    assert!(first.starts_with(b"%PDF-"), "not a PDF file");
    assert_eq!(first, second, "two renders of one document differ");
    let other = InvoiceDocument {
        number: "ACME-000043".to_owned(),
        ..sample()
    };
    assert_ne!(first, render_current(&other));
}

/// The SHA-256 of the sample as version 1 rendered it when it shipped: a
/// change of the template, the font metrics or the PDF writer that alters an
/// issued invoice fails here.
const VERSION_1_SAMPLE_SHA256: &str =
    "bf0507b20920392b563af3bb0632227c86da34dd88f59481f78b75d12dad2d30";

#[test]
fn version_1_renders_as_it_shipped() {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(render(1, &sample()).expect("the sample renders"));
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(
        hex, VERSION_1_SAMPLE_SHA256,
        "version 1 no longer renders as issued"
    );
}

#[test]
fn the_text_shows_number_lines_amounts_tax_and_total() {
    let text = text_of("invoice-text", &render_current(&sample()));
    for expected in [
        "Acme Tools",
        "Invoice",
        "ACME-000042",
        "PAID",
        "2026-12-04",
        "2026-12-18",
        "Jane Doe",
        "jane@example.com",
        "Germany",
        "Pro plan",
        "Extra seats",
        "2026-11-04 – 2026-12-04",
        "€1,000.00",
        "€10.00",
        "€30.00",
        "-€30.00",
        "VAT 19% (exclusive)",
        "€190.00",
        "Total",
        "€1,190.00",
        "Amount due",
        "Pay online: https://pay.example.com/in_42",
        "Page 1 of 1",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} is missing from:\n{text}"
        );
    }
}

#[test]
fn amounts_end_at_the_right_margin() {
    let path = write_temp("invoice-bbox", &render_current(&sample()));
    let html = poppler("pdftotext", &["-bbox", path_str(&path), "-"]);
    let _ = std::fs::remove_file(&path);
    let mut checked = 0;
    for word in html.lines().filter(|row| row.contains("<word ")) {
        let value = word
            .split('>')
            .nth(1)
            .and_then(|rest| rest.split('<').next());
        let Some(value) = value.filter(|value| value.starts_with('€') || value.starts_with("-€"))
        else {
            continue;
        };
        let x_max: f32 = word
            .split("xMax=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no xMax in {word}"));
        // The unit prices end at 445pt, every other amount at 545pt.
        let nearest = if (x_max - 445.0).abs() < (x_max - 545.0).abs() {
            445.0
        } else {
            545.0
        };
        assert!(
            (x_max - nearest).abs() < 0.5,
            "{value} ends at {x_max}, not {nearest}"
        );
        checked += 1;
    }
    assert!(checked >= 10, "found only {checked} amounts in:\n{html}");
}

#[test]
fn many_lines_go_on_further_pages_with_every_description() {
    let doc = InvoiceDocument {
        lines: (1..=80)
            .map(|index| line(&format!("Usage item {index:03}"), "2", "€1.50", "€3.00"))
            .collect(),
        ..sample()
    };
    let pdf = render_current(&doc);
    let pages = page_count("invoice-pages", &pdf);
    assert!(pages >= 2, "80 lines fit on {pages} page");
    let text = text_of("invoice-pages", &pdf);
    for index in 1..=80 {
        let description = format!("Usage item {index:03}");
        assert!(
            text.contains(&description),
            "{description} is missing from:\n{text}"
        );
    }
    assert_eq!(
        text.matches("Unit price").count(),
        pages,
        "a page lacks the table header"
    );
    assert!(text.contains(&format!("Page {pages} of {pages}")));
}

#[test]
fn long_descriptions_wrap_within_their_column() {
    let words: Vec<String> = (1..=30).map(|index| format!("word{index:02}")).collect();
    let doc = InvoiceDocument {
        lines: vec![line(&words.join(" "), "1", "€5.00", "€5.00")],
        ..sample()
    };
    let text = text_of("invoice-wrap", &render_current(&doc));
    let rows: Vec<&str> = text.lines().filter(|row| row.contains("word")).collect();
    assert!(rows.len() >= 3, "the description did not wrap:\n{text}");
    for word in &words {
        assert!(
            text.contains(word.as_str()),
            "{word} is missing from:\n{text}"
        );
    }
}

#[test]
fn the_first_page_is_kept_as_a_png() {
    let path = write_temp("invoice-png", &render_current(&sample()));
    let artifacts = target_dir().join("artifacts/invoices");
    std::fs::create_dir_all(&artifacts).expect("the target directory is writable");
    let prefix = artifacts.join(format!("v{CURRENT_TEMPLATE_VERSION}-sample"));
    let prefix_str = prefix.to_str().expect("the target path is UTF-8");
    poppler(
        "pdftoppm",
        &[
            "-png",
            "-r",
            "60",
            "-f",
            "1",
            "-l",
            "1",
            "-singlefile",
            path_str(&path),
            prefix_str,
        ],
    );
    let _ = std::fs::remove_file(&path);
    let png = std::fs::read(prefix.with_extension("png")).expect("pdftoppm wrote the PNG");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG file");
}

#[test]
fn an_unknown_version_is_an_error() {
    for version in [0, CURRENT_TEMPLATE_VERSION + 1, u32::MAX] {
        assert_eq!(
            render(version, &sample()),
            Err(PdfError::UnknownTemplateVersion(version))
        );
    }
}

#[test]
fn too_many_lines_is_an_error() {
    let doc = InvoiceDocument {
        lines: vec![line("Seat", "1", "€1.00", "€1.00"); MAX_LINES + 1],
        ..sample()
    };
    assert_eq!(
        render(CURRENT_TEMPLATE_VERSION, &doc),
        Err(PdfError::TooManyLines {
            count: MAX_LINES + 1,
            max: MAX_LINES
        })
    );
}

#[test]
fn code_page_1252_characters_come_out_as_written() {
    let doc = InvoiceDocument {
        lines: vec![line("Müller – 10 €", "1", "10 €", "10 €")],
        customer_name: Some("Œuvre “Straße” — Ž…".to_owned()),
        ..sample()
    };
    let text = text_of("invoice-cp1252", &render_current(&doc));
    assert!(text.contains("Müller – 10 €"), "missing from:\n{text}");
    assert!(
        text.contains("Œuvre “Straße” — Ž…"),
        "missing from:\n{text}"
    );
}

#[test]
fn the_status_is_upper_cased() {
    let doc = InvoiceDocument {
        status: "überfällig šœžÿ ß".to_owned(),
        ..sample()
    };
    let text = text_of("invoice-status", &render_current(&doc));
    assert!(text.contains("ÜBERFÄLLIG ŠŒŽŸ ß"), "missing from:\n{text}");
}

#[test]
fn characters_outside_win_ansi_become_question_marks() {
    let doc = InvoiceDocument {
        lines: vec![line("Rocket 🚀 Ω", "1", "€1.00", "€1.00")],
        ..sample()
    };
    let text = text_of("invoice-outside", &render_current(&doc));
    assert!(text.contains("Rocket ? ?"), "missing from:\n{text}");
}

fn hostile(text: &str) -> InvoiceDocument {
    let some = Some(text.to_owned());
    InvoiceDocument {
        brand_name: text.to_owned(),
        title: text.to_owned(),
        number: text.to_owned(),
        status: text.to_owned(),
        issued_on: text.to_owned(),
        due_on: some.clone(),
        customer_name: some.clone(),
        customer_email: some.clone(),
        customer_country: some.clone(),
        lines: vec![
            DocumentLine {
                description: text.to_owned(),
                period: some.clone(),
                quantity: text.to_owned(),
                unit_amount: text.to_owned(),
                amount: text.to_owned(),
            };
            3
        ],
        totals: vec![total(text, text, true); 3],
        footer: some,
    }
}

#[test]
fn hostile_text_renders_a_readable_file() {
    let long_word = "x".repeat(10_000);
    let long_words = "lorem ipsum ".repeat(1_000);
    let controls: String = (0u8..32)
        .map(char::from)
        .chain(['\u{7f}', '\u{85}', '\u{200b}'])
        .collect();
    let emoji = "👩‍👩‍👧‍👦🚀 (paren) \\backslash) ((".repeat(50);
    for (index, text) in ["", long_word.as_str(), &long_words, &controls, &emoji]
        .iter()
        .enumerate()
    {
        let pdf = render_current(&hostile(text));
        assert!(page_count(&format!("invoice-hostile-{index}"), &pdf) >= 1);
    }
    let empty = InvoiceDocument::default();
    assert_eq!(page_count("invoice-empty", &render_current(&empty)), 1);
}

#[test]
fn the_most_lines_with_the_longest_descriptions_render() {
    let description = "billing ".repeat(200);
    let doc = InvoiceDocument {
        lines: vec![line(&description, "1", "€1.00", "€1.00"); MAX_LINES],
        ..sample()
    };
    let pdf = render_current(&doc);
    assert!(page_count("invoice-most", &pdf) > 100);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_text_renders_deterministically(text in any::<String>(), lines in 0usize..4) {
        let mut doc = hostile(&text);
        doc.lines.truncate(lines);
        let first = render(CURRENT_TEMPLATE_VERSION, &doc);
        prop_assert!(first.as_ref().is_ok_and(|pdf| pdf.starts_with(b"%PDF-")));
        prop_assert_eq!(first, render(CURRENT_TEMPLATE_VERSION, &doc));
    }
}
