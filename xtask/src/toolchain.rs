//! The kernel's Rust toolchain: Debian's rustc-web and a pinned bindgen-cli
//! from crates.io (kernel-config/toolchain.toml), checked before a build and
//! turned into the make variables the kernel's Rust build needs.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use fs_err as fs;
use serde::Deserialize;
use xshell::{cmd, Shell};

use crate::cache;

#[derive(Debug, Deserialize)]
pub struct Toolchain {
    pub rustc: String,
    pub rustc_version: String,
    pub rustdoc: String,
    pub rust_lib_src: String,
    pub bindgen_version: String,
}

/// gcc's and the Rust toolchain's versions in one line, for cache keys.
pub fn toolchain_id(sh: &Shell) -> String {
    let gcc = cmd!(sh, "gcc --version").quiet().read().unwrap_or_default();
    let rust = Toolchain::load().map(|t| t.id()).unwrap_or_default();
    format!("{} / {rust}", gcc.lines().next().unwrap_or(""))
}

impl Toolchain {
    pub fn load() -> Result<Toolchain> {
        let p = crate::repo_root().join("kernel-config/toolchain.toml");
        Ok(toml::from_str(&fs::read_to_string(&p)?)?)
    }

    fn tools_dir(&self) -> PathBuf {
        cache::root().join(format!("tools-bindgen-{}", self.bindgen_version))
    }

    pub fn bindgen(&self) -> PathBuf {
        self.tools_dir().join("bin/bindgen")
    }

    /// One line naming the exact versions, for cache keys.
    pub fn id(&self) -> String {
        format!("rustc {} bindgen {}", self.rustc_version, self.bindgen_version)
    }

    /// Check rustc's version; install bindgen-cli if it is missing.
    pub fn ensure(&self, sh: &Shell) -> Result<()> {
        let rustc = &self.rustc;
        let v = cmd!(sh, "{rustc} --version").quiet().read().with_context(|| {
            format!("{rustc} not found: install Debian's rustc-web (cargo xtask deps)")
        })?;
        if v.split_whitespace().nth(1) != Some(self.rustc_version.as_str()) {
            bail!(
                "{rustc} is {v:?}, the kernel is pinned to rustc {} (kernel-config/toolchain.toml); \
                 install rustc-web at that version or re-pin",
                self.rustc_version
            );
        }
        let bg = self.bindgen();
        let have = cmd!(sh, "{bg} --version").quiet().ignore_status().read().unwrap_or_default();
        if have.split_whitespace().nth(1) == Some(self.bindgen_version.as_str()) {
            return Ok(());
        }
        let (ver, root) = (&self.bindgen_version, self.tools_dir());
        eprintln!("$ cargo install bindgen-cli --locked --version {ver} --root {}", root.display());
        cmd!(sh, "cargo install bindgen-cli --locked --version {ver} --root {root}")
            .quiet()
            .run()
            .context("installing bindgen-cli from crates.io (needs libclang-dev)")?;
        let have = cmd!(sh, "{bg} --version").quiet().read()?;
        if have.split_whitespace().nth(1) != Some(ver.as_str()) {
            bail!("installed bindgen says {have:?}, wanted {ver}");
        }
        Ok(())
    }

    /// The variables for every kernel `make` (configure and build alike).
    pub fn make_vars(&self) -> Vec<String> {
        vec![
            "ARCH=i386".into(),
            format!("RUSTC={}", self.rustc),
            // Without it the proc macros are built by whatever rustc is
            // first in PATH (rustup's) and do not load into rustc-web.
            format!("HOSTRUSTC={}", self.rustc),
            format!("RUSTDOC={}", self.rustdoc),
            format!("BINDGEN={}", self.bindgen().display()),
            format!("RUST_LIB_SRC={}", self.rust_lib_src),
        ]
    }
}
