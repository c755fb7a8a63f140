//! kckpt's driver: `cargo xtask <stage>`.
//! This file only parses flags and dispatches; each subcommand is a module
//! named for its pipeline stage.

mod bench;
mod bench_cr;
mod build;
mod cache;
mod config;
mod deps;
mod export;
mod flavor;
mod fuzz_host;
mod fuzz_images;
mod inspect;
mod ktap;
mod mutate;
mod patch;
mod pin;
mod rootfs;
mod rust_objs;
mod selftest;
mod test_vm;
mod toolchain;
mod verdict;
mod vm;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "kckpt: checkpoint/restart for an i386 Linux guest")]
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
    /// Validate a kckpt image and print a summary (or --json).
    Inspect(inspect::Args),
    /// Check that the harness tells panic, hang and test failure apart.
    Selftest,
    /// Benchmarks (`harness`, `cr`).
    Bench(bench::Args),
    /// Mutate real images on the host, execute them in the guest as nobody.
    FuzzImages(fuzz_images::Args),
    /// libFuzzer (cargo-fuzz, nightly) on the image crate's parser.
    FuzzHost(fuzz_host::Args),
}

fn main() {
    let cli = Cli::parse();
    let res: Result<i32> = match cli.cmd {
        Cmd::Deps => deps::run().map(|()| 0),
        Cmd::BuildKernel(a) => build::run(&a).map(|_| 0),
        Cmd::PinKernel { version } => pin::pin_kernel(&version).map(|()| 0),
        Cmd::TestVm(a) => test_vm::run(&a),
        Cmd::ExportPatches(a) => export::run(&a).map(|()| 0),
        Cmd::Inspect(a) => inspect::run(&a).map(|()| 0),
        Cmd::Selftest => selftest::run(),
        Cmd::Bench(a) => bench::run(&a).map(|()| 0),
        Cmd::FuzzImages(a) => fuzz_images::run(&a),
        Cmd::FuzzHost(a) => fuzz_host::run(&a),
    };
    match res {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

/// The repository root (the workspace that holds xtask/).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}
