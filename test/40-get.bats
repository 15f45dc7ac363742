#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dmu-get: single requests (latest, oldest, a serial, list, wait) against the
# simulator, the key, the application, and hostile or broken answers.

load helper-get

# get ARGS...: dmu-get with the short time-out, stdin from /dev/null.
get() {
	dmu-get -t "$T" "$@" </dev/null
}

@test "get: latest, oldest and a serial are the reports the device serves, field by field" {
	sim_up a -n 5
	for r in latest oldest 3; do
		run --separate-stderr get "$DEV" "$r"
		assert_success
		assert_equal "$stderr" ""
		assert_equal "${#lines[@]}" 1
		assert_ndjson "$output"
		assert_equal "$(fields <<<"$output")" "$(oracle_reports "/reports/$r")"
	done
	run --separate-stderr get "$DEV" latest
	assert_equal "$(jq .serial <<<"$output")" 5
	run --separate-stderr get "$DEV" oldest
	assert_equal "$(jq .serial <<<"$output")" 1
	# latest is the default resource, and a URL names the same device.
	run --separate-stderr get "https://$DEV/"
	assert_success
	assert_ndjson "$output"
	assert_equal "$(fields <<<"$output")" "$(oracle_reports /reports/latest)"
}

@test "get: a URL's path names the resource it asks for, or the URL is refused (2)" {
	sim_up a -n 5
	local u="https://$DEV$APP_BASE"
	# The device manual's URLs: what their path says, not the latest.
	run --separate-stderr get "$u/reports/oldest"
	assert_success
	assert_equal "$(fields <<<"$output")" "$(oracle_reports /reports/oldest)"
	run --separate-stderr get "$u/reports/3/"
	assert_success
	assert_equal "$(jq .serial <<<"$output")" 3
	run --separate-stderr get "$u/reports"
	assert_success
	assert_equal "$(fields <<<"$output")" "$(oracle_reports /reports)"
	run --separate-stderr get -w 1 "$u/wait"
	assert_success
	assert_equal "$(jq -s length <<<"$output")" 5
	run --separate-stderr get "$u"
	assert_equal "$(jq .serial <<<"$output")" 5
	# The same resource on the command line too is fine; another one is not.
	run --separate-stderr get "$u/reports/3" 3
	assert_success
	run --separate-stderr get "$u/reports/oldest" latest
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "dmu-get: the URL names resource 'oldest' but the command line 'latest': give one of them"
	run --separate-stderr get -n 1 "$u/wait" follow
	assert_success
	assert_equal "$(jq .serial <<<"$output")" 1
	# The application of the path is the one asked, over $DMU_APP; -a
	# that says another is refused.
	run --separate-stderr env DMU_APP=nope dmu-get -t "$T" "$u/reports/2"
	assert_success
	assert_equal "$(jq .serial <<<"$output")" 2
	run --separate-stderr get "https://$DEV/api/application/other_app/reports/v1/reports/2"
	assert_failure 6
	[[ $stderr == *"HTTP 404"* ]] || fail "$stderr"
	run --separate-stderr get -a other "$u/reports/2"
	assert_failure 2
	assert_equal "$stderr" "dmu-get: the URL names application 'https_server_1' but -a says 'other'"
	# Anything else is refused, naming the forms that are understood,
	# before any connection.
	n=$(stat_of requests)
	for bad in "https://$DEV/some/path" "$u/reports/0" "$u/reports/x" \
	    "$u/reports/1/2" "$u/wait/5" "https://$DEV/api/application/x" \
	    "$u/reports/1?delete=true" "$u/reports#x"; do
		run --separate-stderr get "$bad"
		assert_failure 2
		assert_output ''
		[[ $stderr == *"invalid device"* ]] || fail "$bad: $stderr"
	done
	run --separate-stderr get "https://$DEV/some/path"
	[[ $stderr == *"the path of a URL names the reports API: https://HOST[:PORT][/api/application/APP/reports/v1[/reports[/SERIAL|oldest|latest]|/wait]]"* ]] ||
	    fail "$stderr"
	run --separate-stderr get "$u/reports/1?delete=true"
	[[ $stderr == *"a URL with a query or fragment is not supported"* ]] || fail "$stderr"
	# Without https:// a path, a query or a fragment is not dropped:
	# with -d that deleted the latest report where the path said 2.
	for bad in "$DEV$APP_BASE/reports/2" "$DEV/x" "$DEV?delete=true" \
	    "$DEV#x" "127.0.0.1/x"; do
		run --separate-stderr get -d "$bad"
		assert_failure 2
		assert_output ''
		[[ $stderr == *"invalid device"*"a path, query or fragment is read only in a URL: https://HOST[:PORT]/api/application/APP/reports/v1/..."* ]] ||
		    fail "$bad: $stderr"
	done
	assert_equal "$(stat_of requests)" "$n"
	assert_equal "$(stat_of deletes)" 0
	# A lone '/' after the device names nothing and is fine.
	run --separate-stderr get "$DEV/"
	assert_success
	assert_equal "$(jq .serial <<<"$output")" 5
}

@test "get: the device's clock (the simulator's, set by the test) is in the timestamp and the content" {
	sim_up a -n 1
	run ctl "clock set 2031-02-03T04:05:06Z"
	assert_output "ok $(date -u -d 2031-02-03T04:05:06Z +%s) 2031-02-03T04:05:06Z"
	ctl "gen 1" >/dev/null
	run --separate-stderr get "$DEV" latest
	assert_success
	assert_equal "$(fields <<<"$output")" "$(oracle_reports /reports/latest)"
	# The clock runs on from the second it was set to.
	ts=$(jq -r .timestamp <<<"$output")
	[[ $ts > 2031-02-03T04:05:05Z && $ts < 2031-02-03T04:06:00Z ]] ||
	    fail "timestamp $ts"
	[[ $(jq -r .content <<<"$output") == *"D=2031-02-03,T=${ts:11:8},"* ]] ||
	    fail "content: $output"
	# A day back, and the epoch.
	run ctl "clock -86400"
	assert_output --regexp '^ok [0-9]+ 2031-02-02T04:0[5-9]:[0-9]{2}Z$'
	ctl "gen 1" >/dev/null
	[[ $(oracle /reports/3 | jq -r .timestamp) == 2031-02-02T04:* ]] ||
	    fail "report 3: $(oracle /reports/3)"
	run ctl "clock set 0"
	assert_output "ok 0 1970-01-01T00:00:00Z"
	# What no timestamp can show, or no date is, is refused.
	for bad in "clock set 2031-02-29T00:00:00Z" "clock set 2031-02-03T24:00:00Z" \
	    "clock set 10000-01-01T00:00:00Z" "clock set 253402300800" \
	    "clock -1000000" "clock +-5" "clock 5" "clock set" "clock set 0 0"; do
		run sim_ctl "$CTL" "$bad"
		assert_output --partial "err usage: clock"
	done
}

@test "get: list prints every buffered report in order, one compact line each" {
	sim_up a -n 6
	run --separate-stderr get "$DEV" list
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 6
	assert_ndjson "$output"
	assert_equal "$(serials "$output")" "1 2 3 4 5 6"
	assert_equal "$(fields <<<"$output")" "$(oracle_reports /reports)"
}

@test "get: wait with -l and -w returns the reports after the serial" {
	sim_up a -n 5
	run --separate-stderr get -l 2 -w 1 "$DEV" wait
	assert_success
	assert_equal "$stderr" ""
	assert_ndjson "$output"
	assert_equal "$(serials "$output")" "3 4 5"
	assert_equal "$(fields <<<"$output")" "$(oracle_reports "/wait?lastSerial=2&timeout=1")"
	in_log a "^request [0-9]+ GET $APP_BASE/wait\\?lastSerial=2&timeout=1\$" ||
	    fail "no wait?lastSerial=2&timeout=1 in: $(cat a.log)"
	# Without -l: lastSerial 0, everything pending.
	run --separate-stderr get "$DEV" wait
	assert_success
	assert_equal "$(serials "$output")" "1 2 3 4 5"
	in_log a "GET $APP_BASE/wait\\?lastSerial=0\$" ||
	    fail "no wait?lastSerial=0 in: $(cat a.log)"
}

@test "get: wait that times out (204) prints nothing and exits 0" {
	sim_up a -n 5
	t0=$(now_ms)
	run --separate-stderr get -l 5 -w 1 "$DEV" wait
	ms=$(elapsed_ms "$t0")
	assert_success
	assert_output ""
	assert_equal "$stderr" ""
	# It really waited for the device's time-out, and not much longer.
	[ "$ms" -ge 900 ] && [ "$ms" -lt $((4000 * SLOW)) ] || fail "took $ms ms"
}

@test "get: wait returns at once when a report comes during the long poll" {
	sim_up a -n 2
	# A long poll of 20 s, so that "at once" has slack on a loaded machine.
	bg out err dmu-get -t "$T" -l 2 -w 20 "$DEV" wait
	wait_log a "GET $APP_BASE/wait\\?lastSerial=2&timeout=20"
	ctl "gen 1" >/dev/null
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" 3
	assert_equal "$(cat err)" ""
}

@test "get -r: prints the body exactly as received" {
	sim_up a -n 3
	for r in latest 2 list; do
		case $r in list) path=/reports ;; *) path=/reports/$r ;; esac
		get -r "$DEV" "$r" >got 2>err || fail "dmu-get -r $r failed: $(cat err)"
		oracle "$path" >want
		cmp got want || fail "-r $r: '$(cat got)' is not '$(cat want)'"
		[ ! -s err ] || fail "stderr: $(cat err)"
	done
	# Pretty-printed bodies too: nothing is re-formatted.
	ctl "mode pretty" >/dev/null
	get -r "$DEV" list >got 2>err || fail "dmu-get -r list failed: $(cat err)"
	oracle /reports >want
	cmp got want || fail "-r pretty: '$(cat got)' is not '$(cat want)'"
	grep -q '^  "reports": \[$' got || fail "not the pretty body: $(cat got)"
}

@test "get -d: deletes that single report and only that one" {
	sim_up a -n 5
	run --separate-stderr get -d "$DEV" 3
	assert_success
	assert_equal "$(serials "$output")" 3
	in_log a "GET $APP_BASE/reports/3\\?delete=true\$" ||
	    fail "no delete=true request: $(cat a.log)"
	run --separate-stderr get "$DEV" 3
	assert_equal "$status" 6
	assert_output ""
	[[ $stderr == *"404"*"Report with serial 3 not found"* ]] || fail "stderr: $stderr"
	run --separate-stderr get "$DEV" list
	assert_success
	assert_equal "$(serials "$output")" "1 2 4 5"
	assert_equal "$(stat_of deletes)" 1
	# -d latest: the newest goes, the rest stays.
	run --separate-stderr get -d "$DEV" latest
	assert_success
	assert_equal "$(serials "$output")" 5
	run --separate-stderr get "$DEV" list
	assert_equal "$(serials "$output")" "1 2 4"
	assert_equal "$(stat_of deletes)" 2
}

@test "get -d list: deletes each listed report by its serial, never the list at once" {
	sim_up a -n 3
	run --separate-stderr get -d "$DEV" list
	assert_success
	assert_equal "$(serials "$output")" "1 2 3"
	assert_equal "$(stat_of reports)" 0
	for s in 1 2 3; do
		in_log a "GET $APP_BASE/reports/$s\\?delete=true\$" ||
		    fail "serial $s not deleted by serial: $(cat a.log)"
	done
	if in_log a "GET $APP_BASE/reports\\?delete"; then
		fail "the whole list was asked with delete: $(cat a.log)"
	fi
}

@test "get: Content-Length, chunked, pretty-printed and close-delimited bodies give identical output" {
	sim_up a -n 4
	for m in length chunked pretty close; do
		ctl "mode $m" >/dev/null
		: >"$m.out"
		for r in latest 2 list wait; do
			get "$DEV" "$r" >>"$m.out" 2>"$m.err" ||
			    fail "mode $m, $r: exit $?: $(cat "$m.err")"
			[ ! -s "$m.err" ] || fail "mode $m, $r: $(cat "$m.err")"
		done
	done
	assert_equal "$(wc -l <length.out)" 10
	for m in chunked pretty close; do
		cmp length.out "$m.out" || fail "mode $m differs: $(diff length.out "$m.out")"
	done
	assert_ndjson "$(cat length.out)"
}

@test "get: a missing serial (404) exits 6 with the device's message and without the key" {
	sim_up a -n 2
	run --separate-stderr get "$DEV" 99
	assert_equal "$status" 6
	assert_output ""
	[[ $stderr == *"$DEV"*"HTTP 404"*"Report with serial 99 not found"* ]] || fail "stderr: $stderr"
	refute_key
	# An empty buffer: latest is a 404 too.
	ctl restart >/dev/null
	run --separate-stderr get "$DEV" latest
	assert_equal "$status" 6
	[[ $stderr == *"HTTP 404"*"No reports"* ]] || fail "stderr: $stderr"
	refute_key
}

@test "get: a wrong key (401) exits 6 with Unauthorized and shows no key" {
	sim_up a -n 2
	ctl "key OTHER:KEY" >/dev/null
	run --separate-stderr get "$DEV" latest
	assert_equal "$status" 6
	assert_output ""
	[[ $stderr == *"$DEV"*"HTTP 401"*"Unauthorized"* ]] || fail "stderr: $stderr"
	# The source of the key, and that dmu encodes it.
	[[ $stderr == *"$DEV: the device refused the API key from key file $DMU_API_KEY_FILE (\$DMU_API_KEY_FILE); dmu sends it base64-encoded"* ]] ||
	    fail "stderr: $stderr"
	refute_key
	run --separate-stderr get -k key "$DEV" latest
	[[ $stderr == *"the API key from key file key (-k); dmu sends it base64-encoded"* ]] ||
	    fail "stderr: $stderr"
	run --separate-stderr env -u DMU_API_KEY_FILE DMU_API_KEY=$KEY_TEXT dmu-get -t "$T" "$DEV" latest
	assert_equal "$status" 6
	[[ $stderr == *"the API key from \$DMU_API_KEY; dmu sends it base64-encoded"* ]] ||
	    fail "stderr: $stderr"
	refute_key
	# The device's key in the key file: the same for any request.
	write_key key OTHER:KEY
	ctl "key $KEY_TEXT" >/dev/null
	for r in latest list wait; do
		run --separate-stderr get "$DEV" "$r"
		assert_equal "$status" 6
		[[ $stderr == *"HTTP 401"*"Unauthorized"* ]] || fail "$r: $stderr"
		[[ $stderr != *OTHER* && $stderr != *T1RIRVI6S0VZ* ]] ||
		    fail "$r: the key is on stderr: $stderr"
		refute_key
	done
}

@test "get: a device that is not in the database exits 3 without connecting" {
	sim_up a -n 1
	other=127.0.0.1:$(free_port)
	run --separate-stderr get "$other" latest
	assert_equal "$status" 3
	assert_output ""
	[[ $stderr == *"$other: unknown device"* && $stderr == *"dmu-learn -F FINGERPRINT $other | dmu-certdb add"* ]] ||
	    fail "stderr: $stderr"
	# A typo of a known device is named.
	typo=127.0.0.1:${PORT}9
	[ "${PORT}9" -le 65535 ] || typo=127.0.0.1:${PORT:0:-1}
	run --separate-stderr get "$typo" latest
	assert_equal "$status" 3
	[[ $stderr == *"$typo: unknown device (not in $DMU_CERTDB; did you mean $DEV?)"* ]] ||
	    fail "stderr: $stderr"
	# No database at all is no empty one: exit 1, its path, how to start.
	rm -f "$DMU_CERTDB"
	run --separate-stderr get "$DEV" latest
	assert_equal "$status" 1
	assert_output ""
	assert_equal "$stderr" "dmu-get: $DMU_CERTDB: no certificate database (a missing one is not an empty one); start one with: dmu-learn -F FINGERPRINT DEVICE | dmu-certdb -f $DMU_CERTDB add"
	run --separate-stderr get -n 1 "$DEV" follow
	assert_equal "$status" 1
	[[ $stderr == *"no certificate database"* ]] || fail "stderr: $stderr"
	sim_sync
	if in_log a '^conn '; then
		fail "a connection was made: $(cat a.log)"
	fi
}

@test "get: without a key, exit 2 before any connection" {
	sim_up a -n 1
	unset DMU_API_KEY_FILE DMU_API_KEY
	run --separate-stderr get "$DEV" latest
	assert_equal "$status" 2
	assert_output ""
	[[ $stderr == *"no API key"* ]] || fail "stderr: $stderr"
	# An empty key is no key either.
	: >empty
	run --separate-stderr get -k empty "$DEV" latest
	assert_equal "$status" 2
	[[ $stderr == *"empty"* ]] || fail "stderr: $stderr"
	export DMU_API_KEY=
	run --separate-stderr get "$DEV" latest
	assert_equal "$status" 2
	# A key file that cannot be read is an I/O error (1).
	run --separate-stderr get -k "$BATS_TEST_TMPDIR/nonexistent" "$DEV" latest
	assert_equal "$status" 1
	[[ $stderr == *"nonexistent"* ]] || fail "stderr: $stderr"
	sim_sync
	if in_log a '^conn '; then
		fail "a connection was made without a key: $(cat a.log)"
	fi
	assert_equal "$(stat_of conns)" 1	# the learning connection only
}

@test "get: the key comes from -k FILE, else \$DMU_API_KEY_FILE, else \$DMU_API_KEY" {
	sim_up a -n 1
	write_key good
	write_key bad WRONG:KEY
	# Each source alone.
	unset DMU_API_KEY_FILE
	run --separate-stderr get -k good "$DEV"
	assert_success
	assert_ndjson "$output"
	export DMU_API_KEY_FILE=$PWD/good
	run --separate-stderr get "$DEV"
	assert_success
	unset DMU_API_KEY_FILE
	export DMU_API_KEY=$KEY_TEXT
	run --separate-stderr get "$DEV"
	assert_success
	assert_equal "$stderr" ""
	refute_key
	# -k wins over both variables, the file variable over the key one.
	export DMU_API_KEY=WRONG:KEY DMU_API_KEY_FILE=$PWD/bad
	run --separate-stderr get -k good "$DEV"
	assert_success
	export DMU_API_KEY_FILE=$PWD/good
	run --separate-stderr get "$DEV"
	assert_success
	run --separate-stderr get -k bad "$DEV"
	assert_equal "$status" 6
	[[ $stderr == *"HTTP 401"* ]] || fail "stderr: $stderr"
	# Only the first line counts, CRLF or not.
	(umask 077 && printf '%s\r\nsecond line\n' "$KEY_TEXT" >crlf)
	run --separate-stderr get -k crlf "$DEV"
	assert_success
}

@test "get: a key file with any permission for group or others draws a warning naming its mode" {
	sim_up a -n 1
	for m in 644 640 604 620 602 610 601 660 606 700; do
		chmod "$m" key
		run --separate-stderr get "$DEV"
		assert_success
		assert_ndjson "$output"
		case $m in
		700) assert_equal "$stderr" "" ;;
		*) assert_equal "$stderr" "dmu-get: warning: key file $BATS_TEST_TMPDIR/key is open to group or others (mode 0$m)" ;;
		esac
		refute_key
	done
	chmod 600 key
	run --separate-stderr get "$DEV"
	assert_success
	assert_equal "$stderr" ""
}

@test "get: -a and \$DMU_APP select the application in the URL" {
	sim_up a -n 2 -a station_7
	run --separate-stderr get "$DEV"
	assert_equal "$status" 6
	[[ $stderr == *"HTTP 404"* ]] || fail "stderr: $stderr"
	run --separate-stderr get -a station_7 "$DEV"
	assert_success
	assert_equal "$(serials "$output")" 2
	in_log a "GET /api/application/station_7/reports/v1/reports/latest\$" ||
	    fail "no station_7 request: $(cat a.log)"
	export DMU_APP=station_7
	run --separate-stderr get "$DEV" list
	assert_success
	assert_equal "$(serials "$output")" "1 2"
	# -a wins over $DMU_APP.
	run --separate-stderr get -a https_server_1 "$DEV"
	assert_equal "$status" 6
	[[ $stderr == *"HTTP 404"* ]] || fail "stderr: $stderr"
	# A name that would change the URL is a usage error.
	run --separate-stderr get -a "../x" "$DEV"
	assert_equal "$status" 2
	[[ $stderr == *"invalid application name"* ]] || fail "stderr: $stderr"
}

@test "get: the key is never in the command line, and no option takes it" {
	sim_up a -n 1
	bg out err dmu-get -t "$T" -l 1 -w 3 "$DEV" wait
	wait_log a "GET $APP_BASE/wait"
	cmdline=$(tr '\0' ' ' <"/proc/$BG_PID/cmdline")
	[[ $cmdline == *dmu-get*wait* ]] || fail "not our process: $cmdline"
	[[ $cmdline != *"$KEY_TEXT"* && $cmdline != *"$KEY_B64"* ]] ||
	    fail "the key is in argv: $cmdline"
	kill "$BG_PID"
	bg_wait "$BG_PID" 10
	# No option takes the key itself.
	for o in -K -p -y; do
		run --separate-stderr get "$o" "$KEY_TEXT" "$DEV"
		assert_equal "$status" 2
		[[ $stderr == *usage:* ]] || fail "$o: $stderr"
		refute_key
	done
}

@test "get: usage errors exit 2 before any connection" {
	sim_up a -n 1
	for args in "" "-s st $DEV latest" "$DEV nosuch" "$DEV 0" "$DEV -5" \
	    "-w 76 $DEV wait" "-w 0 $DEV wait" "-l -1 $DEV wait" "-t 0 $DEV" \
	    "-n 0 $DEV follow" "$DEV latest extra" "not:a:device latest"; do
		# shellcheck disable=SC2086
		run --separate-stderr dmu-get $args </dev/null
		assert_equal "$status" 2
		assert_output ""
		[ -n "$stderr" ] || fail "'$args': nothing on stderr"
	done
	sim_sync
	if in_log a '^conn '; then
		fail "a usage error connected: $(cat a.log)"
	fi
}

@test "get: IPv6 devices are named [::1]:PORT in every line" {
	have_ipv6 || skip "no IPv6 loopback"
	mkcert a ec
	start_sim a -6 -n 2
	DEV="[::1]:$SIM_PORT"
	dmu-learn -y -t "$T" "$DEV" </dev/null 2>/dev/null | dmu-certdb add
	run --separate-stderr get "$DEV" list
	assert_success
	assert_equal "$(serials "$output")" "1 2"
	for l in "${lines[@]}"; do
		[[ $l == "{\"device\":\"[::1]:$SIM_PORT\",\"serial\":"* ]] || fail "line: $l"
	done
}

@test "get: a malformed JSON answer exits 7 and prints nothing" {
	sim_up a -n 3
	ctl "malformed 1" >/dev/null
	run --separate-stderr get "$DEV" list
	assert_equal "$status" 7
	assert_output ""
	[[ $stderr == *"$DEV"*"malformed answer"* ]] || fail "stderr: $stderr"
	refute_key
	# Only that answer was broken.
	run --separate-stderr get "$DEV" list
	assert_success
	assert_equal "$(serials "$output")" "1 2 3"
}

@test "get: an answer cut in the middle exits 5 and prints nothing" {
	sim_up a -n 3
	for m in length chunked pretty; do
		ctl "mode $m" >/dev/null
		for r in latest list; do
			ctl "cut 1" >/dev/null
			run --separate-stderr get "$DEV" "$r"
			[ "$status" -eq 5 ] || fail "mode $m, $r: exit $status: $stderr"
			assert_output ""
			[[ $stderr == *"$DEV"*"connection closed"* ]] || fail "mode $m, $r: $stderr"
		done
	done
	# Nothing else was broken.
	run --separate-stderr get "$DEV" list
	assert_success
	assert_equal "$(serials "$output")" "1 2 3"
}

@test "get: a close-delimited answer cut without close_notify is a network failure (5), not data" {
	sim_up a -n 3
	ctl "mode close" >/dev/null
	ctl "cut 1" >/dev/null
	run --separate-stderr get "$DEV" list
	# TLS says where the stream really ends: a plain TCP close in the
	# middle of the body is a truncation, the same as "cut" in the other
	# framings (exit 5, "connection closed"), not a malformed answer.
	assert_output ""
	[ "$status" -eq 5 ] || fail "exit $status, not 5: $stderr"
	[[ $stderr == *"connection closed"* ]] || fail "stderr: $stderr"
}

@test "get: an answer slower than -t exits 5 within the time-out, and says so" {
	sim_up a -n 1
	ctl "slow 1 20000" >/dev/null
	t0=$(now_ms)
	run --separate-stderr dmu-get -t 1 "$DEV" latest </dev/null
	ms=$(elapsed_ms "$t0")
	assert_equal "$status" 5
	assert_output ""
	# The same words as for a silent handshake, not a vague "read error".
	[[ $stderr == *"$DEV"*"timed out"* ]] || fail "stderr: $stderr"
	[ "$ms" -ge 900 ] && [ "$ms" -lt $((1000 + LATE_MS)) ] || fail "took $ms ms"
}

@test "get: a silent server exits 5 within the time-out" {
	mkcert a ec
	start_sim a -S silent
	DEV=127.0.0.1:$SIM_PORT
	record "$DEV" a | dmu-certdb add
	t0=$(now_ms)
	run --separate-stderr dmu-get -t 1 "$DEV" latest </dev/null
	ms=$(elapsed_ms "$t0")
	assert_equal "$status" 5
	assert_output ""
	[[ $stderr == *"$DEV"*"timed out"* ]] || fail "stderr: $stderr"
	[ "$ms" -ge 900 ] && [ "$ms" -lt $((1000 + LATE_MS)) ] || fail "took $ms ms"
}

@test "get: a server that drips a byte a second exits 5 within the time-out" {
	mkcert a ec
	start_sim a -S drip
	DEV=127.0.0.1:$SIM_PORT
	record "$DEV" a | dmu-certdb add
	t0=$(now_ms)
	run --separate-stderr dmu-get -t 1 "$DEV" latest </dev/null
	ms=$(elapsed_ms "$t0")
	assert_equal "$status" 5
	assert_output ""
	[[ $stderr == *"$DEV"* ]] || fail "stderr: $stderr"
	# Every read succeeds: only a limit on the whole handshake ends it.
	[ "$ms" -lt $((1000 + LATE_MS)) ] || fail "took $ms ms for -t 1"
}

# hostile NAME EXPECTED [HOLD]: serves NAME.resp from a fake device (one
# per test, started at the first call) that keeps the connection HOLD
# seconds after it, and runs dmu-get -t 1 latest against it.  Checks the
# exit status, that nothing is printed, the time (within the time-out) and
# the memory: the data segment is limited to 20 MiB and, with GNU time, the
# peak RSS must stay under 20 MiB.  Leaves the peak in HOSTILE_KB (0 when
# unknown).
hostile() {
	local name=$1 want=$2 ms
	if [ -z "${HOSTILE_DEV:-}" ]; then
		fake_tls h
		HOSTILE_DEV=$DEV
	fi
	cp "$name.resp" h.resp
	echo "${3:-0}" >h.hold
	run --separate-stderr measured "$name.m" dmu-get -t 1 "$HOSTILE_DEV" latest
	[ "$status" -eq "$want" ] ||
	    fail "$name: exit $status, not $want; stderr: $stderr"
	assert_output ""
	[[ $stderr == *"$HOSTILE_DEV"* ]] || fail "$name: stderr: $stderr"
	refute_key
	read -r ms HOSTILE_KB <"$name.m"
	# Time and memory hold for the real build; sanitizers and valgrind
	# are slower and bigger by their nature.
	if [ -n "${DMU_VARIANT-}" ]; then
		HOSTILE_KB=0
		return
	fi
	[ "$ms" -lt $((1000 + LATE_MS)) ] || fail "$name: took $ms ms"
	[ "$HOSTILE_KB" -lt 20480 ] || fail "$name: peak RSS $HOSTILE_KB KiB"
}

@test "get: a 1 MiB header line and a 1 MiB header block exit 7 quickly, in little memory" {
	# The smallest hostile answer, for the memory a refusal costs anyway.
	printf 'HTTP/1.1 2' >base.resp
	hostile base 5
	base=$HOSTILE_KB
	{ printf 'HTTP/1.1 200 OK\r\nX-Pad: '; head -c 1048576 /dev/zero | tr '\0' a
	  printf '\r\n\r\n{}'; } >line.resp
	hostile line 7
	[[ $stderr == *"too long"* || $stderr == *"too large"* ]] || fail "stderr: $stderr"
	# Nothing of the megabyte was kept.
	[ "$HOSTILE_KB" -le $((base + 512)) ] || fail "line: $HOSTILE_KB KiB, $base KiB at least"
	awk 'BEGIN { printf "HTTP/1.1 200 OK\r\n"
	    for (i = 0; i < 18000; i++) printf "X-Pad-%05d: %045d\r\n", i, 0
	    printf "\r\n{}" }' >block.resp
	[ "$(wc -c <block.resp)" -gt 1048576 ] || fail "block.resp too small"
	hostile block 7
	[[ $stderr == *"too large"* ]] || fail "stderr: $stderr"
	[ "$HOSTILE_KB" -le $((base + 512)) ] || fail "block: $HOSTILE_KB KiB, $base KiB at least"
}

@test "get: a negative or a huge Content-Length exits 7 at once" {
	printf 'HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n{"serial":1}' >neg.resp
	hostile neg 7
	[[ $stderr == *"content-length"* ]] || fail "stderr: $stderr"
	printf 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{"serial":1}' >huge.resp
	hostile huge 7 10
	[[ $stderr == *"too large"* ]] || fail "stderr: $stderr"
	# Just over the 8 MiB limit, the server holding the line open.
	printf 'HTTP/1.1 200 OK\r\nContent-Length: 8388609\r\n\r\n{"serial":1}' >over.resp
	hostile over 7 10
	[[ $stderr == *"too large"* ]] || fail "stderr: $stderr"
	printf 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n{"serial":1}' >two.resp
	hostile two 7
}

@test "get: a Content-Length that is never delivered exits 5 within the time-out" {
	printf 'HTTP/1.1 200 OK\r\nContent-Length: 4000000\r\n\r\n{"serial":1,' >short.resp
	hostile short 5 10
	hostile short 5 0
	[[ $stderr == *"connection closed"* ]] || fail "stderr: $stderr"
}

@test "get: garbage instead of HTTP exits 7" {
	printf 'SSH-2.0-OpenSSH_9.2\r\n' >ssh.resp
	hostile ssh 7
	[[ $stderr == *"malformed status line"* ]] || fail "stderr: $stderr"
	printf 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nx' >chunk.resp
	hostile chunk 7
	head -c 65536 /dev/urandom >rand.resp
	hostile rand 7
	# Endless interim answers do not keep it busy.
	awk 'BEGIN { for (i = 0; i < 5000; i++) printf "HTTP/1.1 100 Continue\r\n\r\n" }' >cont.resp
	hostile cont 7
}

@test "get: an endless close-delimited body stops at the limit with exit 7" {
	{ printf 'HTTP/1.0 200 OK\r\n\r\n['; head -c 12000000 /dev/zero | tr '\0' ' '; } >big.resp
	hostile big 7
	[[ $stderr == *"too large"* ]] || fail "stderr: $stderr"
}

@test "get: a key that looks base64-encoded already, or holds X-Api-Key:, draws a warning before the request" {
	sim_up a -n 1
	write_key enc "$KEY_B64"
	run --separate-stderr get -k enc "$DEV" latest
	assert_equal "$status" 6
	[[ $(head -n 1 <<<"$stderr") == "dmu-get: warning: the API key from key file enc (-k) looks base64-encoded already (it decodes to a NAME:SECRET text); dmu encodes it itself: give it as the device shows it" ]] ||
	    fail "stderr: $stderr"
	refute_key
	write_key hdr "X-Api-Key: $KEY_TEXT"
	run --separate-stderr get -k hdr "$DEV" latest
	assert_equal "$status" 6
	[[ $(head -n 1 <<<"$stderr") == "dmu-get: warning: the API key from key file hdr (-k) holds 'X-Api-Key:'; give only the key as the device shows it (NAME:SECRET): dmu sends the header itself" ]] ||
	    fail "stderr: $stderr"
	refute_key
	write_key hdr2 "x-api-key: $KEY_B64"
	run --separate-stderr get -k hdr2 "$DEV" latest
	[[ $stderr == *"holds 'X-Api-Key:'"* ]] || fail "stderr: $stderr"
	# The device's own key, and one that is base64 of no NAME:SECRET
	# text, draw none.
	run --separate-stderr get "$DEV" latest
	assert_success
	assert_equal "$stderr" ""
	ctl "key QUJDREVGR0g=" >/dev/null
	write_key plain QUJDREVGR0g=
	run --separate-stderr get -k plain "$DEV" latest
	assert_success
	assert_equal "$stderr" ""
}

@test "get -d list/wait: data after the answer (a second answer, a stray CRLF) is never read as a deletion's answer" {
	sim_up a -n 3
	for apart in "" " apart"; do
		# A second, unrequested answer after the list, in the same TLS
		# record and in a record of its own.
		ctl "restart" >/dev/null
		ctl "gen 3" >/dev/null
		ctl "trail 1 answer 999$apart" >/dev/null
		run --separate-stderr get -d "$DEV" list
		assert_success
		assert_equal "$(serials "$output")" "1 2 3"
		assert_equal "$(stat_of reports)" 0
		[[ $stderr != *cannot* ]] || fail "$apart: $stderr"
		assert_equal "$(grep -c 'sent data after a complete answer' <<<"$stderr")" 1
	done
	for s in 1 2 3; do
		assert_equal "$(grep -c "GET $APP_BASE/reports/$s?delete=true\$" a.log)" 2
	done
	# A stray CRLF after a wait's answer.
	ctl "restart" >/dev/null
	ctl "gen 2" >/dev/null
	ctl "trail 1 crlf" >/dev/null
	run --separate-stderr get -d -w 1 "$DEV" wait
	assert_success
	assert_equal "$(serials "$output")" "1 2"
	assert_equal "$(stat_of reports)" 0
	[[ $stderr == *"$DEV: warning: the device sent data after a complete answer"* ]] || fail "$stderr"
	assert_equal "${#stderr_lines[@]}" 1
}

@test "get: folded header lines (obs-fold) are unfolded, also Content-Length and Transfer-Encoding" {
	sim_up a -n 3
	for m in length chunked close; do
		ctl "mode $m" >/dev/null
		ctl "fold 1" >/dev/null
		run --separate-stderr get "$DEV" list
		assert_success
		assert_equal "$stderr" ""
		assert_equal "$(serials "$output")" "1 2 3"
	done
	# The fold really came: the head as curl saw it.
	ctl "mode length" >/dev/null
	ctl "fold 1" >/dev/null
	curl -sSk --max-time 5 -D head.txt -o /dev/null -H "X-Api-Key: $KEY_B64" \
	    "https://$DEV$APP_BASE/reports/1" 2>/dev/null || :
	grep -q $'^Content-Type:\r$' head.txt || fail "not folded: $(cat -v head.txt)"
	# A 503 whose Retry-After is folded: dmu-get says the status.
	ctl "fail 1 503 2" >/dev/null
	ctl "fold 1" >/dev/null
	run --separate-stderr get "$DEV" latest
	assert_failure 6
	[[ $stderr == *"HTTP 503"* ]] || fail "$stderr"
}
