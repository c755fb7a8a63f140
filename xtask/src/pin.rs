//! The pin: kernel-config/pin.toml names one Debian source package version
//! and the sha256 of its .deb and inner tarball. Fetch, verify, re-pin.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use serde::{Deserialize, Serialize};
use xshell::{cmd, Shell};

use crate::cache;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Pin {
    pub package: String,
    pub version: String,
    pub deb_sha256: String,
    pub tarball: String,
    pub tarball_sha256: String,
}

pub fn pin_path() -> PathBuf {
    crate::repo_root().join("kernel-config/pin.toml")
}

impl Pin {
    pub fn load() -> Result<Pin> {
        let p = pin_path();
        let text = fs::read_to_string(&p)?;
        Pin::parse(&text).with_context(|| format!("parsing {}", p.display()))
    }

    pub fn parse(text: &str) -> Result<Pin> {
        let pin: Pin = toml::from_str(text)?;
        for (name, h) in [("deb_sha256", &pin.deb_sha256), ("tarball_sha256", &pin.tarball_sha256)] {
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{name} is not a sha256 hex digest: {h:?}");
            }
        }
        Ok(pin)
    }

    /// Where the verified tarball is cached: named by its own hash.
    pub fn tarball_path(&self) -> PathBuf {
        cache::root().join("dl").join(format!("linux-{}.tar.xz", &self.tarball_sha256[..16]))
    }
}

fn served_versions(sh: &Shell, package: &str) -> Vec<String> {
    let out = cmd!(sh, "apt-cache madison {package}").quiet().ignore_status().read().unwrap_or_default();
    out.lines()
        .filter_map(|l| l.split('|').nth(1).map(|v| v.trim().to_string()))
        .collect()
}

/// Download `package=version` into `dir`; returns the .deb path.
fn apt_download(sh: &Shell, package: &str, version: &str, dir: &Path) -> Result<PathBuf> {
    fs::create_dir_all(dir)?;
    let _d = sh.push_dir(dir);
    let spec = format!("{package}={version}");
    eprintln!("$ apt-get download {spec}");
    let out = cmd!(sh, "apt-get download {spec}").quiet().ignore_status().output()?;
    if !out.status.success() {
        let mut versions = served_versions(sh, package);
        if versions.is_empty() {
            crate::deps::apt_update(sh)?;
            versions = served_versions(sh, package);
        }
        bail!(
            "{spec} could not be downloaded: {}\nversions served now: {}\n\
             re-pin with: cargo xtask pin-kernel --version <one of them>",
            String::from_utf8_lossy(&out.stderr).trim(),
            if versions.is_empty() { "none".into() } else { versions.join(", ") }
        );
    }
    let deb = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&format!("{package}_")) && n.ends_with(".deb")
        })
        .context("apt-get download left no .deb")?;
    Ok(deb)
}

/// Pull the tarball out of the .deb into `dest`.
fn extract_tarball(sh: &Shell, deb: &Path, inner: &str, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("tmpdir");
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp)?;
    cmd!(sh, "dpkg-deb -x {deb} {tmp}").quiet().run()?;
    fs::rename(tmp.join(inner), dest).with_context(|| format!("{inner} not in {}", deb.display()))?;
    fs::remove_dir_all(&tmp)?;
    Ok(())
}

/// Make sure the verified tarball is in the cache; returns its path.
pub fn fetch(sh: &Shell, pin: &Pin) -> Result<PathBuf> {
    let tar = pin.tarball_path();
    if tar.exists() {
        return Ok(tar);
    }
    let dl = cache::root().join("dl").join(format!("deb-{}", &pin.deb_sha256[..16]));
    let _ = fs::remove_dir_all(&dl);
    let deb = apt_download(sh, &pin.package, &pin.version, &dl)?;
    let got = cache::sha256_file(&deb)?;
    if got != pin.deb_sha256 {
        fs::remove_dir_all(&dl)?;
        bail!(
            "sha256 mismatch for {}: pin says {}, download is {got}; nothing was built",
            deb.display(),
            pin.deb_sha256
        );
    }
    extract_tarball(sh, &deb, &pin.tarball, &tar)?;
    let got = cache::sha256_file(&tar)?;
    if got != pin.tarball_sha256 {
        fs::remove_file(&tar)?;
        bail!("sha256 mismatch for {}: pin says {}, got {got}", pin.tarball, pin.tarball_sha256);
    }
    fs::remove_dir_all(&dl)?;
    Ok(tar)
}

/// `cargo xtask pin-kernel --version V`: download V, hash it, rewrite the pin.
pub fn pin_kernel(sh: &Shell, version: &str) -> Result<()> {
    let old = Pin::load()?;
    let dl = cache::root().join("dl").join("pin-tmp");
    let _ = fs::remove_dir_all(&dl);
    let deb = apt_download(sh, &old.package, version, &dl)?;
    let deb_sha256 = cache::sha256_file(&deb)?;
    let tar = dl.join("linux.tar.xz");
    extract_tarball(sh, &deb, &old.tarball, &tar)?;
    let tarball_sha256 = cache::sha256_file(&tar)?;
    let new = Pin { version: version.to_string(), deb_sha256, tarball_sha256, ..old };
    let cached = new.tarball_path();
    fs::rename(&tar, &cached)?;
    fs::remove_dir_all(&dl)?;
    let text = format!(
        "# The kernel source kckpt builds on: exactly this Debian source package.\n\
         # `cargo xtask pin-kernel --version V` rewrites this file.\n{}",
        toml::to_string(&new)?
    );
    fs::write(pin_path(), text)?;
    println!("pinned {} {} (deb sha256 {})", new.package, new.version, new.deb_sha256);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_repo_pin() {
        let pin = Pin::parse(&fs::read_to_string(pin_path()).unwrap()).unwrap();
        assert_eq!(pin.package, "linux-source-6.12");
    }

    #[test]
    fn rejects_a_bad_hash() {
        let t = r#"package="p"
version="1"
deb_sha256="abc"
tarball="t"
tarball_sha256="0000000000000000000000000000000000000000000000000000000000000000""#;
        let e = Pin::parse(t).unwrap_err().to_string();
        assert!(e.contains("deb_sha256"), "{e}");
    }
}
