#!/bin/sh
# cr: clear errors, distinct exit codes, and nothing left behind.
fail=0
expect() { # expect CODE DESCRIPTION -- command...
	want=$1; what=$2; shift 3
	"$@" > out.txt 2>&1; got=$?
	if [ "$got" = "$want" ]; then echo "ok: $what (exit $got)"
	else echo "FAIL: $what: exit $got, wanted $want"; cat out.txt; fail=1; fi
}
expect 0 "--help" -- cr --help
expect 2 "no arguments is a usage error" -- cr
expect 2 "bad pid" -- cr -p abc
expect 3 "no such pid" -- cr -p 99999 -f nopid.kckpt
[ -e nopid.kckpt ] && { echo "FAIL: nopid.kckpt left behind"; fail=1; }
: > exists.kckpt
expect 6 "file exists" -- cr -p $$ -f exists.kckpt
[ -s exists.kckpt ] && { echo "FAIL: exists.kckpt was written"; fail=1; }
expect 1 "missing image" -- cr -r -f /nonexistent.kckpt
expect 7 "not an image" -- cr -r -f /init
exit $fail
