#!/bin/sh
# State survives a checkpoint: FPU/SSE, __thread, vDSO clock_gettime, a
# signal handler, the blocked mask, a file offset, brk memory, an mmap'd
# file, umask and cwd. The image is run from another directory.
set -e
state
chmod +x /tmp/statedir/state.kckpt
out=$(cd / && /tmp/statedir/state.kckpt)
echo "$out"
echo "$out" | grep -q "all state restored"
! echo "$out" | grep -q FAIL
