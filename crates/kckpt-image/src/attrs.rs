//! `struct kckpt_attrs`: decode and check the task name, personality,
//! `no_new_privs`, dumpable flag and alternate signal stack. Every field is
//! checked here, as binfmt_cr checks it before the point of no return.

use crate::bytes::Rd;
use crate::consts::*;
use crate::model::Attrs;
use crate::Error;

/// A personality an image may carry: `PER_LINUX` with allowed flags only.
pub fn personality_ok(p: u32) -> bool {
    p & PER_MASK == 0 && p & !PER_MASK & !PERSONALITY_FLAGS_OK == 0
}

/// A `sigaltstack` an image may carry (`task_size`: `TASK_SIZE`).
pub fn sigaltstack_ok(sp: u32, size: u32, flags: u32, task_size: u32) -> bool {
    check_sigaltstack(sp, size, flags, task_size).is_ok()
}

fn check_sigaltstack(ss_sp: u32, ss_size: u32, ss_flags: u32, task_size: u32) -> Result<(), Error> {
    match ss_flags {
        SS_DISABLE if ss_sp != 0 || ss_size != 0 => Err(Error::SigaltstackDisabled { ss_sp, ss_size }),
        SS_DISABLE => Ok(()),
        0 | SS_AUTODISARM if ss_size < MINSIGSTKSZ => Err(Error::SigaltstackSize { ss_size }),
        0 | SS_AUTODISARM => match ss_sp.checked_add(ss_size) {
            Some(end) if end <= task_size => Ok(()),
            _ => Err(Error::SigaltstackRange { ss_sp, ss_size }),
        },
        _ => Err(Error::SigaltstackFlags { ss_flags }),
    }
}

/// `comm[15]` is 0 and every byte after the first NUL is 0.
fn check_comm(comm: &[u8; COMM_LEN]) -> Result<(), Error> {
    if comm[COMM_LEN - 1] != 0 {
        return Err(Error::CommNotTerminated);
    }
    let nul = comm.iter().position(|&c| c == 0).unwrap_or(COMM_LEN - 1);
    match comm.iter().enumerate().skip(nul).find(|(_, &c)| c != 0) {
        Some((at, &byte)) => Err(Error::CommAfterNul { at, byte }),
        None => Ok(()),
    }
}

/// The attributes and `extras` (not kept in [`Attrs`]: the image's
/// optional records say it); unknown `extras` bits are refused here.
pub(crate) fn read_attrs(r: &mut Rd<'_>, task_size: u32) -> Result<(Attrs, u32), Error> {
    let t = Error::KckptTruncated { what: "attrs" };
    let comm: [u8; COMM_LEN] = r.bytes(COMM_LEN).and_then(|b| b.try_into().ok()).ok_or(t.clone())?;
    let mut w = [0u32; 8];
    for v in w.iter_mut() {
        *v = r.u32().ok_or(t.clone())?;
    }
    let [personality, flags, dumpable, ss_sp, ss_size, ss_flags, extras, reserved] = w;
    check_comm(&comm)?;
    if personality & PER_MASK != 0 {
        return Err(Error::PersonalityNotLinux { personality });
    }
    if !personality_ok(personality) {
        let bits = personality & !PER_MASK & !PERSONALITY_FLAGS_OK;
        return Err(Error::PersonalityFlags { personality, bits });
    }
    if flags & !KCKPT_ATTR_NO_NEW_PRIVS != 0 {
        return Err(Error::AttrFlags { flags });
    }
    if dumpable > DUMPABLE_MAX {
        return Err(Error::Dumpable { value: dumpable });
    }
    check_sigaltstack(ss_sp, ss_size, ss_flags, task_size)?;
    if extras & !KCKPT_EXTRAS_KNOWN != 0 {
        return Err(Error::ExtrasUnknown { extras });
    }
    if reserved != 0 {
        return Err(Error::AttrsReserved { value: reserved });
    }
    let no_new_privs = flags & KCKPT_ATTR_NO_NEW_PRIVS != 0;
    Ok((Attrs { comm, personality, no_new_privs, dumpable, ss_sp, ss_size, ss_flags }, extras))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_allows_linux_with_listed_flags_only() {
        assert!(personality_ok(0));
        assert!(personality_ok(PERSONALITY_FLAGS_OK));
        assert!(personality_ok(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC));
        for bad in [1, 0x0010_0000 /* MMAP_PAGE_ZERO */, 0x0080_0000 /* ADDR_LIMIT_32BIT */, 0x0008_0000, 1 << 31] {
            assert!(!personality_ok(bad), "{bad:#x}");
        }
    }

    #[test]
    fn sigaltstack_edges() {
        let ts = crate::TASK_SIZE;
        assert!(sigaltstack_ok(0, 0, SS_DISABLE, ts));
        assert!(sigaltstack_ok(0x1000, MINSIGSTKSZ, 0, ts));
        assert!(sigaltstack_ok(ts - MINSIGSTKSZ, MINSIGSTKSZ, SS_AUTODISARM, ts));
        assert!(!sigaltstack_ok(ts - MINSIGSTKSZ + 1, MINSIGSTKSZ, 0, ts));
        assert!(!sigaltstack_ok(0x1000, MINSIGSTKSZ - 1, 0, ts));
        assert!(!sigaltstack_ok(u32::MAX, MINSIGSTKSZ, 0, u32::MAX));
        assert!(!sigaltstack_ok(0, 0, SS_ONSTACK, ts));
        assert!(!sigaltstack_ok(0x1000, 0, SS_DISABLE, ts));
    }
}
