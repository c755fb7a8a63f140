#!/bin/sh
# kckpt-boot2: cpu=qemu32
# An image with AVX state (progs/xstate, checkpointed by cr -p in both
# modes in boot 1 on -cpu max) restarted on a CPU without AVX and XSAVE
# (QEMU's qemu32): both modes refuse it before the point of no return,
# cr -r with exit 7 and binfmt_cr's refusal in the kernel log, cr -r
# --userspace with exit 7 naming XSAVE; no process is left half-restored.
# Skipped when boot 1's CPU has no AVX.
exec rebootcr xstate "$@"
