//! Kernel flavors: what a flavor adds to the normal build — a config
//! fragment (so its own config key and build directory) and boot words.

use std::path::PathBuf;

use anyhow::Result;

/// Only `normal` for now; a flavor's fragment goes in kernel-config/flavor/,
/// which the normal build does not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Flavor {
    /// The series with kernel-config/*.config.
    #[default]
    Normal,
}

impl Flavor {
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Normal => "normal",
        }
    }

    /// The flavor's own fragment, merged after kernel-config/*.config.
    pub fn fragment(self) -> Option<PathBuf> {
        match self {
            Flavor::Normal => None,
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
    }
}
