//! The optional records behind `kckpt_attrs.extras`: the XSAVE area
//! (`LINUX`/`NT_X86_XSTATE`), the pending signals (`KCKPT`/
//! `NT_KCKPT_SIGPENDING`) and the interval timers (`KCKPT`/
//! `NT_KCKPT_ITIMERS`) and the parent of an incremental image (`KCKPT`/
//! `NT_KCKPT_PARENT`). The model types live here; each note's decoding,
//! rules and encoding live in the submodule named for it.

use serde::{Serialize, Serializer};

use crate::bytes::{u32_at, u64_at};
use crate::consts::*;

/// `NT_X86_XSTATE`: the standard-format XSAVE area, as an ELF core dump
/// and `PTRACE_GETREGSET(NT_X86_XSTATE)` give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xstate(pub Vec<u8>);

impl Xstate {
    /// XSAVE header `xfeatures` (at 512): the components holding non-init state.
    pub fn xfeatures(&self) -> u64 {
        u64_at(&self.0, XSTATE_HDR_XFEATURES_OFF).unwrap_or(0)
    }
    /// `sw_reserved`'s first u64 (at 464): the producer's XCR0, as
    /// ptrace and core dumps write it.
    pub fn xcr0(&self) -> u64 {
        u64_at(&self.0, XSTATE_XCR0_OFF).unwrap_or(0)
    }
    /// The 512-byte legacy (fxsave) area, or less if the note is shorter.
    pub fn legacy(&self) -> &[u8] {
        &self.0[..self.0.len().min(FXSAVE_SIZE)]
    }
    /// MXCSR of the legacy area (offset 24).
    pub fn mxcsr(&self) -> u32 {
        u32_at(&self.0, 24).unwrap_or(0)
    }
    /// A valid area of `size` bytes (a multiple of 4, at least 576):
    /// `legacy` (zero-filled to 512) with `xcr0` at 464 and the rest of
    /// `sw_reserved` zero, header `xfeatures`, everything after it zero.
    pub fn new(legacy: &[u8], xcr0: u64, xfeatures: u64, size: usize) -> Xstate {
        let mut v = vec![0u8; size.max(XSTATE_MIN_SIZE)];
        let n = legacy.len().min(FXSAVE_SIZE);
        v[..n].copy_from_slice(&legacy[..n]);
        v[XSTATE_XCR0_OFF..FXSAVE_SIZE].fill(0);
        v[XSTATE_XCR0_OFF..XSTATE_XCR0_OFF + 8].copy_from_slice(&xcr0.to_le_bytes());
        v[XSTATE_HDR_XFEATURES_OFF..XSTATE_HDR_XFEATURES_OFF + 8].copy_from_slice(&xfeatures.to_le_bytes());
        Xstate(v)
    }
}

impl Serialize for Xstate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Xstate", 4)?;
        st.serialize_field("size", &self.0.len())?;
        st.serialize_field("xcr0", &xfeature_names(self.xcr0()))?;
        st.serialize_field("xfeatures", &xfeature_names(self.xfeatures()))?;
        st.serialize_field("mxcsr", &self.mxcsr())?;
        st.end()
    }
}

/// XSAVE component names by bit (Intel SDM vol. 1, 13.1).
pub const XFEATURE_NAMES: [&str; 20] = [
    "x87", "SSE", "AVX", "BNDREGS", "BNDCSR", "opmask", "ZMM_Hi256", "Hi16_ZMM", "PT", "PKRU",
    "PASID", "CET_U", "CET_S", "HDC", "UINTR", "LBR", "HWP", "AMX_TILECFG", "AMX_TILEDATA", "APX",
];

/// The set bits of an xfeatures mask as names (`bit N` for unnamed ones).
pub fn xfeature_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| XFEATURE_NAMES.get(b).map_or_else(|| format!("bit {b}"), |n| n.to_string()))
        .collect()
}

/// One i386 `siginfo_t` (128 bytes), as `rt_sigqueueinfo(2)` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Siginfo(pub [u8; SIGINFO_SIZE]);

impl Siginfo {
    /// `si_signo` (offset 0).
    pub fn signo(&self) -> u32 {
        u32_at(&self.0, 0).unwrap_or(0)
    }
    /// `si_errno` (offset 4).
    pub fn errno(&self) -> i32 {
        u32_at(&self.0, 4).unwrap_or(0) as i32
    }
    /// `si_code` (offset 8): `SI_USER` 0, `SI_QUEUE` -1, `SI_TKILL` -6, ...
    pub fn code(&self) -> i32 {
        u32_at(&self.0, 8).unwrap_or(0) as i32
    }
    /// `si_pid` (offset 12) for kill/queue/tkill codes.
    pub fn pid(&self) -> u32 {
        u32_at(&self.0, 12).unwrap_or(0)
    }
    /// `si_uid` (offset 16) for kill/queue/tkill codes.
    pub fn uid(&self) -> u32 {
        u32_at(&self.0, 16).unwrap_or(0)
    }
    /// `si_value` (offset 20, `sival_int`/`sival_ptr`) for `SI_QUEUE`,
    /// `SI_TIMER`, `SI_MESGQ`.
    pub fn value(&self) -> u32 {
        u32_at(&self.0, 20).unwrap_or(0)
    }
    /// A siginfo of `signo` with `si_code` `code`, sender `pid`/`uid`
    /// and `si_value` `value`; the rest zero.
    pub fn new(signo: u32, code: i32, pid: u32, uid: u32, value: u32) -> Siginfo {
        let mut b = [0u8; SIGINFO_SIZE];
        for (o, x) in [(0, signo), (8, code as u32), (12, pid), (16, uid), (20, value)] {
            b[o..o + 4].copy_from_slice(&x.to_le_bytes());
        }
        Siginfo(b)
    }
}

impl Serialize for Siginfo {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("Siginfo", 5)?;
        st.serialize_field("signo", &self.signo())?;
        st.serialize_field("code", &self.code())?;
        st.serialize_field("pid", &self.pid())?;
        st.serialize_field("uid", &self.uid())?;
        st.serialize_field("value", &self.value())?;
        st.end()
    }
}

/// `NT_KCKPT_SIGPENDING`: each queue oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SigPending {
    /// Pending for the thread (`tkill`, faults).
    pub thread: Vec<Siginfo>,
    /// Pending for the process (`kill`).
    pub process: Vec<Siginfo>,
}

/// One `struct itimerval` of `NT_KCKPT_ITIMERS`, as u32s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Itimerval {
    pub interval_sec: u32,
    pub interval_usec: u32,
    pub value_sec: u32,
    pub value_usec: u32,
}

/// `ITIMER_REAL`, `ITIMER_VIRTUAL`, `ITIMER_PROF`: `NT_KCKPT_ITIMERS` order.
pub const ITIMER_NAMES: [&str; 3] = ["ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF"];

/// `NT_KCKPT_PARENT`: where the pages an incremental image does not hold are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parent {
    /// The parent image as written (relative: to this image's directory).
    #[serde(serialize_with = "lossy")]
    pub path: Vec<u8>,
    /// Its identity ([`crate::identity`]): file size and FNV-1a 64 of its
    /// headers and notes.
    pub size: u64,
    pub hash: u64,
    /// Links from this image down to a complete one: 1 if the parent is
    /// complete, the parent's depth + 1 otherwise; 1..=`MAX_CHAIN_DEPTH`.
    pub depth: u32,
    /// The pages taken from the parent, ascending, each inside one private
    /// segment (they are holes in this image's file).
    pub ranges: Vec<PageRange>,
}

/// `npages` pages from `vaddr` (page aligned), taken from the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PageRange {
    pub vaddr: u32,
    pub npages: u32,
}

impl PageRange {
    /// One past the last byte, as u64 (no overflow).
    pub fn end(&self) -> u64 {
        self.vaddr as u64 + self.npages as u64 * crate::PAGE_SIZE as u64
    }
}

impl Parent {
    /// Does a range hold the page at `addr`?
    pub fn holds(&self, addr: u32) -> bool {
        let i = self.ranges.partition_point(|r| r.end() <= addr as u64);
        self.ranges.get(i).is_some_and(|r| r.vaddr <= addr)
    }
    /// Pages taken from the parent.
    pub fn pages(&self) -> u64 {
        self.ranges.iter().map(|r| r.npages as u64).sum()
    }
}

fn lossy<S: Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}

mod itimers;
pub(crate) mod parent;
mod sigpending;
mod xstate;

use crate::model::{Image, NoteLoc};
use crate::parse::{FoundNote, Limits};
use crate::Error;

/// The optional notes in the order they follow `NT_KCKPT_STATE`:
/// (name with NUL, type, label, `extras` bit).
pub(crate) const OPTIONAL: [(&[u8], u32, &str, u32); 4] = [
    (b"LINUX\0", NT_X86_XSTATE, "LINUX/NT_X86_XSTATE", KCKPT_EXTRA_XSTATE),
    (b"KCKPT\0", NT_KCKPT_SIGPENDING, "KCKPT/NT_KCKPT_SIGPENDING", KCKPT_EXTRA_SIGPENDING),
    (b"KCKPT\0", NT_KCKPT_ITIMERS, "KCKPT/NT_KCKPT_ITIMERS", KCKPT_EXTRA_ITIMERS),
    (b"KCKPT\0", NT_KCKPT_PARENT, "KCKPT/NT_KCKPT_PARENT", KCKPT_EXTRA_PARENT),
];

/// The decoded optional records and their note locations, in [`OPTIONAL`] order.
#[derive(Default)]
pub(crate) struct Extras {
    pub xstate: Option<Xstate>,
    pub sigpending: Option<SigPending>,
    pub itimers: Option<[Itimerval; 3]>,
    pub parent: Option<Parent>,
    pub locs: Vec<NoteLoc>,
}

/// Move the optional notes out of `rest` (the notes that are not required),
/// check each is present exactly once when its bit of `extras` is set and
/// absent otherwise, and decode them. `extras` has no unknown bits here
/// (`read_attrs` refused them).
pub(crate) fn take(rest: &mut Vec<FoundNote<'_>>, extras: u32, lim: &Limits) -> Result<Extras, Error> {
    let mut out = Extras::default();
    for (k, &(name, ntype, note, bit)) in OPTIONAL.iter().enumerate() {
        let is = |n: &FoundNote<'_>| n.name == name && n.ntype == ntype;
        let found: Vec<FoundNote<'_>> = rest.iter().filter(|n| is(n)).cloned().collect();
        rest.retain(|n| !is(n));
        let n = match (found.as_slice(), extras & bit != 0) {
            ([], false) => continue,
            ([], true) => return Err(Error::ExtraNoteMissing { note, bit }),
            ([_], false) => return Err(Error::ExtraNoteUnflagged { note, bit }),
            ([n], true) => n,
            _ => return Err(Error::DuplicateNote { note }),
        };
        match k {
            0 => out.xstate = Some(xstate::parse(n.desc, lim)?),
            1 => out.sigpending = Some(sigpending::parse(n.desc)?),
            2 => out.itimers = Some(itimers::parse(n.desc)?),
            _ => out.parent = Some(parent::parse(n.desc)?),
        }
        out.locs.push(n.loc.clone());
    }
    Ok(out)
}

impl Image {
    /// `kckpt_attrs.extras` as written: the bits of the records present.
    pub fn extras(&self) -> u32 {
        let bit = |on: bool, b: u32| if on { b } else { 0 };
        bit(self.xstate.is_some(), KCKPT_EXTRA_XSTATE)
            | bit(self.sigpending.is_some(), KCKPT_EXTRA_SIGPENDING)
            | bit(self.itimers.is_some(), KCKPT_EXTRA_ITIMERS)
            | bit(self.parent.is_some(), KCKPT_EXTRA_PARENT)
    }

    /// The optional notes to write after `NT_KCKPT_STATE`, in order:
    /// (name without NUL, type, descriptor).
    pub(crate) fn optional_notes(&self) -> Vec<(Vec<u8>, u32, Vec<u8>)> {
        let note = |k: usize, d: Vec<u8>| {
            let (name, ntype, _, _) = OPTIONAL[k];
            (name.strip_suffix(b"\0").unwrap_or(name).to_vec(), ntype, d)
        };
        let mut v = Vec::new();
        if let Some(x) = &self.xstate {
            v.push(note(0, x.0.clone()));
        }
        if let Some(p) = &self.sigpending {
            v.push(note(1, sigpending::encode(p)));
        }
        if let Some(t) = &self.itimers {
            v.push(note(2, itimers::encode(t)));
        }
        if let Some(p) = &self.parent {
            v.push(note(3, parent::encode(p)));
        }
        v
    }
}
