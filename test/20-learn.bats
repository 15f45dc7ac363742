#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dmu-learn: capture a device's certificate, authorize it, print a record.

load helper

@test "learn -y: prints one record that dmu-certdb add accepts" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run --separate-stderr dmu-learn -y -t "$T" "$dev" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^$dev $(fpr_hex a) [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z unverified [A-Za-z0-9_][A-Za-z0-9._-]* [A-Za-z0-9+/]+=*$"
	[[ $stderr == *"$dev"*"$(fpr_colon a)"* ]]
	# The certificate field is the DER of the device's certificate.
	read -r _ _ _ _ _ b64 <<<"$output"
	assert_equal "$(base64 -d <<<"$b64" | sha256sum | cut -c1-64)" "$(fpr_hex a)"
	rec=$output
	run --separate-stderr dmu-certdb add <<<"$rec"
	assert_success
	run --separate-stderr dmu-certdb get "$dev" </dev/null
	assert_output "$rec"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "learn -y: the normal pipeline dmu-learn | dmu-certdb add | dmu-pin-check" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run bash -c "dmu-learn -y -t $T https://$dev/ </dev/null | dmu-certdb add"
	assert_success
	run --separate-stderr dmu-pin-check -t "$T" "$dev" </dev/null
	assert_success
	assert_output "$dev ok $(fpr_hex a)"
}

@test "learn -F: accepts every spelling of the right fingerprint" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	hex=$(fpr_hex a)
	colon=$(fpr_colon a)
	openssl=$(openssl x509 -in a.pem -noout -fingerprint -sha256)
	b64=$(fpr_b64 a)
	# As pasted: openssl's whole line (OpenSSL 3 and 1.1 spellings), the
	# OpenSSH form in either case of its prefix, blanks and a line end.
	for f in "$colon" "${colon,,}" "$hex" "${hex^^}" \
	    "$b64" "$(fpr_b64 a nopad)" "sha256:${b64#SHA256:}" \
	    "$openssl" "sha256 Fingerprint=$colon" "SHA256 Fingerprint=$colon" \
	    "SHA256 Fingerprint=${colon,,}" "sha256 Fingerprint=$hex" \
	    " $colon " "$hex"$'\n' "	$openssl"$'\r\n'; do
		run --separate-stderr dmu-learn -F "$f" -t "$T" "$dev" </dev/null
		assert_success
		assert_output --regexp "^$dev $hex [0-9TZ:-]+ fingerprint [A-Za-z0-9_][A-Za-z0-9._-]* [A-Za-z0-9+/=]+$"
		[[ $stderr == *"fingerprint matches"* ]] || fail "-F $f: '$stderr'"
	done
}

@test "learn -F: a wrong fingerprint is 4 and prints nothing" {
	mkcert a ec
	mkcert b ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	for f in "$(fpr_colon b)" "$(fpr_hex b)" "$(fpr_b64 b nopad)"; do
		run --separate-stderr dmu-learn -F "$f" -t "$T" "$dev" </dev/null
		assert_failure 4
		assert_output ''
		[[ $stderr == *"certificate mismatch: presented $(fpr_colon a), expected $(fpr_colon b); not learned"* ]] ||
		    fail "$stderr"
		[[ $stderr == *"$dev: look first: dmu-certdb seen $dev; only if the device itself was replaced, re-learn it with the fingerprint read off the device: dmu-learn -F FINGERPRINT $dev | dmu-certdb add -r"* ]] ||
		    fail "$stderr"
	done
	assert_no_http a
}

@test "learn -F: a malformed fingerprint is a usage error (2), no connection" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	hex=$(fpr_hex a)
	colon=$(fpr_colon a)
	for f in "xyz" "${hex:1}" "${hex}00" "SHA256:!!!" "${hex:0:62}:z" \
	    "sha1 Fingerprint=$colon" "sha256 Fingerprint=" \
	    "sha256 Fingerprint=${colon:3}" "sha256 Fingerprint:$colon" \
	    "SHA256 Fingerprint=$(fpr_b64 a)" "${colon:0:50} ${colon:51}"; do
		run --separate-stderr dmu-learn -F "$f" -t "$T" "$dev" </dev/null
		assert_failure 2
		assert_output ''
		[[ $stderr == *fingerprint* ]]
	done
	run grep -c '^conn ' a.log
	assert_output 0
}

@test "learn: without a terminal and without -y or -F it refuses (1)" {
	command -v setsid >/dev/null || skip "setsid is not installed"
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run --separate-stderr setsid -w dmu-learn -t "$T" "$dev" </dev/null
	assert_failure 1
	assert_output ''
	[[ $stderr == *"no terminal"* ]]
	assert_no_http a
}

@test "learn: typed yes on the terminal prints the record (0)" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run on_pty yes "dmu-learn -t $T $dev"
	assert_success
	run cat out
	assert_output --regexp "^$dev $(fpr_hex a) [0-9TZ:-]+ terminal [A-Za-z0-9_][A-Za-z0-9._-]* [A-Za-z0-9+/=]+$"
	# The terminal showed what a person must compare.
	run cat tty
	assert_output --partial "$(fpr_colon a)"
	assert_output --partial "$(spki_pin a)"
	assert_output --partial "CN=DMU801"
	assert_output --partial "EC P-256"
	assert_output --partial "Type yes"
	assert_no_http a
}

@test "learn: typed no on the terminal is 1 and prints nothing" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run on_pty no "dmu-learn -t $T $dev"
	assert_failure 1
	[ ! -s out ] || fail "stdout: $(cat out)"
	run cat err
	assert_output --partial "not authorized"
	# Only the word yes will do.
	run on_pty y "dmu-learn -t $T $dev"
	assert_failure 1
	[ ! -s out ]
	run on_pty YES "dmu-learn -t $T $dev"
	assert_failure 1
	[ ! -s out ]
}

@test "learn: a manifest without fingerprints asks on the terminal for each device" {
	mkcert a ec
	mkcert b ec
	start_sim a
	pa=$SIM_PORT
	start_sim b
	pb=$SIM_PORT
	printf '127.0.0.1:%s\n127.0.0.1:%s\n' "$pa" "$pb" >manifest
	run on_pty $'yes\nno' "dmu-learn -t $T <manifest"
	assert_failure 1
	run cat out
	assert_equal "${#lines[@]}" 1
	assert_line -n 0 --regexp "^127\.0\.0\.1:$pa $(fpr_hex a) "
	run cat err
	assert_output --partial "127.0.0.1:$pb: not authorized"
	run grep -c 'Type yes' tty
	assert_output 2
}

@test "learn: a manifest on stdin, comments and blank lines skipped" {
	mkcert a ec
	mkcert r rsa
	start_sim a
	pa=$SIM_PORT
	start_sim r
	pr=$SIM_PORT
	run --separate-stderr dmu-learn -t "$T" <<EOF
# commissioning manifest for site 1

127.0.0.1:$pa $(fpr_colon a)
	# an indented comment
   https://127.0.0.1:$pr/  $(fpr_b64 r)   # the RSA one

EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 --regexp "^127\.0\.0\.1:$pa $(fpr_hex a) "
	assert_line -n 1 --regexp "^127\.0\.0\.1:$pr $(fpr_hex r) "
	dmu-certdb add <<<"$output"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "learn: a manifest without fingerprints needs -y; a wrong one is 4, the rest learned" {
	mkcert a ec
	mkcert b ec
	start_sim a
	pa=$SIM_PORT
	start_sim b
	pb=$SIM_PORT
	run --separate-stderr dmu-learn -y -t "$T" <<EOF
127.0.0.1:$pa
127.0.0.1:$pb $(fpr_hex a)
127.0.0.1:$pb	# a comment, no fingerprint
EOF
	assert_failure 4
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 --regexp "^127\.0\.0\.1:$pa $(fpr_hex a) "
	assert_line -n 1 --regexp "^127\.0\.0\.1:$pb $(fpr_hex b) "
	[[ $stderr == *"127.0.0.1:$pb"*mismatch* ]]
}

@test "learn: a manifest takes openssl's \"sha256 Fingerprint=\" line as pasted" {
	mkcert a ec
	mkcert b ec
	start_sim a
	pa=$SIM_PORT
	start_sim b
	pb=$SIM_PORT
	run --separate-stderr dmu-learn -t "$T" <<EOF
127.0.0.1:$pa $(openssl x509 -in a.pem -noout -fingerprint -sha256)
127.0.0.1:$pb   SHA256 Fingerprint=$(fpr_colon b)   # OpenSSL 1.1
EOF
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 --regexp "^127\.0\.0\.1:$pa $(fpr_hex a) [^ ]+ manifest "
	assert_line -n 1 --regexp "^127\.0\.0\.1:$pb $(fpr_hex b) [^ ]+ manifest "
	# The wrong certificate's line is still refused.
	run --separate-stderr dmu-learn -t "$T" <<<"127.0.0.1:$pa sha256 Fingerprint=$(fpr_colon b)"
	assert_failure 4
	assert_output ''
}

@test "learn: a manifest line with extra fields is 7" {
	mkcert a ec
	start_sim a
	run --separate-stderr dmu-learn -y -t "$T" <<<"127.0.0.1:$SIM_PORT $(fpr_hex a) extra"
	assert_failure 7
	assert_output ''
	[[ $stderr == *"stdin:1:"* ]]
}

@test "learn: says on stderr when the database holds another certificate" {
	mkcert a ec
	mkcert b ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	dmu-certdb import "$dev" <b.pem
	run --separate-stderr dmu-learn -y -t "$T" "$dev" </dev/null
	assert_success
	assert_output --regexp "^$dev $(fpr_hex a) "
	[[ $stderr == *ANOTHER*"($(fpr_colon b)); the device now presents $(fpr_colon a)"* ]] ||
	    fail "$stderr"
	[[ $stderr == *"look first: dmu-certdb seen $dev;"*"dmu-learn -F FINGERPRINT $dev | dmu-certdb add -r"* ]] ||
	    fail "$stderr"
	# And the database keeps refusing it.
	run --separate-stderr dmu-certdb add <<<"$output"
	assert_failure 4
}

@test "learn: says when the certificate is already in the database" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	dmu-certdb import "$dev" <a.pem
	run --separate-stderr dmu-learn -y -t "$T" "$dev" </dev/null
	assert_success
	[[ $stderr == *"already"* ]]
	[[ $stderr != *ANOTHER* ]]
}

@test "learn: RSA and EC devices" {
	mkcert r rsa
	mkcert e ec
	start_sim r
	pr=$SIM_PORT
	start_sim e
	pe=$SIM_PORT
	run --separate-stderr dmu-learn -y -t "$T" 127.0.0.1:$pr 127.0.0.1:$pe </dev/null
	assert_success
	assert_line -n 0 --regexp "^127\.0\.0\.1:$pr $(fpr_hex r) "
	assert_line -n 1 --regexp "^127\.0\.0\.1:$pe $(fpr_hex e) "
	dmu-certdb add <<<"$output"
	run --separate-stderr dmu-certdb show 127.0.0.1:$pr </dev/null
	assert_line --regexp '^key: +RSA 2048$'
	run --separate-stderr dmu-certdb show 127.0.0.1:$pe </dev/null
	assert_line --regexp '^key: +EC P-256$'
}

@test "learn: no HTTP request and no application data is sent" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run --separate-stderr dmu-learn -y -t "$T" "$dev" </dev/null
	assert_success
	run --separate-stderr dmu-learn -F "$(fpr_hex a)" -t "$T" "$dev" </dev/null
	assert_success
	assert_no_http a
	run grep -c '^handshake [0-9]* ok' a.log
	assert_output 2
	run sim_ctl "$SIM_CTL" stats
	assert_output --partial 'requests=0'
}

@test "learn: an unreachable device is 5" {
	port=$(free_port)
	run --separate-stderr dmu-learn -y -t "$T" 127.0.0.1:$port </dev/null
	assert_failure 5
	assert_output ''
	[[ $stderr == *"127.0.0.1:$port"*"connect"* ]]
}

@test "learn: a silent device is 5 within the time-out" {
	mkcert a ec
	start_sim a -S silent
	t0=$(now_ms)
	run --separate-stderr dmu-learn -y -t 1 127.0.0.1:$SIM_PORT </dev/null
	t1=$(now_ms)
	assert_failure 5
	assert_output ''
	[[ $stderr == *"timed out"* ]]
	[ $((t1 - t0)) -lt $((1000 + LATE_MS)) ] || fail "took $((t1 - t0)) ms with -t 1"
}

@test "learn: a TLS 1.0-only device is 5 and the message says TLS 1.2" {
	mkcert a rsa
	start_sim a -V tls10
	run --separate-stderr dmu-learn -y -t "$T" 127.0.0.1:$SIM_PORT </dev/null
	assert_failure 5
	assert_output ''
	[[ $stderr == *"TLS 1.2"* ]]
}

@test "learn: usage errors are 2" {
	for args in "-t 0 127.0.0.1:1" "-t x 127.0.0.1:1" "-F" \
	    "-F $(printf %064d 0)" "-F $(printf %064d 0) 127.0.0.1:1 127.0.0.1:2" \
	    "-Z 127.0.0.1:1" "127.0.0.1:99999" "[::1" "https://"; do
		run --separate-stderr dmu-learn $args </dev/null
		assert_failure 2
		assert_output ''
		[ -n "$stderr" ] || fail "'$args': no message"
	done
}

@test "learn: IPv6 loopback device" {
	have_ipv6 || skip "::1 is not available"
	mkcert a ec
	start_sim a -6
	run --separate-stderr dmu-learn -y -t "$T" "[::1]:$SIM_PORT" </dev/null
	assert_success
	assert_output --regexp "^\[::1\]:$SIM_PORT $(fpr_hex a) "
}

@test "learn: a write error on stdout is 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	mkcert a ec
	start_sim a
	run --separate-stderr to_full dmu-learn -y -t "$T" 127.0.0.1:$SIM_PORT </dev/null
	assert_failure 1
	[[ $stderr == *"write error"* ]]
}

@test "learn: a device with a chain: the end-entity certificate is learned" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout ca.key -out ca.pem -subj /CN=Site-CA -days 3650 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout leaf.key -out leaf.csr -subj /CN=DMU801 2>/dev/null
	openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key \
	    -CAcreateserial -out leaf.pem -days 3650 2>/dev/null
	cat leaf.pem ca.pem >chain.pem
	cp leaf.key chain.key
	start_sim chain
	dev=127.0.0.1:$SIM_PORT
	run --separate-stderr dmu-learn -y -t "$T" "$dev" </dev/null
	assert_success
	assert_output --regexp "^$dev $(fpr_hex leaf) "
	dmu-certdb add <<<"$output"
	run --separate-stderr dmu-certdb show "$dev" </dev/null
	assert_line --regexp '^issuer: +CN=Site-CA$'
	run --separate-stderr dmu-pin-check -t "$T" "$dev" </dev/null
	assert_success
	assert_output "$dev ok $(fpr_hex leaf)"
}

@test "learn: records written to a terminal say that nothing was stored, and show the pipe" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run "$DMU_TEST_DIR/pty-answer" "dmu-learn -F $(fpr_hex a) -t $T $dev"
	assert_success
	assert_output --partial "$dev $(fpr_hex a) "
	assert_output --partial "dmu-learn: $dev: the record above went to the terminal: nothing was stored; pipe it into the database: dmu-learn -F FINGERPRINT $dev | dmu-certdb add"
	[ ! -e "$DMU_CERTDB" ]
	# Into a pipe: not a word of it.
	run --separate-stderr dmu-learn -F "$(fpr_hex a)" -t "$T" "$dev" </dev/null
	assert_success
	[[ $stderr != *"nothing was stored"* ]] || fail "$stderr"
}

@test "learn: a certificate's subject cannot draw the trust prompt (one line per name, fingerprint in the question)" {
	mkcert a ec
	# A subject of 255 characters with runs of spaces that would wrap on
	# 80 columns into a fake "sha256:" line bearing b's fingerprint.
	mkcert b ec
	fake=$(fpr_colon b)
	pad=$(printf '%62s' '')
	openssl req -x509 -new -key a.key -out a.pem -days 30 -subj \
	    "/CN=DMU801/OU=a${pad}b/OU=sha256:   ${fake:0:54}/OU=${fake:54}/O=z${pad}z" \
	    2>/dev/null || fail "cannot make the certificate"
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	run on_pty yes "dmu-learn -t $T $dev"
	assert_success
	grep -q "^$dev $(fpr_hex a) " out || fail "not learned: $(cat out)"
	tr -d '\r' <tty >shown
	# The question itself names the genuine fingerprint.
	run grep -c "^Trust certificate $(fpr_colon a) for $dev? Type yes to accept: " shown
	assert_output 1
	# Subject and issuer: one line each within 79 columns, spaces
	# collapsed, cut with "..."; only the genuine sha256: line exists.
	for n in subject issuer; do
		run grep "^$n: " shown
		assert_equal "${#lines[@]}" 1
		[ "${#output}" -le 79 ] || fail "$n line of ${#output}: $output"
		[[ $output != *"  "*"  "* ]] || fail "spaces kept: $output"
		[[ $output == *"..." ]] || fail "not cut: $output"
		[[ $output == *"OU=a b,OU=sha256: "* ]] || fail "$output"
	done
	run grep -c "^sha256: " shown
	assert_output 1
	run grep "^sha256: " shown
	assert_output "sha256:   $(fpr_colon a)"
	# dmu-certdb show writes the same summary; the whole subject stays in
	# the inventory.
	dmu-certdb add <out
	run --separate-stderr dmu-certdb show "$dev"
	assert_success
	run grep "^subject: " <<<"$output"
	[ "${#output}" -le 79 ] || fail "show: $output"
	run --separate-stderr dmu-certdb inventory "$dev"
	[[ $output == *"OU=a${pad}b,OU=sha256:   ${fake:0:54}"* ]] || fail "$output"
}

@test "learn: an echoed fingerprint (-F, manifest) reaches stderr scrubbed and cut with ..." {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	esc=$'\033]0;owned\007\033[2J'
	long=$(printf 'F%.0s' {1..300})
	run --separate-stderr dmu-learn -F "x${esc}y$long" -t "$T" "$dev" </dev/null
	assert_failure 2
	assert_output ''
	[[ $stderr != *$'\033'* && $stderr != *$'\007'* ]] || fail "raw: $(cat -v <<<"$stderr")"
	[[ $stderr == *"'x?]0;owned??[2Jy"*"...' ("* ]] || fail "$stderr"
	# The echo is bounded: 120 bytes between the quotes.
	echoed=${stderr#*\'}
	echoed=${echoed%%\'*}
	assert_equal "${#echoed}" 120
	# A manifest's fingerprint field likewise.
	run --separate-stderr dmu-learn -t "$T" < <(printf '%s x%sy\n' "$dev" "$esc")
	assert_failure 2
	[[ $stderr != *$'\033'* && $stderr != *$'\007'* ]] || fail "raw: $(cat -v <<<"$stderr")"
	[[ $stderr == *"'x?]0;owned??[2Jy'"* ]] || fail "$stderr"
}
