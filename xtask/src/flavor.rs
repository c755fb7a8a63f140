//! Kernel flavors. `normal` is the kernel built from kernel-config/*.config;
//! `debug` is the same series and fragments plus
//! kernel-config/flavor/debug.config (lockdep, atomic-sleep, x86 FPU, VM,
//! list and UBSAN checking), booted with `panic_on_warn=1`. A flavor adds
//! only a fragment (so its own config key and build directory: building
//! one never rebuilds the other) and kernel command-line words.

use std::path::PathBuf;

use anyhow::Result;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    #[default]
    Normal,
    Debug,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Normal => "normal",
            Flavor::Debug => "debug",
        }
    }

    /// The other one: normal <-> debug (boot 2 of `other-flavor` tests).
    pub fn other(self) -> Flavor {
        match self {
            Flavor::Normal => Flavor::Debug,
            Flavor::Debug => Flavor::Normal,
        }
    }

    /// The flavor's own fragment, merged after kernel-config/*.config.
    pub fn fragment(self) -> Option<PathBuf> {
        match self {
            Flavor::Normal => None,
            Flavor::Debug => Some(crate::repo_root().join("kernel-config/flavor/debug.config")),
        }
    }

    /// Every fragment of this flavor, in merge order.
    pub fn fragments(self) -> Result<Vec<PathBuf>> {
        let mut v = crate::config::fragments()?;
        v.extend(self.fragment());
        Ok(v)
    }

    /// Kernel command-line words for every boot of this flavor.
    pub fn cmdline(self) -> Vec<String> {
        match self {
            Flavor::Normal => vec![],
            // A WARN (lockdep and UBSAN reports, WARN_ON_FPU…) panics the
            // guest: the run stops there with a panic verdict.
            Flavor::Debug => vec!["panic_on_warn=1".into()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_is_the_plain_fragments() {
        assert_eq!(Flavor::Normal.fragments().unwrap(), crate::config::fragments().unwrap());
        assert!(Flavor::Normal.cmdline().is_empty());
        assert_eq!((Flavor::Normal.other(), Flavor::Debug.other()), (Flavor::Debug, Flavor::Normal));
        // the debug fragment is not picked up by the normal flavor
        let dbg = Flavor::Debug.fragment().unwrap();
        assert!(!crate::config::fragments().unwrap().contains(&dbg));
    }

    #[test]
    fn debug_has_the_checks_the_issue_names() {
        let f = Flavor::Debug.fragments().unwrap();
        assert_eq!(f.last(), Flavor::Debug.fragment().as_ref());
        let text = std::fs::read_to_string(f.last().unwrap()).unwrap();
        let opts = crate::config::parse(&text);
        for o in ["DEBUG_KERNEL", "PROVE_LOCKING", "DEBUG_ATOMIC_SLEEP", "X86_DEBUG_FPU", "DEBUG_VM", "UBSAN", "DEBUG_LIST"] {
            assert_eq!(opts.get(&format!("CONFIG_{o}")).map(String::as_str), Some("y"), "{o}");
        }
        assert_eq!(opts.get("CONFIG_UBSAN_TRAP").map(String::as_str), Some("n"));
        assert_eq!(Flavor::Debug.cmdline(), vec!["panic_on_warn=1".to_string()]);
    }
}
