//! The XSAVE state in the userspace mode (docs/image-format.md,
//! `NT_X86_XSTATE`). Checkpoint reads it with
//! PTRACE_GETREGSET(NT_X86_XSTATE), the bytes an ELF core dump writes,
//! when the CPU uses XSAVE. Restart checks it against this CPU before
//! anything is touched, and hands it to the kernel in the restorer's
//! rt_sigreturn frame (`sigframe_fpstate`): with the FP_XSTATE_MAGIC1/2
//! markers the kernel loads the whole area with XRSTOR, as it does
//! returning from a signal handler; without them, the legacy FXSR area.
//! Either way the frame is the only FPU load: nothing loads it after.

use crate::error::{CrError, Result};

/// `struct _fpx_sw_bytes` markers (asm/sigcontext.h).
pub const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
pub const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
/// The legacy (fxsave) area, then the XSAVE header.
const LEGACY: usize = 512;
const HEADER: usize = 64;
/// `sw_reserved` in the legacy area: XCR0 in a ptrace or core dump
/// buffer, `struct _fpx_sw_bytes` in a signal frame.
const SW_BYTES: usize = 464;
/// `struct fregs_state` (fsave layout, 108 bytes + status/magic): what an
/// i386 signal frame's fpstate starts with before the fxsave area.
pub const FREGS_SIZE: usize = 112;
/// The MXCSR mask a CPU reporting 0 has (Intel SDM, "MXCSR_MASK").
const DEFAULT_MXCSR_MASK: u32 = 0xffbf;

/// What this CPU and kernel do with the FPU state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cpu {
    /// FXSAVE/FXRSTOR (CPUID.1:EDX.FXSR).
    pub fxsr: bool,
    /// The kernel enabled XSAVE (CPUID.1:ECX.OSXSAVE).
    pub xsave: bool,
    /// XCR0 (xgetbv 0); 0 without XSAVE.
    pub xcr0: u64,
    /// The XSAVE area size of the features XCR0 enables (CPUID 0xD.0 EBX).
    pub size: u32,
    /// The largest XSAVE area this CPU could need (CPUID 0xD.0 ECX).
    pub max_size: u32,
    /// The MXCSR bits this CPU accepts.
    pub mxcsr_mask: u32,
}

#[allow(unused_unsafe)]
fn cpuid(leaf: u32, sub: u32) -> [u32; 4] {
    // SAFETY: every i686 CPU Linux 6.12 runs on has CPUID.
    let r = unsafe { core::arch::x86::__cpuid_count(leaf, sub) };
    [r.eax, r.ebx, r.ecx, r.edx]
}

/// This CPU, as the kernel set it up.
pub fn cpu() -> Cpu {
    let max_leaf = cpuid(0, 0)[0];
    let one = cpuid(1, 0);
    let fxsr = one[3] & (1 << 24) != 0;
    let xsave = max_leaf >= 0xd && one[2] & (1 << 27) != 0;
    let (mut xcr0, mut size, mut max_size) = (0, 0, 0);
    if xsave {
        let (lo, hi): (u32, u32);
        // SAFETY: OSXSAVE says XGETBV is enabled; XCR0 is readable at CPL 3.
        unsafe { std::arch::asm!("xgetbv", in("ecx") 0u32, out("eax") lo, out("edx") hi, options(nomem, nostack)) };
        xcr0 = (hi as u64) << 32 | lo as u64;
        let d = cpuid(0xd, 0);
        (size, max_size) = (d[1], d[2]);
    }
    let mut mxcsr_mask = DEFAULT_MXCSR_MASK;
    if fxsr {
        #[repr(C, align(16))]
        struct Area([u8; 512]);
        let mut a = Area([0; 512]);
        // SAFETY: FXSR is present; fxsave writes exactly 512 bytes into the
        // 16-byte aligned area we own.
        unsafe { std::arch::asm!("fxsave [{0}]", in(reg) a.0.as_mut_ptr(), options(nostack)) };
        let m = u32::from_le_bytes([a.0[28], a.0[29], a.0[30], a.0[31]]);
        if m != 0 {
            mxcsr_mask = m;
        }
    }
    Cpu { fxsr, xsave, xcr0, size, max_size, mxcsr_mask }
}

/// The XSAVE area of the stopped `pid`, if this CPU uses XSAVE: the bytes
/// PTRACE_GETREGSET gives, as the kernel's checkpoint and a core dump
/// write them (XCR0 as a u64 at 464, asm/user.h USER_XSTATE_XCR0_WORD).
pub fn read(pid: i32, cpu: &Cpu) -> Result<Option<Vec<u8>>> {
    if !cpu.xsave {
        return Ok(None);
    }
    let x = crate::sys::get_xstate(pid, cpu.max_size.max(cpu.size) as usize + 4096)?;
    if x.len() < LEGACY + HEADER {
        return Err(CrError::Os(format!("NT_X86_XSTATE of {pid}: {} bytes", x.len()), std::io::Error::other("short")));
    }
    Ok(Some(x))
}

fn u32le(b: &[u8], k: usize) -> u32 {
    u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]])
}

fn u64le(b: &[u8], k: usize) -> u64 {
    u32le(b, k) as u64 | (u32le(b, k + 4) as u64) << 32
}

/// Why an image's XSAVE area `x` cannot be loaded on `cpu`, if it cannot:
/// the refusals the kernel makes before its point of no return.
pub fn refusal(x: &[u8], cpu: &Cpu) -> Option<String> {
    if !cpu.xsave {
        return Some("the image has XSAVE state and this CPU does not use XSAVE".into());
    }
    if x.len() != cpu.size as usize {
        return Some(format!("XSAVE layout differs: the image's area is {} bytes, this CPU's {}", x.len(), cpu.size));
    }
    if x.len() < LEGACY + HEADER {
        return Some(format!("XSAVE area of {} bytes", x.len()));
    }
    let features = u64le(x, LEGACY);
    if features & !cpu.xcr0 != 0 {
        return Some(format!(
            "XSAVE features {:#x} of the image are not enabled on this CPU (XCR0 {:#x})",
            features & !cpu.xcr0,
            cpu.xcr0
        ));
    }
    if x[LEGACY + 8..LEGACY + HEADER].iter().any(|&b| b != 0) {
        return Some("XSAVE header: xcomp_bv or reserved bytes are not 0".into());
    }
    let mxcsr = u32le(x, 24);
    if mxcsr & !cpu.mxcsr_mask != 0 {
        return Some(format!("MXCSR {mxcsr:#x} is refused by this CPU (mask {:#x})", cpu.mxcsr_mask));
    }
    None
}

/// [`refusal`] as cr's error: an image this restart cannot load (exit 7).
pub fn check(file: &str, x: &[u8], cpu: &Cpu) -> Result<()> {
    match refusal(x, cpu) {
        Some(why) => Err(CrError::BadImage(format!("{file}: {why}"))),
        None => Ok(()),
    }
}

/// The fsave-format environment of an fxsave area, as the kernel's
/// `convert_from_fxsr()` makes it. The kernel folds the x87 part of a
/// signal frame from this, not from the fxsave area; only "empty or not"
/// of each tag survives that, so tags are written as valid (0) or empty (3).
pub fn fregs_from_fx(fx: &[u8]) -> [u8; FREGS_SIZE] {
    let mut e = [0u8; FREGS_SIZE];
    let w16 = |k: usize| u16::from_le_bytes([fx[k], fx[k + 1]]) as u32;
    let abridged = fx[4];
    let mut twd = 0xffff_0000u32;
    for i in 0..8 {
        if abridged & (1 << i) == 0 {
            twd |= 3 << (2 * i);
        }
    }
    let words = [
        w16(0) | 0xffff_0000,            // cwd
        w16(2) | 0xffff_0000,            // swd
        twd,                             // twd
        u32le(fx, 8),                    // fip
        w16(12) | w16(6) << 16,          // fcs | fop << 16
        u32le(fx, 16),                   // foo
        u32le(fx, 20),                   // fos
    ];
    for (k, v) in words.iter().enumerate() {
        e[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
    }
    for i in 0..8 {
        e[28 + 10 * i..38 + 10 * i].copy_from_slice(&fx[32 + 16 * i..42 + 16 * i]);
    }
    // status = swd, magic 0 (X86_FXSR_MAGIC: fxsave data follows)
    e[108..110].copy_from_slice(&fx[2..4]);
    e
}

/// The `fpstate` of an i386 rt_sigreturn frame that loads the image's FPU
/// state: `fpregs` (NT_PRFPREG), `fx` (NT_PRXFPREG) and `xstate`
/// (NT_X86_XSTATE, already checked with [`refusal`]) on `cpu`. With XSAVE
/// state: fregs, the area with this CPU's `_fpx_sw_bytes`, MAGIC2 after
/// it. Otherwise fregs and the fxsave area with no magic (fx only); on a
/// CPU without FXSR, the fsave area alone.
pub fn sigframe_fpstate(fpregs: &[u8], fx: &[u8], xstate: Option<&[u8]>, cpu: &Cpu) -> Vec<u8> {
    if !cpu.fxsr {
        let mut v = fpregs.to_vec();
        v.resize(FREGS_SIZE, 0);
        v[110..112].copy_from_slice(&0xffffu16.to_le_bytes()); // X86_FXSR_MAGIC absent
        return v;
    }
    let mut v = Vec::new();
    match xstate {
        Some(x) => {
            v.extend_from_slice(&fregs_from_fx(x));
            let mut a = x.to_vec();
            let sw = [FP_XSTATE_MAGIC1, x.len() as u32 + 4];
            for (k, w) in sw.iter().enumerate() {
                a[SW_BYTES + 4 * k..SW_BYTES + 4 * k + 4].copy_from_slice(&w.to_le_bytes());
            }
            a[SW_BYTES + 8..SW_BYTES + 16].copy_from_slice(&cpu.xcr0.to_le_bytes());
            a[SW_BYTES + 16..SW_BYTES + 20].copy_from_slice(&(x.len() as u32).to_le_bytes());
            a[SW_BYTES + 20..LEGACY].fill(0);
            v.extend_from_slice(&a);
            v.extend_from_slice(&FP_XSTATE_MAGIC2.to_le_bytes());
        }
        None if fx.len() >= LEGACY && fx.iter().any(|&b| b != 0) => {
            v.extend_from_slice(&fregs_from_fx(fx));
            let mut a = fx[..LEGACY].to_vec();
            // ptrace's fxsave carries the kernel's sw bytes: no magic here,
            // or the kernel would look for an XSAVE area behind it.
            a[SW_BYTES..].fill(0);
            v.extend_from_slice(&a);
        }
        None => {
            // An image from a CPU without FXSR: the x87 state from
            // NT_PRFPREG, SSE in its reset state.
            let mut e = fpregs.to_vec();
            e.resize(FREGS_SIZE, 0);
            v.extend_from_slice(&e);
            let mut a = vec![0u8; LEGACY];
            a[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
            v.extend_from_slice(&a);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu_avx() -> Cpu {
        Cpu { fxsr: true, xsave: true, xcr0: 7, size: 832, max_size: 832, mxcsr_mask: 0xffff }
    }

    fn area(size: usize, features: u64) -> Vec<u8> {
        let mut x = vec![0u8; size];
        x[0..2].copy_from_slice(&0x37fu16.to_le_bytes());
        x[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        x[LEGACY..LEGACY + 8].copy_from_slice(&features.to_le_bytes());
        x
    }

    #[test]
    fn this_cpu_is_read_consistently() {
        let c = cpu();
        if c.xsave {
            assert!(c.xcr0 & 3 == 3, "x87 and SSE are always enabled with XSAVE: {c:x?}");
            assert!(c.size >= 576 && c.max_size >= c.size, "{c:x?}");
        } else {
            assert_eq!((c.xcr0, c.size), (0, 0));
        }
        assert!(c.mxcsr_mask & 0x1f80 == 0x1f80);
    }

    #[test]
    fn refusals_name_what_differs() {
        let c = cpu_avx();
        assert_eq!(refusal(&area(832, 7), &c), None);
        assert!(refusal(&area(1088, 7), &c).unwrap().contains("layout differs"));
        assert!(refusal(&area(832, 0xe7), &c).unwrap().contains("0xe0"), "AVX-512 on an AVX CPU");
        let mut x = area(832, 3);
        x[LEGACY + 8] = 1;
        assert!(refusal(&x, &c).unwrap().contains("xcomp_bv"));
        let mut x = area(832, 3);
        x[LEGACY + 63] = 1;
        assert!(refusal(&x, &c).is_some());
        let mut x = area(832, 3);
        x[24..28].copy_from_slice(&0x1_0000u32.to_le_bytes());
        assert!(refusal(&x, &c).unwrap().contains("MXCSR"));
        let none = Cpu { xsave: false, xcr0: 0, size: 0, max_size: 0, ..c };
        assert!(refusal(&area(832, 3), &none).unwrap().contains("does not use XSAVE"));
    }

    #[test]
    fn fregs_are_the_kernels_conversion() {
        let mut fx = [0u8; 512];
        fx[0..2].copy_from_slice(&0x037fu16.to_le_bytes()); // cwd
        fx[2..4].copy_from_slice(&0x3800u16.to_le_bytes()); // swd, top 7
        fx[4] = 0x80; // st7 physical register in use
        fx[6..8].copy_from_slice(&0x05d9u16.to_le_bytes()); // fop
        fx[8..12].copy_from_slice(&0x0804_8123u32.to_le_bytes()); // fip
        fx[12..14].copy_from_slice(&0x73u16.to_le_bytes()); // fcs
        fx[16..20].copy_from_slice(&0xbf00_0010u32.to_le_bytes()); // foo
        fx[20..24].copy_from_slice(&0x7bu32.to_le_bytes()); // fos
        for i in 0..10 {
            fx[32 + 16 * 3 + i] = i as u8 + 1; // st(3)
        }
        let e = fregs_from_fx(&fx);
        let w = |k: usize| u32le(&e, 4 * k);
        assert_eq!((w(0), w(1)), (0xffff_037f, 0xffff_3800));
        assert_eq!(w(2), 0xffff_3fff, "only physical register 7 is not empty");
        assert_eq!((w(3), w(4), w(5), w(6)), (0x0804_8123, 0x05d9_0073, 0xbf00_0010, 0x7b));
        assert_eq!(&e[58..68], &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(&e[108..112], &[0x00, 0x38, 0, 0], "status = swd, magic X86_FXSR_MAGIC");
    }

    #[test]
    fn an_xsave_frame_carries_both_magics_and_this_cpus_features() {
        let c = cpu_avx();
        let mut x = area(832, 7);
        x[576] = 0xaa; // upper half of ymm0
        let f = sigframe_fpstate(&[0; 108], &[0; 512], Some(&x), &c);
        assert_eq!(f.len(), FREGS_SIZE + 832 + 4);
        let fx = &f[FREGS_SIZE..];
        assert_eq!(u32le(fx, SW_BYTES), FP_XSTATE_MAGIC1);
        assert_eq!(u32le(fx, SW_BYTES + 4), 836, "extended_size");
        assert_eq!(u64le(fx, SW_BYTES + 8), 7);
        assert_eq!(u32le(fx, SW_BYTES + 16), 832, "xstate_size");
        assert_eq!(u32le(fx, 832), FP_XSTATE_MAGIC2, "magic2 at buf_fx + xstate_size");
        assert_eq!(fx[576], 0xaa);
        assert_eq!(&fx[..SW_BYTES], &x[..SW_BYTES]);
        assert_eq!(u32le(&f, 0), 0xffff_037f);
    }

    #[test]
    fn an_fxsr_frame_has_no_magic() {
        let c = cpu_avx();
        let mut fx = area(576, 0)[..512].to_vec();
        fx[SW_BYTES..SW_BYTES + 4].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
        fx[160] = 0x55; // xmm0
        let f = sigframe_fpstate(&[0; 108], &fx, None, &c);
        assert_eq!(f.len(), FREGS_SIZE + 512);
        assert!(f[FREGS_SIZE + SW_BYTES..].iter().all(|&b| b == 0));
        assert_eq!(f[FREGS_SIZE + 160], 0x55);
        // no FXSR state in the image: SSE reset, x87 from NT_PRFPREG
        let mut fp = [0u8; 108];
        fp[0] = 0x7f;
        let f = sigframe_fpstate(&fp, &[0; 512], None, &c);
        assert_eq!((f[0], u32le(&f, FREGS_SIZE + 24)), (0x7f, 0x1f80));
        // a CPU without FXSR takes the fsave area alone
        let old = Cpu { fxsr: false, xsave: false, xcr0: 0, size: 0, max_size: 0, mxcsr_mask: DEFAULT_MXCSR_MASK };
        let f = sigframe_fpstate(&fp, &fx, None, &old);
        assert_eq!((f.len(), f[0]), (FREGS_SIZE, 0x7f));
    }
}
