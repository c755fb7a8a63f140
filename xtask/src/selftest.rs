//! selftest: prove the harness tells its verdicts apart on real boots of
//! the built kernel: a panicking guest, a silent (hung) guest, a failing
//! `--run` test, and a WARNING line in the kernel log (through /dev/kmsg).
//! Each must give its own verdict, quickly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use xshell::Shell;

use crate::verdict::Verdict;
use crate::{build, cache, ktap, rootfs, test_vm, verdict, vm};

/// A one-off initramfs from spec lines (paths inside the spec are absolute).
fn cpio(sh: &Shell, gen: &Path, name: &str, spec: &str) -> Result<PathBuf> {
    let dir = cache::root().join("selftest");
    std::fs::create_dir_all(&dir)?;
    let spec_path = dir.join(format!("{name}.spec"));
    std::fs::write(&spec_path, spec)?;
    let p = dir.join(format!("{name}.cpio"));
    rootfs::gen_cpio(sh, gen, &spec_path, &p)?;
    Ok(p)
}

fn boot(k: &build::Kernel, initrd: PathBuf) -> vm::Boot {
    vm::Boot { kernel: k.bzimage.clone(), initrd, accel: vm::Accel::Tcg, append: vec![], mem_mib: 256, interactive: false }
}

pub fn run() -> Result<i32> {
    let sh = Shell::new()?;
    let k = build::run(&build::Args::default())?;
    let gen = k.build_dir.join("usr/gen_init_cpio");
    // The guest helper programs need the syscall number (state.c does).
    let nr = rootfs::tree_checkpoint_nr(&k.tree)?;
    let dir = cache::root().join("selftest");
    std::fs::create_dir_all(&dir)?;
    let mut results: Vec<(String, bool, String)> = Vec::new();

    // 1. No /init: the kernel panics; the verdict must be "panic", fast.
    let initrd = cpio(&sh, &gen, "panic", "dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\n")?;
    let r = vm::run(&boot(&k, initrd), Duration::from_secs(30), Duration::from_secs(60), false, &dir.join("panic.log"))?;
    let ok = matches!(r.verdict, Verdict::Panic(_)) && r.secs < 20.0;
    results.push(("panic_is_a_panic".into(), ok, format!("{:?} after {:.1} s", r.verdict, r.secs)));

    // 2. An init that goes silent: the verdict must be "hang", after --hang.
    let bb = crate::rootfs::busybox(&sh)?;
    let init = dir.join("silent-init.sh");
    std::fs::write(&init, "#!/bin/sh\necho going silent\nexec /bin/sleep 100000\n")?;
    let spec = format!(
        "dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\ndir /bin 0755 0 0\nfile /bin/busybox {} 0755 0 0\n\
         slink /bin/sh busybox 0777 0 0\nslink /bin/sleep busybox 0777 0 0\nfile /init {} 0755 0 0\n",
        bb.display(),
        init.display()
    );
    let initrd = cpio(&sh, &gen, "hang", &spec)?;
    let r = vm::run(&boot(&k, initrd), Duration::from_secs(5), Duration::from_secs(60), false, &dir.join("hang.log"))?;
    let ok = r.verdict == Verdict::Hang(5) && r.console.contains("going silent");
    results.push(("silence_is_a_hang".into(), ok, format!("{:?} after {:.1} s", r.verdict, r.secs)));

    // 3. A --run script that exits 1 is a failed test, and test-vm says so.
    let fail = dir.join("fails.sh");
    std::fs::write(&fail, "#!/bin/sh\necho failing on purpose\nexit 1\n")?;
    let mut tests = vec![rootfs::extra_test(&fail, 1)?];
    tests.extend(rootfs::discover(&crate::repo_root().join("tests/guest"))?.into_iter().filter(|t| t.name == "hello"));
    let initrd = rootfs::build(&sh, &gen, &tests, nr)?;
    let r = vm::run(&boot(&k, initrd), Duration::from_secs(30), Duration::from_secs(120), false, &dir.join("fail.log"))?;
    let rep = ktap::parse(&r.console);
    let (code, failed) = test_vm::report(&rep, &r.verdict, &verdict::kernel_problems(&r.console), r.secs);
    let ok = code == 1 && failed == 1 && rep.passed() == 1;
    results.push(("run_exit_1_is_a_failure".into(), ok, format!("exit code {code}, {failed} failed")));

    // 4. A WARNING in the kernel log fails an otherwise green run (exit 4).
    // No WARN_ON reachable from a syscall was found on this tinyconfig
    // kernel: the page allocator's order > MAX_PAGE_ORDER warning is what
    // syscalls usually hit, and their big allocations carry __GFP_NOWARN
    // or go through kvmalloc (binfmt_cr's too); the FPU/ptrace WARNs need
    // kernel-internal misuse or CONFIG_X86_DEBUG_FPU; no modules, debugfs
    // or sysrq. So the line is put into the kernel log through /dev/kmsg:
    // it reaches the console through printk as a WARN() would, which is
    // the path under test (console -> kernel_problems -> exit code 4).
    let warn = dir.join("warns.sh");
    std::fs::write(&warn, "#!/bin/sh\necho 'WARNING: CPU: 0 PID: 1 at selftest/warn.c:1 selftest_warn+0x0/0x10' > /dev/kmsg\nsleep 1\nexit 0\n")?;
    let tests = vec![rootfs::extra_test(&warn, 1)?];
    let initrd = rootfs::build(&sh, &gen, &tests, nr)?;
    let r = vm::run(&boot(&k, initrd), Duration::from_secs(30), Duration::from_secs(120), false, &dir.join("warn.log"))?;
    let rep = ktap::parse(&r.console);
    let problems = verdict::kernel_problems(&r.console);
    let (code, _) = test_vm::report(&rep, &r.verdict, &problems, r.secs);
    let ok = code == 4 && rep.passed() == 1 && problems.iter().any(|p| p.contains("selftest/warn.c:1"));
    results.push(("warning_in_log_is_a_kernel_problem".into(), ok, format!("exit code {code}, {} problem line(s)", problems.len())));

    println!("\nKTAP version 1\n1..{}", results.len());
    for (i, (name, ok, why)) in results.iter().enumerate() {
        println!("# {name}: {why}");
        println!("{} {} {name}", if *ok { "ok" } else { "not ok" }, i + 1);
    }
    let failed = results.iter().filter(|r| !r.1).count();
    println!("{} passed, {} failed", results.len() - failed, failed);
    Ok(if failed > 0 { 1 } else { 0 })
}
