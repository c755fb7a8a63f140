#!/bin/sh
# kckpt-boot2: other-flavor
# cr_reboot's images restarted on the other build of the series (normal
# <-> debug): boot 2 runs another kernel (/proc/version differs).
exec rebootcr other-flavor "$@"
