//! `kckpt_rlimit[16]`: decode and check the image's resource limits.
//! Only the rules that depend on the image alone; the restarting task's
//! hard limits, `CAP_SYS_RESOURCE` and `fs.nr_open` are the kernel's.

use crate::bytes::Rd;
use crate::consts::NRLIMITS;
use crate::model::Rlimit;
use crate::{Error, RLIM_INFINITY64};

/// A value `kckpt_rlimit` can hold: `RLIM_INFINITY` or below 2^32.
pub fn rlimit_value_ok(v: u64) -> bool {
    v == RLIM_INFINITY64 || v <= u32::MAX as u64
}

pub(crate) fn read_rlimits(r: &mut Rd<'_>) -> Result<[Rlimit; NRLIMITS], Error> {
    let mut out = [Rlimit::default(); NRLIMITS];
    for (k, slot) in out.iter_mut().enumerate() {
        let (Some(cur), Some(max)) = (r.u64(), r.u64()) else {
            return Err(Error::KckptTruncated { what: "rlimits" });
        };
        for (field, value) in [("cur", cur), ("max", max)] {
            if !rlimit_value_ok(value) {
                return Err(Error::RlimitValue { r: k, field, value });
            }
        }
        if cur > max {
            return Err(Error::RlimitOrder { r: k, cur, max });
        }
        *slot = Rlimit { cur, max };
    }
    Ok(out)
}
