//! Robustness: single-byte mutations of headers+notes and truncations must
//! give Ok or Err, never panic (the fuzzer relies on this oracle).
mod common;

use kckpt_image::*;

fn headers_and_notes_len(img: &Image) -> usize {
    let last = img.notes.last().unwrap();
    last.desc_offset + last.descsz.div_ceil(4) * 4
}

/// All 255 other values at `offsets`; returns how many were rejected.
fn mutate_range(bytes: &[u8], offsets: std::ops::Range<usize>) -> usize {
    let mut buf = bytes.to_vec();
    let mut rejected = 0usize;
    for o in offsets {
        let orig = buf[o];
        for v in (0..=255u8).filter(|&v| v != orig) {
            buf[o] = v;
            let r = std::panic::catch_unwind(|| Image::parse(&buf));
            let r = r.unwrap_or_else(|_| panic!("panic at offset {o:#x} value {v:#x}"));
            rejected += r.is_err() as usize;
        }
        buf[o] = orig;
    }
    rejected
}

#[test]
fn every_single_byte_mutation() {
    let (img, _, bytes) = common::sample();
    every_byte(&img, &bytes);
}

/// The same over an image with XSAVE, pending signals, timers and eventfds.
#[test]
fn every_single_byte_mutation_with_extras() {
    let (img, _, bytes) = common::extras_sample();
    every_byte(&img, &bytes);
}

fn every_byte(img: &Image, bytes: &[u8]) {
    let end = headers_and_notes_len(img);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).min(8);
    let chunk = end.div_ceil(threads);
    let rejected: usize = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let b = bytes;
                s.spawn(move || mutate_range(b, t * chunk..((t + 1) * chunk).min(end)))
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("worker panicked")).sum()
    });
    assert!(rejected > end, "most mutations must be rejected ({rejected})");
}

#[test]
fn truncation_every_7th_length() {
    let (_, _, bytes) = common::extras_sample();
    for n in (0..bytes.len()).step_by(7) {
        let r = std::panic::catch_unwind(|| Image::parse(&bytes[..n]));
        assert!(r.is_ok(), "panic at length {n}");
        assert!(r.unwrap().is_err(), "truncated image of {n} bytes accepted");
    }
}

#[test]
fn reader_survives_mutations() {
    for (img, _, bytes) in [common::sample(), common::extras_sample()] {
        reader_agrees(&img, &bytes);
    }
}

fn reader_agrees(img: &Image, bytes: &[u8]) {
    let end = headers_and_notes_len(img);
    for o in (0..end).step_by(3) {
        let mut b = bytes.to_vec();
        b[o] ^= 0xff;
        let mut c = std::io::Cursor::new(b.clone());
        let r = Image::parse_reader(&mut c, &Limits::default());
        assert_eq!(r, Image::parse(&b), "reader and slice disagree at {o:#x}");
    }
}
