#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# test/deps, which make demo and make check run first: the packages of
# share/deps by purpose, nothing done when all are there, installed with
# apt-get as root or through password-less sudo, and otherwise one message
# naming what is missing and the command that installs it.
#
# apt-get, sudo, id and sleep are stand-ins on PATH that write down how
# they were called: nothing here installs anything.  dpkg-query is the
# real one, so a package named dmu-test-no-such-package is missing.

load helper

DEPS=$DMU_REPO/test/deps

setup() {
	command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
	    skip "not Debian or Ubuntu"
	PATH=$DMU_BIN:$PATH
	cd "$BATS_TEST_TMPDIR" || fail "no test directory"
	mkdir bin
	PATH=$BATS_TEST_TMPDIR/bin:$PATH
	export CALLS=$BATS_TEST_TMPDIR/calls
	stand_in apt-get 'echo "apt-get $*" >>"$CALLS"; exit 0'
	stand_in sleep 'echo "sleep $*" >>"$CALLS"'
	# A list with an installed package (dpkg is essential) and a missing
	# one, each with a purpose.
	cat >list <<-'EOF'
	# test list
	[base] what every Debian system has
	dpkg			sh
	[extra] something nobody has
	dmu-test-no-such-package	/nonexistent/dmu-test
	EOF
	export DMU_DEPS_LIST=$BATS_TEST_TMPDIR/list
}

teardown() { :; }

# stand_in NAME BODY: a command NAME on PATH running BODY.
stand_in() {
	printf '#!/bin/sh\n%s\n' "$2" >"bin/$1"
	chmod +x "bin/$1"
}

# as_root: id -u says 0, whoever runs the suite.
as_root() {
	stand_in id 'if [ "$1" = -u ]; then echo 0; else exec /usr/bin/id "$@"; fi'
}

# plain_user [SUDO-BODY]: id -u says 1000; sudo runs SUDO-BODY (default:
# a sudo that wants a password).
plain_user() {
	stand_in id 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi'
	stand_in sudo "${1:-echo \"sudo \$*\" >>\"\$CALLS\"; echo 'sudo: a password is required' >&2; exit 1}"
}

@test "deps: everything there: silent, exit 0, and no apt-get or sudo at all" {
	plain_user
	run "$DEPS" -w "make demo" base
	assert_success
	assert_output ''
	[ ! -e "$CALLS" ]
	# The real list: make demo's packages are on this machine.
	unset DMU_DEPS_LIST
	run "$DEPS" -w "make demo" build demo
	assert_success
	assert_output ''
	[ ! -e "$CALLS" ]
}

@test "deps: a plain user without sudo: one message naming the package, its purpose and the command; nothing run" {
	plain_user
	run "$DEPS" -w "make demo" base extra
	assert_failure 1
	assert_output "make demo: missing Debian packages: dmu-test-no-such-package (extra); install them with: sudo apt-get install --no-install-recommends dmu-test-no-such-package"
	# sudo was only asked whether it needs a password.
	run cat "$CALLS"
	assert_output 'sudo -n true'
}

@test "deps: a plain user on a system without sudo is told to use su" {
	stand_in id 'if [ "$1" = -u ]; then echo 1000; else exec /usr/bin/id "$@"; fi'
	# A PATH without sudo: the stand-ins and the tools test/deps uses.
	local t
	mkdir sys
	for t in sh awk sed cat dirname paste sort grep head dpkg dpkg-query; do
		ln -s "$(command -v "$t")" sys/
	done
	PATH=$BATS_TEST_TMPDIR/bin:$BATS_TEST_TMPDIR/sys run "$DEPS" -w "make check" extra
	assert_failure 1
	assert_output "make check: missing Debian packages: dmu-test-no-such-package (extra); install them with: su -c 'apt-get install --no-install-recommends dmu-test-no-such-package'"
	[ ! -e "$CALLS" ]
}

@test "deps: as root: says which and why, apt-get update first, then install; a package still missing fails clearly" {
	as_root
	run "$DEPS" -w "make demo" base extra
	assert_failure 1
	assert_line --index 0 "make demo: installing the missing Debian packages: dmu-test-no-such-package (extra)"
	assert_line "make demo: FAILED to install: dmu-test-no-such-package (apt-get install exited 0)"
	run cat "$CALLS"
	assert_output - <<-'EOF'
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends dmu-test-no-such-package
	EOF
}

@test "deps: a plain user with password-less sudo installs through sudo -n" {
	plain_user 'echo "sudo $*" >>"$CALLS"; [ "$1" = -n ] && shift; [ "$1" = true ] && exit 0; exec "$@"'
	run "$DEPS" -w "make check" extra
	assert_failure 1
	assert_line --index 0 "make check: installing the missing Debian packages: dmu-test-no-such-package (extra)"
	run cat "$CALLS"
	assert_output - <<-'EOF'
	sudo -n true
	sudo -n apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	sudo -n apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends dmu-test-no-such-package
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends dmu-test-no-such-package
	EOF
}

@test "deps: apt-get update failing twice does not stop it: the install is tried and decides" {
	as_root
	stand_in apt-get 'echo "apt-get $*" >>"$CALLS"
case " $* " in *" update "*) echo "E: Failed to fetch http://mirror/dists/x/InRelease" >&2; exit 100 ;; esac; exit 0'
	run "$DEPS" -w "make demo" extra
	assert_failure 1
	assert_line "make demo: apt-get update failed; trying again in 10 s"
	assert_line --partial "make demo: apt-get update failed twice; going on with the indexes there are: E: Failed to fetch"
	assert_line "make demo: FAILED to install: dmu-test-no-such-package (apt-get install exited 0)"
	run cat "$CALLS"
	assert_output - <<-'EOF'
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	sleep 10
	apt-get -o DPkg::Lock::Timeout=300 update -qq
	apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends dmu-test-no-such-package
	EOF
}

@test "deps: -c checks only: root is told the command, nothing is run" {
	as_root
	run "$DEPS" -c -w "make check" extra
	assert_failure 1
	assert_output "make check: missing Debian packages: dmu-test-no-such-package (extra); install them with: apt-get install --no-install-recommends dmu-test-no-such-package"
	[ ! -e "$CALLS" ]
}

@test "deps: elsewhere (no dpkg-query, no apt-get): what is missing by its probe, exit 1" {
	local t
	mkdir sys
	for t in sh awk sed cat dirname paste id sort grep head; do
		ln -s "$(command -v "$t")" sys/
	done
	PATH=$BATS_TEST_TMPDIR/sys run "$DEPS" -w "make demo" base extra
	assert_failure 1
	assert_output --partial "make demo: missing: dmu-test-no-such-package (extra: no /nonexistent/dmu-test); this is not Debian or Ubuntu: install their equivalents"
	[ ! -e "$CALLS" ]
}

@test "deps: an unknown purpose is refused (exit 2); -l lists a purpose's packages" {
	run "$DEPS" -w "make demo" nope
	assert_failure 2
	assert_output "make demo: no purpose 'nope' in $DMU_DEPS_LIST"
	run "$DEPS" -l base extra
	assert_success
	assert_output - <<-'EOF'
	dpkg
	dmu-test-no-such-package
	EOF
}

@test "deps: make demo and make check stop before compiling when packages are missing" {
	plain_user
	printf '[build] b\ndmu-test-no-such-package x\n[demo] d\n[test] t\n' >list
	# As a user runs them: not under a make whose variables (DEPS=true in
	# a package build) would pass on.
	unset MAKEFLAGS MFLAGS MAKELEVEL
	cd "$DMU_REPO"
	run make demo
	assert_failure
	assert_line --index 0 --partial "make demo: missing Debian packages: dmu-test-no-such-package (build); install them with: sudo apt-get install"
	refute_output --partial "cc "
	run make check
	assert_failure
	assert_line --index 0 --partial "make check: missing Debian packages: dmu-test-no-such-package (build)"
	refute_output --partial "test/run"
}

@test "deps: share/deps has every purpose .ci/run and the Makefile ask for, and .ci/run installs only through it" {
	unset DMU_DEPS_LIST
	local p
	for p in build demo test variants cross packaging stores rpm-arch fresh; do
		"$DEPS" -l "$p" >/dev/null || fail "no purpose $p in share/deps"
	done
	run "$DEPS" -l stores
	assert_output - <<-'EOF'
	mosquitto
	mosquitto-clients
	influxdb
	postgresql
	EOF
	! grep -q 'apt-get install' "$DMU_REPO/.ci/run"
	grep -q 'test/deps' "$DMU_REPO/.ci/run"
}
