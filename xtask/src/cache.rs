//! The cache outside the clone (`$KCKPT_CACHE`, default `~/.cache/kckpt`):
//! downloads, source trees and build output, each in a directory named by a
//! sha256 key of its inputs, so a fresh clone reuses them.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

thread_local! {
    /// Set only inside `with_root`.
    static ROOT: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

pub fn root() -> PathBuf {
    if let Some(p) = ROOT.with(|r| r.borrow().clone()) {
        return p;
    }
    if let Some(p) = std::env::var_os("KCKPT_CACHE") {
        return PathBuf::from(p);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/kckpt")
}

/// Run `f` with `dir` as the cache (export-patches --bisect builds and
/// tests every prefix of the series in a cache of its own).
pub fn with_root<T>(dir: &Path, f: impl FnOnce() -> T) -> T {
    let old = ROOT.with(|r| r.replace(Some(dir.to_path_buf())));
    let out = f();
    ROOT.with(|r| *r.borrow_mut() = old);
    out
}

/// A hasher for cache keys: feed labelled parts, get a short hex key.
#[derive(Default, Clone)]
pub struct Key(Sha256);

impl Key {
    pub fn new(stage: &str) -> Key {
        let mut k = Key(Sha256::new());
        k.part("stage", stage.as_bytes());
        k
    }

    pub fn part(&mut self, label: &str, data: &[u8]) -> &mut Key {
        // Length-prefix every field so that ("ab","c") != ("a","bc").
        for f in [label.as_bytes(), data] {
            self.0.update((f.len() as u64).to_le_bytes());
            self.0.update(f);
        }
        self
    }

    pub fn hex(&self) -> String {
        hex(&self.0.clone().finalize())[..16].to_string()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = fs_err::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_are_delimited() {
        let mut a = Key::new("s");
        a.part("x", b"ab").part("y", b"c");
        let mut b = Key::new("s");
        b.part("x", b"a").part("y", b"bc");
        assert_ne!(a.hex(), b.hex());
        assert_eq!(a.hex().len(), 16);
    }

    #[test]
    fn with_root_is_scoped() {
        let before = root();
        let inner = with_root(Path::new("/tmp/kckpt-other"), root);
        assert_eq!(inner, Path::new("/tmp/kckpt-other"));
        assert_eq!(root(), before);
    }
}
