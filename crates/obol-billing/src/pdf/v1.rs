//! Invoice template version 1: A4 portrait, Helvetica, a header with the
//! brand and the number, the dates and the customer, the line table (over as
//! many pages as it takes, its header repeated), the totals and the footer.
//!
//! Frozen: this file is never edited once shipped. Invoices issued with
//! version 1 must render byte for byte as they did; a change of layout,
//! wording or limits is a new version in a new file.

use pdf_writer::{Content, Finish, Name, Pdf, Rect, Ref, Str};
use sha2::{Digest, Sha256};

use super::helvetica::{Face, encode, text_width};
use super::{DocumentLine, DocumentTotal, InvoiceDocument};

const PAGE_WIDTH_PT: f32 = 595.0;
const PAGE_HEIGHT_PT: f32 = 842.0;
const LEFT_PT: f32 = 50.0;
const RIGHT_PT: f32 = 545.0;
/// Rows stop above this; the page number sits below it.
const BOTTOM_LIMIT_PT: f32 = 70.0;
const PAGE_NUMBER_Y_PT: f32 = 35.0;

const DESCRIPTION_WIDTH_PT: f32 = 240.0;
const QUANTITY_RIGHT_PT: f32 = 345.0;
const QUANTITY_WIDTH_PT: f32 = 45.0;
const UNIT_RIGHT_PT: f32 = 445.0;
const AMOUNT_WIDTH_PT: f32 = 90.0;

const BODY_SIZE_PT: f32 = 10.0;
const BODY_LEADING_PT: f32 = 13.0;
const SMALL_SIZE_PT: f32 = 8.0;
const SMALL_LEADING_PT: f32 = 10.0;
const LABEL_SIZE_PT: f32 = 9.0;
const HEADLINE_SIZE_PT: f32 = 18.0;
const ROW_PADDING_PT: f32 = 8.0;

const BODY: Style = Style::new(Face::Regular, BODY_SIZE_PT);
const BODY_BOLD: Style = Style::new(Face::Bold, BODY_SIZE_PT);
const SMALL: Style = Style::new(Face::Regular, SMALL_SIZE_PT);
const LABEL: Style = Style::new(Face::Regular, LABEL_SIZE_PT);
const LABEL_BOLD: Style = Style::new(Face::Bold, LABEL_SIZE_PT);
const HEADLINE: Style = Style::new(Face::Bold, HEADLINE_SIZE_PT);
const TOTAL_ROW_PT: f32 = 16.0;

/// Longest text kept of a short field (names, amounts, dates).
const MAX_FIELD_CHARS: usize = 200;
/// Longest text kept of a description or the footer.
const MAX_LONG_CHARS: usize = 1_000;
const MAX_DESCRIPTION_LINES: usize = 8;
const MAX_PERIOD_LINES: usize = 2;
const MAX_FOOTER_LINES: usize = 6;

/// "…" in WinAnsiEncoding: marks text cut to fit.
const ELLIPSIS: u8 = 0x85;
const GRAY: f32 = 0.4;
const RULE_GRAY: f32 = 0.8;

const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const FONT_REGULAR: Ref = Ref::new(3);
const FONT_BOLD: Ref = Ref::new(4);
const FIRST_PAGE_REF: i32 = 5;

/// A face at a size.
#[derive(Clone, Copy)]
struct Style {
    face: Face,
    size_pt: f32,
}

impl Style {
    const fn new(face: Face, size_pt: f32) -> Style {
        Style { face, size_pt }
    }

    fn width(self, encoded: &[u8]) -> f32 {
        text_width(self.face, self.size_pt, encoded)
    }
}

/// Lays `doc` out and writes the PDF file.
pub(super) fn render(doc: &InvoiceDocument) -> Vec<u8> {
    let mut pages = Pages::new(doc);
    pages.first_header(doc);
    pages.table_header();
    for line in &doc.lines {
        pages.line(line);
    }
    pages.totals(&doc.totals);
    if let Some(footer) = &doc.footer {
        pages.footer(footer);
    }
    pages.write()
}

/// The pages laid out so far and where the next block starts on the last.
struct Pages {
    contents: Vec<Content>,
    y_pt: f32,
    brand: Vec<u8>,
    title_and_number: Vec<u8>,
    number: Vec<u8>,
}

impl Pages {
    fn new(doc: &InvoiceDocument) -> Pages {
        let title_and_number = format!("{} {}", clip(&doc.title), clip(&doc.number));
        Pages {
            contents: vec![Content::new()],
            y_pt: PAGE_HEIGHT_PT - LEFT_PT,
            brand: fit(&doc.brand_name, BODY_BOLD, 240.0),
            title_and_number: fit(&title_and_number, BODY, 240.0),
            number: fit(&doc.number, SMALL, 240.0),
        }
    }

    fn content(&mut self) -> &mut Content {
        if self.contents.is_empty() {
            self.contents.push(Content::new());
        }
        let last = self.contents.len() - 1;
        &mut self.contents[last]
    }

    /// Starts a page with the brand and number in small, for the pages
    /// after the first.
    fn next_page(&mut self) {
        self.contents.push(Content::new());
        let y_pt = PAGE_HEIGHT_PT - LEFT_PT - BODY_SIZE_PT;
        let brand = self.brand.clone();
        let title_and_number = self.title_and_number.clone();
        let content = self.content();
        text(content, BODY_BOLD, LEFT_PT, y_pt, &brand);
        text_right(content, BODY, RIGHT_PT, y_pt, &title_and_number);
        self.y_pt = y_pt - 30.0;
    }

    /// Makes room for a block `height_pt` tall: a new page when it does not
    /// fit on this one, with the table header when `in_table`.
    fn make_room(&mut self, height_pt: f32, in_table: bool) {
        if self.y_pt - height_pt >= BOTTOM_LIMIT_PT {
            return;
        }
        self.next_page();
        if in_table {
            self.table_header();
        }
    }

    fn first_header(&mut self, doc: &InvoiceDocument) {
        let top_pt = PAGE_HEIGHT_PT - 72.0;
        let brand = fit(&doc.brand_name, HEADLINE, 260.0);
        let title = fit(&doc.title, HEADLINE, 220.0);
        let number = fit(&doc.number, BODY, 220.0);
        let status = upper_case(encode(&clip(&doc.status)));
        let status = fit_encoded(status, BODY_BOLD, 220.0);
        let content = self.content();
        text(content, HEADLINE, LEFT_PT, top_pt, &brand);
        text_right(content, HEADLINE, RIGHT_PT, top_pt, &title);
        text_right(content, BODY, RIGHT_PT, top_pt - 18.0, &number);
        content.set_fill_gray(GRAY);
        text_right(content, BODY_BOLD, RIGHT_PT, top_pt - 32.0, &status);
        content.set_fill_gray(0.0);
        self.dates_and_customer(doc, top_pt - 80.0);
    }

    /// The dates on the left and whom the invoice is billed to on the right,
    /// from `block_pt` down.
    fn dates_and_customer(&mut self, doc: &InvoiceDocument, block_pt: f32) {
        let dates = [
            ("Issued", Some(&doc.issued_on)),
            ("Due", doc.due_on.as_ref()),
        ];
        let mut date_rows = 0u8;
        for (label, value) in dates {
            let Some(value) = value else { continue };
            let y_pt = block_pt - f32::from(date_rows) * BODY_LEADING_PT;
            let value = fit(value, BODY, 180.0);
            let content = self.content();
            caption(content, LEFT_PT, y_pt, label);
            text(content, BODY, LEFT_PT + 50.0, y_pt, &value);
            date_rows += 1;
        }

        let customer = [
            (BODY_BOLD, doc.customer_name.as_ref()),
            (BODY, doc.customer_email.as_ref()),
            (BODY, doc.customer_country.as_ref()),
        ];
        let customer_x_pt = 320.0;
        let mut customer_rows = 0u8;
        for (style, value) in customer {
            let Some(value) = value else { continue };
            if customer_rows == 0 {
                caption(self.content(), customer_x_pt, block_pt, "Billed to");
            }
            customer_rows += 1;
            let y_pt = block_pt - f32::from(customer_rows) * BODY_LEADING_PT;
            let value = fit(value, style, RIGHT_PT - customer_x_pt);
            text(self.content(), style, customer_x_pt, y_pt, &value);
        }
        let rows = date_rows.max(customer_rows.saturating_add(1));
        self.y_pt = block_pt - f32::from(rows) * BODY_LEADING_PT - 30.0;
    }

    fn table_header(&mut self) {
        let y_pt = self.y_pt - LABEL_SIZE_PT;
        let content = self.content();
        text(content, LABEL_BOLD, LEFT_PT, y_pt, b"Description");
        text_right(content, LABEL_BOLD, QUANTITY_RIGHT_PT, y_pt, b"Qty");
        text_right(content, LABEL_BOLD, UNIT_RIGHT_PT, y_pt, b"Unit price");
        text_right(content, LABEL_BOLD, RIGHT_PT, y_pt, b"Amount");
        rule(content, LEFT_PT, y_pt - 6.0, 0.0);
        self.y_pt = y_pt - 12.0;
    }

    fn line(&mut self, line: &DocumentLine) {
        let description = wrap(
            &line.description,
            BODY,
            DESCRIPTION_WIDTH_PT,
            MAX_DESCRIPTION_LINES,
        );
        let period = line.period.as_deref().map_or_else(Vec::new, |period| {
            wrap(period, SMALL, DESCRIPTION_WIDTH_PT, MAX_PERIOD_LINES)
        });
        let description_pt = description.len().max(1) as f32 * BODY_LEADING_PT;
        let height_pt = description_pt + period.len() as f32 * SMALL_LEADING_PT + ROW_PADDING_PT;
        self.make_room(height_pt, true);

        let baseline_pt = self.y_pt - BODY_SIZE_PT - ROW_PADDING_PT / 2.0;
        let bottom_pt = self.y_pt - height_pt;
        let quantity = fit(&line.quantity, BODY, QUANTITY_WIDTH_PT);
        let unit = fit(&line.unit_amount, BODY, AMOUNT_WIDTH_PT);
        let amount = fit(&line.amount, BODY, AMOUNT_WIDTH_PT);
        let content = self.content();
        let mut y_pt = baseline_pt;
        for row in &description {
            text(content, BODY, LEFT_PT, y_pt, row);
            y_pt -= BODY_LEADING_PT;
        }
        if description.is_empty() {
            y_pt -= BODY_LEADING_PT;
        }
        content.set_fill_gray(GRAY);
        for row in &period {
            text(content, SMALL, LEFT_PT, y_pt + 2.0, row);
            y_pt -= SMALL_LEADING_PT;
        }
        content.set_fill_gray(0.0);
        text_right(content, BODY, QUANTITY_RIGHT_PT, baseline_pt, &quantity);
        text_right(content, BODY, UNIT_RIGHT_PT, baseline_pt, &unit);
        text_right(content, BODY, RIGHT_PT, baseline_pt, &amount);
        rule(content, LEFT_PT, bottom_pt, RULE_GRAY);
        self.y_pt = bottom_pt;
    }

    fn totals(&mut self, totals: &[DocumentTotal]) {
        if totals.is_empty() {
            return;
        }
        let height_pt = totals.len() as f32 * TOTAL_ROW_PT + 12.0;
        self.y_pt -= 12.0;
        self.make_room(height_pt, false);
        let mut y_pt = self.y_pt - TOTAL_ROW_PT;
        for total in totals {
            let style = if total.emphasis { BODY_BOLD } else { BODY };
            let label = fit(&total.label, style, 225.0);
            let amount = fit(&total.amount, style, AMOUNT_WIDTH_PT);
            let content = self.content();
            text_right(content, style, UNIT_RIGHT_PT, y_pt, &label);
            text_right(content, style, RIGHT_PT, y_pt, &amount);
            y_pt -= TOTAL_ROW_PT;
        }
        self.y_pt = y_pt;
    }

    fn footer(&mut self, footer: &str) {
        let width_pt = RIGHT_PT - LEFT_PT;
        let rows = wrap(footer, LABEL, width_pt, MAX_FOOTER_LINES);
        let leading_pt = 12.0;
        self.y_pt -= 24.0;
        self.make_room(rows.len() as f32 * leading_pt, false);
        let mut y_pt = self.y_pt - LABEL_SIZE_PT;
        let content = self.content();
        for row in &rows {
            text(content, LABEL, LEFT_PT, y_pt, row);
            y_pt -= leading_pt;
        }
        self.y_pt = y_pt;
    }

    /// Numbers the pages ("Page n of m") and writes the file; its id is a
    /// hash of the pages, so the same document gives the same bytes.
    fn write(mut self) -> Vec<u8> {
        let count = self.contents.len();
        let number = std::mem::take(&mut self.number);
        let streams: Vec<Vec<u8>> = self
            .contents
            .into_iter()
            .enumerate()
            .map(|(index, mut content)| {
                let label = format!("Page {} of {count}", index + 1);
                content.set_fill_gray(GRAY);
                let y_pt = PAGE_NUMBER_Y_PT;
                text(&mut content, SMALL, LEFT_PT, y_pt, &number);
                text_right(&mut content, SMALL, RIGHT_PT, y_pt, &encode(&label));
                content.finish().into_vec()
            })
            .collect();

        let mut pdf = Pdf::new();
        let mut hasher = Sha256::new();
        hasher.update(b"obol invoice template 1");
        for stream in &streams {
            hasher.update(stream);
        }
        let id = hasher.finalize()[..16].to_vec();
        pdf.set_file_id((id.clone(), id));

        let page_refs: Vec<(Ref, Ref)> = (0..streams.len()).map(page_refs).collect();
        pdf.catalog(CATALOG).pages(PAGE_TREE);
        pdf.pages(PAGE_TREE)
            .kids(page_refs.iter().map(|(page, _)| *page))
            .count(i32::try_from(streams.len()).expect("pages are bounded by MAX_LINES"));
        for ((page_ref, content_ref), stream) in page_refs.iter().zip(&streams) {
            let mut page = pdf.page(*page_ref);
            page.media_box(Rect::new(0.0, 0.0, PAGE_WIDTH_PT, PAGE_HEIGHT_PT));
            page.parent(PAGE_TREE);
            page.contents(*content_ref);
            page.resources()
                .fonts()
                .pair(font_name(Face::Regular), FONT_REGULAR)
                .pair(font_name(Face::Bold), FONT_BOLD);
            page.finish();
            pdf.stream(*content_ref, stream);
        }
        for (font_ref, base_font) in [(FONT_REGULAR, "Helvetica"), (FONT_BOLD, "Helvetica-Bold")] {
            pdf.type1_font(font_ref)
                .base_font(Name(base_font.as_bytes()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        pdf.finish()
    }
}

/// The page and content stream references of the page at `index`.
fn page_refs(index: usize) -> (Ref, Ref) {
    let index = i32::try_from(index).expect("pages are bounded by MAX_LINES");
    let page = FIRST_PAGE_REF + 2 * index;
    (Ref::new(page), Ref::new(page + 1))
}

fn font_name(face: Face) -> Name<'static> {
    match face {
        Face::Regular => Name(b"F1"),
        Face::Bold => Name(b"F2"),
    }
}

fn text(content: &mut Content, style: Style, x_pt: f32, y_pt: f32, encoded: &[u8]) {
    if encoded.is_empty() {
        return;
    }
    content.begin_text();
    content.set_font(font_name(style.face), style.size_pt);
    content.next_line(x_pt, y_pt);
    content.show(Str(encoded));
    content.end_text();
}

/// Sets `encoded` so that it ends at `right_pt`.
fn text_right(content: &mut Content, style: Style, right_pt: f32, y_pt: f32, encoded: &[u8]) {
    text(
        content,
        style,
        right_pt - style.width(encoded),
        y_pt,
        encoded,
    );
}

/// A field's name, set small in gray before or above its value.
fn caption(content: &mut Content, x_pt: f32, y_pt: f32, name: &str) {
    content.set_fill_gray(GRAY);
    text(content, LABEL_BOLD, x_pt, y_pt, &encode(name));
    content.set_fill_gray(0.0);
}

/// A horizontal rule across the page at `y_pt`, in `gray` (0 is black).
fn rule(content: &mut Content, x_pt: f32, y_pt: f32, gray: f32) {
    content.set_stroke_gray(gray);
    content.set_line_width(0.5);
    content.move_to(x_pt, y_pt);
    content.line_to(RIGHT_PT, y_pt);
    content.stroke();
    content.set_stroke_gray(0.0);
}

/// The first [`MAX_FIELD_CHARS`] characters of `value`.
fn clip(value: &str) -> String {
    value.chars().take(MAX_FIELD_CHARS).collect()
}

/// Encoded text upper-cased by the code page's own pairs, so that no change
/// of Unicode's case tables changes a rendered invoice.
fn upper_case(mut encoded: Vec<u8>) -> Vec<u8> {
    for code in &mut encoded {
        *code = match *code {
            b'a'..=b'z' | 0xE0..=0xF6 | 0xF8..=0xFE => *code - 0x20,
            0x9A | 0x9C | 0x9E => *code - 0x10,
            0xFF => 0x9F,
            other => other,
        };
    }
    encoded
}

/// `value` encoded on one line of at most `width_pt`, cut with "…" when
/// longer.
fn fit(value: &str, style: Style, width_pt: f32) -> Vec<u8> {
    fit_encoded(encode(&clip(value)), style, width_pt)
}

fn fit_encoded(encoded: Vec<u8>, style: Style, width_pt: f32) -> Vec<u8> {
    if style.width(&encoded) <= width_pt {
        return encoded;
    }
    ellipsize(encoded, style, width_pt)
}

/// `encoded` cut so that it and a closing "…" fit in `width_pt`.
fn ellipsize(mut encoded: Vec<u8>, style: Style, width_pt: f32) -> Vec<u8> {
    let ellipsis_pt = style.width(&[ELLIPSIS]);
    while !encoded.is_empty() && style.width(&encoded) + ellipsis_pt > width_pt {
        encoded.pop();
    }
    encoded.push(ELLIPSIS);
    encoded
}

/// `value` encoded and broken into lines of at most `width_pt`, between
/// words where it can, within a word where one alone is too wide; past
/// `max_lines`, the last line is cut with "…".
fn wrap(value: &str, style: Style, width_pt: f32, max_lines: usize) -> Vec<Vec<u8>> {
    let limited: String = value.chars().take(MAX_LONG_CHARS).collect();
    let encoded = encode(&limited);
    let fits = |line: &[u8]| style.width(line) <= width_pt;
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for word in encoded
        .split(|code| *code == b' ')
        .filter(|word| !word.is_empty())
    {
        if lines.len() > max_lines {
            break;
        }
        let mut candidate = current.clone();
        if !candidate.is_empty() {
            candidate.push(b' ');
        }
        candidate.extend_from_slice(word);
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        current = word.to_vec();
        while !fits(&current) && lines.len() <= max_lines {
            // At least one character per line, so a narrow width still ends.
            let mut split = current.len().saturating_sub(1).max(1);
            while split > 1 && !fits(&current[..split]) {
                split -= 1;
            }
            let rest = current.split_off(split);
            lines.push(std::mem::replace(&mut current, rest));
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.pop() {
            lines.push(ellipsize(last, style, width_pt));
        }
    }
    lines
}
