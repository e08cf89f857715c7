//! The standard PDF fonts Helvetica and Helvetica-Bold in WinAnsiEncoding:
//! how text becomes their one-byte codes, and how wide it sets. Both are
//! fixed facts (the encoding of the PDF standard, Adobe's published metrics),
//! so every template version measures with them.

/// One of the two faces the invoice templates set text in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Face {
    Regular,
    Bold,
}

/// What text outside WinAnsiEncoding shows as.
const REPLACEMENT: u8 = b'?';

/// Encodes `text` in WinAnsiEncoding (Windows code page 1252): a character
/// it lacks becomes '?', whitespace (tabs, line breaks) a space.
pub(super) fn encode(text: &str) -> Vec<u8> {
    text.chars().map(encode_char).collect()
}

fn encode_char(character: char) -> u8 {
    if character.is_whitespace() {
        return b' ';
    }
    let code = u32::from(character);
    match code {
        0x20..=0x7E | 0xA0..=0xFF => u8::try_from(code).unwrap_or(REPLACEMENT),
        _ => cp1252_special(character).unwrap_or(REPLACEMENT),
    }
}

/// The characters code page 1252 puts at 0x80..0x9F, where Latin-1 has
/// control characters.
fn cp1252_special(character: char) -> Option<u8> {
    let code = match character {
        '€' => 0x80,
        '‚' => 0x82,
        'ƒ' => 0x83,
        '„' => 0x84,
        '…' => 0x85,
        '†' => 0x86,
        '‡' => 0x87,
        'ˆ' => 0x88,
        '‰' => 0x89,
        'Š' => 0x8A,
        '‹' => 0x8B,
        'Œ' => 0x8C,
        'Ž' => 0x8E,
        '‘' => 0x91,
        '’' => 0x92,
        '“' => 0x93,
        '”' => 0x94,
        '•' => 0x95,
        '–' => 0x96,
        '—' => 0x97,
        '˜' => 0x98,
        '™' => 0x99,
        'š' => 0x9A,
        '›' => 0x9B,
        'œ' => 0x9C,
        'ž' => 0x9E,
        'Ÿ' => 0x9F,
        _ => return None,
    };
    Some(code)
}

/// The advance width of one encoded byte, in thousandths of the font size.
fn code_width(face: Face, code: u8) -> u32 {
    let table = match face {
        Face::Regular => &REGULAR,
        Face::Bold => &BOLD,
    };
    // Codes below 32 never come out of `encode`; they set as nothing.
    usize::from(code)
        .checked_sub(32)
        .and_then(|index| table.get(index))
        .map_or(0, |width| u32::from(*width))
}

/// The width of encoded `text` at `size_pt`, in points.
pub(super) fn text_width(face: Face, size_pt: f32, text: &[u8]) -> f32 {
    let thousandths = text.iter().fold(0u32, |sum, code| {
        sum.saturating_add(code_width(face, *code))
    });
    thousandths as f32 * size_pt / 1000.0
}

// The advance widths (WX) of Adobe's Core 14 AFM files, Helvetica and
// Helvetica-Bold version 003.001, for the WinAnsiEncoding codes 32..=255,
// one row of 16 codes each; 0 where code page 1252 has no character.
pub(super) const REGULAR: [u16; 224] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, // 32..47
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 48..63
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // 64..79
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // 80..95
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // 96..111
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, 0, // 112..127
    556, 0, 222, 556, 333, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, // 128..143
    0, 222, 222, 333, 333, 350, 556, 1000, 333, 1000, 500, 333, 944, 0, 500, 667, // 144..159
    278, 333, 556, 556, 556, 556, 260, 556, 333, 737, 370, 556, 584, 333, 737,
    333, // 160..175
    400, 584, 333, 333, 333, 556, 537, 278, 333, 333, 365, 556, 834, 834, 834,
    611, // 176..191
    667, 667, 667, 667, 667, 667, 1000, 722, 667, 667, 667, 667, 278, 278, 278,
    278, // 192..207
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667,
    611, // 208..223
    556, 556, 556, 556, 556, 556, 889, 500, 556, 556, 556, 556, 278, 278, 278,
    278, // 224..239
    556, 556, 556, 556, 556, 556, 556, 584, 611, 556, 556, 556, 556, 500, 556,
    500, // 240..255
];
pub(super) const BOLD: [u16; 224] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278, // 32..47
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 48..63
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // 64..79
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // 80..95
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // 96..111
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, 0, // 112..127
    556, 0, 278, 556, 500, 1000, 556, 556, 333, 1000, 667, 333, 1000, 0, 611, 0, // 128..143
    0, 278, 278, 500, 500, 350, 556, 1000, 333, 1000, 556, 333, 944, 0, 500, 667, // 144..159
    278, 333, 556, 556, 556, 556, 280, 556, 333, 737, 370, 556, 584, 333, 737,
    333, // 160..175
    400, 584, 333, 333, 333, 611, 556, 278, 333, 333, 365, 556, 834, 834, 834,
    611, // 176..191
    722, 722, 722, 722, 722, 722, 1000, 722, 667, 667, 667, 667, 278, 278, 278,
    278, // 192..207
    722, 722, 778, 778, 778, 778, 778, 584, 778, 722, 722, 722, 722, 667, 667,
    611, // 208..223
    556, 556, 556, 556, 556, 556, 889, 556, 556, 556, 556, 556, 278, 278, 278,
    278, // 224..239
    611, 611, 611, 611, 611, 611, 611, 584, 611, 611, 611, 611, 611, 556, 611,
    556, // 240..255
];
