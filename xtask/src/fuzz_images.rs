//! `cargo xtask fuzz-images --count N [--seed S]`: mutate real kckpt images
//! on the host, execute every mutant in the guest as nobody twice, under
//! ptrace and untraced, sort the outcomes of each mode and keep the rule
//! breakers under tests/fuzz-repro/.

// Outcomes, per mode: rejected cleanly (ENOEXEC), other errno, ran, user
// crash, user loop (timeout), and the rule breakers — kernel oops/WARNING,
// hang, privilege gained. A traced exec never gains privilege, so only the
// untraced run can see a privilege bug. The guest first proves its
// privilege detector on a setuid-root and a setgid-root copy of itself
// (`fz-probe` lines); the run fails if it does not.
//
// Seeds are real: a first boot runs the seed program, the counter and
// tests/fuzz-seeds/tiny.c in /tmp and prints their images (gzip, base64)
// between markers on the console; they are cached per kernel. Mutants go
// to the guest as patches (mutate.rs, KFZ2) in a second cpio archive that
// is concatenated to the normal initramfs (the kernel unpacks both).
// test-vm uses the same machinery for a short deterministic run over the
// checked-in tests/fuzz-seeds/tiny.kckpt (`test_vm_initrd`).
//
// `--jobs N` splits the mutants by index over N guests booted at once
// (shard.rs, pool.rs), each with a KFZ of its share; fuzz_outcome.rs parses
// each guest's lines and merges them back into mutant order.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use kckpt_image::Image;
use xshell::{cmd, Shell};

use crate::cpio::{self, Spec};
use crate::guest::{self, Guest};
use crate::mutate::{self, Seed};
use crate::fuzz_outcome::{self, Mode, Outcome};
use crate::verdict::Verdict;
use crate::{cache, pool, rootfs, shard, syscalls, verdict, vm};

/// test-vm's short run: fixed size, fixed seed, checked-in seed image.
pub const TEST_VM_COUNT: usize = 200;
pub const TEST_VM_SEED: u64 = 7;
pub const TEST_VM_TIMEOUT_MS: u32 = 500;

#[derive(clap::Args)]
pub struct Args {
    /// Number of mutants.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// RNG seed (the same seed, seeds and count give the same mutants).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Per-image time limit in the guest, milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub image_timeout_ms: u32,
    /// Regenerate the seed images (and tests/fuzz-seeds/tiny.kckpt).
    #[arg(long)]
    pub refresh_seeds: bool,
    /// Echo the console (to stderr).
    #[arg(long, short)]
    pub verbose: bool,
    /// Guests to split the mutants over, by index (default: one per CPU,
    /// 1 when memory is short, as test-vm). The mutants are the same
    /// whatever N is: a failure reproduces with --jobs 1.
    #[arg(long)]
    pub jobs: Option<usize>,
    #[command(flatten)]
    pub guest: guest::Opts,
}

/// `base` plus a second archive holding `files` (guest path, host path),
/// written in `dir` as initramfs.cpio.
fn with_files(g: &Guest, base: &Path, files: &[(&str, &Path)], dir: &Path) -> Result<PathBuf> {
    let extra = dir.join("extra.cpio");
    g.pack(&Spec::files_with_parents(files), &extra)?;
    let out = dir.join("initramfs.cpio");
    let tmp = dir.join(format!("initramfs.cpio.tmp{}", std::process::id()));
    cpio::concat(base, &extra, &tmp)?;
    fs::rename(&tmp, &out)?;
    Ok(out)
}

/// The tiny seed program, without libc (tests/fuzz-seeds/tiny.c).
fn compile_tiny(sh: &Shell, dir: &Path, nr: Option<u32>) -> Result<PathBuf> {
    let src = crate::repo_root().join("tests/fuzz-seeds/tiny.c");
    fs::write(dir.join("kckpt_syscall.h"), syscalls::syscall_header(nr))?;
    let out = dir.join("tiny");
    cmd!(
        sh,
        "gcc -m32 -static -nostdlib -fno-pie -no-pie -O2 -fno-stack-protector -fno-asynchronous-unwind-tables -Wl,--build-id=none -Wall -Werror -I{dir} -o {out} {src}"
    )
    .quiet()
    .run()
    .context("compiling tests/fuzz-seeds/tiny.c")?;
    Ok(out)
}

const SEEDGEN: &str = r#"#!/bin/sh
# fuzz-images: make the seed images in /tmp (a cwd every boot has) with
# stdout on a pipe, and print them gzip+base64 between markers.
set -e
# Keep kernel messages (clocksource switches…) out of the transfer.
echo 1 > /proc/sys/kernel/printk
cd /tmp
seed | cat
counter -c 3 -n 4 | cat
tiny | cat
v2seed | cat
for f in output.kckpt ckpt3.kckpt tiny.kckpt v2.kckpt; do
	echo "KCKPT-SEED-BEGIN $f $(wc -c < $f)"
	gzip -c $f | base64
	echo "KCKPT-SEED-END $f"
done
"#;

/// (file name in the guest, seed name, exit status restarted as nobody)
/// v2seed gives the format version 2 records (fds of every kind, shared
/// memory, rlimits, attributes) real images to mutate.
const SEEDS: [(&str, &str, u32); 4] =
    [("tiny.kckpt", "tiny", 42), ("output.kckpt", "seed", 0), ("ckpt3.kckpt", "counter", 0), ("v2.kckpt", "v2seed", 43)];

fn decode_seed(sh: &Shell, console: &str, file: &str, dir: &Path) -> Result<Vec<u8>> {
    let mut b64 = String::new();
    let mut on = false;
    let mut want = 0usize;
    for l in console.lines() {
        let t = l.strip_prefix("# ").unwrap_or(l);
        if let Some(rest) = t.strip_prefix(&format!("KCKPT-SEED-BEGIN {file} ")) {
            on = true;
            want = rest.trim().parse().unwrap_or(0);
            continue;
        }
        if t.starts_with(&format!("KCKPT-SEED-END {file}")) {
            break;
        }
        // Only base64 lines: a kernel message on the console is not data.
        if on && t.trim().bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)) {
            b64.push_str(t.trim());
            b64.push('\n');
        }
    }
    if !on {
        bail!("the seed boot printed no {file}");
    }
    let p = dir.join(format!("{file}.b64"));
    fs::write(&p, b64)?;
    let bytes = cmd!(sh, "sh -c 'base64 -d < \"$0\" | gzip -dc' {p}").quiet().output()?;
    if !bytes.status.success() || bytes.stdout.len() != want {
        bail!("{file}: console transfer damaged ({} of {want} bytes)", bytes.stdout.len());
    }
    Ok(bytes.stdout)
}

/// The real seed images for this kernel, from a first boot (cached).
fn seeds(g: &Guest, refresh: bool) -> Result<Vec<Seed>> {
    let (sh, k, nr) = (g.sh, &g.kernel, g.nr);
    let root = crate::repo_root();
    let mut key = cache::Key::new("fuzz-seeds");
    key.part("kernel", cache::sha256_file(&k.bzimage)?.as_bytes());
    key.part("script", SEEDGEN.as_bytes());
    for f in ["tests/fuzz-seeds/tiny.c", "tests/guest/progs/seed.c", "tests/guest/progs/counter.c", "tests/guest/progs/v2seed.c"] {
        key.part(f, &fs::read(root.join(f))?);
    }
    let dir = cache::root().join(format!("fuzz-seeds-{}", key.hex()));
    if refresh || !dir.join("done").exists() {
        let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        let tiny = compile_tiny(sh, &tmp, nr)?;
        let script = tmp.join("fuzzseed.sh");
        fs::write(&script, SEEDGEN)?;
        let test = rootfs::GuestTest::new("fuzzseed", script, false);
        let base = g.initramfs(&[test], false)?;
        let initrd = with_files(g, &base, &[("/bin/tiny", &tiny)], &tmp)?;
        let boot = g.boot(initrd)?;
        eprintln!("[fuzz] seed boot: making the seed images in the guest");
        let r = vm::run(&boot, Duration::from_secs(60), Duration::from_secs(300), false, &tmp.join("console.log"))?;
        if r.verdict != Verdict::Completed || !r.console.contains("ok 1 fuzzseed") {
            bail!("seed boot failed ({:?}); console: {}", r.verdict, tmp.join("console.log").display());
        }
        for (file, _, _) in SEEDS {
            let b = decode_seed(sh, &r.console, file, &tmp)?;
            fs::write(tmp.join(file), b)?;
        }
        fs::write(tmp.join("done"), "")?;
        let _ = fs::remove_dir_all(&dir);
        fs::rename(&tmp, &dir)?;
    }
    if refresh {
        fs::copy(dir.join("tiny.kckpt"), root.join("tests/fuzz-seeds/tiny.kckpt"))?;
        eprintln!("[fuzz] wrote tests/fuzz-seeds/tiny.kckpt");
    }
    SEEDS.iter().map(|(file, name, exp)| Seed::new(name, fs::read(dir.join(file))?, *exp)).collect()
}

/// The initramfs for test-vm: the normal one plus the short fuzz run's
/// mutants of tests/fuzz-seeds/tiny.kckpt, cached by content.
pub fn test_vm_initrd(g: &Guest, base: &Path) -> Result<PathBuf> {
    let seed = crate::repo_root().join("tests/fuzz-seeds/tiny.kckpt");
    let seeds = [Seed::new("tiny", fs::read(&seed).context("tests/fuzz-seeds/tiny.kckpt")?, 42)?];
    let muts = mutate::generate(&seeds, TEST_VM_COUNT, TEST_VM_SEED);
    let kfz = mutate::encode_kfz(&seeds, &muts, TEST_VM_TIMEOUT_MS);
    let mut key = cache::Key::new("fuzz-initrd");
    key.part("base", base.to_string_lossy().as_bytes());
    key.part("kfz", &kfz);
    let dir = cache::root().join(format!("fuzz-initrd-{}", key.hex()));
    let out = dir.join("initramfs.cpio");
    if out.exists() {
        return Ok(out);
    }
    fs::create_dir_all(&dir)?;
    let kfz_path = dir.join("mutants.kfz");
    fs::write(&kfz_path, &kfz)?;
    with_files(g, base, &[("/fuzz/mutants.kfz", &kfz_path)], &dir)
}

const CODES: [(char, &str); 7] = [
    ('R', "rejected cleanly (ENOEXEC)"),
    ('E', "refused with another errno"),
    ('X', "ran and exited"),
    ('S', "user crash (signal)"),
    ('T', "user loop (killed at the per-image timeout)"),
    ('H', "hang (not reaped after SIGKILL)"),
    ('P', "privilege gained"),
];

pub fn run(sh: &Shell, a: &Args) -> Result<i32> {
    let (code, summary) = execute(sh, a)?;
    print!("{summary}");
    Ok(code)
}

/// One fuzz run: its exit code and the summary `run` prints.
pub fn execute(sh: &Shell, a: &Args) -> Result<(i32, String)> {
    let mut out = String::new();
    macro_rules! say {
        ($($t:tt)*) => {{
            use std::fmt::Write as _;
            let _ = writeln!(out, $($t)*);
        }};
    }
    let g = Guest::new(sh, &a.guest)?;
    let tests: Vec<_> = rootfs::discover(&crate::repo_root().join("tests/guest"))?.into_iter().filter(|t| t.name == "fuzz_images").collect();
    let base = g.initramfs(&tests, false)?;
    let accel = g.accel(&base)?;
    let seeds = seeds(&g, a.refresh_seeds)?;
    for s in &seeds {
        eprintln!("[fuzz] seed {:8} {:>8} bytes", s.name, s.bytes.len());
    }
    let t0 = Instant::now();
    let muts = mutate::generate(&seeds, a.count, a.seed);
    let kfz = mutate::encode_kfz(&seeds, &muts, a.image_timeout_ms);
    // The crate's verdict on each mutant: None = valid, else the rule's name.
    let oracle: Vec<Option<String>> = muts
        .iter()
        .map(|m| match Image::parse(&m.apply(&seeds[m.seed].bytes)) {
            // valid, but only cr can restart it (it flattens the chain first)
            Ok(i) if i.extras() & !kckpt_image::consts::KCKPT_EXTRAS_KERNEL != 0 => Some("IncrementalImage".to_string()),
            Ok(_) => None,
            Err(e) => Some(format!("{e:?}").split([' ', '{', '(']).next().unwrap_or("").to_string()),
        })
        .collect();
    eprintln!("[fuzz] {} mutants, KFZ {} KiB, made and checked by the crate in {:.1}s", muts.len(), kfz.len() / 1024, t0.elapsed().as_secs_f64());

    let work = g.work_dir(&format!("fuzz-{}", a.seed))?;
    // Shards by mutant index: each guest gets its own KFZ of its mutants.
    let jobs = match a.jobs {
        Some(j) => j,
        None => shard::default_jobs_here(g.boot(base.clone())?.mem_mib),
    };
    let shards = shard::by_index(muts.len(), jobs);
    let ns = shards.len();
    let (mut boots, mut logs, mut dirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut guest_secs = 0;
    for (k, idx) in shards.iter().enumerate() {
        let dir = if ns == 1 { work.clone() } else { work.join(format!("shard{}of{ns}", k + 1)) };
        fs::create_dir_all(&dir)?;
        let mine: Vec<mutate::Mutant> = idx.iter().map(|&i| muts[i].clone()).collect();
        let kfz_path = dir.join("mutants.kfz");
        fs::write(&kfz_path, mutate::encode_kfz(&seeds, &mine, a.image_timeout_ms))?;
        let initrd = with_files(&g, &base, &[("/fuzz/mutants.kfz", &kfz_path)], &dir)?;
        // The runner is one test: give it its whole share (each mutant twice).
        let secs = 120 + (idx.len() as u64 * 2 * (a.image_timeout_ms as u64 + 200)) / 1000;
        guest_secs = guest_secs.max(secs);
        boots.push(g.boot(initrd)?.append(format!("kckpt.timeout={secs}")));
        logs.push(if ns == 1 { work.join("console.log") } else { pool::log_path(&work, k, ns) });
        dirs.push(dir);
    }
    eprintln!("[fuzz] accel {}, {} kernel, {ns} guest(s)", accel.name(), g.kernel.flavor.name());
    for (k, l) in logs.iter().enumerate() {
        eprintln!("[fuzz] {}: {} mutants, console log {}", shard::tag(k, ns), shards[k].len(), l.display());
    }
    let (runs, wall) = pool::run_all(&boots, &logs, Duration::from_secs(90), Duration::from_secs(guest_secs + 120), a.verbose)?;
    let parts: Vec<Outcome> = runs.iter().zip(&shards).map(|(r, idx)| fuzz_outcome::parse_console(&r.console, idx.len())).collect();
    let o = fuzz_outcome::merge(&parts, &shards, muts.len());
    // Kernel-log problems of every shard, tagged with it when there are several.
    let problems: Vec<String> = runs
        .iter()
        .enumerate()
        .flat_map(|(k, r)| verdict::kernel_problems(&r.console).into_iter().map(move |p| if ns > 1 { format!("[{}] {p}", shard::tag(k, ns)) } else { p }))
        .collect();
    let verdict = shard::worst(runs.iter().map(|r| &r.verdict));
    let shard_of = |i: usize| shards.iter().position(|s| s.binary_search(&i).is_ok()).unwrap_or(0);
    // Rule breakers: hang and privilege by code, oops by taint (and, after
    // a panic, every mutant of the unfinished line is a suspect).
    let mut keep: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut bad = !matches!(verdict, Verdict::Completed) || !o.probe_ok || o.blind != Some(0) || o.seeds_taint.is_some();
    let mut counts: BTreeMap<(&str, char), usize> = BTreeMap::new();
    for mode in Mode::BOTH {
        let mo = o.mode(mode);
        for c in mo.codes.iter().flatten() {
            *counts.entry((mode.name(), *c)).or_default() += 1;
        }
        for (i, c) in mo.codes.iter().enumerate() {
            match c {
                Some('H') => keep.entry(i).or_default().push(format!("hang-{}", mode.name())),
                Some('P') => keep.entry(i).or_default().push(format!("privilege-{}", mode.name())),
                _ => {}
            }
        }
        for &i in &mo.taint_at {
            keep.entry(i).or_default().push(format!("oops-{}", mode.name()));
        }
        // After a shard's panic or stall, the next mutants of its unfinished
        // line are suspects. A shard stopped before its seeds were through
        // is no mutant's doing.
        for ((p, r), idx) in parts.iter().zip(&runs).zip(&shards) {
            let pm = p.mode(mode);
            let done = pm.codes.iter().filter(|c| c.is_some()).count();
            let seeds_done = p.traced.seeds_ok.len() == seeds.len() && p.untraced.seeds_ok.len() == seeds.len();
            if !matches!(r.verdict, Verdict::Completed) && seeds_done {
                let panicked = matches!(r.verdict, Verdict::Panic(_));
                for &i in &idx[done.min(idx.len())..(done + 64).min(idx.len())] {
                    let v = keep.entry(i).or_default();
                    if v.is_empty() {
                        v.push(if panicked { "panic-suspect".into() } else { "stall-suspect".into() });
                    }
                }
            }
        }
        bad |= !mo.ended || !mo.taint_at.is_empty();
        bad |= counts.contains_key(&(mode.name(), 'H')) || counts.contains_key(&(mode.name(), 'P'));
    }
    let repro = crate::repo_root().join("tests/fuzz-repro");
    for (i, why) in &keep {
        fs::create_dir_all(&repro)?;
        let m = &muts[*i];
        let why = why.join("+");
        let stem = format!("s{}-m{}-{}-{}", a.seed, i, seeds[m.seed].name, why);
        fs::write(repro.join(format!("{stem}.kckpt")), m.apply(&seeds[m.seed].bytes))?;
        let mode = if m.mode == 0 { "file mode 0755 root:root".to_string() } else { format!("file mode {:04o} root:root (chmod it so)", m.mode) };
        fs::write(repro.join(format!("{stem}.txt")), format!("fuzz-images --seed {} mutant {i} of seed {}: {why}\n{mode}\n{}\n", a.seed, seeds[m.seed].name, m.what.join("\n")))?;
    }
    // The crate's validator against the kernel (a setuid/setgid file is a
    // rule of its own: the crate sees bytes, not the file's mode).
    let (mut ran_invalid, mut refused_valid) = (Vec::new(), Vec::new());
    let mut groups: BTreeMap<(String, char), usize> = BTreeMap::new();
    for (i, c) in o.traced.codes.iter().enumerate() {
        let rule = if muts[i].setid() { Some("SetidImageFile".to_string()) } else { oracle[i].clone() };
        match (c, &rule) {
            (Some(c @ ('X' | 'S' | 'T')), Some(rule)) => {
                ran_invalid.push(i);
                *groups.entry((rule.clone(), *c)).or_default() += 1;
            }
            (Some('R'), None) => {
                refused_valid.push(i);
                *groups.entry(("(valid)".into(), 'R')).or_default() += 1;
            }
            _ => {}
        }
    }
    // The same image traced and untraced should meet the same loader.
    let differ: Vec<usize> = (0..muts.len())
        .filter(|&i| match (o.traced.codes[i], o.untraced.codes[i]) {
            (Some(t), Some(u)) => (t == 'R' || u == 'R' || t == 'E' || u == 'E') && t != u,
            _ => false,
        })
        .collect();
    let oracle_dir = work.join("oracle");
    for &i in ran_invalid.iter().take(20).chain(refused_valid.iter().take(20)).chain(differ.iter().take(20)) {
        fs::create_dir_all(&oracle_dir)?;
        let m = &muts[i];
        fs::write(oracle_dir.join(format!("m{i}.kckpt")), m.apply(&seeds[m.seed].bytes))?;
        fs::write(oracle_dir.join(format!("m{i}.txt")), format!("file mode {:04o}\n{}\n", if m.mode == 0 { 0o755 } else { m.mode }, m.what.join("\n")))?;
    }

    let setid = muts.iter().filter(|m| m.setid()).count();
    let executed = o.untraced.codes.iter().filter(|c| c.is_some()).count();
    let guests = if ns > 1 { format!(" on {ns} guests") } else { String::new() };
    say!("fuzz-images: {} mutants (seed {}, {} setuid/setgid-root files), {} executed in both modes, {:.0} s wall{guests}", muts.len(), a.seed, setid, executed, wall);
    for l in &o.probes {
        say!("  {l}");
    }
    say!("  privilege detector self-check: {}", if o.probe_ok { "ok" } else { "FAILED (or not run)" });
    for mode in Mode::BOTH {
        for l in &o.mode(mode).seeds_ok {
            say!("  {l}");
        }
    }
    say!("  {:<44} {:>8} {:>8}", "", "traced", "untraced");
    let n = |m: Mode, c: char| counts.get(&(m.name(), c)).copied().unwrap_or(0);
    for (c, what) in CODES {
        say!("  {:<44} {:>8} {:>8}", what, n(Mode::Traced, c), n(Mode::Untraced, c));
    }
    let oops = |m: Mode| o.mode(m).taint_at.len();
    say!("  {:<44} {:>8} {:>8}", "kernel oops/WARNING (taint)", oops(Mode::Traced), oops(Mode::Untraced));
    if let Some(t) = &o.seeds_taint {
        say!("  kernel oops/WARNING while the unmutated seeds ran (taint {t})");
    }
    say!("  kernel oops/WARNING lines on the console: {}", problems.len());
    bad |= !problems.is_empty();
    match o.blind {
        Some(0) => {}
        Some(b) => say!("  untraced credential reads that failed: {b} (the privilege check was blind)"),
        None => say!("  the guest did not report its untraced credential reads"),
    }
    for mode in Mode::BOTH {
        let mo = o.mode(mode);
        if !mo.errnos.is_empty() {
            say!("  {} other errnos (errno:count): {}", mode.name(), mo.errnos);
        }
        if !mo.signals.is_empty() {
            say!("  {} crash signals (signal:count): {}", mode.name(), mo.signals);
        }
    }
    say!("  crate validator (traced run): kernel ran {} mutants it rejects, refused {} it accepts{}", ran_invalid.len(), refused_valid.len(),
        if ran_invalid.len() + refused_valid.len() > 0 { format!(" (examples in {})", oracle_dir.display()) } else { String::new() });
    for ((rule, c), n) in &groups {
        say!("    crate says {rule}, kernel gave {c}: {n}");
    }
    say!("  traced and untraced runs disagree on the exec's outcome: {}", differ.len());
    for p in &problems {
        say!("  console: {p}");
    }
    for (k, r) in runs.iter().enumerate() {
        if !matches!(r.verdict, Verdict::Completed) {
            let which = if ns > 1 { format!(" {} (mutants {} …)", shard::tag(k, ns), shards[k].iter().take(3).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")) } else { String::new() };
            say!("  VERDICT{which} {:?} (console log {})", r.verdict, logs[k].display());
        }
    }
    for (i, why) in keep.iter().take(20) {
        say!("  mutant {i} ({}, seed {}): {}", shard::tag(shard_of(*i), ns), seeds[muts[*i].seed].name, why.join("+"));
    }
    if !keep.is_empty() {
        say!("  {} reproducer(s) kept in tests/fuzz-repro/ (same mutants with --jobs 1)", keep.len());
    }
    let seeds_bad = Mode::BOTH.iter().any(|&m| {
        let so = &o.mode(m).seeds_ok;
        so.len() != seeds.len() || so.iter().zip(&seeds).any(|(l, s)| !l.contains(&format!(" X exit {} ", s.expect)))
    });
    if seeds_bad {
        say!("  a seed image did not restart as expected");
    }
    if bad || seeds_bad {
        for l in &logs {
            say!("  console log kept: {}", l.display());
        }
        return Ok((1, out));
    }
    for d in &dirs {
        let _ = fs::remove_file(d.join("initramfs.cpio"));
    }
    Ok((0, out))
}
