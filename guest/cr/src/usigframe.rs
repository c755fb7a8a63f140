//! The rt_sigreturn frame that ends `cr -r --userspace`'s restorer: the
//! kernel loads all of the image's user state from it in one step, as it
//! does returning from a signal handler: general and segment registers,
//! eflags, the blocked mask, the alternate signal stack and the FPU state
//! (`fpstate`, see uxstate.rs). Signals queued by the restorer while
//! everything was blocked are delivered on the way out of that
//! rt_sigreturn, into the restored context, exactly as if they had been
//! pending when the process was checkpointed.

/// i386 `struct rt_sigframe`: pretcode, sig, pinfo, puc, siginfo (128),
/// then `struct ucontext` at 144.
const UC: usize = 144;
/// In `struct ucontext`: uc_flags, uc_link, uc_stack (12), uc_mcontext
/// (`struct sigcontext_32`, 88 bytes), uc_sigmask (8).
const UC_STACK: usize = UC + 8;
const MCONTEXT: usize = UC + 20;
const SIGMASK: usize = UC + 108;
/// The frame up to and with the sigmask, and retcode (8).
pub const FRAME_SIZE: usize = UC + 116 + 8;

/// The frame's bytes for `regs` (kckpt order: ebx ecx edx esi edi ebp eax
/// ds es fs gs orig_eax eip cs eflags esp ss), blocked `mask`, alternate
/// stack `(ss_sp, ss_size, ss_flags)` and the fpstate at `fpstate`.
/// rt_sigreturn takes its frame at esp - 4: the restorer calls it with
/// esp = the frame's address + 4.
pub fn rt_sigframe(regs: &[u32; 17], mask: u64, altstack: (u32, u32, u32), fpstate: u32) -> Vec<u8> {
    let mut f = vec![0u8; FRAME_SIZE];
    let mut put = |off: usize, v: u32| f[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let (ss_sp, ss_size, ss_flags) = altstack;
    put(UC_STACK, ss_sp);
    put(UC_STACK + 4, ss_flags);
    put(UC_STACK + 8, ss_size);
    let r = |k: usize| regs[k];
    // struct sigcontext_32, in its order.
    let sc = [
        r(10), r(9), r(8), r(7), // gs fs es ds
        r(4), r(3), r(5), r(15), r(0), r(2), r(1), r(6), // di si bp sp bx dx cx ax
        0, 0, r(12), r(13), r(14), r(15), r(16), // trapno err ip cs flags sp_at_signal ss
        fpstate, mask as u32, 0, // fpstate oldmask cr2
    ];
    for (k, &v) in sc.iter().enumerate() {
        put(MCONTEXT + 4 * k, v);
    }
    put(SIGMASK, mask as u32);
    put(SIGMASK + 4, (mask >> 32) as u32);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(f: &[u8], off: usize) -> u32 {
        u32::from_le_bytes(f[off..off + 4].try_into().unwrap())
    }

    #[test]
    fn sigcontext_holds_each_register_where_the_kernel_reads_it() {
        // register k holds 0x100 + k
        let regs: [u32; 17] = std::array::from_fn(|k| 0x100 + k as u32);
        let f = rt_sigframe(&regs, 0x8000_0000_0000_4001, (0xb000_0000, 0x4000, 0x8000_0000), 0x1234_5640);
        assert_eq!(FRAME_SIZE, 268);
        let sc = MCONTEXT;
        let at = |name: &str| -> u32 {
            // offsets of struct sigcontext_32 (asm/sigcontext.h)
            let off = match name {
                "gs" => 0, "fs" => 4, "es" => 8, "ds" => 12, "di" => 16, "si" => 20, "bp" => 24, "sp" => 28,
                "bx" => 32, "dx" => 36, "cx" => 40, "ax" => 44, "ip" => 56, "cs" => 60, "flags" => 64, "ss" => 72,
                "fpstate" => 76, "oldmask" => 80,
                _ => unreachable!(),
            };
            w(&f, sc + off)
        };
        let want = [
            ("bx", 0), ("cx", 1), ("dx", 2), ("si", 3), ("di", 4), ("bp", 5), ("ax", 6), ("ds", 7), ("es", 8), ("fs", 9),
            ("gs", 10), ("ip", 12), ("cs", 13), ("flags", 14), ("sp", 15), ("ss", 16),
        ];
        for (name, k) in want {
            assert_eq!(at(name), 0x100 + k, "{name}");
        }
        assert_eq!((at("fpstate"), at("oldmask")), (0x1234_5640, 0x4001));
        assert_eq!((w(&f, 252), w(&f, 256)), (0x4001, 0x8000_0000), "uc_sigmask at 144 + 108");
        assert_eq!((w(&f, 152), w(&f, 156), w(&f, 160)), (0xb000_0000, 0x8000_0000, 0x4000), "uc_stack sp flags size");
    }
}
