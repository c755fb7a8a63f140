#!/bin/sh
# kckpt-boot2: same
# Restart after a reboot (issue 16): a counter in a directory on the disk,
# with count.log open for appending and shared.dat mapped MAP_SHARED, is
# checkpointed by cr -p in kernel and --userspace mode at count 5 in
# boot 1 (cr --compare agrees) and killed at 7; boot 2 finds both images,
# the log and the file on the disk, and each image restarted (cr -r,
# cr -r --userspace) counts on at 6: the log grows, the cwd, the shared
# mapping (stores reach the file) and the vDSO (glibc's clock_gettime,
# __vdso_clock_gettime, __kernel_vsyscall) work. No image in boot 2 fails.
exec rebootcr counter "$@"
