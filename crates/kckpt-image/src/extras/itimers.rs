//! `KCKPT`/`NT_KCKPT_ITIMERS`: `ITIMER_REAL`, `ITIMER_VIRTUAL`,
//! `ITIMER_PROF`, each four u32 (interval sec/usec, value sec/usec).

use crate::bytes::{u32_at, Put};
use crate::consts::*;
use crate::extras::ITIMER_NAMES;
use crate::{Error, Itimerval};

/// Decode and check an `NT_KCKPT_ITIMERS` descriptor.
pub(crate) fn parse(d: &[u8]) -> Result<[Itimerval; 3], Error> {
    if d.len() != ITIMERS_SIZE {
        return Err(Error::ItimersSize { descsz: d.len().min(u32::MAX as usize) as u32 });
    }
    let mut out = [Itimerval::default(); 3];
    for (w, (t, which)) in out.iter_mut().zip(ITIMER_NAMES).enumerate() {
        let f = |k: usize| u32_at(d, 16 * w + 4 * k).unwrap_or(0);
        *t = Itimerval { interval_sec: f(0), interval_usec: f(1), value_sec: f(2), value_usec: f(3) };
        for (field, value) in [("interval_usec", t.interval_usec), ("value_usec", t.value_usec)] {
            if value >= USEC_PER_SEC {
                return Err(Error::ItimerUsec { which, field, value });
            }
        }
        for (field, value) in [("interval_sec", t.interval_sec), ("value_sec", t.value_sec)] {
            if value > ITIMER_SEC_MAX {
                return Err(Error::ItimerSec { which, field, value });
            }
        }
    }
    Ok(out)
}

pub(crate) fn encode(t: &[Itimerval; 3]) -> Vec<u8> {
    let mut d = Vec::with_capacity(ITIMERS_SIZE);
    for v in t {
        for x in [v.interval_sec, v.interval_usec, v.value_sec, v.value_usec] {
            d.u32(x);
        }
    }
    d
}
