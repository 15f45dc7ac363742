#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Time after 2038 on a 32-bit system: make check-time64 builds armhf glibc
# programs with the Makefile's flags (-D_TIME_BITS=64) and the clock hook
# of test/clock-hook.c, and runs this file against them under qemu-arm
# (DMU_VARIANT=time64).  DMU_TEST_CLOCK_SHIFT moves the programs' clocks,
# wall and monotonic, past 2038; the simulator and the shell keep the real
# one.  Not part of make check: it needs the armhf cross toolchain.

load helper-get

setup() {
	[ "${DMU_VARIANT-}" = time64 ] ||
	    skip "run by make check-time64 (armhf glibc programs)"
	dmu_base_setup
	BG_PIDS=()
	FAKE_PIDS=()
	write_key key
	export DMU_API_KEY_FILE=$BATS_TEST_TMPDIR/key
}

# backoffs N: follow's stderr (err) announced N back-offs or more.
backoffs() {
	[ "$(grep -c 'trying again' err)" -ge "$1" ]
}

# shift_to DATE: the seconds from now to DATE (UTC).
shift_to() {
	echo $(($(date -u -d "$1" +%s) - $(date -u +%s)))
}

@test "time64: the 32-bit programs call only glibc's 64-bit time functions" {
	local p nm=arm-linux-gnueabihf-nm syms
	command -v $nm >/dev/null || skip "$nm is not installed"
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do
		syms=$($nm -D --undefined-only "$DMU_REPO/build/cross/time64/$p" |
		    awk '{ sub(/@.*/, "", $2); print $2 }')
		# Built with 64-bit time_t: the *64 names are there...
		grep -qE '^__.*(time64|gettime64|64_time64|ppoll64)' <<<"$syms" ||
		    fail "$p: no 64-bit time function: $syms"
		# ... and none of the 32-bit ones that take or give a time_t.
		run grep -xE 'time|clock_gettime|gmtime_r|localtime_r|mktime|timegm|ppoll|poll_chk|nanosleep|clock_nanosleep|select|pselect|gettimeofday|(f|l)?stat(64)?|futimens|utimensat' <<<"$syms"
		[ "$status" -eq 1 ] || fail "$p calls 32-bit time functions: $output"
	done
}

@test "time64: a certificate valid until 2070 shows its dates in show" {
	local days
	days=$(( ($(date -u -d 2070-06-01 +%s) - $(date -u +%s)) / 86400 ))
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj /CN=DMU801 -days "$days" -keyout st.key -out st.pem 2>/dev/null
	want=$(openssl x509 -in st.pem -noout -enddate | sed 's/^notAfter=//')
	want=$(date -u -d "$want" +%Y-%m-%dT%H:%M:%SZ)
	[[ $want == 2070-* ]] || fail "openssl made $want"
	start_sim st
	run --separate-stderr dmu-learn -y -t 20 "127.0.0.1:$SIM_PORT"
	assert_success
	printf '%s\n' "$output" | dmu-certdb add
	run dmu-certdb show "127.0.0.1:$SIM_PORT"
	assert_success
	assert_output --partial "to $want"
}

@test "time64: a record learned with the clock in 2040 is LEARNED in 2040" {
	mkcert st ec
	start_sim st
	export DMU_TEST_CLOCK_SHIFT
	DMU_TEST_CLOCK_SHIFT=$(shift_to 2040-02-29T12:00:00Z)
	run --separate-stderr dmu-learn -y -t 20 "127.0.0.1:$SIM_PORT"
	assert_success
	learned=$(cut -d' ' -f3 <<<"$output")
	[[ $learned == 2040-02-29T12:0* ]] || fail "LEARNED is $learned"
	printf '%s\n' "$output" | dmu-certdb add
	run dmu-certdb list
	assert_output --partial "$learned"
	# Past 2106 too, where an unsigned 32-bit time would wrap as well.
	DMU_TEST_CLOCK_SHIFT=$(shift_to 2110-01-01T00:00:00Z)
	run --separate-stderr dmu-learn -y -t 20 "127.0.0.1:$SIM_PORT"
	assert_success
	[[ $(cut -d' ' -f3 <<<"$output") == 2110-01-01T00:0* ]] ||
	    fail "LEARNED is $(cut -d' ' -f3 <<<"$output")"
}

@test "time64: a total time-out past 2038 is neither shorter nor much longer than asked" {
	mkcert st ec
	start_sim st -S drip
	local t0 ms
	export DMU_TEST_CLOCK_SHIFT
	DMU_TEST_CLOCK_SHIFT=$(shift_to 2039-01-01T00:00:00Z)
	t0=$(now_ms)
	run dmu-learn -y -t 4 "127.0.0.1:$SIM_PORT"
	ms=$(elapsed_ms "$t0")
	assert_failure 5
	assert_output --partial "timed out"
	# A byte a second keeps every read short of the deadline: only the
	# total time-out ends it, after 4 s (ppoll() given the wrong struct
	# timespec cut it short by up to a second).
	[ "$ms" -ge 3900 ] || fail "timed out after $ms ms, not 4 s"
	[ "$ms" -le $((4000 + 3000 * SLOW)) ] || fail "took $ms ms"
}

@test "time64: follow backs off and reconnects with the clock past 2038" {
	sim_up st
	kill "${SIM_PIDS[-1]}"
	wait "${SIM_PIDS[-1]}" 2>/dev/null
	export DMU_TEST_CLOCK_SHIFT
	DMU_TEST_CLOCK_SHIFT=$(shift_to 2038-01-19T03:14:00Z)
	bg out err dmu-get -t 10 -n 3 "$DEV" follow
	# Nothing listens: it backs off, more than once.
	wait_until $((15 * SLOW)) backoffs 2 ||
	    fail "fewer than two back-offs: $(cat err)"
	# The device is back, on the same port: the collector resumes, with
	# the 32-bit time_t's last second (03:14:07) behind it by now.
	start_sim st -p "$PORT" -n 3
	bg_wait "$BG_PID" $((30 * SLOW))
	[ "$BG_STATUS" -eq 0 ] || fail "follow exited $BG_STATUS: $(cat err)"
	[ "$(wc -l <out)" -eq 3 ] || fail "reports: $(cat out)"
	run jq -r .serial out
	assert_output "$(printf '1\n2\n3')"
}
