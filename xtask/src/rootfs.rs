//! Rootfs: the guest init, a static i386 busybox from Debian's package, the
//! guest tools and the guest tests (tests/guest/*.c built `gcc -m32 -static`,
//! *.sh copied; SKIP stubs where the kernel lacks a feature), as one initramfs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::cpio::Spec;
use crate::elf::is_elf32_i386;
use crate::reboot::{self, Boot2};
use crate::{cache, guest_tools, syscalls};

pub const BUSYBOX_PKG: &str = "busybox-static:i386";

/// One file that goes into /tests.
#[derive(Debug, Clone, PartialEq)]
pub struct GuestTest {
    pub name: String,
    pub source: PathBuf,
    /// C source to compile, or a ready file (script or prebuilt binary).
    pub compile: bool,
    /// A two-boot test (`NAME.reboot.sh`, reboot.rs): what boot 2 runs on.
    /// It goes in /reboot, not /tests.
    pub reboot: Option<Boot2>,
}

impl GuestTest {
    /// A one-boot test.
    pub fn new(name: impl Into<String>, source: PathBuf, compile: bool) -> GuestTest {
        GuestTest { name: name.into(), source, compile, reboot: None }
    }

    /// Where init finds it: /tests/NAME, or /reboot/NAME for a two-boot test.
    pub fn guest_path(&self) -> String {
        format!("/{}/{}", if self.reboot.is_some() { "reboot" } else { "tests" }, self.name)
    }
}

/// The guest tests in a directory: `*.c` compiled, `*.sh` copied,
/// `*.reboot.sh` two-boot tests (their `# kckpt-boot2:` line read here).
pub fn discover(dir: &Path) -> Result<Vec<GuestTest>> {
    let mut v: Vec<GuestTest> = Vec::new();
    for e in walkdir::WalkDir::new(dir).max_depth(1).sort_by_file_name() {
        let p = e?.into_path();
        let (Some(stem), Some(ext)) = (p.file_stem(), p.extension()) else { continue };
        let file = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let name = stem.to_string_lossy().into_owned();
        let t = match (ext.to_str(), file.strip_suffix(reboot::SUFFIX)) {
            (_, Some(n)) => {
                let b = Boot2::parse(&fs::read_to_string(&p)?).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
                GuestTest { reboot: Some(b), ..GuestTest::new(n, p.clone(), false) }
            }
            (Some("c"), _) => GuestTest::new(name, p.clone(), true),
            (Some("sh"), _) => GuestTest::new(name, p.clone(), false),
            _ => continue,
        };
        if v.iter().any(|o| o.name == t.name) {
            bail!("two guest tests are named {}: {}", t.name, p.display());
        }
        v.push(t);
    }
    Ok(v)
}

/// Helper programs for tests (tests/guest/progs/*.c), installed in /bin.
pub fn progs(dir: &Path) -> Result<Vec<GuestTest>> {
    if !dir.exists() {
        return Ok(vec![]);
    }
    Ok(discover(dir)?.into_iter().filter(|t| t.compile).collect())
}

/// A host file given with `--run`: a script or a static i386 program.
pub fn extra_test(path: &Path, index: usize) -> Result<GuestTest> {
    let bytes = fs::read(path).with_context(|| format!("--run {}", path.display()))?;
    let is_script = bytes.starts_with(b"#!");
    if !is_script && !is_elf32_i386(&bytes) {
        bail!("--run {}: neither a script (#!) nor an ELF32 i386 program", path.display());
    }
    let stem = path.file_name().unwrap().to_string_lossy().replace(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-', "_");
    Ok(GuestTest::new(format!("zz-run{index}-{stem}"), path.to_path_buf(), false))
}

/// The static i386 busybox, from Debian's package, cached by version.
pub fn busybox(sh: &Shell) -> Result<PathBuf> {
    let dir = cache::root().join("busybox");
    let bin = dir.join("busybox");
    if bin.exists() {
        return Ok(bin);
    }
    fs::create_dir_all(&dir)?;
    let _d = sh.push_dir(&dir);
    let dl = || cmd!(sh, "apt-get download {BUSYBOX_PKG}").quiet().ignore_stdout().ignore_stderr().run();
    if dl().is_err() {
        // i386 package indexes appear only once the architecture is added.
        cmd!(sh, "dpkg --add-architecture i386").quiet().run().context("dpkg --add-architecture i386 (run as root)")?;
        crate::deps::apt_update(sh)?;
        dl().context("apt-get download busybox-static:i386")?;
    }
    let deb = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("no busybox .deb")?;
    let x = dir.join("x");
    cmd!(sh, "dpkg-deb -x {deb} {x}").quiet().run()?;
    let b = x.join("bin/busybox");
    if !is_elf32_i386(&fs::read(&b)?) {
        bail!("{} is not an i386 program", b.display());
    }
    fs::rename(&b, &bin)?;
    fs::remove_dir_all(&x)?;
    fs::remove_file(&deb)?;
    Ok(bin)
}

fn compile(sh: &Shell, src: &Path, out: &Path, include: &Path) -> Result<()> {
    let lib = crate::repo_root().join("tests/guest/lib");
    cmd!(sh, "gcc -m32 -static -O2 -msse2 -Wall -Werror -I{include} -I{lib} -o {out} {src} -lpthread")
        .quiet()
        .run()
        .with_context(|| format!("compiling {}", src.display()))
}

/// Features that one patch of the series adds, each recognised by a string
/// only that patch puts in the tree: (feature, file, marker). A prefix of
/// the series without the patch skips the tests that need it (bisect).
const MARKERS: &[(&str, &str, &str)] = &[
    ("exec_retval", "fs/binfmt_cr.c", "bprm->exec_retval"),
    ("cr_creds", "fs/binfmt_cr.c", "cr_check_creds"),
    ("fd_limits", "fs/binfmt_cr.c", "out of order"),
    ("open_once", "fs/binfmt_cr.c", "O_NOFOLLOW | O_NONBLOCK"),
    ("mm_map_rules", "fs/binfmt_cr.c", "cr_selectors_ok"),
    ("killable_stack", "fs/binfmt_cr.c", "fatal_signal_pending"),
    ("vdso_sysctl", "fs/binfmt_cr.c", "vdso32_enabled"),
    ("cloexec", "fs/binfmt_cr.c", "cloexec"),
    ("cr_coredump", "fs/binfmt_cr.c", ".core_dump"),
    ("log_escape", "fs/binfmt_cr.c", "%*pE"),
    ("clone_vm_ebusy", "kernel/checkpoint.c", "MMF_MULTIPROCESS"),
    ("binfmt_cr_sysctl", "fs/binfmt_cr.c", "cr_sysctls"),
    ("anon_restore", "fs/binfmt_cr.c", "cr_fill("),
    ("unlink_ref", "kernel/checkpoint.c", "as a lookup would give do_unlinkat"),
    ("short_write", "kernel/checkpoint.c", "so that the caller sees why it stopped"),
    ("attrs", "fs/binfmt_cr.c", "cr_restore_attrs"),
    ("shared_file", "fs/binfmt_cr.c", "cr_open_mapped"),
    ("memfd_unlinked", "kernel/checkpoint.c", "return ckpt_file_reopens(file) ? KCKPT_FD_PATH :"),
    ("format_v2", "include/uapi/linux/kckpt.h", "KCKPT_VERSION\t\t2"),
    ("rlimits", "fs/binfmt_cr.c", "cr_check_rlimits"),
    ("image_0700", "kernel/checkpoint.c", "vfs_fchmod"),
    ("shared_anon", "fs/binfmt_cr.c", "KCKPT_VMA_SHARED"),
    ("fd_kinds", "kernel/checkpoint.c", "ckpt_fd_kind"),
    ("pipes", "fs/binfmt_cr.c", "cr_open_pipe"),
    ("unlinked", "fs/binfmt_cr.c", "cr_open_unlinked"),
    ("many_vmas", "include/uapi/linux/kckpt.h", "KCKPT_MAX_VMAS\t\t65530"),
    // Placeholders: the function each patch adds to the loader.
    ("xstate", "fs/binfmt_cr.c", "cr_load_xstate"),
    ("sigpending", "fs/binfmt_cr.c", "cr_queue_signals"),
    ("itimers", "fs/binfmt_cr.c", "cr_set_itimers"),
    ("eventfd", "fs/binfmt_cr.c", "cr_open_eventfd"),
    ("origin", "fs/binfmt_cr.c", "cr_check_origin"),
];

/// What the kernel tree under test offers the guest tests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Features(pub std::collections::BTreeSet<String>);

impl Features {
    pub fn of_tree(tree: &Path) -> Result<Features> {
        let mut f = std::collections::BTreeSet::new();
        if syscalls::tree_checkpoint_nr(tree)?.is_some() {
            f.insert("checkpoint".to_string());
        }
        if tree.join("fs/binfmt_cr.c").exists() {
            f.insert("binfmt_cr".to_string());
        }
        if tree.join("lib/rust_abi_test.rs").exists() {
            f.insert("rust_abi_test".to_string());
        }
        for (feature, file, marker) in MARKERS {
            let text = std::fs::read_to_string(tree.join(file)).unwrap_or_default();
            if text.contains(marker) {
                f.insert(feature.to_string());
            }
        }
        Ok(Features(f))
    }

    /// The needs of `name` (a test or prog) this tree does not meet.
    fn missing(&self, req: &Requires, section: &str, name: &str) -> Vec<String> {
        req.get(section)
            .and_then(|m| m.get(name))
            .map(|v| v.iter().filter(|n| !self.0.contains(*n)).cloned().collect())
            .unwrap_or_default()
    }
}

type Requires = std::collections::BTreeMap<String, std::collections::BTreeMap<String, Vec<String>>>;

fn requires() -> Result<Requires> {
    let p = crate::repo_root().join("tests/guest/requires.toml");
    if !p.exists() {
        return Ok(Requires::new());
    }
    Ok(toml::from_str(&fs::read_to_string(p)?)?)
}

/// Build the initramfs for `tests` with `gen_init_cpio` from the kernel
/// build, cached by its inputs. With `features`, tests (and helper programs)
/// whose needs the kernel does not meet are replaced by a stub that exits 77
/// (SKIP); without, every feature is assumed.
pub fn build(
    sh: &Shell,
    gen_init_cpio: &Path,
    tests: &[GuestTest],
    nr: Option<u32>,
    features: Option<&Features>,
) -> Result<PathBuf> {
    let root = crate::repo_root();
    let bb = busybox(sh)?;
    let tools = guest_tools::build(sh, nr)?;
    let req = requires()?;
    let mut progs = progs(&root.join("tests/guest/progs"))?;
    if let Some(f) = features {
        progs.retain(|p| f.missing(&req, "progs", &p.name).is_empty());
    }
    let mut k = cache::Key::new("rootfs");
    k.part("gcc", crate::toolchain::toolchain_id(sh).as_bytes());
    k.part("busybox", cache::sha256_file(&bb)?.as_bytes());
    k.part("nr", format!("{nr:?}").as_bytes());
    k.part("features", format!("{features:?}").as_bytes());
    for t in &progs {
        k.part(&t.name, &fs::read(&t.source)?);
    }
    for e in walkdir::WalkDir::new(root.join("tests/guest/lib")).sort_by_file_name() {
        let e = e?;
        if e.file_type().is_file() {
            k.part(&e.path().to_string_lossy(), &fs::read(e.path())?);
        }
    }
    k.part("rootfs/init.c", &fs::read(root.join("rootfs/init.c"))?);
    k.part("spec", Spec::base().text().as_bytes());
    for t in tests {
        k.part(&t.guest_path(), &fs::read(&t.source)?);
    }
    for (name, p) in &tools {
        k.part(name, p.to_string_lossy().as_bytes());
    }
    let out = cache::root().join(format!("rootfs-{}", k.hex()));
    let cpio = out.join("initramfs.cpio");
    if cpio.exists() {
        return Ok(cpio);
    }
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(tmp.join("tests"))?;
    fs::create_dir_all(tmp.join("reboot"))?;
    let gen_inc = tmp.join("include");
    fs::create_dir_all(&gen_inc)?;
    fs::write(gen_inc.join("kckpt_syscall.h"), syscalls::syscall_header(nr))?;
    let include = &gen_inc;
    compile(sh, &root.join("rootfs/init.c"), &tmp.join("init"), include)?;
    let mut spec = Spec::base();
    spec.file("/init", &out.join("init")).file("/bin/busybox", &bb).slink("/bin/sh", "busybox");
    for (name, p) in &tools {
        spec.file(&format!("/bin/{name}"), p);
    }
    fs::create_dir_all(tmp.join("progs"))?;
    for t in &progs {
        let dst = tmp.join("progs").join(&t.name);
        let mut src = t.source.clone();
        // The seed program is kept verbatim; a kernel built with another
        // syscall number gets a copy with that number.
        if t.name == "seed" && nr.is_some_and(|n| n != 327) {
            src = tmp.join("seed.c");
            fs::write(&src, fs::read_to_string(&t.source)?.replace("syscall(327,", &format!("syscall({},", nr.unwrap())))?;
        }
        compile(sh, &src, &dst, include)?;
        spec.file(&format!("/bin/{}", t.name), &out.join("progs").join(&t.name));
    }
    for t in tests {
        let dst = tmp.join(&t.guest_path()[1..]);
        let missing = features.map(|f| f.missing(&req, "tests", &t.name)).unwrap_or_default();
        if !missing.is_empty() {
            fs::write(&dst, format!("#!/bin/sh\necho \"needs {}\"\nexit 77\n", missing.join(", ")))?;
        } else if t.compile {
            compile(sh, &t.source, &dst, include)?;
        } else {
            fs::copy(&t.source, &dst)?;
        }
        spec.file(&t.guest_path(), &out.join(&t.guest_path()[1..]));
    }
    let _ = fs::remove_dir_all(&out);
    fs::rename(&tmp, &out)?;
    spec.pack(sh, gen_init_cpio, &cpio)?;
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
        assert!(t.iter().all(|t| !t.name.contains('.')), "{names:?}");
    }

    #[test]
    fn a_reboot_script_is_one_test_with_its_boot_2() {
        let d = std::env::temp_dir().join(format!("kckpt-reboot-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a.sh"), "#!/bin/sh\n").unwrap();
        fs::write(d.join("r.reboot.sh"), "#!/bin/sh\n# kckpt-boot2: cpu=qemu32\n").unwrap();
        let t = discover(&d).unwrap();
        assert_eq!((t[0].name.as_str(), t[0].guest_path().as_str()), ("a", "/tests/a"));
        assert_eq!((t[1].name.as_str(), t[1].guest_path().as_str()), ("r", "/reboot/r"));
        assert_eq!(t[1].reboot, Some(Boot2::Cpu("qemu32".into())));
        fs::write(d.join("r.sh"), "#!/bin/sh\n").unwrap();
        assert!(discover(&d).unwrap_err().to_string().contains("two guest tests are named r"));
        fs::remove_file(d.join("r.sh")).unwrap();
        fs::write(d.join("r.reboot.sh"), "# kckpt-boot2: nonsense\n").unwrap();
        assert!(format!("{:#}", discover(&d).unwrap_err()).contains("r.reboot.sh"));
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn seed_program_is_the_emails() {
        let ours = fs::read_to_string(crate::repo_root().join("tests/guest/progs/seed.c")).unwrap();
        assert!(ours.contains("ret = syscall(327, \"output.kckpt\");"));
        // The email lives in shared/ beside the clone, when it is there.
        let email = crate::repo_root().join("../shared/seed/checkpoint-restart-2008.txt");
        if let Ok(e) = fs::read_to_string(email) {
            assert!(e.contains(ours.trim_end()), "tests/guest/progs/seed.c differs from the seed email");
        }
    }

    #[test]
    fn run_accepts_scripts_and_i386_only() {
        let d = std::env::temp_dir().join(format!("kckpt-run-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("a b.sh"), "#!/bin/sh\nexit 1\n").unwrap();
        let t = extra_test(&d.join("a b.sh"), 1).unwrap();
        assert_eq!(t.name, "zz-run1-a_b_sh");
        fs::write(d.join("x"), b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x02\0\x3e\0\0\0").unwrap();
        assert!(extra_test(&d.join("x"), 2).unwrap_err().to_string().contains("neither"));
        fs::remove_dir_all(&d).unwrap();
    }
}
