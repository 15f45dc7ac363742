#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dmu-pin-check: assert pinned certificates with a handshake only.

load helper

# pinned NAME [DEVICE]: starts a simulator serving NAME and pins NAME.pem for
# it, by its fingerprint (DEVICE defaults to 127.0.0.1:PORT); sets DEV.
pinned() {
	start_sim "$1"
	DEV=${2:-127.0.0.1:$SIM_PORT}
	dmu-certdb import -F "$(fpr_hex "$1")" "$DEV" <"$1.pem"
}

@test "pin-check: the pinned certificate is ok (0)" {
	mkcert a ec
	pinned a
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
	assert_equal "$stderr" ''
}

@test "pin-check -f: reads the named database instead of DMU_CERTDB" {
	mkcert a ec
	start_sim a
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb -f other import "$DEV" <a.pem
	: >"$DMU_CERTDB"
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 3
	assert_output "$DEV unknown"
	# The command suggested reads the same database.
	[[ $stderr == *"dmu-learn -F FINGERPRINT $DEV | dmu-certdb add"* ]] || fail "$stderr"
	run --separate-stderr dmu-pin-check -f other -t "$T" 127.0.0.1:1 </dev/null
	[[ $stderr == *"dmu-learn -F FINGERPRINT 127.0.0.1:1 | dmu-certdb -f other add"* ]] || fail "$stderr"
	run --separate-stderr dmu-pin-check -f other -t "$T" "$DEV" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
}

@test "pin-check: RSA and EC devices" {
	mkcert r rsa
	mkcert e ec
	pinned r
	dr=$DEV
	pinned e
	de=$DEV
	run --separate-stderr dmu-pin-check -t "$T" "$dr" "$de" </dev/null
	assert_success
	assert_line -n 0 "$dr ok $(fpr_hex r)"
	assert_line -n 1 "$de ok $(fpr_hex e)"
}

@test "pin-check: the device is named in canonical form, whatever the spelling" {
	mkcert a ec
	pinned a
	run --separate-stderr dmu-pin-check -t "$T" "https://$DEV/api/application/x/reports/v1/reports/3" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
	# A path that is not the reports API is refused, not ignored.
	run --separate-stderr dmu-pin-check -t "$T" "https://$DEV/any/path" </dev/null
	assert_failure 7
	assert_output "https://$DEV/any/path error invalid device"
	[[ $stderr == *"the path of a URL names the reports API: https://HOST[:PORT][/api/application/APP/reports/v1[/reports[/SERIAL|oldest|latest]|/wait]]"* ]] ||
	    fail "$stderr"
	# Without https:// a path is refused too, never dropped.
	run --separate-stderr dmu-pin-check -t "$T" "$DEV/any/path" </dev/null
	assert_failure 7
	assert_output "$DEV/any/path error invalid device"
	[[ $stderr == *"a path, query or fragment is read only in a URL"* ]] ||
	    fail "$stderr"
}

@test "pin-check: a device not in the database is unknown (3), not contacted" {
	mkcert a ec
	start_sim a
	dmu-certdb import st1 <a.pem
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:$SIM_PORT </dev/null
	assert_failure 3
	assert_output "127.0.0.1:$SIM_PORT unknown"
	[[ $stderr == *"127.0.0.1:$SIM_PORT"*"unknown device"* ]]
	[[ $stderr == *"learn it first, with the fingerprint read off the device: dmu-learn -F FINGERPRINT 127.0.0.1:$SIM_PORT | dmu-certdb add"* ]] ||
	    fail "$stderr"
	run grep -c '^conn ' a.log
	assert_output 0
}

@test "pin-check: an unknown device one edit away from a known one is named" {
	mkcert a ec
	dmu-certdb import 127.0.0.1:18443 <a.pem
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:18434 </dev/null
	assert_failure 3
	assert_output "127.0.0.1:18434 unknown"
	[[ $stderr == *"127.0.0.1:18434: unknown device (not in $DMU_CERTDB; did you mean 127.0.0.1:18443?)"* ]] ||
	    fail "$stderr"
	[[ $stderr == *"dmu-learn -F FINGERPRINT 127.0.0.1:18434 | dmu-certdb add"* ]] || fail "$stderr"
}

@test "pin-check: no database at all fails (1) with its path, never an empty fleet" {
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:1 </dev/null
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "dmu-pin-check: $DMU_CERTDB: no certificate database (a missing one is not an empty one); start one with: dmu-learn -F FINGERPRINT DEVICE | dmu-certdb -f $DMU_CERTDB add"
	# The issue's nightly job: a misspelt database, piped.
	run --separate-stderr bash -c 'dmu-certdb -f certbd list | dmu-pin-check -f certbd -j 16'
	assert_failure 1
	assert_output ''
	[[ $stderr == *"certbd: no certificate database"* ]] || fail "$stderr"
}

@test "pin-check: no device at all is said and is no success (2)" {
	: >"$DMU_CERTDB"
	run --separate-stderr dmu-pin-check -t "$T" </dev/null
	assert_failure 2
	assert_output ''
	assert_equal "$stderr" "dmu-pin-check: no device to check: name devices as arguments or one per line on stdin (dmu-certdb list | dmu-pin-check)"
	# Comments and blank lines only: still none.
	run --separate-stderr dmu-pin-check -t "$T" <<<$'# none\n\n'
	assert_failure 2
	# An empty database listed into it.
	run --separate-stderr bash -c 'dmu-certdb list | dmu-pin-check'
	assert_failure 2
	[[ $stderr == *"no device to check"* ]]
}

@test "pin-check: another certificate on the same address is a mismatch (4), loudly" {
	mkcert a ec
	mkcert b ec
	start_sim b
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	[[ $stderr == *MISMATCH* ]]
	# People compare the colon form; the line above keeps the machine form.
	[[ $stderr == *"the device presented $(fpr_colon b), but $(fpr_colon a) is pinned"* ]] ||
	    fail "$stderr"
	[[ $stderr == *"dmu-pin-check: $DEV: look first: dmu-certdb seen $DEV; only if the device itself was replaced, re-learn it with the fingerprint read off the device: dmu-learn -F FINGERPRINT $DEV | dmu-certdb add -r"* ]] ||
	    fail "$stderr"
	sim_log_settled b
	run grep -c '^request ' b.log
	assert_output 0
	run grep -c '^handshake [0-9]* ok' b.log
	assert_output 0
}

@test "pin-check: a device that replaced its certificate (another key) on the same port is 4" {
	mkcert a rsa
	mkcert b rsa
	pinned a
	port=$SIM_PORT
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	stop_sims
	start_sim b -p "$port"
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
}

@test "pin-check: a re-issued certificate with the device's own key is a mismatch (4)" {
	mkcert a ec
	mkcert b ec a.key		# same key, another certificate
	[ "$(spki_pin a)" = "$(spki_pin b)" ]
	[ "$(fpr_hex a)" != "$(fpr_hex b)" ]
	start_sim b
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	[[ $stderr == *MISMATCH* ]]
}

@test "pin-check: a re-issued RSA certificate with the device's own key is a mismatch (4)" {
	mkcert a rsa
	mkcert b rsa a.key
	start_sim b
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
}

@test "pin-check: an impostor with the pinned certificate but not its key is a mismatch (4), nothing sent" {
	mkcert a ec
	mkcert x ec
	cp a.pem imp.pem
	cp x.key imp.key	# the device's public certificate, another key
	start_sim imp
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_output "$DEV mismatch key-proof-failed $(fpr_hex a)"
	[[ $stderr == *"CERTIFICATE MISMATCH"*"could not prove"* ]]
	sim_log_settled imp
	run grep -c '^request ' imp.log
	assert_output 0
	run grep '^rxbytes ' imp.log
	assert_output --regexp ' 0$'
}

@test "pin-check: a closed port is a network error (5)" {
	mkcert a ec
	port=$(free_port)
	DEV=127.0.0.1:$port
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 5
	assert_output --regexp "^$DEV error unreachable cannot connect: .*refused"
}

@test "pin-check: a device that accepts TCP and stays silent is 5 within -t 1" {
	mkcert a ec
	start_sim a -S silent
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	t0=$(now_ms)
	run --separate-stderr dmu-pin-check -t 1 "$DEV" </dev/null
	t1=$(now_ms)
	assert_failure 5
	assert_output "$DEV error unreachable timed out"
	[ $((t1 - t0)) -ge 900 ] || fail "gave up after $((t1 - t0)) ms, before -t 1"
	[ $((t1 - t0)) -lt $((1000 + LATE_MS)) ] || fail "took $((t1 - t0)) ms with -t 1"
}

@test "pin-check: a device that drips one byte a second is 5 within -t 2" {
	mkcert a ec
	start_sim a -S drip
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	t0=$(now_ms)
	run --separate-stderr dmu-pin-check -t 2 "$DEV" </dev/null
	t1=$(now_ms)
	assert_failure 5
	assert_output --regexp "^$DEV error "
	[ $((t1 - t0)) -lt $((2000 + LATE_MS)) ] || fail "took $((t1 - t0)) ms with -t 2"
}

@test "pin-check: a TLS 1.0-only device is 5 and the message says TLS 1.2" {
	mkcert a rsa
	start_sim a -V tls10
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 5
	assert_output --regexp "^$DEV error incompatible the device does not speak TLS 1\.2 .*never reach it"
}

@test "pin-check: a TLS 1.1-only device is 5 too" {
	mkcert a ec
	start_sim a -V tls11
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 5
	assert_output --regexp "^$DEV error incompatible .*TLS 1\.2"
}

@test "pin-check: a service that does not speak TLS is 5" {
	mkcert a ec
	start_sim a
	DEV=127.0.0.1:$SIM_CTL	# the simulator's plain-text control port
	dmu-certdb import "$DEV" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 5
	assert_output --regexp "^$DEV error incompatible .*TLS"
}

@test "pin-check: an over-long line on stdin is 7 with stdin:LINE, the rest checked" {
	mkcert a ec
	pinned a
	{
		echo "$DEV"
		printf 'x%.0s' $(seq 1 5000)
		echo
		echo "$DEV"
	} >list
	run --separate-stderr dmu-pin-check -t "$T" <list
	assert_failure 7
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "$DEV ok $(fpr_hex a)"
	assert_line -n 1 "$DEV ok $(fpr_hex a)"
	[[ $stderr == *"stdin:2:"* ]]
}

@test "pin-check: a mixed list on stdin, lines in input order, the worst exit code" {
	mkcert a ec
	mkcert b ec
	pinned a
	ok=$DEV
	start_sim b
	mm=127.0.0.1:$SIM_PORT
	dmu-certdb import "$mm" <a.pem
	closed_port cport
	closed=127.0.0.1:$cport
	dmu-certdb import "$closed" <a.pem
	unknown=127.0.0.1:1
	bad='st1:99999'

	# ok and unknown: 3
	run --separate-stderr dmu-pin-check -t "$T" <<<"$ok
$unknown"
	assert_failure 3
	assert_line -n 0 "$ok ok $(fpr_hex a)"
	assert_line -n 1 "$unknown unknown"

	# unknown and a network error: 5
	run --separate-stderr dmu-pin-check -t "$T" <<<"$unknown
$closed
$ok"
	assert_failure 5
	assert_line -n 0 "$unknown unknown"
	assert_line -n 1 --regexp "^$closed error "
	assert_line -n 2 "$ok ok $(fpr_hex a)"

	# a network error and malformed input: 7
	run --separate-stderr dmu-pin-check -t "$T" <<<"$closed
$bad
$unknown"
	assert_failure 7
	assert_line -n 0 --regexp "^$closed error "
	assert_line -n 1 --regexp "^$bad error "
	assert_line -n 2 "$unknown unknown"

	# everything, the mismatch in the middle: 4
	run --separate-stderr dmu-pin-check -t "$T" <<<"# a comment
$unknown
$bad

$mm
$closed
$ok"
	assert_failure 4
	assert_equal "${#lines[@]}" 5
	assert_line -n 0 "$unknown unknown"
	assert_line -n 1 --regexp "^$bad error "
	assert_line -n 2 "$mm mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	assert_line -n 3 --regexp "^$closed error "
	assert_line -n 4 "$ok ok $(fpr_hex a)"
}

@test "pin-check: dmu-certdb list | dmu-pin-check" {
	mkcert a ec
	mkcert r rsa
	pinned a
	da=$DEV
	pinned r
	dr=$DEV
	run bash -c "dmu-certdb list | dmu-pin-check -t $T"
	assert_success
	assert_line -n 0 "$da ok $(fpr_hex a)"
	assert_line -n 1 "$dr ok $(fpr_hex r)"
	assert_equal "${#lines[@]}" 2
}

@test "pin-check -j 8: the same output, in input order, as -j 1 (and faster)" {
	mkcert a ec
	mkcert s ec
	pinned a
	ok=$DEV
	start_sim s -S silent
	silent=127.0.0.1:$SIM_PORT
	dmu-certdb import "$silent" <s.pem
	closed_port cport
	closed=127.0.0.1:$cport
	dmu-certdb import "$closed" <a.pem
	printf '%s\n' "$silent" "$ok" "$closed" "$silent" "$ok" 127.0.0.1:1 \
	    "$ok" "$silent" "$ok" "$closed" "$ok" >list

	t0=$(now_ms)
	run --separate-stderr dmu-pin-check -j 1 -t 1 <list
	t1=$(now_ms)
	assert_failure 5
	serial=$output
	serial_status=$status
	t2=$(now_ms)
	run --separate-stderr dmu-pin-check -j 8 -t 1 <list
	t3=$(now_ms)
	assert_equal "$status" "$serial_status"
	assert_equal "$output" "$serial"
	assert_equal "${#lines[@]}" 11
	assert_line -n 0 "$silent error unreachable timed out"
	assert_line -n 1 "$ok ok $(fpr_hex a)"
	assert_line -n 5 "127.0.0.1:1 unknown"
	# Three silent devices: about 3 s one at a time, about 1 s at once
	# (a serial run cannot take less than 3 s, so 2.5 s says they
	# overlapped, with slack for a loaded machine).
	[ $((t1 - t0)) -ge 2700 ] || fail "-j 1 took only $((t1 - t0)) ms"
	[ $((t3 - t2)) -lt 2500 ] || fail "-j 8 took $((t3 - t2)) ms"
}

@test "pin-check: no HTTP request and no application data is sent" {
	mkcert a ec
	mkcert r rsa
	pinned a
	da=$DEV
	run --separate-stderr dmu-pin-check -t "$T" "$da" "$da" "$da" </dev/null
	assert_success
	assert_no_http a
	run grep -c '^handshake [0-9]* ok' a.log
	assert_output 3
	run sim_ctl "$SIM_CTL" stats
	assert_output --partial 'requests=0'
	pinned r
	run --separate-stderr dmu-pin-check -j 4 -t "$T" "$DEV" "$DEV" </dev/null
	assert_success
	assert_no_http r
}

@test "pin-check: an IPv6 device [::1]" {
	have_ipv6 || skip "::1 is not available"
	mkcert a ec
	mkcert b ec
	start_sim a -6
	DEV="[::1]:$SIM_PORT"
	dmu-learn -y -t "$T" "$DEV" </dev/null | dmu-certdb add
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
	run --separate-stderr dmu-pin-check -t "$T" "https://[::1]:$SIM_PORT/" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
	start_sim b -6
	DEV6B="[::1]:$SIM_PORT"
	dmu-certdb import "$DEV6B" <a.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV6B" </dev/null
	assert_failure 4
	assert_output "$DEV6B mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
}

@test "pin-check: usage errors are 2" {
	for args in "-j 0 127.0.0.1:1" "-j 257 127.0.0.1:1" "-j x 127.0.0.1:1" \
	    "-t 0 127.0.0.1:1" "-t 3601 127.0.0.1:1" "-Z 127.0.0.1:1" "-f"; do
		run --separate-stderr dmu-pin-check $args </dev/null
		assert_failure 2
		assert_output ''
		[ -n "$stderr" ] || fail "'$args': no message"
	done
}

@test "pin-check: a write error on stdout is 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	mkcert a ec
	pinned a
	run --separate-stderr to_full dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 1
	[[ $stderr == *"write error"* ]]
}
