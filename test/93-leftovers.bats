#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Nothing left behind: make demo (test/demo) however it ends, and the test
# suite's own check (test/run) for processes that outlive it.

load helper

# demo_gone DIR: no process runs with DIR in its command line (the demo's
# simulator names its files there) or as its working directory, and DIR
# holds nothing (no dmu-demo.* with its private key and API key).
demo_gone() {
	local p
	for p in $(pgrep -f -- "$1/dmu-demo" || :); do
		[ "$p" = "$$" ] && continue
		fail "left running: $(tr '\0' ' ' </proc/"$p"/cmdline 2>/dev/null)"
	done
	run ls -A "$1"
	assert_output ""
}

# demo_started OUT: the demo has written OUT up to the pin check, so its
# simulator runs and its directory holds the keys.
demo_started() {
	grep -q 'dmu-pin-check' "$1" 2>/dev/null
}

@test "demo: its output pipe closed early (make demo | head -3), nothing is left" {
	command -v jq >/dev/null || skip "jq is not installed"
	mkdir t
	run bash -c "TMPDIR=$PWD/t '$DMU_REPO/test/demo' 2>/dev/null 3>&- | head -n 3"
	assert_line -n 0 --partial "listens on"
	# The pipeline has ended, so has the demo: its cleanup ran before.
	demo_gone "$PWD/t"
}

@test "demo: Ctrl-C (SIGINT to its process group) or SIGTERM, nothing is left" {
	command -v jq >/dev/null || skip "jq is not installed"
	command -v setsid >/dev/null || skip "setsid is not installed"
	for sig in INT TERM HUP; do
		# The last round's out would show this one started before the
		# new demo's redirection has emptied it.
		rm -rf t out err && mkdir t
		# As from a terminal: a command started with & here would
		# ignore SIGINT, and a shell cannot trap what it was started
		# ignoring.
		TMPDIR=$PWD/t setsid env --default-signal=INT \
		    "$DMU_REPO/test/demo" </dev/null >out 2>err 3>&- &
		pid=$!
		BG_GROUPS+=("$pid")
		wait_until 30 demo_started out || fail "$sig: no start: $(cat out err)"
		[ -n "$(ls -A t)" ] || fail "$sig: the demo has no directory"
		if [ "$sig" = INT ]; then
			kill -INT -- "-$pid"	# as a terminal's Ctrl-C does
		else
			kill "-$sig" "$pid"	# the script alone
		fi
		exit_wait "$pid" 30 || fail "$sig: the demo did not end"
		[ "$EXIT_STATUS" -ne 0 ] || fail "$sig: exit 0"
		demo_gone "$PWD/t"
	done
}

@test "demo: a failing step (here jq) ends it, nothing is left" {
	command -v setsid >/dev/null || skip "setsid is not installed"
	mkdir t bin
	printf '#!/bin/sh\nexit 3\n' >bin/jq
	chmod +x bin/jq
	run env PATH="$PWD/bin:$PATH" TMPDIR="$PWD/t" "$DMU_REPO/test/demo"
	assert_failure
	[[ $output == *"dmu-pin-check"* ]] || fail "it failed too early: $output"
	demo_gone "$PWD/t"
}

@test "suite: the check at the end of test/run fails on a process the suite left running, names it and ends it" {
	mkdir suite
	mark=check-$$-$RANDOM
	# Nothing marked: silent, 0.
	run --separate-stderr "$DMU_TEST_DIR/leftovers" "$mark" "$PWD/suite"
	assert_success
	assert_equal "$stderr" ""
	# One with the mark in its environment; one with no environment at
	# all, in the suite's directory, which is then deleted.
	DMU_TEST_RUN=$mark sleep 3601 </dev/null >/dev/null 2>&1 3>&- &
	p1=$!
	BG_PIDS+=("$p1")
	mkdir suite/t
	(cd suite/t && exec env -i sleep 3602 </dev/null >/dev/null 2>&1 3>&-) &
	p2=$!
	BG_PIDS+=("$p2")
	wait_until 5 grep -q 3602 /proc/$p2/cmdline
	rm -rf suite/t
	# A process of another run (another mark) is none of its business.
	DMU_TEST_RUN=other-$mark sleep 3603 </dev/null >/dev/null 2>&1 3>&- &
	p3=$!
	BG_PIDS+=("$p3")
	run --separate-stderr "$DMU_TEST_DIR/leftovers" "$mark" "$PWD/suite"
	assert_failure 1
	[[ $stderr == *"left running by the suite: PID $p1: sleep 3601"* ]] ||
	    fail "the first is not named: $stderr"
	[[ $stderr == *"left running by the suite: PID $p2: sleep 3602"*"(deleted)"* ]] ||
	    fail "the second is not named: $stderr"
	[[ $stderr != *"PID $p3"* ]] || fail "another run's process: $stderr"
	# They were ended; the other run's was not.
	bg_wait "$p1" 10
	bg_wait "$p2" 10
	kill -0 "$p3" || fail "another run's process was ended"
}

@test "suite: test/run fails when its suite leaves a process running" {
	# test/run ends with the check, with its mark and its TMPDIR.
	grep -q '^"$here/leftovers" "$DMU_TEST_RUN" "$suite_tmp" || left=1$' \
	    "$DMU_TEST_DIR/run" || fail "test/run does not call the check"
	grep -q '^TMPDIR=$suite_tmp bats ' "$DMU_TEST_DIR/run" ||
	    fail "test/run does not give bats its TMPDIR"
}
