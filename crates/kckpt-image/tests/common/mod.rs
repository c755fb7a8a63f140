//! Shared fixtures: a realistic three-segment image and byte patch helpers.
#![allow(dead_code)]

use kckpt_image::consts::*;
use kckpt_image::*;

pub const VDSO: u32 = 0xb7ff_f000;

/// Code (3 pages, middle one a hole), heap (2 pages, trailing hole), stack (all zero);
/// attrs all non-default (no_new_privs, dumpable 2, an alt stack in the heap).
pub fn builder() -> Builder {
    let mut code = vec![0x90u8; 4096];
    code.extend(vec![0u8; 4096]);
    code.extend(vec![0xc3u8; 100]);
    let heap = b"heap data".to_vec();
    Builder::new()
        .pid(42)
        .segment(0x0804_8000, 3, PF_R | PF_X, VMA_FILE, code)
        .segment(0x0804_c000, 2, PF_R | PF_W, VMA_HEAP, heap)
        .segment(0xbffd_f000, 1, PF_R | PF_W, VMA_GROWSDOWN, Vec::new())
        .file_mapping(0x0804_8000, 0x0804_b000, 0, "/bin/hello")
        .vdso_base(VDSO)
        .mm(MmFields {
            start_code: 0x0804_8000,
            end_code: 0x0804_a000,
            start_data: 0x0804_b000,
            end_data: 0x0804_c000,
            start_brk: 0x0804_c000,
            brk: 0x0804_e000,
            start_stack: 0xbffd_ff00,
            arg_start: 0xbffd_ff10,
            arg_end: 0xbffd_ff20,
            env_start: 0xbffd_ff20,
            env_end: 0xbffd_ff40,
        })
        .sigaction(2, Sigaction { handler: 0x0804_8100, flags: 0x1400_0000, restorer: 0x0804_8200, mask: 2 })
        .sigaction(13, Sigaction { handler: 1, ..Sigaction::default() })
        .sigblocked(1 << 9)
        .fd(3, 0, 10, "/etc/passwd")
        .fd(4, 0o2001, 0, "/tmp/x")
        .pipe_end(5, 1, false, 65536, b"unread")
        .pipe_end(6, 1, true, 65536, b"")
        .unlinked(7, 2, 3, 2, "/tmp/gone", b"contents of a deleted file")
        .unlinked(9, 0o2001, 0, 2, "/tmp/gone", b"")
        .rlimit(RLIMIT_NOFILE, 256, 1024)
        .rlimit(0, 10, 20)
        .comm(b"sample")
        .personality(ADDR_NO_RANDOMIZE | UNAME26)
        .no_new_privs(true)
        .dumpable(2)
        .sigaltstack(0x0804_d000, 0x1000, SS_AUTODISARM)
        .cwd("/root")
        .tls(0, UserDesc { entry_number: 6, base_addr: 0xb7e0_0000, limit: 0xfffff, flags: 0x51 })
}

pub fn sample() -> (Image, Vec<Vec<u8>>, Vec<u8>) {
    let (img, data) = builder().build();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let bytes = img.to_bytes(&refs).expect("write");
    (img, data, bytes)
}

/// File offset of the named field (see `Image::field_offsets`).
pub fn off(img: &Image, name: &str) -> usize {
    img.field_offsets()
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1
}

pub fn get32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

pub fn set32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn set16(b: &mut [u8], o: usize, v: u16) {
    b[o..o + 2].copy_from_slice(&v.to_le_bytes());
}

/// Patch a named u32 field.
pub fn patch(img: &Image, b: &mut [u8], name: &str, f: impl Fn(u32) -> u32) {
    let o = off(img, name);
    let v = get32(b, o);
    set32(b, o, f(v));
}

/// The XSAVE area of an AVX machine: xcr0 x87|SSE|AVX, all three in use,
/// 832 bytes, the legacy area's fcw/mxcsr as Builder's fxsave, a YMM byte set.
pub fn avx_xstate() -> Xstate {
    let mut legacy = vec![0u8; 512];
    legacy[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    legacy[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    let mut x = Xstate::new(&legacy, 7, 7, 832);
    x.0[576] = 0xa5;
    x
}

/// A queued SIGUSR1 from pid 77 with si_value 42 (thread), a SIGTERM
/// kill() and two SIGRTMIN+2 (process).
pub fn pending() -> SigPending {
    SigPending {
        thread: vec![Siginfo::new(10, -1, 77, 1000, 42)],
        process: vec![Siginfo::new(15, 0, 1, 0, 0), Siginfo::new(34, -1, 77, 1000, 1), Siginfo::new(34, -1, 77, 1000, 2)],
    }
}

/// ITIMER_REAL 1.5 s left, every 0.25 s; VIRTUAL off; PROF 3 s one-shot.
pub fn timers() -> [Itimerval; 3] {
    [
        Itimerval { interval_sec: 0, interval_usec: 250_000, value_sec: 1, value_usec: 500_000 },
        Itimerval::default(),
        Itimerval { interval_sec: 0, interval_usec: 0, value_sec: 3, value_usec: 0 },
    ]
}

/// [`builder`] with all three optional records and two eventfds: id 1 at
/// fds 10 and 11 (semaphore, counter 7, 11 nonblocking|cloexec), id 2 at fd 12.
pub fn extras_builder() -> Builder {
    let p = pending();
    builder()
        .eventfd(10, 1, 7, true, 0)
        .eventfd(11, 1, 7, true, O_NONBLOCK | O_CLOEXEC)
        .eventfd(12, 2, 0, false, 0)
        .xstate(avx_xstate())
        .sigpending(p.thread, p.process)
        .itimers(timers())
}

pub fn extras_sample() -> (Image, Vec<Vec<u8>>, Vec<u8>) {
    let (img, data) = extras_builder().build();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let bytes = img.to_bytes(&refs).expect("write");
    (img, data, bytes)
}
