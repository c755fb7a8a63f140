#!/bin/sh
# The seed email's test program, verbatim: it prints "ret was 0"; the image
# it writes, made executable and run, prints "ret was 1". Output goes
# through pipes: a regular file as stdout would be reopened by path on
# restart (by design), while a pipe is what the image is executed with.
set -e
seed | tee first.txt
grep -qx "ret was 0" first.txt
[ -f output.kckpt ] || { echo "no output.kckpt"; exit 1; }
chmod +x output.kckpt
./output.kckpt | tee second.txt
grep -qx "ret was 1" second.txt
