//! The incremental-checkpoint part of `bench cr`: `cr -p --parent` of a
//! 256 MiB process that dirtied 1%, 10%, 100% of its pages, against full
//! checkpoints of the same process taken side by side (tests/bench/bench_cr.c).

use crate::bench_cr::{median, Samples};

/// Touched memory of the incremental benchmark (`INC_MIB` in bench_cr.c).
pub const INC_MIB: u32 = 256;
const PCTS: [u32; 3] = [1, 10, 100];
/// cr's phases (`CR_TIMES`), in order.
const PHASES: [&str; 5] = ["open_parent", "state", "compare", "write", "start"];

/// One JSON row per dirtied fraction.
pub fn rows(s: &Samples) -> Vec<serde_json::Value> {
    PCTS.iter()
        .map(|&p| {
            let g = |what: &str, key: &str| median(s, INC_MIB, &format!("{what}{p}"), key);
            let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| a / b);
            let mut phases = serde_json::Map::new();
            for ph in PHASES {
                phases.insert(ph.into(), g("inc", ph).into());
            }
            serde_json::json!({
                "dirty_pct": p,
                "inc_s": g("inc", "secs"),
                "inc_alloc_bytes": g("inc", "alloc"),
                "full_user_s": g("ufull", "secs"),
                "full_user_alloc_bytes": g("ufull", "alloc"),
                "full_kernel_s": g("kfull", "secs"),
                "inc_vs_full_user_time": ratio(g("inc", "secs"), g("ufull", "secs")),
                "inc_vs_full_kernel_time": ratio(g("inc", "secs"), g("kfull", "secs")),
                "inc_vs_full_bytes": ratio(g("inc", "alloc"), g("ufull", "alloc")),
                "inc_phases_ms": phases,
            })
        })
        .collect()
}

/// Which figures are missing (a failed checkpoint measured nothing).
pub fn missing(rows: &[serde_json::Value]) -> Vec<String> {
    rows.iter()
        .flat_map(|r| ["inc_s", "full_user_s", "full_kernel_s"].map(|k| (r["dirty_pct"].clone(), k, r[k].is_null())))
        .filter(|(_, _, null)| *null)
        .map(|(p, k, _)| format!("{k} at {p}% dirty"))
        .collect()
}

/// The text table.
pub fn table(rows: &[serde_json::Value]) -> String {
    let f = |v: &serde_json::Value, k: &str, scale: f64, prec: usize| v[k].as_f64().map_or("-".into(), |x| format!("{:.*}", prec, x * scale));
    let mut t = format!(
        "{:>6} | {:>9} {:>9} {:>9} | {:>7} {:>7} | {:>9} {:>9} | {}\n",
        "dirty", "inc ms", "full ms", "kfull ms", "time", "bytes", "inc MiB", "full MiB", "inc phases ms (open parent, state, compare, write)"
    );
    for v in rows {
        let ph = &v["inc_phases_ms"];
        let phs: Vec<String> = PHASES[..4].iter().map(|p| ph[*p].as_f64().map_or("-".into(), |x| format!("{x:.0}"))).collect();
        t.push_str(&format!(
            "{:>5}% | {:>9} {:>9} {:>9} | {:>7} {:>7} | {:>9} {:>9} | {}\n",
            v["dirty_pct"],
            f(v, "inc_s", 1e3, 1),
            f(v, "full_user_s", 1e3, 1),
            f(v, "full_kernel_s", 1e3, 1),
            f(v, "inc_vs_full_user_time", 1.0, 3),
            f(v, "inc_vs_full_bytes", 1.0, 4),
            f(v, "inc_alloc_bytes", 1.0 / 1048576.0, 2),
            f(v, "full_user_alloc_bytes", 1.0 / 1048576.0, 1),
            phs.join(" / ")
        ));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_from_console_lines() {
        let c = "# bench size=256 rep=0 what=ufull1 secs=2.0 bytes=9 alloc=1000 status=0 start=1.0\n\
                 # bench size=256 rep=0 what=inc1 secs=0.5 bytes=9 alloc=10 status=0 open_parent=3.0 compare=400.5\n\
                 # bench size=256 rep=0 what=kfull1 secs=1.0 bytes=9 alloc=1000 status=0\n";
        let r = rows(&crate::bench_cr::parse(c));
        assert_eq!(r[0]["inc_vs_full_user_time"], 0.25);
        assert_eq!(r[0]["inc_vs_full_bytes"], 0.01);
        assert_eq!(r[0]["inc_phases_ms"]["compare"], 400.5);
        assert_eq!(missing(&r).len(), 6, "{:?}", missing(&r));
        assert!(table(&r).lines().nth(1).unwrap().contains("0.250"));
    }
}
