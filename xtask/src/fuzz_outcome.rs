//! What the guest fuzz runner (tests/guest/fuzz_images.c) reports on the
//! console, per guest (`parse_console`), and the one outcome of several
//! guests that each ran a share of the mutants (`merge`, by mutant index).

use crate::shard;

/// The two ways each mutant is executed (guest lines "fz…" and "fzu…").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Traced,
    Untraced,
}

impl Mode {
    pub const BOTH: [Mode; 2] = [Mode::Traced, Mode::Untraced];
    pub fn name(self) -> &'static str {
        match self {
            Mode::Traced => "traced",
            Mode::Untraced => "untraced",
        }
    }
}

/// What the guest reported in one mode, per mutant and overall.
#[derive(Debug, Default)]
pub struct ModeOutcome {
    pub codes: Vec<Option<char>>,
    pub seeds_ok: Vec<String>,
    pub taint_at: Vec<usize>,
    pub errnos: String,
    pub signals: String,
    pub ended: bool,
}

/// What the guest reported: both modes and the detector's self-check.
#[derive(Debug, Default)]
pub struct Outcome {
    pub traced: ModeOutcome,
    pub untraced: ModeOutcome,
    /// `fz-probe` lines of the self-check, and whether it passed.
    pub probes: Vec<String>,
    pub probe_ok: bool,
    /// Untraced credential reads that failed (`fzu-blind`); None if not reported.
    pub blind: Option<u64>,
    /// The kernel's taint after the unmutated seeds, if they changed it.
    pub seeds_taint: Option<String>,
}

impl Outcome {
    pub fn mode(&self, m: Mode) -> &ModeOutcome {
        match m {
            Mode::Traced => &self.traced,
            Mode::Untraced => &self.untraced,
        }
    }
}

pub fn parse_console(console: &str, n: usize) -> Outcome {
    let mut o = Outcome::default();
    o.traced.codes = vec![None; n];
    o.untraced.codes = vec![None; n];
    for l in console.lines() {
        let t = l.trim_end().strip_prefix("# ").unwrap_or(l.trim_end());
        let mut w = t.split_whitespace();
        let Some(first) = w.next() else { continue };
        match first {
            "fz-probe" => {
                if t == "fz-probe ok" {
                    o.probe_ok = true;
                } else {
                    o.probes.push(t.to_string());
                }
                continue;
            }
            "fz-seeds-taint" => {
                o.seeds_taint = Some(w.collect::<Vec<_>>().join(" "));
                continue;
            }
            "fzu-blind" => {
                o.blind = w.next().and_then(|s| s.parse().ok());
                continue;
            }
            "fz-taint" => {
                let i = w.next().and_then(|s| s.parse::<usize>().ok());
                let mode = if w.nth(1) == Some("u") { &mut o.untraced } else { &mut o.traced };
                mode.taint_at.extend(i);
                continue;
            }
            _ => {}
        }
        let (tag, what) = first.split_once('-').unwrap_or((first, ""));
        let m = match tag {
            "fz" => &mut o.traced,
            "fzu" => &mut o.untraced,
            _ => continue,
        };
        match what {
            "" => {
                let (Some(start), Some(codes)) = (w.next().and_then(|s| s.parse::<usize>().ok()), w.next()) else { continue };
                for (i, c) in codes.chars().enumerate() {
                    if let Some(slot) = m.codes.get_mut(start + i) {
                        *slot = Some(c);
                    }
                }
            }
            "seed" => m.seeds_ok.push(t.to_string()),
            "errno" => m.errnos = w.collect::<Vec<_>>().join(" "),
            "signal" => m.signals = w.collect::<Vec<_>>().join(" "),
            "end" => m.ended = true,
            _ => {}
        }
    }
    o
}

/// `a:b a:b …` counts (errnos, signals) summed over shards, in key order.
fn sum_counts<'a>(lists: impl IntoIterator<Item = &'a str>) -> String {
    let mut m: std::collections::BTreeMap<u64, u64> = std::collections::BTreeMap::new();
    for l in lists {
        for (k, v) in l.split_whitespace().filter_map(|w| w.split_once(':')) {
            if let (Ok(k), Ok(v)) = (k.parse(), v.parse::<u64>()) {
                *m.entry(k).or_default() += v;
            }
        }
    }
    m.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(" ")
}

/// Lines every shard should print alike (seeds, detector probes): the first
/// shard's, then any other shard's that differ, tagged with it.
fn alike(parts: &[Outcome], f: impl Fn(&Outcome) -> &Vec<String>) -> Vec<String> {
    let n = parts.len();
    let Some(first) = parts.first() else { return vec![] };
    let mut v = f(first).clone();
    for (k, p) in parts.iter().enumerate().skip(1) {
        if f(p) != f(first) {
            v.extend(f(p).iter().map(|l| format!("[{}] {l}", shard::tag(k, n))));
        }
    }
    v
}

/// One outcome over `n` mutants from the shards' (`parts[k]` ran mutants
/// `shards[k]`, its local index j being mutant `shards[k][j]`). Codes and
/// taints go back to their mutant; errno and signal counts add up; a check
/// every guest makes (probe, blindness, seeds, end) holds only if it held
/// in every shard; seed and probe lines are one shard's unless another's
/// differ (then those are added, tagged, and the seed count is off).
pub fn merge(parts: &[Outcome], shards: &[Vec<usize>], n: usize) -> Outcome {
    assert_eq!(parts.len(), shards.len(), "one outcome per shard");
    let mut o = Outcome::default();
    let ns = shards.len();
    for mode in Mode::BOTH {
        let m = match mode {
            Mode::Traced => &mut o.traced,
            Mode::Untraced => &mut o.untraced,
        };
        m.codes = vec![None; n];
        m.ended = !parts.is_empty();
        for (p, idx) in parts.iter().zip(shards) {
            let pm = p.mode(mode);
            for (j, c) in pm.codes.iter().enumerate() {
                if let Some(&i) = idx.get(j) {
                    m.codes[i] = *c;
                }
            }
            m.taint_at.extend(pm.taint_at.iter().filter_map(|&j| idx.get(j).copied()));
            m.ended &= pm.ended;
        }
        m.taint_at.sort_unstable();
        m.errnos = sum_counts(parts.iter().map(|p| p.mode(mode).errnos.as_str()));
        m.signals = sum_counts(parts.iter().map(|p| p.mode(mode).signals.as_str()));
        m.seeds_ok = alike(parts, |p| &p.mode(mode).seeds_ok);
    }
    o.probes = alike(parts, |p| &p.probes);
    o.probe_ok = !parts.is_empty() && parts.iter().all(|p| p.probe_ok);
    o.blind = parts.iter().map(|p| p.blind).sum();
    o.seeds_taint = parts.iter().enumerate().find_map(|(k, p)| {
        let t = p.seeds_taint.as_ref()?;
        Some(if ns > 1 { format!("{t}, {}", shard::tag(k, ns)) } else { t.clone() })
    });
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_codes_map_to_mutants() {
        let c = "# fz-begin seeds 1 mutants 70\n# fz-probe fz-probe-exit 4755 untraced: P exit 42, want P\n# fz-probe ok\n\
                 # fz-seed 0 X exit 42 errno 0\n# fzu-seed 0 X exit 42 errno 0\n[ 1.0] binfmt_cr: x\n# fz 0 RRX\n# fzu 0 RRP\n\
                 # fz-taint 65 1 t\n# fz-taint 66 513 u\n# fz-seeds-taint 512\n# fz 64 RRRRRP\n# fzu 64 RRRRRR\n# fz-errno 12:1\n# fz-end R 3\n# fzu-blind 0\n";
        let o = parse_console(c, 70);
        assert_eq!(o.traced.codes[2], Some('X'));
        assert_eq!(o.untraced.codes[2], Some('P'));
        assert_eq!(o.traced.codes[3], None);
        assert_eq!(o.traced.codes[69], Some('P'));
        assert_eq!(o.untraced.codes[69], Some('R'));
        assert_eq!(o.traced.taint_at, vec![65]);
        assert_eq!(o.untraced.taint_at, vec![66]);
        assert!(o.traced.ended && o.traced.errnos == "12:1");
        assert!(!o.untraced.ended);
        assert_eq!(o.traced.seeds_ok.len(), 1);
        assert_eq!(o.untraced.seeds_ok.len(), 1);
        assert!(o.probe_ok && o.probes.len() == 1 && o.blind == Some(0));
        assert_eq!(o.seeds_taint.as_deref(), Some("512"));
    }

    #[test]
    fn a_failed_self_check_is_seen() {
        let o = parse_console("# fz-probe fz-probe-exit 4755 untraced: X exit 42, want P\n# FAIL: self-check: …\n", 1);
        assert!(!o.probe_ok && o.probes.len() == 1 && o.blind.is_none());
    }

    fn shard_console(first: usize, codes: &str, taint: Option<usize>, errno: &str) -> String {
        let mut c = String::from("# fz-probe ok\n# fz-seed 0 X exit 42 errno 0\n# fzu-seed 0 X exit 42 errno 0\n");
        c += &format!("# fz {first} {codes}\n# fzu {first} {codes}\n");
        if let Some(j) = taint {
            c += &format!("# fz-taint {j} 512 u\n");
        }
        c += &format!("# fz-errno {errno}\n# fz-signal 11:1\n# fz-end\n# fzu-end\n# fzu-blind 0\n");
        c
    }

    #[test]
    fn shards_merge_back_into_mutant_order() {
        // Mutants 0..5 on two guests, round robin: 0,2,4 and 1,3.
        let shards = shard::by_index(5, 2);
        let parts = [parse_console(&shard_console(0, "RXR", None, "12:1 22:2"), 3), parse_console(&shard_console(0, "SR", Some(1), "22:1"), 2)];
        let o = merge(&parts, &shards, 5);
        assert_eq!(o.traced.codes, [Some('R'), Some('S'), Some('X'), Some('R'), Some('R')]);
        assert_eq!(o.untraced.codes, o.traced.codes);
        // Shard 2's local mutant 1 is mutant 3.
        assert_eq!(o.untraced.taint_at, [3]);
        assert!(o.traced.taint_at.is_empty());
        assert_eq!(o.traced.errnos, "12:1 22:3");
        assert_eq!(o.traced.signals, "11:2");
        assert!(o.traced.ended && o.untraced.ended && o.probe_ok);
        assert_eq!(o.blind, Some(0));
        // The seeds ran alike in both: one shard's lines.
        assert_eq!(o.traced.seeds_ok, ["fz-seed 0 X exit 42 errno 0"]);
        assert!(o.probes.is_empty() && o.seeds_taint.is_none());
        // One guest gives the same counts as two.
        let one = merge(&[parse_console(&shard_console(0, "RSXRR", Some(3), "12:1 22:3"), 5)], &shard::by_index(5, 1), 5);
        assert_eq!((one.traced.codes, one.untraced.taint_at, one.traced.errnos), (o.traced.codes, o.untraced.taint_at, o.traced.errnos));
    }

    #[test]
    fn a_shard_that_fails_a_check_fails_the_merge_and_is_named() {
        let shards = shard::by_index(4, 2);
        let good = shard_console(0, "RR", None, "");
        let bad = "# fz-probe fz-probe-exit 4755 untraced: X exit 42, want P\n# fz-seed 0 S exit 0 errno 0\n# fz 0 R\n# fz-seeds-taint 512\n";
        let o = merge(&[parse_console(&good, 2), parse_console(bad, 2)], &shards, 4);
        assert!(!o.probe_ok && !o.traced.ended && o.blind.is_none());
        assert_eq!(o.probes, ["[shard 2/2] fz-probe fz-probe-exit 4755 untraced: X exit 42, want P"]);
        assert_eq!(o.traced.seeds_ok, ["fz-seed 0 X exit 42 errno 0", "[shard 2/2] fz-seed 0 S exit 0 errno 0"]);
        assert_eq!(o.seeds_taint.as_deref(), Some("512, shard 2/2"));
        // Shard 2 stopped after its first mutant (mutant 1); mutant 3 never ran.
        assert_eq!(o.traced.codes, [Some('R'), Some('R'), Some('R'), None]);
    }
}

