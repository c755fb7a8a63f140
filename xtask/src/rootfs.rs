//! Rootfs: the guest init, a static i386 busybox from Debian's package and
//! the guest tests (tests/guest/*.c built `gcc -m32 -static`, *.sh copied),
//! packed into an initramfs with the kernel's own usr/gen_init_cpio.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::cache;

pub const BUSYBOX_PKG: &str = "busybox-static:i386";

/// One file that goes into /tests.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestTest {
    pub name: String,
    pub source: PathBuf,
    /// C source to compile, or a ready file (script or prebuilt binary).
    pub compile: bool,
}

/// The guest tests in a directory: `*.c` compiled, `*.sh` copied.
pub fn discover(dir: &Path) -> Result<Vec<GuestTest>> {
    let mut v = Vec::new();
    for e in walkdir::WalkDir::new(dir).max_depth(1).sort_by_file_name() {
        let p = e?.into_path();
        let (Some(stem), Some(ext)) = (p.file_stem(), p.extension()) else { continue };
        let name = stem.to_string_lossy().into_owned();
        match ext.to_str() {
            Some("c") => v.push(GuestTest { name, source: p, compile: true }),
            Some("sh") => v.push(GuestTest { name, source: p, compile: false }),
            _ => {}
        }
    }
    Ok(v)
}

/// A host file given with `--run`: a script or a static i386 program.
pub fn extra_test(path: &Path, index: usize) -> Result<GuestTest> {
    let bytes = std::fs::read(path).with_context(|| format!("--run {}", path.display()))?;
    let is_script = bytes.starts_with(b"#!");
    if !is_script && !is_elf32_i386(&bytes) {
        bail!("--run {}: neither a script (#!) nor an ELF32 i386 program", path.display());
    }
    let stem = path.file_name().unwrap().to_string_lossy().replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "_");
    Ok(GuestTest { name: format!("zz-run{index}-{stem}"), source: path.to_path_buf(), compile: false })
}

pub fn is_elf32_i386(b: &[u8]) -> bool {
    b.len() > 20 && &b[..4] == b"\x7fELF" && b[4] == 1 && b[5] == 1 && u16::from_le_bytes([b[18], b[19]]) == 3
}

/// The static i386 busybox, from Debian's package, cached by version.
fn busybox(sh: &Shell) -> Result<PathBuf> {
    let dir = cache::root().join("busybox");
    let bin = dir.join("busybox");
    if bin.exists() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir)?;
    let _d = sh.push_dir(&dir);
    let dl = || cmd!(sh, "apt-get download {BUSYBOX_PKG}").quiet().ignore_stderr().run();
    if dl().is_err() {
        // i386 package indexes appear only once the architecture is added.
        cmd!(sh, "dpkg --add-architecture i386").quiet().run().context("dpkg --add-architecture i386 (run as root)")?;
        crate::deps::apt_update(sh)?;
        dl().context("apt-get download busybox-static:i386")?;
    }
    let deb = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("no busybox .deb")?;
    let x = dir.join("x");
    cmd!(sh, "dpkg-deb -x {deb} {x}").quiet().run()?;
    let b = x.join("bin/busybox");
    if !is_elf32_i386(&std::fs::read(&b)?) {
        bail!("{} is not an i386 program", b.display());
    }
    std::fs::rename(&b, &bin)?;
    std::fs::remove_dir_all(&x)?;
    std::fs::remove_file(&deb)?;
    Ok(bin)
}

fn compile(sh: &Shell, src: &Path, out: &Path, include: &Path) -> Result<()> {
    cmd!(sh, "gcc -m32 -static -O2 -Wall -Werror -I{include} -o {out} {src} -lpthread")
        .quiet()
        .run()
        .with_context(|| format!("compiling {}", src.display()))
}

/// Debian's Rust (rustc-web) builds the guest tools: rustup's toolchain has
/// no i686 standard library, and -Zbuild-std makes one from rust-web-src.
pub const GUEST_RUSTC: &str = "/usr/bin/rustc";
pub const GUEST_CARGO: &str = "/usr/bin/cargo";
pub const GUEST_TARGET: &str = "i686-unknown-linux-gnu";

/// The static i386 guest tools of guest/ (cr), rebuilt only when their
/// sources or the checkpoint syscall number change.
pub fn guest_tools(sh: &Shell, nr_checkpoint: Option<u32>) -> Result<Vec<(String, PathBuf)>> {
    let dir = crate::repo_root().join("guest");
    let mut k = cache::Key::new("guest-tools");
    k.part("rustc", cmd!(sh, "{GUEST_RUSTC} --version").quiet().read()?.as_bytes());
    k.part("nr", format!("{nr_checkpoint:?}").as_bytes());
    for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let e = e?;
        if e.file_type().is_file() && !e.path().starts_with(dir.join("target")) {
            k.part(&e.path().strip_prefix(&dir)?.to_string_lossy(), &std::fs::read(e.path())?);
        }
    }
    let out = cache::root().join(format!("guest-tools-{}", k.hex()));
    let tools = ["cr"];
    let list: Vec<(String, PathBuf)> = tools.iter().map(|t| (t.to_string(), out.join(t))).collect();
    if list.iter().all(|(_, p)| p.exists()) {
        return Ok(list);
    }
    let target_dir = cache::root().join("guest-target");
    let _d = sh.push_dir(&dir);
    let t = std::time::Instant::now();
    eprintln!("[guest-tools] cargo build --target {GUEST_TARGET} -Zbuild-std (first time: minutes)");
    let mut c = cmd!(sh, "{GUEST_CARGO} build --release --locked -Zbuild-std=std,panic_abort --target {GUEST_TARGET}")
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTC", GUEST_RUSTC)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("CARGO_TARGET_I686_UNKNOWN_LINUX_GNU_RUSTFLAGS", "-C target-feature=+crt-static");
    if let Some(nr) = nr_checkpoint {
        c = c.env("KCKPT_NR_CHECKPOINT", nr.to_string());
    }
    let o = c.quiet().ignore_status().output()?;
    if !o.status.success() {
        bail!("building guest tools failed:\n{}", String::from_utf8_lossy(&o.stderr));
    }
    eprintln!("[guest-tools] done in {:.1}s", t.elapsed().as_secs_f64());
    std::fs::create_dir_all(&out)?;
    for (name, p) in &list {
        let built = target_dir.join(GUEST_TARGET).join("release").join(name);
        if !is_elf32_i386(&std::fs::read(&built)?) {
            bail!("{} is not an i386 program", built.display());
        }
        std::fs::copy(&built, p)?;
    }
    Ok(list)
}

/// Build the initramfs for `tests` with `gen_init_cpio` from the kernel build.
pub fn build(sh: &Shell, gen_init_cpio: &Path, tests: &[GuestTest], extra_key: &str) -> Result<PathBuf> {
    let root = crate::repo_root();
    let bb = busybox(sh)?;
    let tools = guest_tools(sh, None)?;
    let mut k = cache::Key::new("rootfs");
    k.part("gcc", crate::build::toolchain_id(sh).as_bytes());
    k.part("busybox", cache::sha256_file(&bb)?.as_bytes());
    k.part("extra", extra_key.as_bytes());
    for f in ["rootfs/init.c", "rootfs/initramfs.spec"] {
        k.part(f, &std::fs::read(root.join(f))?);
    }
    for t in tests {
        k.part(&t.name, &std::fs::read(&t.source)?);
    }
    for (name, p) in &tools {
        k.part(name, p.to_string_lossy().as_bytes());
    }
    // Headers the tests include (generated syscall numbers and the like).
    let include = root.join("tests/include");
    if include.exists() {
        for e in walkdir::WalkDir::new(&include).sort_by_file_name() {
            let e = e?;
            if e.file_type().is_file() {
                k.part(&e.path().to_string_lossy(), &std::fs::read(e.path())?);
            }
        }
    }
    let out = cache::root().join(format!("rootfs-{}", k.hex()));
    let cpio = out.join("initramfs.cpio");
    if cpio.exists() {
        return Ok(cpio);
    }
    let tmp = out.with_extension("tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(tmp.join("tests"))?;
    compile(sh, &root.join("rootfs/init.c"), &tmp.join("init"), &include)?;
    let mut spec = std::fs::read_to_string(root.join("rootfs/initramfs.spec"))?
        .replace("@BUILD@", &out.to_string_lossy())
        .replace("@BUSYBOX@", &bb.to_string_lossy());
    for (name, p) in &tools {
        spec.push_str(&format!("file /bin/{name} {} 0755 0 0\n", p.display()));
    }
    for t in tests {
        let dst = tmp.join("tests").join(&t.name);
        if t.compile {
            compile(sh, &t.source, &dst, &include)?;
        } else {
            std::fs::copy(&t.source, &dst)?;
        }
        spec.push_str(&format!("file /tests/{} {}/tests/{} 0755 0 0\n", t.name, out.display(), t.name));
    }
    std::fs::write(tmp.join("initramfs.spec"), &spec)?;
    let _ = std::fs::remove_dir_all(&out);
    std::fs::rename(&tmp, &out)?;
    let spec_path = out.join("initramfs.spec");
    let bytes = cmd!(sh, "{gen_init_cpio} {spec_path}").quiet().output()?;
    if !bytes.status.success() {
        bail!("gen_init_cpio failed: {}", String::from_utf8_lossy(&bytes.stderr));
    }
    std::fs::write(&cpio, &bytes.stdout)?;
    Ok(cpio)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovers_repo_guest_tests() {
        let t = discover(&crate::repo_root().join("tests/guest")).unwrap();
        let names: Vec<_> = t.iter().map(|t| t.name.as_str()).collect();
        assert!(names.contains(&"hello") && names.contains(&"uname_i386"), "{names:?}");
        assert!(t.iter().find(|t| t.name == "hello").unwrap().compile);
    }

    #[test]
    fn run_accepts_scripts_and_i386_only() {
        let d = std::env::temp_dir().join(format!("kckpt-run-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("a b.sh"), "#!/bin/sh\nexit 1\n").unwrap();
        let t = extra_test(&d.join("a b.sh"), 1).unwrap();
        assert_eq!(t.name, "zz-run1-a_b_sh");
        std::fs::write(d.join("x"), b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\0\0").unwrap();
        assert!(extra_test(&d.join("x"), 2).unwrap_err().to_string().contains("neither"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
