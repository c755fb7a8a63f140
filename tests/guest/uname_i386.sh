#!/bin/sh
# The guest really runs a 32-bit x86 kernel.
m=$(uname -m)
echo "uname -m: $m"
case "$m" in
i386|i486|i586|i686) exit 0 ;;
*) echo "not an i386 kernel"; exit 1 ;;
esac
