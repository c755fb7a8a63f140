//! The image crate's parser/validator on arbitrary bytes: it must return Ok
//! or Err, never panic, overflow or read out of bounds; and what it accepts
//! must survive the field table, display, JSON, and a rewrite that parses
//! back to the same image.
#![no_main]

use kckpt_image::Image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(img) = Image::parse(data) else { return };
    for (_, off, width) in img.field_offsets() {
        assert!(off + width <= data.len(), "field past the end of the file");
    }
    let _ = img.summary(Some(data)).to_string();
    let _ = img.to_json(Some(data));
    let segs: Vec<&[u8]> = (0..img.segments.len()).map(|i| img.segment_data(data, i).unwrap_or(&[])).collect();
    let mut again = img.clone();
    again.relayout();
    if let Ok(bytes) = again.to_bytes(&segs) {
        let back = Image::parse(&bytes).expect("a rewritten valid image parses");
        assert_eq!(back.prstatus.regs, img.prstatus.regs);
        assert_eq!(back.state, img.state);
    }
    // The reader path must agree with the slice path.
    let mut c = std::io::Cursor::new(data);
    assert_eq!(Image::parse_reader(&mut c, &Default::default()).is_ok(), true);
});
