//! `cargo xtask bench cr [--json]`: checkpoint/restart figures from the
//! guest (tests/bench/bench_cr.c), medians over the repetitions.

// For 4, 64 and 256 MiB of touched memory: checkpoint time and bytes/s
// against the kernel's ELF coredump and dd to the same tmpfs, restart time
// against exec of a static ELF, image size against touched memory, `cr -p`.
use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{bail, Result};
use fs_err as fs;

use crate::guest::Guest;
use crate::rootfs;
use crate::verdict::Verdict;
use crate::vm;

/// Guest memory for the benchmark: 256 MiB touched, its image and its core.
pub const BENCH_MEM_MIB: u32 = 1536;

pub(crate) type Samples = BTreeMap<(u32, String), Vec<BTreeMap<String, f64>>>;

pub(crate) fn parse(console: &str) -> Samples {
    let mut s: Samples = BTreeMap::new();
    for l in console.lines() {
        let t = l.trim_end().strip_prefix("# ").unwrap_or(l.trim_end());
        let Some(rest) = t.strip_prefix("bench ") else { continue };
        let kv: BTreeMap<String, String> =
            rest.split_whitespace().filter_map(|w| w.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let (Some(size), Some(what)) = (kv.get("size").and_then(|v| v.parse().ok()), kv.get("what")) else { continue };
        let nums = kv.iter().filter_map(|(k, v)| v.parse::<f64>().ok().map(|x| (k.clone(), x))).collect();
        s.entry((size, what.clone())).or_default().push(nums);
    }
    s
}

pub(crate) fn median(s: &Samples, size: u32, what: &str, key: &str) -> Option<f64> {
    let mut v: Vec<f64> = s.get(&(size, what.to_string()))?.iter().filter_map(|m| m.get(key).copied()).filter(|x| *x >= 0.0).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

pub fn run(g: &Guest, json: bool, reps: usize) -> Result<()> {
    let src = crate::repo_root().join("tests/bench/bench_cr.c");
    let tests = vec![rootfs::GuestTest::new("bench_cr", src, true)];
    let initrd = g.initramfs(&tests, false)?;
    // The runner passes no arguments to tests: REPS rides on the command line.
    let boot = g.boot(initrd)?.mem(BENCH_MEM_MIB).append("kckpt.timeout=1200").append(format!("kckpt.bench_reps={reps}"));
    let accel = boot.accel;
    let work = g.work_dir("bench-cr")?;
    let log = work.join("console.log");
    let r = vm::run(&boot, Duration::from_secs(120), Duration::from_secs(1500), false, &log)?;
    if r.verdict != Verdict::Completed || !r.console.contains("bench done") {
        bail!("bench boot failed ({:?}); console log {}", r.verdict, log.display());
    }
    let s = parse(&r.console);
    let sizes = [4u32, 64, 256];
    let mut rows = Vec::new();
    for &mib in &sizes {
        let bytes = (mib as f64) * 1048576.0;
        let g = |what: &str, key: &str| median(&s, mib, what, key);
        let ckpt = g("ckpt", "secs");
        let core = g("core", "secs");
        let dd = g("dd", "secs");
        let rate = |t: Option<f64>| t.map(|t| bytes / t / 1048576.0);
        let ratio = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b / a);
        rows.push(serde_json::json!({
            "touched_mib": mib,
            "checkpoint_s": ckpt,
            "checkpoint_mib_s": rate(ckpt),
            "coredump_s": core,
            "coredump_mib_s": rate(core),
            "dd_s": dd,
            "dd_mib_s": rate(dd),
            "checkpoint_vs_dd": ratio(ckpt, dd),
            "checkpoint_vs_coredump": ratio(ckpt, core),
            "restart_s": g("restart", "secs"),
            "image_read_s": g("dd_read", "secs"),
            "restart_vs_read": g("restart", "secs").zip(g("dd_read", "secs")).map(|(a, b)| a / b),
            "exec_static_elf_s": g("exec", "secs"),
            "image_bytes": g("ckpt", "bytes"),
            "image_alloc_bytes": g("ckpt", "alloc"),
            "image_alloc_vs_touched": g("ckpt", "alloc").map(|a| a / bytes),
            "core_alloc_bytes": g("core", "alloc"),
            "cr_p_s": g("cr_p", "secs"),
            "cr_p_mib_s": rate(g("cr_p", "secs")),
            "cr_p_alloc_bytes": g("cr_p", "alloc"),
        }));
    }
    // A benchmark whose checkpoint or restart failed measured nothing:
    // say so instead of printing a table of dashes (exit 0).
    let missing: Vec<String> = rows
        .iter()
        .flat_map(|r| ["checkpoint_s", "restart_s", "image_read_s", "cr_p_s"].map(|k| (r["touched_mib"].clone(), k, r[k].is_null())))
        .filter(|(_, _, null)| *null)
        .map(|(mib, k, _)| format!("{k} at {mib} MiB"))
        .collect();
    let inc_rows = crate::bench_cr_inc::rows(&s);
    let missing: Vec<String> = missing.into_iter().chain(crate::bench_cr_inc::missing(&inc_rows)).collect();
    if !missing.is_empty() {
        bail!("bench cr measured nothing for {} (console log {})", missing.join(", "), log.display());
    }
    let out = serde_json::json!({ "accel": accel.name(), "guest_mem_mib": BENCH_MEM_MIB, "reps": reps, "rows": rows, "incremental": inc_rows });
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("bench cr: {} guest, {} MiB RAM, tmpfs /tmp, median of {reps}", accel.name(), BENCH_MEM_MIB);
    print!("{}", table(&rows));
    println!("vs dd / vs core: checkpoint throughput over dd's and the coredump's (goals >= 0.8 and >= 1.0).");
    println!("img/mem: the image's allocated bytes (st_blocks) over the touched memory.");
    println!("core: raise(SIGQUIT) to the parent's waitpid, so it includes the exit's teardown.");
    println!("read ms: dd of the image to /dev/null; /read: restart time over it (goal <= 1.5).");
    println!();
    println!("incremental, {} MiB touched: cr -p --parent after DIRTY of the pages changed, against full cr -p of the same process", crate::bench_cr_inc::INC_MIB);
    print!("{}", crate::bench_cr_inc::table(&inc_rows));
    println!("time, bytes: incremental over the full --userspace checkpoint (goal at 1%: time <= 0.1).");
    let _ = fs::remove_dir_all(&work);
    Ok(())
}

/// The printed table's columns: (heading, width, JSON key, scale, decimals,
/// a separator before it).
const COLUMNS: [(&str, usize, &str, f64, usize, bool); 15] = [
    ("ckpt ms", 9, "checkpoint_s", 1e3, 1, true),
    ("MiB/s", 8, "checkpoint_mib_s", 1.0, 0, false),
    ("core ms", 9, "coredump_s", 1e3, 1, true),
    ("MiB/s", 8, "coredump_mib_s", 1.0, 0, false),
    ("dd ms", 8, "dd_s", 1e3, 1, true),
    ("MiB/s", 8, "dd_mib_s", 1.0, 0, false),
    ("vs dd", 6, "checkpoint_vs_dd", 1.0, 2, true),
    ("vs core", 7, "checkpoint_vs_coredump", 1.0, 2, false),
    ("rstrt ms", 8, "restart_s", 1e3, 2, true),
    ("exec ms", 8, "exec_static_elf_s", 1e3, 2, false),
    ("read ms", 8, "image_read_s", 1e3, 2, false),
    ("/read", 6, "restart_vs_read", 1.0, 2, false),
    ("img/mem", 8, "image_alloc_vs_touched", 1.0, 3, true),
    ("cr -p ms", 9, "cr_p_s", 1e3, 1, true),
    ("MiB/s", 8, "cr_p_mib_s", 1.0, 0, false),
];

/// The rows as the text table (the JSON's numbers, scaled and rounded).
fn table(rows: &[serde_json::Value]) -> String {
    let line = |first: String, cell: &dyn Fn(usize) -> String| {
        let mut l = format!("{first:>5}");
        for (i, (_, w, ..)) in COLUMNS.iter().enumerate() {
            l.push_str(if COLUMNS[i].5 { " | " } else { " " });
            l.push_str(&format!("{:>w$}", cell(i)));
        }
        l + "\n"
    };
    let mut t = line("MiB".into(), &|i| COLUMNS[i].0.to_string());
    for v in rows {
        t.push_str(&line(v["touched_mib"].as_u64().unwrap_or(0).to_string(), &|i| {
            let (_, _, k, scale, prec, _) = COLUMNS[i];
            v[k].as_f64().map_or("-".into(), |x| format!("{:.*}", prec, x * scale))
        }));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_from_console_lines() {
        let c = "# bench size=4 rep=0 what=ckpt secs=0.3 bytes=10 alloc=8\n# bench size=4 rep=1 what=ckpt secs=0.1 bytes=10 alloc=8\n\
                 # bench size=4 rep=2 what=ckpt secs=0.2 bytes=10 alloc=8\n# bench size=4 rep=0 what=cr_p secs=-1 bytes=0 alloc=0\n";
        let s = parse(c);
        assert_eq!(median(&s, 4, "ckpt", "secs"), Some(0.2));
        assert_eq!(median(&s, 4, "cr_p", "secs"), None);
    }

    #[test]
    fn table_rows_line_up_with_the_heading() {
        let rows = [serde_json::json!({"touched_mib": 4, "checkpoint_s": 0.0335, "checkpoint_mib_s": 119.4, "cr_p_s": null})];
        let t = table(&rows);
        let l: Vec<&str> = t.lines().collect();
        assert!(l[0].starts_with("  MiB |   ckpt ms    MiB/s |   core ms"), "{}", l[0]);
        assert!(l[1].starts_with("    4 |      33.5      119 |         -"), "{}", l[1]);
        assert_eq!(l[0].len(), l[1].len());
    }
}
