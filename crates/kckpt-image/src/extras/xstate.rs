//! `LINUX`/`NT_X86_XSTATE`: the rules the crate checks on the XSAVE area.
//! The kernel also compares the size with its own XSAVE size and the
//! features with the restarting CPU's; those are the machine's, not the image's.

use crate::bytes::u64_at;
use crate::consts::*;
use crate::parse::Limits;
use crate::{Error, Xstate};

/// Decode and check an `NT_X86_XSTATE` descriptor.
pub(crate) fn parse(d: &[u8], lim: &Limits) -> Result<Xstate, Error> {
    let descsz = d.len();
    if !(XSTATE_MIN_SIZE..=XSTATE_MAX_SIZE).contains(&descsz) || !descsz.is_multiple_of(4) {
        return Err(Error::XstateSize { descsz: descsz.min(u32::MAX as usize) as u32 });
    }
    let x = Xstate(d.to_vec());
    let xcomp_bv = u64_at(d, XSTATE_HDR_XCOMP_BV_OFF).unwrap_or(0);
    if xcomp_bv != 0 {
        return Err(Error::XstateCompacted { xcomp_bv });
    }
    let reserved = d.get(XSTATE_HDR_RESERVED_OFF..XSTATE_MIN_SIZE).unwrap_or(&[]);
    if let Some((k, &byte)) = reserved.iter().enumerate().find(|(_, &b)| b != 0) {
        return Err(Error::XstateHeaderReserved { at: XSTATE_HDR_RESERVED_OFF + k, byte });
    }
    let (xfeatures, xcr0) = (x.xfeatures(), x.xcr0());
    if xfeatures & !xcr0 != 0 {
        return Err(Error::XstateFeatures { xfeatures, xcr0 });
    }
    if !crate::parse::mxcsr_ok(x.mxcsr(), lim) {
        return Err(Error::XstateMxcsr { value: x.mxcsr() });
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_makes_an_area_parse_accepts() {
        let x = Xstate::new(&[0u8; 512], 7, 3, 832);
        assert_eq!(parse(&x.0, &Limits::default()), Ok(x.clone()));
        assert_eq!((x.xcr0(), x.xfeatures(), x.0.len()), (7, 3, 832));
        assert_eq!(u64_at(&x.0, XSTATE_XCR0_OFF), Some(7));
    }
}
