#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dmu-get follow: the collector.  Every report once and in order through
# device errors, cuts and restarts; the state file; -d; signals and write
# errors; serial gaps; a changed certificate at reconnection.

load helper-get

# ts_of SERIAL: the timestamp the device gives that serial (from curl).
ts_of() {
	oracle "/reports/$1" | jq -r .timestamp
}

# follow ARGS...: dmu-get -t 2 ARGS... $DEV follow in the foreground, ended
# after 15 s at most (exit 124 then).
follow() {
	timeout 15 dmu-get -t "$T" "$@" "$DEV" follow </dev/null
}

# log_count ERE: how many lines of a.log match.
log_count() {
	grep -Ec -- "$1" a.log
}

# at_least N COMMAND...: COMMAND prints a number >= N.
at_least() {
	local n=$1
	shift
	[ "$("$@")" -ge "$n" ]
}

# follow_bg OUT ERR ARGS...: dmu-get -t 2 ARGS... $DEV follow in the
# background.
follow_bg() {
	local out=$1 err=$2
	shift 2
	bg "$out" "$err" dmu-get -t "$T" "$@" "$DEV" follow
}

@test "follow: writes what is pending, then each new report, and -n ends it" {
	sim_up a -n 3
	follow_bg out err -n 5 -w 2
	wait_lines out 3
	wait_log a "GET $APP_BASE/wait\\?lastSerial=3&timeout=2\$"
	ctl "gen 2" >/dev/null
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	assert_equal "$(cat err)" ""
	assert_ndjson "$(cat out)"
	assert_equal "$(serials "$(cat out)")" "1 2 3 4 5"
	assert_equal "$(fields <out)" "$(oracle_reports /reports)"
	in_log a "GET $APP_BASE/wait\\?lastSerial=0&timeout=2\$" ||
	    fail "the first long poll is not lastSerial=0: $(cat a.log)"
}

@test "follow: long polls that time out (204) are asked again on one kept-alive connection" {
	sim_up a -n 1
	follow_bg out err -n 2 -w 1
	wait_lines out 1
	# Empty long polls in a row, with the same lastSerial.
	wait_until 5 at_least 2 log_count "GET $APP_BASE/wait\\?lastSerial=1&timeout=1\$" ||
	    fail "not asked again: $(cat a.log)"
	ctl "gen 1" >/dev/null
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" "1 2"
	assert_equal "$(cat err)" ""
	assert_equal "$(grep -c '^conn ' a.log)" 1
}

@test "follow: through a burst of 503 answers every report arrives once, in order, with growing back-off" {
	sim_up a -n 2
	follow_bg out err -n 6 -w 5
	wait_lines out 2
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=5\$"
	ctl "fail 3 503" >/dev/null
	ctl "gen 2" >/dev/null	# answers the long poll already waiting
	wait_lines out 4
	ctl "gen 2" >/dev/null	# behind the three 503 answers
	bg_wait "$BG_PID" 12
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" "1 2 3 4 5 6"
	assert_equal "$(fields <out)" "$(oracle_reports /reports)"
	assert_equal "$(grep -c 'HTTP 503; trying again in' err)" 3
	# About 1 s, 2 s, 4 s, each with +-25 % jitter.
	mapfile -t d < <(sed -n 's/.*HTTP 503; trying again in \([0-9.]*\) s$/\1/p' err)
	awk -v a="${d[0]}" -v b="${d[1]}" -v c="${d[2]}" 'BEGIN {
	    exit !(a >= 0.7 && a <= 1.3 && b >= 1.4 && b <= 2.6 && c >= 2.9 && c <= 5.1) }' ||
	    fail "back-off ${d[*]}: $(cat err)"
}

@test "follow: answers cut in the middle lose and repeat nothing" {
	sim_up a -n 2
	follow_bg out err -n 6 -w 5
	wait_lines out 2
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=5\$"
	ctl "cut 2" >/dev/null
	ctl "gen 2" >/dev/null
	wait_lines out 4 8
	ctl "gen 2" >/dev/null
	bg_wait "$BG_PID" 8
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" "1 2 3 4 5 6"
	assert_equal "$(fields <out)" "$(oracle_reports /reports)"
	grep -q "$DEV: .*connection closed.*trying again in" err ||
	    fail "no warning for the cut: $(cat err)"
}

@test "follow: a device restart is warned about and its new reports are read from serial 1" {
	sim_up a -n 3
	follow_bg out err -n 6 -w 5
	wait_lines out 3
	wait_log a "GET $APP_BASE/wait\\?lastSerial=3&timeout=5\$"
	ctl restart >/dev/null
	wait_log a "GET $APP_BASE/wait\\?lastSerial=0&timeout=5\$"
	ctl "gen 3" >/dev/null
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" "1 2 3 1 2 3"
	assert_equal "$(sed -n '4,6p' out | fields)" "$(oracle_reports /reports)"
	grep -q "$DEV: the device restarted" err || fail "no warning: $(cat err)"
}

@test "follow: Retry-After is honoured" {
	sim_up a -n 1
	ctl "fail 1 503 2" >/dev/null
	t0=$(now_ms)
	run --separate-stderr follow -n 1 -w 2
	ms=$(elapsed_ms "$t0")
	assert_success
	assert_equal "$(serials "$output")" 1
	[[ $stderr == *"HTTP 503; trying again in 2.0 s"* ]] || fail "stderr: $stderr"
	# The plain back-off would be 0.75 to 1.25 s.
	[ "$ms" -ge 1950 ] && [ "$ms" -lt $((4000 * SLOW)) ] || fail "took $ms ms"
}

@test "follow -s: a second run resumes after the state file without duplicates" {
	sim_up a -n 10
	run --separate-stderr follow -n 3 -w 1 -s st
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(serials "$output")" "1 2 3"
	# The state file holds "SERIAL TIMESTAMP" of the last report written.
	assert_equal "$(cat st)" "3 $(ts_of 3)"
	[[ $(cat st) =~ ^3\ [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$ ]] ||
	    fail "state: $(cat st)"
	run --separate-stderr follow -n 3 -w 1 -s st
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(serials "$output")" "4 5 6"
	assert_equal "$(fields <<<"$output")" "$(oracle_reports "/wait?lastSerial=3" | head -n 3)"
	assert_equal "$(cat st)" "6 $(ts_of 6)"
	in_log a "GET $APP_BASE/wait\\?lastSerial=3&timeout=1\$" ||
	    fail "did not resume with lastSerial=3: $(cat a.log)"
	# No temporary file is left beside it.
	assert_equal "$(ls st*)" st
}

@test "follow -s: a malformed state file exits 7 before connecting" {
	sim_up a -n 1
	for bad in "garbage" "3" "-1 2025-01-01T00:00:00Z" "x 2025-01-01T00:00:00Z"; do
		printf '%s\n' "$bad" >st
		run --separate-stderr follow -n 1 -s st
		assert_equal "$status" 7
		assert_output ""
		[[ $stderr == *"st:1"* ]] || fail "'$bad': $stderr"
		assert_equal "$(cat st)" "$bad"
	done
	sim_sync
	if in_log a '^conn '; then
		fail "connected with a bad state file: $(cat a.log)"
	fi
}

@test "follow -d: deletes exactly what was written, by serial, never on /wait" {
	sim_up a -n 5
	run --separate-stderr follow -d -n 2 -w 1 -s st
	assert_success
	assert_equal "$(serials "$output")" "1 2"
	assert_equal "$(cat st)" "2 $(jq -r .timestamp <<<"${lines[1]}")"
	assert_equal "$(stat_of reports)" 3
	assert_equal "$(stat_of first)" 3
	assert_equal "$(stat_of deletes)" 2
	for s in 1 2; do
		run --separate-stderr dmu-get -t "$T" "$DEV" "$s" </dev/null
		assert_equal "$status" 6
		[[ $stderr == *"Report with serial $s not found"* ]] || fail "$s: $stderr"
	done
	run --separate-stderr dmu-get -t "$T" "$DEV" list </dev/null
	assert_equal "$(serials "$output")" "3 4 5"
	in_log a "GET $APP_BASE/reports/1\\?delete=true\$" || fail "$(cat a.log)"
	in_log a "GET $APP_BASE/reports/2\\?delete=true\$" || fail "$(cat a.log)"
	if in_log a "/wait.*delete"; then
		fail "delete on /wait: $(cat a.log)"
	fi
	if in_log a "reports/[345]\\?delete"; then
		fail "deleted what was not written: $(cat a.log)"
	fi
}

@test "follow: a 401 exits 6 at once, without the key" {
	sim_up a -n 2
	ctl "key OTHER:KEY" >/dev/null
	t0=$(now_ms)
	run --separate-stderr follow -w 5 -s st
	ms=$(elapsed_ms "$t0")
	assert_equal "$status" 6
	assert_output ""
	[[ $stderr == *"$DEV"*"HTTP 401"*"Unauthorized"* ]] || fail "stderr: $stderr"
	[[ $stderr == *"$DEV: the device refused the API key from key file $DMU_API_KEY_FILE (\$DMU_API_KEY_FILE); dmu sends it base64-encoded"* ]] ||
	    fail "stderr: $stderr"
	refute_key
	[ "$ms" -lt "$LATE_MS" ] || fail "took $ms ms: retried?"
	assert_equal "$(grep -c '^request ' a.log)" 1
	[ ! -e st ] || fail "state written: $(cat st)"
}

@test "follow: a 401 after some reports exits 6 and keeps the state of what was written" {
	sim_up a -n 2
	follow_bg out err -w 1 -s st
	wait_lines out 2
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=1\$"
	ctl "key OTHER:KEY" >/dev/null
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 6
	grep -q "HTTP 401" err || fail "stderr: $(cat err)"
	assert_equal "$(serials "$(cat out)")" "1 2"
	assert_equal "$(cat st)" "2 $(jq -r .timestamp <<<"$(tail -n 1 out)")"
}

@test "follow: SIGTERM or SIGINT while waiting exits 0 with the state saved" {
	sim_up a -n 2
	for sig in TERM INT; do
		rm -f st out err
		: >a.log
		follow_bg out err -w 30 -s st
		wait_lines out 2
		wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=30\$"
		t0=$(now_ms)
		kill -s "$sig" "$BG_PID"
		bg_wait "$BG_PID" 10
		ms=$(elapsed_ms "$t0")
		[ "$BG_STATUS" -eq 0 ] || fail "SIG$sig: exit $BG_STATUS: $(cat err)"
		[ "$ms" -lt "$LATE_MS" ] || fail "SIG$sig: took $ms ms"
		assert_equal "$(serials "$(cat out)")" "1 2"
		assert_equal "$(cat st)" "2 $(ts_of 2)"
	done
}

@test "follow: a write error on stdout exits 1 and does not move the state on" {
	sim_up a -n 4
	printf '1 %s\n' "$(ts_of 1)" >st
	cp st st.before
	run --separate-stderr to_full follow -d -w 1 -s st
	assert_equal "$status" 1
	[[ $stderr == *"write error"* || $stderr == *"No space left"* ]] || fail "stderr: $stderr"
	cmp st st.before || fail "state moved on: $(cat st)"
	# Nothing was deleted: nothing was written.
	assert_equal "$(stat_of deletes)" 0
	# The same into a pipe nobody reads.
	run --separate-stderr to_closed_pipe timeout 15 dmu-get -t "$T" -d -w 1 -s st "$DEV" follow
	assert_equal "$status" 1
	[ -n "$stderr" ] || fail "no message"
	cmp st st.before || fail "state moved on: $(cat st)"
	assert_equal "$(stat_of deletes)" 0
	# And the next run still starts after serial 1.
	run --separate-stderr follow -n 3 -w 1 -s st
	assert_success
	assert_equal "$(serials "$output")" "2 3 4"
}

@test "follow: serials lost in a buffer overflow are reported on stderr" {
	sim_up a -b 4 -n 1
	printf '1 %s\n' "$(ts_of 1)" >st
	ctl "gen 9" >/dev/null	# 2..10, of which the device keeps 7..10
	assert_equal "$(stat_of first)" 7
	run --separate-stderr follow -n 4 -w 1 -s st
	assert_success
	assert_equal "$(serials "$output")" "7 8 9 10"
	[[ $stderr == *"$DEV"*"serials 2 to 6 were lost"* ]] || fail "stderr: $stderr"
	assert_equal "$(cat st)" "10 $(ts_of 10)"
}

@test "follow: another certificate at reconnection exits 4 and sends nothing" {
	sim_up a -n 2
	follow_bg out err -w 1 -s st
	wait_lines out 2
	# The device goes away; an impostor takes its address.
	kill "${SIM_PIDS[-1]}"
	wait "${SIM_PIDS[-1]}" 2>/dev/null
	mkcert b ec
	start_sim b -p "$PORT" -n 5
	bg_wait "$BG_PID" 8
	assert_equal "$BG_STATUS" 4
	grep -q "$DEV: certificate mismatch: presented $(fpr_colon b), pinned $(fpr_colon a)" err ||
	    fail "stderr: $(cat err)"
	grep -qF "$DEV: look first: dmu-certdb seen $DEV; only if the device itself was replaced, re-learn it with the fingerprint read off the device: dmu-learn -F FINGERPRINT $DEV | dmu-certdb add -r" err ||
	    fail "stderr: $(cat err)"
	assert_equal "$(serials "$(cat out)")" "1 2"
	assert_equal "$(cat st)" "2 $(jq -r .timestamp <<<"$(tail -n 1 out)")"
	sim_log_settled b || fail "b.log: $(cat b.log)"
	grep -Eq '^handshake [0-9]+ fail' b.log || fail "b.log: $(cat b.log)"
	if grep -q '^request ' b.log || grep '^rxbytes ' b.log | grep -qv ' 0$'; then
		fail "something was sent to the impostor: $(cat b.log)"
	fi
	if grep -q "$KEY_TEXT\|$KEY_B64" err out; then
		fail "the key was printed"
	fi
}

@test "follow: a state whose serial now has another timestamp means a restart: warn, read from 1" {
	sim_up a -n 3
	run --separate-stderr follow -n 3 -w 1 -s st
	assert_success
	old=$(cat st)
	# The device restarts and makes five new reports, a minute later by
	# its clock (set, so that no test waits for the real one to tick).
	ctl restart >/dev/null
	ctl "clock +60" >/dev/null
	ctl "gen 5" >/dev/null
	[ "$(ts_of 3)" != "${old#* }" ] || fail "same timestamp: $(ts_of 3)"
	run --separate-stderr follow -n 5 -w 1 -s st
	assert_success
	assert_equal "$(serials "$output")" "1 2 3 4 5"
	assert_equal "$(fields <<<"$output")" "$(oracle_reports /reports)"
	[[ $stderr == *"$DEV: the device restarted: its serial 3 now has timestamp $(ts_of 3), not ${old#* }"* ]] ||
	    fail "stderr: $stderr"
	assert_equal "$(cat st)" "5 $(ts_of 5)"
}

@test "follow: a failing continuity check backs off like any network error" {
	sim_up a -n 3
	printf '3 %s\n' "$(ts_of 3)" >st
	: >a.log
	ctl "cut 2" >/dev/null	# the answers to GET /reports/3 after (re)connecting
	ctl "gen 1" >/dev/null
	t0=$(now_ms)
	run --separate-stderr follow -n 1 -w 1 -s st
	ms=$(elapsed_ms "$t0")
	assert_success
	assert_equal "$(serials "$output")" 4
	assert_equal "$(grep -c "GET $APP_BASE/reports/3\$" a.log)" 3
	# Two failures: about 1 + 2 s of back-off, not a reconnection loop as
	# fast as the device answers, and each one said on stderr.
	[ "$ms" -ge 2000 ] || fail "two failures in $ms ms: no back-off"
	[ "$(grep -c 'trying again' <<<"$stderr")" -eq 2 ] || fail "stderr: '$stderr'"
}

@test "follow: a malformed answer exits 7 and does not move the state on" {
	sim_up a -n 2
	follow_bg out err -w 1 -s st
	wait_lines out 2
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=1\$"
	cp st st.before
	ctl "malformed 1" >/dev/null
	ctl "gen 2" >/dev/null
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 7
	grep -q "$DEV: .*malformed" err || fail "stderr: $(cat err)"
	assert_equal "$(serials "$(cat out)")" "1 2"
	cmp st st.before || fail "state moved on: $(cat st)"
}

@test "follow: a second, unrequested answer (serial 999) is never read: nothing lost or repeated, one warning" {
	sim_up a -n 2
	follow_bg out err -n 7 -w 5
	wait_lines out 2
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=5\$"
	# The answer to the waiting poll carries a smuggled one behind it, in
	# its TLS record; then one in a record of its own.
	ctl "trail 1 answer 999" >/dev/null
	ctl "gen 2" >/dev/null
	wait_lines out 4
	wait_log a "GET $APP_BASE/wait\\?lastSerial=4&timeout=5\$"
	ctl "trail 1 answer 999 apart" >/dev/null
	ctl "gen 2" >/dev/null
	wait_lines out 6
	wait_log a "GET $APP_BASE/wait\\?lastSerial=6&timeout=5\$"
	ctl "gen 1" >/dev/null
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	# Each answer followed by more closed its connection.
	assert_equal "$(grep -c '^conn ' a.log)" 3
	assert_equal "$(serials "$(cat out)")" "1 2 3 4 5 6 7"
	assert_equal "$(fields <out)" "$(oracle_reports /reports)"
	! grep -q '"serial":999,' out || fail "smuggled: $(cat out)"
	! grep -q "lost" err || fail "$(cat err)"
	assert_equal "$(grep -c 'sent data after a complete answer' err)" 1
	assert_equal "$(wc -l <err)" 1
}

@test "follow: a stray CRLF after an answer and after a 5xx answer neither stops it nor loses a report" {
	sim_up a -n 2
	follow_bg out err -n 4 -w 1 -s st
	wait_lines out 2
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=1\$"
	ctl "trail 1 crlf" >/dev/null
	ctl "gen 1" >/dev/null
	wait_lines out 3
	# The new connection's continuity check (GET /reports/3) comes first.
	wait_log a "GET $APP_BASE/wait\\?lastSerial=3&timeout=1\$"
	# Two 503 answers to the polls that follow, the second with a
	# smuggled answer behind it: the retry after the back-off, on the same
	# path, does not take that for its answer.
	ctl "fail 2 503" >/dev/null
	wait_until 10 file_has err "HTTP 503; trying again" ||
	    fail "no 503: $(cat err)"
	ctl "trail 1 answer 999" >/dev/null
	wait_until 10 file_has err "HTTP 503; trying again" 2 ||
	    fail "no second 503: $(cat err)"
	ctl "gen 1" >/dev/null
	bg_wait "$BG_PID" 15
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" "1 2 3 4"
	assert_equal "$(fields <out)" "$(oracle_reports /reports)"
	assert_equal "$(cat st)" "4 $(ts_of 4)"
	! grep -q '"serial":999,' out || fail "smuggled: $(cat out)"
	! grep -q "malformed" err || fail "$(cat err)"
	assert_equal "$(grep -c 'sent data after a complete answer' err)" 1
}

@test "follow: a folded Retry-After (obs-fold) is unfolded and honoured" {
	sim_up a -n 1
	ctl "fail 1 503 2" >/dev/null
	ctl "fold 2" >/dev/null
	run --separate-stderr follow -n 1 -w 2
	assert_success
	assert_equal "$(serials "$output")" 1
	[[ $stderr == *"HTTP 503; trying again in 2.0 s"* ]] || fail "stderr: $stderr"
}
