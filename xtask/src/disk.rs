//! The guest's persistent disk (issue 16): a raw ext2 image made on the
//! host with `truncate` and `mkfs.ext2` (e2fsprogs; nothing is mounted on
//! the host), attached to QEMU as a virtio-blk drive (vm.rs `Boot::disk`).
//! The guest init mounts it at /disk when it runs a phase of the two-boot
//! tests (reboot.rs); the same file is the disk of both boots.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

/// Size of a fresh disk: a sparse file, so only what the guest writes
/// takes host space.
pub const SIZE_MIB: u32 = 128;

/// The commands that make an empty ext2 file system in `path`: a sparse
/// file of `mib` MiB, then mkfs (`-F`: it is a file, not a block device).
pub fn plan(path: &Path, mib: u32) -> Vec<Vec<String>> {
    let p = path.display().to_string();
    vec![
        vec!["truncate".into(), "-s".into(), format!("{mib}M"), p.clone()],
        vec!["mkfs.ext2".into(), "-q".into(), "-F".into(), "-L".into(), "kckpt".into(), p],
    ]
}

/// A fresh, empty ext2 disk at `path` (an old file there is replaced).
pub fn create(sh: &Shell, path: &Path, mib: u32) -> Result<PathBuf> {
    let _ = fs::remove_file(path);
    for c in plan(path, mib) {
        let (prog, args) = c.split_first().unwrap();
        cmd!(sh, "{prog} {args...}").quiet().ignore_stdout().run().with_context(|| format!("{} (e2fsprogs)", c.join(" ")))?;
    }
    Ok(path.to_path_buf())
}

/// QEMU's `-drive` value for a raw image on virtio-blk (a comma in the
/// file name is doubled, as QEMU's option syntax wants).
pub fn drive_arg(path: &Path) -> String {
    format!("file={},format=raw,if=virtio", path.display().to_string().replace(',', ",,"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_is_a_sparse_file_and_mkfs() {
        let p = plan(Path::new("/w/d.ext2"), 64);
        assert_eq!(p[0], ["truncate", "-s", "64M", "/w/d.ext2"]);
        assert_eq!(p[1][0], "mkfs.ext2");
        assert!(p[1].contains(&"-F".to_string()) && p[1].contains(&"-q".to_string()));
        assert_eq!(p[1].last().unwrap(), "/w/d.ext2");
    }

    #[test]
    fn drive_escapes_commas() {
        assert_eq!(drive_arg(Path::new("/w/d.ext2")), "file=/w/d.ext2,format=raw,if=virtio");
        assert_eq!(drive_arg(Path::new("/w/a,b")), "file=/w/a,,b,format=raw,if=virtio");
    }

    /// A real disk, when e2fsprogs is installed: an ext2 superblock
    /// (magic 0xEF53 at byte 1080), sparse, of the asked size.
    #[test]
    fn creates_an_ext2_file_system() {
        if which("mkfs.ext2").is_none() {
            eprintln!("mkfs.ext2 not installed: skipped");
            return;
        }
        let d = std::env::temp_dir().join(format!("kckpt-disk-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        let sh = Shell::new().unwrap();
        let p = create(&sh, &d.join("d.ext2"), 16).unwrap();
        let b = fs::read(&p).unwrap();
        assert_eq!(b.len(), 16 << 20);
        assert_eq!(&b[1080..1082], &[0x53, 0xef]);
        fs::remove_dir_all(&d).unwrap();
    }

    fn which(prog: &str) -> Option<PathBuf> {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"].iter().map(|d| Path::new(d).join(prog)).find(|p| p.exists())
    }
}
