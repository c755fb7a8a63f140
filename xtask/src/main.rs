//! kckpt's driver: `cargo xtask <stage>`.
//! This file only parses flags and dispatches; each subcommand is a module
//! named for its pipeline stage.

mod bench;
mod bench_cr;
mod bench_cr_inc;
mod build;
mod cache;
mod config;
mod cpio;
mod deps;
mod disk;
mod elf;
mod export;
mod flavor;
mod fuzz_host;
mod fuzz_images;
mod guest;
mod guest_tools;
mod inspect;
mod manpage;
mod ktap;
mod fuzz_outcome;
mod mutate;
mod patch;
mod pin;
mod pool;
mod proc;
mod reboot;
mod rootfs;
mod rust_objs;
mod selftest;
mod shard;
mod syscalls;
mod test_vm;
mod toolchain;
mod verdict;
mod vm;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use xshell::Shell;

/// The exit codes of every command (test-vm's own are in `test-vm --help`).
const EXIT_CODES: &str = "exit codes: 0 ok, 1 failed (tests, gates, a benchmark's run), 2 error before a verdict \
(build, setup, arguments); test-vm: 3 kernel panic, 4 Oops/BUG/WARNING, 5 hang, 6 timeout, 7 no isa-debug-exit.
With --json, stdout holds only the JSON; progress goes to stderr.";

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kckpt: checkpoint/restart for an i386 Linux guest", after_help = EXIT_CODES)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install (as root) or list the Debian packages the project needs.
    Deps,
    /// Fetch and verify the pinned source, apply patches/, configure, build.
    BuildKernel(build::Args),
    /// Rewrite kernel-config/pin.toml for another version of the package.
    PinKernel {
        #[arg(long)]
        version: String,
    },
    /// Build what is missing, boot the i386 guest, run the guest tests.
    TestVm(test_vm::Args),
    /// Write the kernel series for the mailing list (nothing is sent).
    ExportPatches(export::Args),
    /// Build cr's unit tests for i686 as the guest tools are and run them here.
    TestGuestTools,
    /// Validate a kckpt image and print a summary (or --json).
    Inspect(inspect::Args),
    /// Check that the harness tells panic, hang, test failure and WARNING apart.
    Selftest,
    /// Benchmarks: `harness`, `cr`.
    Bench(bench::Args),
    /// Mutate real images on the host, execute them in the guest as nobody.
    FuzzImages(fuzz_images::Args),
    /// libFuzzer (cargo-fuzz, nightly) on the image crate's parser.
    FuzzHost(fuzz_host::Args),
}

fn main() {
    let cli = Cli::parse();
    let res = Shell::new().map_err(anyhow::Error::from).and_then(|sh| dispatch(&sh, cli.cmd));
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

fn dispatch(sh: &Shell, cmd: Cmd) -> Result<i32> {
    match cmd {
        Cmd::Deps => deps::run(sh).map(|()| 0),
        Cmd::BuildKernel(a) => build::run(sh, &a).map(|k| {
            // The one thing build-kernel says on stdout: the bzImage.
            println!("{}", k.bzimage.display());
            0
        }),
        Cmd::PinKernel { version } => pin::pin_kernel(sh, &version).map(|()| 0),
        Cmd::TestVm(a) => test_vm::run(sh, &a),
        Cmd::ExportPatches(a) => export::run(sh, &a).map(|()| 0),
        Cmd::TestGuestTools => guest_tools::test(sh),
        Cmd::Inspect(a) => inspect::run(&a).map(|()| 0),
        Cmd::Selftest => selftest::run(sh),
        Cmd::Bench(a) => bench::run(sh, &a).map(|()| 0),
        Cmd::FuzzImages(a) => fuzz_images::run(sh, &a),
        Cmd::FuzzHost(a) => fuzz_host::run(sh, &a),
    }
}

/// The repository root (the workspace that holds xtask/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
