//! The written file is a core file binutils' `readelf -a` understands.
mod common;

use std::process::Command;

#[test]
fn readelf_agrees() {
    let (img, _, bytes) = common::sample();
    let path = std::env::temp_dir().join(format!("kckpt-readelf-{}.kckpt", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let out = match Command::new("readelf").arg("-aW").arg(&path).output() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("readelf not runnable ({e}); skipping");
            return;
        }
    };
    std::fs::remove_file(&path).ok();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.trim().is_empty(), "readelf warnings:\n{err}");
    for want in ["CORE (Core file)", "Intel 80386", "ELF32", "NT_PRSTATUS", "NT_PRPSINFO", "NT_AUXV", "NT_FILE", "NT_FPREGSET", "NT_PRXFPREG", "NT_386_TLS", "KCKPT", "/bin/hello"] {
        assert!(text.contains(want), "readelf output lacks {want:?}:\n{text}");
    }
    assert!(text.contains("Type:") && text.contains("CORE"));
    let loads = text.lines().filter(|l| l.trim_start().starts_with("LOAD")).count();
    assert_eq!(loads, img.segments.len());
    assert!(text.contains("0x08048000"));
}
