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

# term_within_second [COMMAND...]: SIGTERM to the collector $BG_PID, then
# COMMAND (something the sink waits for), then waits for it to end: exit
# status 0, within the second that dmu-get(1) promises.
term_within_second() {
	local t0 ms
	t0=$(now_ms)
	kill -TERM "$BG_PID"
	"$@"
	bg_wait "$BG_PID" 5
	ms=$(elapsed_ms "$t0")
	assert_equal "$BG_STATUS" 0
	[ "$ms" -lt $((1000 * SLOW)) ] || fail "SIGTERM took $ms ms"
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

# gone PID: no such process, or only its zombie is left.
gone() {
	[ ! -e "/proc/$1" ] || grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null
}

@test "-x: a command killed by a signal is a warning naming it; nothing deleted, handed again" {
	sim_up a -n 2
	handoff_bg out err -d -w 1 -s st -x 'cat >>seen; [ -e ok ] || kill -9 $$'
	wait_until 10 file_has err 'sink: killed by signal 9 \(Killed\); handing 2 reports again in' ||
	    fail "$(cat err)"
	assert_equal "$(stat_of deletes)" 0
	[ ! -e st ] || fail "state written: $(cat st)"
	touch ok
	wait_until 10 eval '[ -e st ]' || fail "not acknowledged: $(cat err)"
	assert_equal "$(cat st)" "2 $(tail -n 1 seen | jq -r .timestamp)"
	wait_until 5 eval '[ "$(stat_of deletes)" = 2 ]' || fail "deletes: $(stat_of deletes)"
	# Every batch handed was the same two lines.
	assert_equal "$(sort seen | uniq -c | awk '{print $1}' | sort -u | wc -l)" 1
	assert_equal "$(sort -u seen | wc -l)" 2
}

# ts_of SERIAL: the timestamp the device gives that serial (from curl).
ts_of() {
	oracle "/reports/$1" | jq -r .timestamp
}

@test "-x -X: a command still running after the time-out is killed with its process group; nothing is ever deleted" {
	sim_up a -n 2
	handoff_bg out err -d -w 1 -s st -X 1 \
	    -x 'cat >/dev/null; sleep 60 & echo $! >>children; wait'
	wait_until 15 file_has err 'sink: still running after 1 s \(the time-out\); killed; handing 2 reports again in' 2 ||
	    fail "$(cat err)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	while read -r c; do
		wait_until 5 gone "$c" || fail "$c of the process group still runs"
	done <children
	[ "$(wc -l <children)" -ge 2 ] || fail "$(cat children)"
	assert_equal "$(stat_of deletes)" 0
	assert_equal "$(stat_of reports)" 2
	[ ! -e st ] || fail "state written: $(cat st)"
	# -X goes with -x and follow, 1 to 86400 seconds.
	for x in 0 86401 x ''; do
		run --separate-stderr dmu-get -X "$x" -x cat "$DEV" follow </dev/null
		assert_equal "$status" 2
		[[ $stderr == *"invalid time-out"* ]] || fail "-X '$x': $stderr"
	done
	for args in "-x cat" "-X 5"; do
		run --separate-stderr dmu-get $args "$DEV" latest </dev/null
		assert_equal "$status" 2
		[[ $stderr == *"-x and -X go with follow"* ]] || fail "$args: $stderr"
	done
	run --separate-stderr dmu-get -X 5 "$DEV" follow </dev/null
	assert_equal "$status" 2
	[[ $stderr == *"-X goes with -x"* ]] || fail "$stderr"
	run --separate-stderr dmu-get -x '' "$DEV" follow </dev/null
	assert_equal "$status" 2
}

@test "-x: SIGTERM while the command runs: it gets its grace, exit 0 moves the state on" {
	sim_up a -n 3
	handoff_bg out err -d -w 30 -s st \
	    -x 'cat >b; touch started; while [ ! -e go ]; do sleep 0.01; done; cat b >>got'
	wait_until 10 eval '[ -e started ]' || fail "$(cat err)"
	term_within_second touch go
	assert_equal "$(serials "$(cat got)")" "1 2 3"
	assert_equal "$(cat st)" "3 $(ts_of 3)"
	assert_equal "$(cat err)" ""
}

@test "-x: SIGTERM while the command hangs: the collector still ends within a second, the state stays, nothing deleted" {
	sim_up a -n 3
	handoff_bg out err -d -w 30 -s st \
	    -x 'cat >b; touch started; sleep 60 & echo $! >child; wait'
	wait_until 10 eval '[ -s child ]' || fail "$(cat err)"
	term_within_second
	wait_until 5 gone "$(cat child)" || fail "the command's group still runs"
	grep -q 'sink: not finished 500 ms after the stop signal; killed; 3 reports not acknowledged, left for the next run' err ||
	    fail "$(cat err)"
	[ ! -e st ] || fail "state written: $(cat st)"
	assert_equal "$(stat_of deletes)" 0
	assert_equal "$(serials "$(cat b)")" "1 2 3"
}

@test "-x: the API key is in neither the command's environment nor its descriptors" {
	sim_up a -n 2
	# The key from a file, then from the environment; descriptor 5 on
	# the key file is inherited by dmu-get, not by the command.  The
	# command is looked at from outside while it waits, so that the
	# shell's own redirections do not show.
	sink='echo $$ >pid.$n; cat >/dev/null; while [ ! -e go.$n ]; do sleep 0.01; done'
	handoff_bg out err -n 1 -w 1 -x "n=1; $sink" 5<key
	pids=$BG_PID
	unset DMU_API_KEY_FILE
	DMU_API_KEY=$KEY_TEXT handoff_bg out err -n 1 -w 1 -x "n=2; $sink" 5<key
	pids+=" $BG_PID"
	for n in 1 2; do
		wait_until 10 eval "[ -s pid.$n ]" || fail "$n: $(cat err)"
		p=$(cat pid.$n)
		# After "echo >pid", the shell's saved descriptor is closed.
		wait_until 5 eval "[ \"\$(ls /proc/$p/fd | sort -n | tr '\n' ' ')\" = '0 1 2 ' ]" ||
		    fail "$n: descriptors $(ls -l /proc/$p/fd)"
		[[ $(readlink "/proc/$p/fd/0") == pipe:* ]] || fail "stdin: $(ls -l /proc/$p/fd)"
		tr '\0' '\n' <"/proc/$p/environ" >env.$n
		grep -qx "DMU_DEVICE=$DEV" env.$n || fail "no DMU_DEVICE: $(cat env.$n)"
		if grep -q '^DMU_API_KEY' env.$n; then
			fail "$n: $(grep DMU_API_KEY env.$n)"
		fi
		for s in "$KEY_TEXT" "$KEY_B64"; do
			if grep -qF "$s" env.$n "/proc/$p/cmdline"; then
				fail "$n: the key in the command's environment or arguments"
			fi
		done
		touch go.$n
	done
	for p in $pids; do
		bg_wait "$p" 10
		assert_equal "$BG_STATUS" 0
	done
}

@test "-x -n: counts the reports acknowledged, not those handed" {
	sim_up a -n 2
	handoff_bg out err -n 3 -w 5 -s st -x "$(tries_sink 1)"
	wait_until 10 has_lines got 2 || fail "$(cat err)"
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=5\$"
	ctl "gen 2" >/dev/null
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat got)")" "1 2 3"
	assert_equal "$(serials "$(cat batch.1)")" "1 2"
	assert_equal "$(cat st)" "3 $(ts_of 3)"
}

@test "-x -m: failures, reports waiting and the last success, as promtool accepts" {
	command -v promtool >/dev/null ||
	    skip "promtool is not installed (Debian package prometheus)"
	sim_up a -n 3
	handoff_bg out err -w 1 -s st -m s.prom -x 'cat >>seen; [ -e ok ]'
	wait_until 10 file_has s.prom "^dmu_sink_failures_total\\{device=\"$DEV\"\\} [2-9]\$" ||
	    fail "$(cat s.prom)"
	grep -qxF "dmu_sink_waiting_reports{device=\"$DEV\"} 3" s.prom || fail "$(cat s.prom)"
	if grep -q last_success s.prom; then
		fail "a last success before any: $(cat s.prom)"
	fi
	promtool check metrics <s.prom || fail "promtool: $(promtool check metrics <s.prom 2>&1)"
	t0=$(date +%s)
	touch ok
	wait_until 10 grep -qxF "dmu_sink_waiting_reports{device=\"$DEV\"} 0" s.prom ||
	    fail "$(cat s.prom)"
	t=$(sed -n "s/^dmu_sink_last_success_timestamp_seconds{device=\"$DEV\"} //p" s.prom)
	t=${t%.*}
	[ "$t" -ge "$((t0 - 1))" ] && [ "$t" -le "$(($(date +%s) + 1))" ] ||
	    fail "last success $t, not about $t0"
	grep -qxF "dmu_reports_total{device=\"$DEV\"} 3" s.prom || fail "$(cat s.prom)"
	promtool check metrics <s.prom || fail "promtool: $(promtool check metrics <s.prom 2>&1)"
	# The alert (DmuSinkFailing) is tested with the other rules in
	# 95-monitoring.bats.
}

@test "-x: started with SIGCHLD ignored, a failing command is still refused by its status" {
	sim_up a -n 2
	bg out err python3 -c 'import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execvp(sys.argv[1], sys.argv[1:])' dmu-get -t "$T" -d -w 1 -s st -x 'cat >/dev/null; exit 1' "$DEV" follow
	wait_until 10 file_has err 'sink: exit status 1; handing 2 reports again' || fail "$(cat err)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	[ ! -e st ] || fail "state written: $(cat st)"
	assert_equal "$(stat_of deletes)" 0
}

# A sink that keeps each batch in b, says it started, and takes it only once
# the file go exists.
GATED_SINK='cat >b; touch started; while [ ! -e go ]; do sleep 0.01; done; cat b >>got'

@test "-x: a restart with more new reports than the last serial, while the command runs, is seen on the next connection" {
	sim_up a -n 3
	ctl "mode close" >/dev/null	# each answer ends its connection, cleanly
	handoff_bg out err -n 8 -w 1 -s st -x "$GATED_SINK"
	wait_until 10 eval '[ -e started ]' || fail "$(cat err)"
	old=$(ts_of 3)
	# Five new reports, a minute later by the device's clock: /wait after
	# serial 3 would show no restart, only serials 4 and 5.
	ctl restart >/dev/null
	ctl "clock +60" >/dev/null
	ctl "gen 5" >/dev/null
	touch go
	bg_wait "$BG_PID" 15
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat got)")" "1 2 3 1 2 3 4 5"
	assert_equal "$(sed -n '4,8p' got | fields)" "$(oracle_reports /reports)"
	grep -q "$DEV: the device restarted: its serial 3 now has timestamp $(ts_of 3), not $old" err ||
	    fail "stderr: $(cat err)"
	assert_equal "$(wc -l <err)" 1
	assert_equal "$(cat st)" "5 $(ts_of 5)"
}

@test "-x -d: a restart while the command runs: the new report a deletion takes is handed on, the other deletions dropped" {
	sim_up a -n 3
	handoff_bg out err -d -n 8 -w 1 -s st -x "$GATED_SINK"
	wait_until 10 eval '[ -e started ]' || fail "$(cat err)"
	old=$(ts_of 1)
	ctl restart >/dev/null
	ctl "clock +60" >/dev/null
	ctl "gen 5" >/dev/null
	new=$(oracle_reports /reports)
	new1=$(ts_of 1)
	touch go
	bg_wait "$BG_PID" 15
	assert_equal "$BG_STATUS" 0
	# The deletion of the old serial 1 took the new one: handed on, in
	# a batch of its own; then the new epoch from its first report.
	assert_equal "$(serials "$(cat got)")" "1 2 3 1 2 3 4 5"
	assert_equal "$(sed -n '4,8p' got | fields)" "$new"
	grep -q "$DEV: the device restarted: deleting serial 1 took a report of timestamp $new1, not $old; handing it on" err ||
	    fail "stderr: $(cat err)"
	assert_equal "$(wc -l <err)" 1
	assert_equal "$(cat st)" "5 $(jq -r .timestamp <<<"$(tail -n 1 got)")"
	# Serial 1 (which took the new 1), then 2 to 5 once each: the old
	# deletions of 2 and 3 were dropped.
	assert_equal "$(stat_of deletes)" 5
	assert_equal "$(stat_of reports)" 0
}
