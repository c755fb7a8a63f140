//! Just enough of the kckpt image (docs/image-format.md) for cr: find the
//! NT_PRSTATUS registers and the file offset of a user address, to make the
//! image hold the target's original state rather than the injected one.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::error::{CrError, Result};

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const NT_PRSTATUS: u32 = 1;
/// Offset of pr_reg in the i386 struct elf_prstatus.
const PR_REG_OFFSET: u64 = 72;

pub struct Image {
    file: File,
    loads: Vec<(u32, u32, u32)>, // vaddr, memsz, offset
    prstatus: u64,
}

fn u32_at(b: &[u8], off: usize) -> Result<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| CrError::BadImage(format!("truncated at {off}")))
}

fn read(f: &File, off: u64, len: usize) -> Result<Vec<u8>> {
    let mut b = vec![0u8; len];
    f.read_exact_at(&mut b, off).map_err(|e| CrError::BadImage(format!("read at {off}: {e}")))?;
    Ok(b)
}

impl Image {
    pub fn open(path: &str) -> Result<Image> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| CrError::Os(format!("open {path}"), e))?;
        let eh = read(&file, 0, 52)?;
        if !is_core32(&eh) {
            return Err(CrError::BadImage(format!("{path} is not an ELF32 core file")));
        }
        let phoff = u32_at(&eh, 28)? as u64;
        let phnum = u16::from_le_bytes([eh[44], eh[45]]) as usize;
        let ph = read(&file, phoff, phnum * 32)?;
        let mut loads = Vec::new();
        let mut note = None;
        for i in 0..phnum {
            let p = &ph[i * 32..i * 32 + 32];
            match u32_at(p, 0)? {
                PT_LOAD => loads.push((u32_at(p, 8)?, u32_at(p, 20)?, u32_at(p, 4)?)),
                PT_NOTE => note = Some((u32_at(p, 4)? as u64, u32_at(p, 16)? as usize)),
                _ => {}
            }
        }
        let (noff, nlen) = note.ok_or_else(|| CrError::BadImage("no PT_NOTE".into()))?;
        let notes = read(&file, noff, nlen)?;
        let mut off = 0usize;
        let mut prstatus = None;
        while off + 12 <= notes.len() {
            let (namesz, descsz, ty) = (u32_at(&notes, off)?, u32_at(&notes, off + 4)?, u32_at(&notes, off + 8)?);
            let name_end = off + 12 + (namesz as usize).next_multiple_of(4);
            let name = notes.get(off + 12..off + 12 + namesz as usize).unwrap_or(&[]);
            if ty == NT_PRSTATUS && name.starts_with(b"CORE") && descsz >= 144 {
                prstatus = Some(noff + name_end as u64);
            }
            off = name_end + (descsz as usize).next_multiple_of(4);
        }
        let prstatus = prstatus.ok_or_else(|| CrError::BadImage("no NT_PRSTATUS".into()))?;
        Ok(Image { file, loads, prstatus })
    }

    pub fn set_regs(&self, regs: &[u32; 17]) -> Result<()> {
        let b: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
        self.file
            .write_all_at(&b, self.prstatus + PR_REG_OFFSET)
            .map_err(|e| CrError::Os("writing registers into the image".into(), e))
    }

    /// Overwrite the image's copy of user memory at `addr`.
    pub fn write_mem(&self, addr: u32, data: &[u8]) -> Result<()> {
        let Some(&(v, _, off)) = self.loads.iter().find(|(v, m, _)| addr >= *v && (addr - v) < *m) else {
            return Err(CrError::BadImage(format!("no segment holds {addr:#x}")));
        };
        self.file
            .write_all_at(data, off as u64 + (addr - v) as u64)
            .map_err(|e| CrError::Os("writing memory into the image".into(), e))
    }
}

/// An ELF header of a 32-bit core file (ET_CORE).
fn is_core32(eh: &[u8]) -> bool {
    eh.len() >= 18 && &eh[..4] == b"\x7fELF" && eh[4] == 1 && u16::from_le_bytes([eh[16], eh[17]]) == 4
}

/// A cheap check before exec: an ELF32 core file (the kernel checks the rest).
pub fn check_image_file(path: &str) -> Result<()> {
    let f = File::open(path).map_err(|e| CrError::Os(format!("open {path}"), e))?;
    let eh = read(&f, 0, 52).map_err(|_| CrError::BadImage(format!("{path}: too short for an ELF header")))?;
    if !is_core32(&eh) {
        return Err(CrError::BadImage(format!("{path} is not an ELF32 core file")));
    }
    Ok(())
}
