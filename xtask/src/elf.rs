//! The one ELF check the harness needs on its own outputs and inputs: is a
//! file a 32-bit little-endian i386 ELF (busybox, guest programs, Rust objects)?

/// ELFCLASS32, ELFDATA2LSB, EM_386.
pub fn is_elf32_i386(b: &[u8]) -> bool {
    b.len() > 20 && &b[..4] == b"\x7fELF" && b[4] == 1 && b[5] == 1 && u16::from_le_bytes([b[18], b[19]]) == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_i386_elf32_passes() {
        let mut h = *b"\x7fELF\x01\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x03\0\0\0";
        assert!(is_elf32_i386(&h));
        h[18] = 0x3e; // EM_X86_64
        assert!(!is_elf32_i386(&h));
        assert!(!is_elf32_i386(b"#!/bin/sh\n"));
    }
}
