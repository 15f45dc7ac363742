#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dmu-get follow -x: the acknowledged hand-off.  A batch's lines go to a
# command's standard input; only its exit status 0 moves the state on and
# lets -d delete; a failure, a signal or a time-out hands the same reports
# again after the back-off.  The sinks are small sh commands that write
# files, so every verdict waits on a file, never on the clock.

load helper-get

# handoff_bg OUT ERR ARGS...: dmu-get -t 2 ARGS... $DEV follow in the
# background (the sink command is among ARGS).
handoff_bg() {
	local out=$1 err=$2
	shift 2
	bg "$out" "$err" dmu-get -t "$T" "$@" "$DEV" follow
}

# tries_sink N: a sink that keeps each batch it is handed in batch.K (K
# counted in the file tries), exits 1 for the first N batches and then
# appends the batch to got and exits 0.
tries_sink() {
	printf '%s' "k=\$((\$(cat tries 2>/dev/null || echo 0) + 1)); echo \$k >tries; cat >batch.\$k; [ \$k -gt $1 ] || exit 1; cat batch.\$k >>got"
}

# mtime_ms FILE: the file's modification time in milliseconds.
mtime_ms() {
	local t
	t=$(stat -c %.3Y "$1")
	echo $((${t/./}))
}

@test "-x: the lines go to the command's stdin, not stdout; exit 0 moves the state on and -d deletes" {
	sim_up a -n 3
	run --separate-stderr timeout 15 dmu-get -t "$T" -d -n 3 -w 1 -s st \
	    -x 'printf "%s\n" "$DMU_DEVICE" >>dev; cat >>got' "$DEV" follow </dev/null
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	assert_ndjson "$(cat got)"
	assert_equal "$(serials "$(cat got)")" "1 2 3"
	assert_equal "$(uniq dev)" "$DEV"
	assert_equal "$(cat st)" "3 $(jq -r .timestamp <<<"$(tail -n 1 got)")"
	assert_equal "$(stat_of deletes)" 3
	assert_equal "$(stat_of reports)" 0
	# Exactly the lines stdout gets without -x.
	sim_up b -n 3
	run --separate-stderr timeout 15 dmu-get -t "$T" -n 3 -w 1 "$DEV" follow </dev/null
	assert_success
	run --separate-stderr timeout 15 dmu-get -t "$T" -n 3 -w 1 -x 'cat >got.b' "$DEV" follow </dev/null
	assert_success
	assert_equal "$(cat got.b)" "$(timeout 15 dmu-get -t "$T" -n 3 -w 1 "$DEV" follow </dev/null)"
}

@test "-x: a command that exits 1 is a warning with the status; nothing deleted, the same lines again after a growing back-off" {
	sim_up a -n 3
	handoff_bg out err -d -n 3 -w 1 -s st -x "$(tries_sink 2)"
	wait_until 20 has_lines got 3 || fail "not acknowledged: $(cat err)"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(cat out)" ""
	# Twice refused, with the status, then taken.
	assert_equal "$(grep -c 'sink: exit status 1; handing 3 reports again in' err)" 2
	cmp batch.1 batch.2 && cmp batch.2 batch.3 || fail "not the same lines"
	assert_equal "$(serials "$(cat got)")" "1 2 3"
	# The back-off: about 1 s, then about 2 s (25 % jitter either way).
	d1=$(($(mtime_ms batch.2) - $(mtime_ms batch.1)))
	d2=$(($(mtime_ms batch.3) - $(mtime_ms batch.2)))
	[ "$d1" -ge 700 ] || fail "first back-off $d1 ms"
	[ "$d2" -ge 1450 ] || fail "second back-off $d2 ms"
	assert_equal "$(cat st)" "3 $(jq -r .timestamp <<<"$(tail -n 1 got)")"
	assert_equal "$(stat_of deletes)" 3
}

@test "-x: refused batches delete nothing and leave no state; a later run hands them again" {
	sim_up a -n 3
	handoff_bg out err -d -w 1 -s st -x "$(tries_sink 1000)"
	wait_until 10 file_has err 'exit status 1' 2 || fail "$(cat err)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	[ ! -e st ] || fail "state written: $(cat st)"
	assert_equal "$(stat_of deletes)" 0
	assert_equal "$(stat_of reports)" 3
	if in_log a "delete=true"; then
		fail "a deletion: $(cat a.log)"
	fi
	run --separate-stderr timeout 15 dmu-get -t "$T" -d -n 3 -w 1 -s st -x 'cat >>got' "$DEV" follow </dev/null
	assert_success
	assert_equal "$(serials "$(cat got)")" "1 2 3"
	assert_equal "$(stat_of deletes)" 3
}
