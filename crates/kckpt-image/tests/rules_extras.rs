//! `kckpt_attrs.extras` and its notes: bit <=> note, and the rules of
//! NT_X86_XSTATE, NT_KCKPT_SIGPENDING and NT_KCKPT_ITIMERS; one broken
//! image per rule, rejected with the error naming it, and the edge values
//! accepted. (Eventfd records: rules_eventfd.rs.)
mod common;

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

type R = std::result::Result<Image, Error>;

fn bytes_of(b: Builder) -> (Image, Vec<u8>) {
    let (img, data) = b.build();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let bytes = img.to_bytes(&refs).unwrap();
    (img, bytes)
}

/// The extras sample with `name` (a u32 field) patched.
fn patched(name: &str, f: impl Fn(u32) -> u32) -> R {
    let (img, _, mut b) = extras_sample();
    patch(&img, &mut b, name, f);
    Image::parse(&b)
}

/// The extras sample with the `width` bytes of `name` replaced by `v`'s low ones.
fn set_wide(name: &str, v: u64) -> R {
    let (img, _, mut b) = extras_sample();
    let (_, o, w) = img.field_offsets().into_iter().find(|(n, _, _)| n == name).unwrap();
    b[o..o + w.min(8)].copy_from_slice(&v.to_le_bytes()[..w.min(8)]);
    Image::parse(&b)
}

/// The plain sample plus a raw note `name`/`ntype` with `desc`, and `bits`
/// set in `extras` (a note the model cannot hold: its rules are the parser's).
fn raw_note(name: &[u8], ntype: u32, desc: Vec<u8>, bits: u32) -> R {
    let (mut img, data) = builder().build();
    img.extra_notes.push(RawNote { name: name.to_vec(), ntype, desc });
    img.relayout();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let mut b = img.to_bytes(&refs).unwrap();
    patch(&img, &mut b, "kckpt.attrs.extras", |v| v | bits);
    Image::parse(&b)
}

fn xstate_raw(desc: Vec<u8>) -> R {
    raw_note(b"LINUX", NT_X86_XSTATE, desc, KCKPT_EXTRA_XSTATE)
}

fn sigpending_raw(nr_thread: u32, nr_process: u32, entries: &[Siginfo], tail: usize) -> R {
    let mut d = Vec::new();
    d.extend_from_slice(&nr_thread.to_le_bytes());
    d.extend_from_slice(&nr_process.to_le_bytes());
    for s in entries {
        d.extend_from_slice(&s.0);
    }
    d.extend(vec![0u8; tail]);
    raw_note(b"KCKPT", NT_KCKPT_SIGPENDING, d, KCKPT_EXTRA_SIGPENDING)
}

fn sig(signo: u32) -> Siginfo {
    Siginfo::new(signo, 0, 1, 0, 0)
}

fn queues(thread: Vec<Siginfo>, process: Vec<Siginfo>) -> R {
    Image::parse(&Builder::new().sigpending(thread, process).bytes())
}

fn timers_with(w: usize, f: impl Fn(&mut Itimerval)) -> R {
    let mut t = timers();
    f(&mut t[w]);
    Image::parse(&Builder::new().itimers(t).bytes())
}

// Bits and notes.
#[test]
fn full_image_round_trips_with_notes_after_the_state_in_order() {
    let (img, _, b) = extras_sample();
    assert_eq!(img.extras(), KCKPT_EXTRA_XSTATE | KCKPT_EXTRA_SIGPENDING | KCKPT_EXTRA_ITIMERS);
    assert_eq!(get32(&b, off(&img, "kckpt.attrs.extras")), 7);
    assert_eq!(get32(&b, off(&img, "kckpt.attrs.reserved")), 0);
    let back = Image::parse(&b).unwrap();
    assert_eq!(back, img);
    assert_eq!(back.xstate, Some(avx_xstate()));
    assert_eq!(back.sigpending, Some(pending()));
    assert_eq!(back.itimers, Some(timers()));
    assert!(back.extra_notes.is_empty(), "the optional notes are not raw notes");
    let order: Vec<(&str, u32)> = back.notes.iter().skip(7).map(|n| (n.name.as_str(), n.ntype)).collect();
    assert_eq!(
        order,
        [("KCKPT", NT_KCKPT_STATE), ("LINUX", NT_X86_XSTATE), ("KCKPT", NT_KCKPT_SIGPENDING), ("KCKPT", NT_KCKPT_ITIMERS)]
    );
}

#[test]
fn each_record_alone_round_trips_with_its_bit() {
    let p = pending();
    let cases: [(Builder, u32); 3] = [
        (builder().xstate(avx_xstate()), KCKPT_EXTRA_XSTATE),
        (builder().sigpending(p.thread, p.process), KCKPT_EXTRA_SIGPENDING),
        (builder().itimers(timers()), KCKPT_EXTRA_ITIMERS),
    ];
    for (b, bit) in cases {
        let (img, bytes) = bytes_of(b);
        assert_eq!(get32(&bytes, off(&img, "kckpt.attrs.extras")), bit);
        assert_eq!(Image::parse(&bytes).unwrap(), img, "bit {bit}");
        let rewritten = {
            let back = Image::parse(&bytes).unwrap();
            let (_, data) = builder().build();
            let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
            back.to_bytes(&refs).unwrap()
        };
        assert_eq!(rewritten, bytes, "bit {bit}: rewrite differs");
    }
}

#[test]
fn images_without_extras_are_unchanged() {
    let (img, _, b) = sample();
    assert_eq!((img.extras(), get32(&b, off(&img, "kckpt.attrs.extras"))), (0, 0));
    let back = Image::parse(&b).unwrap();
    assert_eq!((back.xstate, back.sigpending, back.itimers), (None, None, None));
    let seed = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fuzz-seeds/tiny.kckpt")).unwrap();
    // Kernel-made on an XSAVE CPU: the XSAVE note and nothing else optional.
    let s = Image::parse(&seed).expect("the checked-in seed parses");
    assert_eq!((s.extras(), s.xstate.is_some(), s.sigpending.is_none(), s.itimers.is_none()), (KCKPT_EXTRA_XSTATE, true, true, true));
}

#[test]
fn unknown_extras_bits_refused() {
    // 0x10 (an incremental image) is known: without its note it is ExtraNoteMissing (rules_parent.rs)
    for bits in [8, 0x20, 0x8000_0000, 7 | 8] {
        assert_eq!(patched("kckpt.attrs.extras", |_| bits), Err(Error::ExtrasUnknown { extras: bits }));
    }
}

#[test]
fn bit_without_its_note_refused() {
    let (img, _, b) = sample();
    for (bit, note) in [
        (KCKPT_EXTRA_XSTATE, "LINUX/NT_X86_XSTATE"),
        (KCKPT_EXTRA_SIGPENDING, "KCKPT/NT_KCKPT_SIGPENDING"),
        (KCKPT_EXTRA_ITIMERS, "KCKPT/NT_KCKPT_ITIMERS"),
    ] {
        let mut b = b.clone();
        patch(&img, &mut b, "kckpt.attrs.extras", |_| bit);
        assert_eq!(Image::parse(&b), Err(Error::ExtraNoteMissing { note, bit }));
    }
}

#[test]
fn note_without_its_bit_refused() {
    for (bit, note) in [
        (KCKPT_EXTRA_XSTATE, "LINUX/NT_X86_XSTATE"),
        (KCKPT_EXTRA_SIGPENDING, "KCKPT/NT_KCKPT_SIGPENDING"),
        (KCKPT_EXTRA_ITIMERS, "KCKPT/NT_KCKPT_ITIMERS"),
    ] {
        assert_eq!(patched("kckpt.attrs.extras", |v| v & !bit), Err(Error::ExtraNoteUnflagged { note, bit }));
    }
    // a raw note of the type, bit clear, is refused the same way
    let t = vec![0u8; ITIMERS_SIZE];
    let e = Error::ExtraNoteUnflagged { note: "KCKPT/NT_KCKPT_ITIMERS", bit: KCKPT_EXTRA_ITIMERS };
    assert_eq!(raw_note(b"KCKPT", NT_KCKPT_ITIMERS, t, 0), Err(e));
}

#[test]
fn optional_note_twice_refused() {
    let (mut img, data) = extras_builder().build();
    img.extra_notes.push(RawNote { name: b"KCKPT".to_vec(), ntype: NT_KCKPT_ITIMERS, desc: vec![0; ITIMERS_SIZE] });
    img.relayout();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let b = img.to_bytes(&refs).unwrap();
    assert_eq!(Image::parse(&b), Err(Error::DuplicateNote { note: "KCKPT/NT_KCKPT_ITIMERS" }));
    // the same type under another name is someone else's note: kept raw
    let r = raw_note(b"GNU", NT_KCKPT_ITIMERS, vec![1, 2, 3, 4], 0).unwrap();
    assert_eq!((r.itimers, r.extra_notes.len()), (None, 1));
}

// NT_X86_XSTATE.
#[test]
fn xstate_accessors() {
    let x = avx_xstate();
    assert_eq!((x.xcr0(), x.xfeatures(), x.legacy().len(), x.mxcsr()), (7, 7, 512, 0x1f80));
    assert_eq!(&x.legacy()[..2], &[0x7f, 0x03]);
    assert_eq!(Xstate(vec![1; 10]).legacy().len(), 10);
}

#[test]
fn xstate_size_bounds() {
    for ok in [576, 580, 832, 2696, 8192] {
        let r = Image::parse(&Builder::new().xstate(Xstate::new(&[], 3, 3, ok)).bytes());
        assert_eq!(r.unwrap().xstate.unwrap().0.len(), ok, "{ok}");
    }
    for bad in [0usize, 512, 572, 578, 833, 8196, 16384] {
        assert_eq!(xstate_raw(vec![0; bad]), Err(Error::XstateSize { descsz: bad as u32 }), "{bad}");
    }
}

#[test]
fn xstate_sw_reserved_after_xcr0_is_informational() {
    // ptrace and core dumps write XCR0 at 464 and zeros after it; a
    // signal frame's _fpx_sw_bytes there would be no reason to refuse.
    let (img, _, b) = extras_sample();
    let base = off(&img, "xstate.mxcsr") - 24;
    let mut b = b.clone();
    b[base + 472..base + 512].fill(0x5a);
    assert!(Image::parse(&b).is_ok());
}

#[test]
fn xstate_header_standard_format_only() {
    for v in [1u64, 1 << 63, (1 << 63) | 7] {
        assert_eq!(set_wide("xstate.hdr.xcomp_bv", v), Err(Error::XstateCompacted { xcomp_bv: v }));
    }
    let (img, _, b) = extras_sample();
    let base = off(&img, "xstate.mxcsr") - 24;
    for at in [528usize, 529, 560, 575] {
        let mut b = b.clone();
        b[base + at] = 0x80;
        assert_eq!(Image::parse(&b), Err(Error::XstateHeaderReserved { at, byte: 0x80 }), "{at}");
    }
    // the component data after the header is free
    let mut b2 = b.clone();
    b2[base + 576..base + 832].fill(0xff);
    assert!(Image::parse(&b2).is_ok());
}

#[test]
fn xstate_features_within_the_producers_xcr0() {
    for (xcr0, xf) in [(7, 7), (7, 0), (7, 1), (3, 2), (0x2e7, 0x2e7)] {
        let r = Image::parse(&Builder::new().xstate(Xstate::new(&[], xcr0, xf, 2696)).bytes());
        assert!(r.is_ok(), "{xcr0:#x} {xf:#x}");
    }
    for (xcr0, xf) in [(3u64, 7u64), (0, 1), (7, 1 << 63), (0x2e7, 0x2ff)] {
        let r = Image::parse(&Builder::new().xstate(Xstate::new(&[], xcr0, xf, 832)).bytes());
        assert_eq!(r, Err(Error::XstateFeatures { xfeatures: xf, xcr0 }), "{xcr0:#x} {xf:#x}");
    }
    assert_eq!(set_wide("xstate.xcr0", 3), Err(Error::XstateFeatures { xfeatures: 7, xcr0: 3 }));
}

#[test]
fn xstate_mxcsr_checked_like_fxsave() {
    for m in [0x1_0000, 0xffff_ffff, 0x8000_1f80] {
        assert_eq!(patched("xstate.mxcsr", |_| m), Err(Error::XstateMxcsr { value: m }));
    }
    assert!(patched("xstate.mxcsr", |_| 0xffff).is_ok());
    // DAZ (0x40) on a CPU without it
    let (img, _, mut b) = extras_sample();
    patch(&img, &mut b, "xstate.mxcsr", |_| 0x1fc0);
    let no_daz = Limits { mxcsr_feature_mask: 0xffbf, ..Limits::default() };
    assert_eq!(Image::parse_with(&b, &no_daz), Err(Error::XstateMxcsr { value: 0x1fc0 }));
    assert!(Image::parse(&b).is_ok());
}

// NT_KCKPT_SIGPENDING.
#[test]
fn siginfo_accessors() {
    let s = Siginfo::new(34, -1, 77, 1000, 0xdead);
    assert_eq!((s.signo(), s.code(), s.pid(), s.uid(), s.value()), (34, -1, 77, 1000, 0xdead));
    assert_eq!(Siginfo::new(17, 1, 5, 0, 0).code(), 1);
}

#[test]
fn sigpending_header_and_size() {
    assert_eq!(sigpending_raw(0, 0, &[], 0).unwrap().sigpending, Some(SigPending::default()));
    for short in [0usize, 4, 7] {
        let r = raw_note(b"KCKPT", NT_KCKPT_SIGPENDING, vec![0; short], KCKPT_EXTRA_SIGPENDING);
        assert_eq!(r, Err(Error::SigpendingShort { descsz: short as u32 }));
    }
    let s = sig(10);
    assert_eq!(sigpending_raw(1, 0, &[], 0), Err(Error::SigpendingSize { descsz: 8, expected: 136 }));
    assert_eq!(sigpending_raw(1, 0, &[s], 4), Err(Error::SigpendingSize { descsz: 140, expected: 136 }));
    assert_eq!(sigpending_raw(0, 0, &[s], 0), Err(Error::SigpendingSize { descsz: 136, expected: 8 }));
    assert_eq!(sigpending_raw(1, 1, &[s], 0), Err(Error::SigpendingSize { descsz: 136, expected: 264 }));
}

#[test]
fn sigpending_at_most_1024_entries() {
    let rt: Vec<Siginfo> = (0..1024).map(|k| Siginfo::new(40, -1, 1, 0, k)).collect();
    let img = queues(rt[..1000].to_vec(), rt[1000..].to_vec()).unwrap();
    let p = img.sigpending.unwrap();
    assert_eq!((p.thread.len(), p.process.len(), p.process[23].value()), (1000, 24, 1023));
    assert_eq!(sigpending_raw(1024, 1, &[], 0), Err(Error::SigpendingTooMany { nr: 1025 }));
    assert_eq!(sigpending_raw(u32::MAX, u32::MAX, &[], 0), Err(Error::SigpendingTooMany { nr: 2 * u32::MAX as u64 }));
    assert_eq!(sigpending_raw(0, 1025, &[], 0), Err(Error::SigpendingTooMany { nr: 1025 }));
}

#[test]
fn sigpending_signo_range() {
    for s in [0, 65, 0x100, u32::MAX] {
        assert_eq!(queues(vec![sig(1), sig(s)], vec![]), Err(Error::SigpendingSigno { queue: "thread", k: 1, signo: s }));
        assert_eq!(queues(vec![], vec![sig(s)]), Err(Error::SigpendingSigno { queue: "process", k: 0, signo: s }));
    }
    let edges = queues(vec![sig(1), sig(31), sig(32), sig(64)], vec![sig(1), sig(64)]).unwrap();
    assert_eq!(edges.sigpending.unwrap().thread.len(), 4);
}

#[test]
fn sigkill_and_sigstop_never_pending() {
    for s in [SIGKILL, SIGSTOP] {
        assert_eq!(queues(vec![sig(s)], vec![]), Err(Error::SigpendingUnqueueable { queue: "thread", k: 0, signo: s }));
        assert_eq!(
            queues(vec![sig(2)], vec![sig(3), sig(s)]),
            Err(Error::SigpendingUnqueueable { queue: "process", k: 1, signo: s })
        );
    }
}

#[test]
fn standard_signals_once_per_queue_realtime_any_number() {
    assert_eq!(
        queues(vec![sig(10), sig(12), sig(10)], vec![]),
        Err(Error::SigpendingDuplicate { queue: "thread", k: 2, signo: 10 })
    );
    assert_eq!(queues(vec![], vec![sig(31), sig(31)]), Err(Error::SigpendingDuplicate { queue: "process", k: 1, signo: 31 }));
    // the same standard signal in both queues, and repeated real-time ones
    let ok = queues(vec![sig(10), sig(32), sig(32)], vec![sig(10), sig(64), sig(64), sig(64)]).unwrap();
    assert_eq!(ok.sigpending.unwrap().process.len(), 4);
}

#[test]
fn sigpending_fields_are_named() {
    let (img, _, b) = extras_sample();
    assert_eq!(get32(&b, off(&img, "sigpending.nr_thread")), 1);
    assert_eq!(get32(&b, off(&img, "sigpending.nr_process")), 3);
    assert_eq!(get32(&b, off(&img, "sigpending.thread[0].si_value")), 42);
    assert_eq!(get32(&b, off(&img, "sigpending.process[2].si_signo")), 34);
    assert_eq!(off(&img, "sigpending.process[0].si_signo") - off(&img, "sigpending.thread[0].si_signo"), 128);
    // the counts agree with the size: changing one is refused
    assert_eq!(patched("sigpending.nr_thread", |_| 2), Err(Error::SigpendingSize { descsz: 520, expected: 648 }));
    // si_code is the sender's: any value is kept
    let r = patched("sigpending.thread[0].si_code", |_| 0x7fff_ffff).unwrap();
    assert_eq!(r.sigpending.unwrap().thread[0].code(), 0x7fff_ffff);
}

// NT_KCKPT_ITIMERS.
#[test]
fn itimers_size() {
    for bad in [0usize, 44, 52, 96] {
        let r = raw_note(b"KCKPT", NT_KCKPT_ITIMERS, vec![0; bad], KCKPT_EXTRA_ITIMERS);
        assert_eq!(r, Err(Error::ItimersSize { descsz: bad as u32 }));
    }
    let zero = raw_note(b"KCKPT", NT_KCKPT_ITIMERS, vec![0; 48], KCKPT_EXTRA_ITIMERS).unwrap();
    assert_eq!(zero.itimers, Some([Itimerval::default(); 3]));
}

#[test]
fn itimer_usec_below_a_second() {
    for (w, which) in ["ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"].into_iter().enumerate() {
        let e = |field| Err(Error::ItimerUsec { which, field, value: 1_000_000 });
        assert_eq!(timers_with(w, |t| t.interval_usec = 1_000_000), e("interval_usec"));
        assert_eq!(timers_with(w, |t| t.value_usec = 1_000_000), e("value_usec"));
        assert!(timers_with(w, |t| (t.interval_usec, t.value_usec) = (999_999, 999_999)).is_ok());
    }
    assert_eq!(
        patched("itimer[2].value_usec", |_| u32::MAX),
        Err(Error::ItimerUsec { which: "ITIMER_PROF", field: "value_usec", value: u32::MAX })
    );
}

#[test]
fn itimer_sec_at_most_int_max() {
    for (w, which) in ["ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"].into_iter().enumerate() {
        let e = |field, value| Err(Error::ItimerSec { which, field, value });
        assert_eq!(timers_with(w, |t| t.interval_sec = 0x8000_0000), e("interval_sec", 0x8000_0000));
        assert_eq!(timers_with(w, |t| t.value_sec = u32::MAX), e("value_sec", u32::MAX));
        assert!(timers_with(w, |t| (t.interval_sec, t.value_sec) = (ITIMER_SEC_MAX, ITIMER_SEC_MAX)).is_ok());
    }
}

#[test]
fn itimer_fields_are_named() {
    let (img, _, b) = extras_sample();
    assert_eq!(get32(&b, off(&img, "itimer[0].value_usec")), 500_000);
    assert_eq!(get32(&b, off(&img, "itimer[2].value_sec")), 3);
    assert_eq!(off(&img, "itimer[1].interval_sec") - off(&img, "itimer[0].interval_sec"), 16);
}

// Display.
#[test]
fn summary_and_json_show_every_record() {
    let (img, _, b) = extras_sample();
    let s = img.summary(Some(&b)).to_string();
    for want in [
        "Extras: 0x7",
        "XSAVE state  832 bytes, mxcsr=00001f80",
        "xcr0       0x7 x87 SSE AVX",
        "xfeatures  0x7 x87 SSE AVX",
        "Pending signals: 1 thread, 3 process",
        "thread  SIGUSR1 (10)     SI_QUEUE (-1)   pid 77 uid 1000 si_value 0x2a",
        "process SIGTERM (15)     SI_USER (0)     pid 1 uid 0",
        "process SIGRTMIN+2 (34)  SI_QUEUE (-1)   pid 77 uid 1000 si_value 0x2",
        "ITIMER_REAL     value 1.500000 s         interval 0.250000 s",
        "ITIMER_VIRTUAL  value 0.000000 s         interval 0.000000 s  (disarmed)",
        "ITIMER_PROF     value 3.000000 s",
        "fd  10 eventfd  flags 0o2 counter 7 semaphore yes id 1",
        "fd  11 eventfd  flags 0o2004002 counter 7 semaphore yes id 1",
        "fd  12 eventfd  flags 0o2 counter 0 semaphore no id 2",
    ] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }
    assert!(sample().0.to_string().contains("Extras: 0x0\n"));
    let j = img.to_json(None);
    assert_eq!(j["xstate"]["xfeatures"], serde_json::json!(["x87", "SSE", "AVX"]));
    assert_eq!(j["xstate"]["size"], 832);
    assert_eq!(j["sigpending"]["thread"][0]["value"], 42);
    assert_eq!(j["sigpending"]["process"][0]["signo"], 15);
    assert_eq!(j["itimers"][2]["value_sec"], 3);
    assert_eq!(j["state"]["fds"][7]["kind"], FD_EVENTFD);
    assert!(sample().0.to_json(None)["xstate"].is_null());
}

#[test]
fn kernel_siginfo_and_feature_names() {
    let mut chld = Siginfo::new(17, 1, 55, 0, 0);
    chld.0[20] = 3;
    let segv = {
        let mut s = Siginfo::new(11, 1, 0, 0, 0);
        s.0[12..16].copy_from_slice(&0xdead_b000u32.to_le_bytes());
        s
    };
    let img = Image::parse(&Builder::new().sigpending(vec![segv], vec![chld, Siginfo::new(14, -2, 4, 0, 9)]).bytes()).unwrap();
    let s = img.to_string();
    for want in ["SIGSEGV (11)     code 1          addr 0xdeadb000", "SIGCHLD (17)     code 1          pid 55 uid 0 status 3", "SIGALRM (14)     SI_TIMER (-2)   timer 4 overrun 0 si_value 0x9"] {
        assert!(s.contains(want), "summary lacks {want:?}:\n{s}");
    }
    let names = kckpt_image::extras::xfeature_names(0x2e7 | (1 << 40));
    assert_eq!(names, ["x87", "SSE", "AVX", "opmask", "ZMM_Hi256", "Hi16_ZMM", "PKRU", "bit 40"]);
    assert_eq!(kckpt_image::display::signal_name(32), "SIGRTMIN");
    assert_eq!(kckpt_image::display::signal_name(64), "SIGRTMIN+32");
}
