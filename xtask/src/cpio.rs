//! Initramfs archives: a typed list of entries (dir, file, nod, slink)
//! written as a gen_init_cpio spec and packed by the kernel's own
//! usr/gen_init_cpio; archives are concatenated for the kernel to unpack.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Dir { path: String, mode: u32 },
    File { path: String, host: PathBuf, mode: u32 },
    /// A character device.
    Nod { path: String, mode: u32, major: u32, minor: u32 },
    Slink { path: String, target: String },
}

/// What goes into one archive, in order. Everything is owned by root.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Spec(pub Vec<Entry>);

impl Spec {
    /// The skeleton every guest boots with: /dev/console and the usual
    /// directories; `/init` and the programs are added by the caller.
    pub fn base() -> Spec {
        let mut s = Spec::default();
        s.dir("/dev", 0o755).nod("/dev/console", 0o600, 5, 1);
        for (d, m) in [("/proc", 0o555), ("/sys", 0o555), ("/tmp", 0o1777), ("/bin", 0o755), ("/sbin", 0o755), ("/tests", 0o755), ("/reboot", 0o755), ("/disk", 0o755)] {
            s.dir(d, m);
        }
        s
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> &mut Spec {
        self.0.push(Entry::Dir { path: path.into(), mode });
        self
    }

    /// An executable file (mode 0755) from the host.
    pub fn file(&mut self, path: &str, host: &Path) -> &mut Spec {
        self.0.push(Entry::File { path: path.into(), host: host.into(), mode: 0o755 });
        self
    }

    pub fn nod(&mut self, path: &str, mode: u32, major: u32, minor: u32) -> &mut Spec {
        self.0.push(Entry::Nod { path: path.into(), mode, major, minor });
        self
    }

    pub fn slink(&mut self, path: &str, target: &str) -> &mut Spec {
        self.0.push(Entry::Slink { path: path.into(), target: target.into() });
        self
    }

    /// Files at the given guest paths, with every parent directory made
    /// first (for an archive added on top of another one).
    pub fn files_with_parents(files: &[(&str, &Path)]) -> Spec {
        let mut dirs = BTreeSet::new();
        for (g, _) in files {
            let mut p = Path::new(g).parent();
            while let Some(d) = p.filter(|d| *d != Path::new("/")) {
                dirs.insert(d.to_string_lossy().into_owned());
                p = d.parent();
            }
        }
        let mut s = Spec::default();
        for d in dirs {
            s.dir(&d, 0o755);
        }
        for (g, h) in files {
            s.file(g, h);
        }
        s
    }

    /// The gen_init_cpio spec text.
    pub fn text(&self) -> String {
        let mut t = String::new();
        for e in &self.0 {
            let _ = match e {
                Entry::Dir { path, mode } => writeln!(t, "dir {path} {mode:04o} 0 0"),
                Entry::File { path, host, mode } => writeln!(t, "file {path} {} {mode:04o} 0 0", host.display()),
                Entry::Nod { path, mode, major, minor } => writeln!(t, "nod {path} {mode:04o} 0 0 c {major} {minor}"),
                Entry::Slink { path, target } => writeln!(t, "slink {path} {target} 0777 0 0"),
            };
        }
        t
    }

    /// Pack with `gen_init_cpio` into `out` (the spec is kept beside it).
    pub fn pack(&self, sh: &Shell, gen_init_cpio: &Path, out: &Path) -> Result<()> {
        let spec = out.with_extension("spec");
        fs::write(&spec, self.text())?;
        let o = cmd!(sh, "{gen_init_cpio} {spec}").quiet().ignore_status().output()?;
        if !o.status.success() {
            bail!("gen_init_cpio {}: {}", spec.display(), String::from_utf8_lossy(&o.stderr));
        }
        fs::write(out, o.stdout)?;
        Ok(())
    }
}

/// `base` followed by `extra`, 4-byte aligned: the kernel unpacks both.
pub fn concat(base: &Path, extra: &Path, out: &Path) -> Result<()> {
    let mut b = fs::read(base)?;
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b.extend_from_slice(&fs::read(extra)?);
    fs::write(out, b)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_text_is_gen_init_cpio_syntax() {
        let mut s = Spec::base();
        s.file("/init", Path::new("/b/init")).slink("/bin/sh", "busybox");
        let t = s.text();
        assert!(t.starts_with("dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\n"), "{t}");
        assert!(t.contains("dir /tmp 1777 0 0\n"));
        assert!(t.ends_with("file /init /b/init 0755 0 0\nslink /bin/sh busybox 0777 0 0\n"), "{t}");
    }

    #[test]
    fn parents_come_first_once() {
        let t = Spec::files_with_parents(&[("/fuzz/a/x", Path::new("/h/x")), ("/fuzz/y", Path::new("/h/y"))]).text();
        assert_eq!(t, "dir /fuzz 0755 0 0\ndir /fuzz/a 0755 0 0\nfile /fuzz/a/x /h/x 0755 0 0\nfile /fuzz/y /h/y 0755 0 0\n");
    }
}
