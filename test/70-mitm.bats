#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A man in the middle with another certificate gets a failed handshake and
# not one byte of plaintext: no request, no key.  dmu-get, its follow mode
# and dmu-pin-check; an impostor on the device's own address and one behind
# a TCP relay.  The positive controls show that the same logs do record a
# request when the certificate is the pinned one.

load helper-get

# impostor NAME [KEYFILE]: stops the device (the last sim_up) and starts
# simulator NAME with a new certificate (for KEYFILE when given: the same
# key, another certificate) on the device's port.
impostor() {
	kill "${SIM_PIDS[-1]}"
	wait "${SIM_PIDS[-1]}" 2>/dev/null
	mkcert "$1" ec ${2:+"$2"}
	start_sim "$1" -p "$PORT" -n 5
}

# assert_refused NAME: NAME.log shows connections whose handshake failed,
# no completed handshake, no request and zero application bytes received.
assert_refused() {
	local log=$1.log
	sim_log_settled "$1" || fail "$log: connections not closed: $(cat "$log")"
	grep -Eq '^handshake [0-9]+ fail' "$log" ||
	    fail "$log: no failed handshake: $(cat "$log")"
	if grep -Eq '^handshake [0-9]+ ok' "$log"; then
		fail "$log: a handshake completed: $(cat "$log")"
	fi
	if grep -q '^request ' "$log"; then
		fail "$log: a request reached the impostor: $(cat "$log")"
	fi
	grep -Eq '^rxbytes [0-9]+ 0$' "$log" || fail "$log: $(cat "$log")"
	if grep '^rxbytes ' "$log" | grep -qv ' 0$'; then
		fail "$log: the impostor received plaintext: $(cat "$log")"
	fi
}

# assert_mismatch_msg IMPOSTOR PINNED: stderr names both fingerprints in
# the colon form people compare, then the safe step.
assert_mismatch_msg() {
	[[ $stderr == *"$DEV: certificate mismatch: presented $(fpr_colon "$1"), pinned $(fpr_colon "$2")"* ]] ||
	    fail "stderr: $stderr"
	[[ $stderr == *"$DEV: look first: dmu-certdb seen $DEV; only if the device itself was replaced, re-learn it with the fingerprint read off the device: dmu-learn -F FINGERPRINT $DEV | dmu-certdb add -r"* ]] ||
	    fail "stderr: $stderr"
}

# the_device: the real device (certificate a) back on its port.
the_device() {
	kill "${SIM_PIDS[-1]}"
	wait "${SIM_PIDS[-1]}" 2>/dev/null
	start_sim a -p "$PORT" -n 5
}

@test "mitm: dmu-get latest to an impostor exits 4 and the impostor receives nothing" {
	sim_up a -n 5
	impostor b
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_equal "$status" 4
	assert_output ""
	assert_mismatch_msg b a
	[[ $stderr == *"nothing was sent"* ]] || fail "stderr: $stderr"
	refute_key
	assert_refused b
	# Positive control: the pinned device on the same port gets the
	# request, and its log says so.
	the_device
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_success
	assert_equal "$(serials "$output")" 5
	sim_log_settled a
	grep -q "^request [0-9]* GET $APP_BASE/reports/latest\$" a.log ||
	    fail "a.log: $(cat a.log)"
	grep -Eq '^rxbytes [0-9]+ [1-9][0-9]*$' a.log || fail "a.log: $(cat a.log)"
}

@test "mitm: every resource is refused the same way" {
	sim_up a -n 5
	impostor b
	for r in oldest 3 list wait; do
		run --separate-stderr dmu-get -t "$T" -d "$DEV" "$r" </dev/null
		assert_equal "$status" 4
		assert_output ""
		assert_mismatch_msg b a
		refute_key
	done
	assert_refused b
	assert_equal "$(grep -c '^conn ' b.log)" 4
}

@test "mitm: dmu-get follow to an impostor exits 4 at once and leaves the state alone" {
	sim_up a -n 5
	printf '2 2025-01-01T00:00:00Z\n' >st
	cp st st.before
	impostor b
	t0=$(now_ms)
	run --separate-stderr timeout 10 dmu-get -t "$T" -w 1 -s st "$DEV" follow </dev/null
	ms=$(elapsed_ms "$t0")
	assert_equal "$status" 4
	assert_output ""
	assert_mismatch_msg b a
	refute_key
	[ "$ms" -lt "$LATE_MS" ] || fail "took $ms ms: retried?"
	cmp st st.before || fail "state changed: $(cat st)"
	assert_refused b
	assert_equal "$(grep -c '^conn ' b.log)" 1
	# Positive control.
	the_device
	rm st
	run --separate-stderr timeout 10 dmu-get -t "$T" -n 2 -w 1 -s st "$DEV" follow </dev/null
	assert_success
	assert_equal "$(serials "$output")" "1 2"
	grep -q "^request [0-9]* GET $APP_BASE/wait?lastSerial=0&timeout=1\$" a.log ||
	    fail "a.log: $(cat a.log)"
}

@test "mitm: dmu-pin-check reports the mismatch and sends nothing" {
	sim_up a -n 1
	impostor b
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_equal "$status" 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	assert_refused b
	the_device
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
}

@test "mitm: an impostor with the device's own key but another certificate is refused too" {
	sim_up a -n 1
	impostor b a.key
	[ "$(fpr_hex a)" != "$(fpr_hex b)" ] || fail "the same certificate"
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_equal "$status" 4
	assert_output ""
	assert_mismatch_msg b a
	refute_key
	assert_refused b
}

@test "mitm: an impostor with an RSA key is refused" {
	sim_up a -n 1
	kill "${SIM_PIDS[-1]}"
	wait "${SIM_PIDS[-1]}" 2>/dev/null
	mkcert b rsa
	start_sim b -p "$PORT" -n 5
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_equal "$status" 4
	assert_output ""
	assert_mismatch_msg b a
	refute_key
	assert_refused b
}

@test "mitm: a TCP relay to an impostor gets a failed handshake and nothing else" {
	command -v socat >/dev/null || skip "socat is not installed"
	mkcert a ec
	mkcert b ec
	start_sim b -n 5
	rport=$(free_port)
	# The device's name is the relay's address; its pinned certificate is a.
	DEV=127.0.0.1:$rport
	record "$DEV" a | dmu-certdb add
	bg relay.out relay.err socat -x \
	    "TCP-LISTEN:$rport,bind=127.0.0.1,reuseaddr,fork" "TCP:127.0.0.1:$SIM_PORT"
	wait_until 5 listening "$rport" || fail "the relay does not listen"
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_equal "$status" 4
	assert_mismatch_msg b a
	refute_key
	run --separate-stderr timeout 10 dmu-get -t "$T" -w 1 "$DEV" follow </dev/null
	assert_equal "$status" 4
	refute_key
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_equal "$status" 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	assert_refused b
	assert_equal "$(grep -c '^conn ' b.log)" 3
}

@test "mitm: a relay in front of the real device sees only ciphertext" {
	command -v socat >/dev/null || skip "socat is not installed"
	sim_up a -n 3
	rport=$(free_port)
	# The same device, reached through a relay that dumps both directions.
	record "127.0.0.1:$rport" a | dmu-certdb add
	bg relay.out relay.err socat -r c2s.bin -R s2c.bin \
	    "TCP-LISTEN:$rport,bind=127.0.0.1,reuseaddr" "TCP:127.0.0.1:$PORT"
	wait_until 5 listening "$rport" || fail "the relay does not listen"
	run --separate-stderr dmu-get -t "$T" "127.0.0.1:$rport" list </dev/null
	assert_success
	assert_equal "$(serials "$output")" "1 2 3"
	bg_wait "$BG_PID" 5
	# The device did get the request: the relay carried it ...
	grep -q "^request [0-9]* GET $APP_BASE/reports\$" a.log || fail "a.log: $(cat a.log)"
	[ "$(wc -c <c2s.bin)" -gt 200 ] || fail "the relay saw no traffic"
	# ... but never in a form it could read.
	for s in "$KEY_TEXT" "$KEY_B64" X-Api-Key "GET " "$APP_BASE" HTTP/1.1; do
		if grep -aqF -- "$s" c2s.bin; then
			fail "the relay saw '$s' in the clear"
		fi
	done
	for s in AWS830_DEMO '"serial"' HTTP/1.1; do
		if grep -aqF -- "$s" s2c.bin; then
			fail "the relay saw '$s' in the clear"
		fi
	done
	# TLS records, all of them: handshake (22) first, then application
	# data (23).
	[ "$(head -c 1 c2s.bin | od -An -tu1 | tr -d ' ')" = 22 ] || fail "not TLS"
	od -An -tu1 -v c2s.bin | tr -s ' \n' '\n' | grep -qx 23 || fail "no application record"
}
