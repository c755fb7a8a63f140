#!/bin/sh
# kckpt-boot2: other-flavor
# cr_reboot's images restarted on the other build of the series (normal
# <-> debug): boot 2 runs another kernel (/proc/version differs), and
# both images restart there with every check of cr_reboot passing. That
# is what happens today: both flavors build the same vDSO (vdso32.so is
# byte for byte the same), the image format and syscall numbers are the
# same, and so is the CPU. Should a build ever refuse them, this test
# fails until it asserts that refusal (docs/image-format.md).
exec rebootcr other-flavor "$@"
