#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# dmu-certdb: the certificate database.

load helper

# db_with LINE...: writes the database $DMU_CERTDB with the header and lines.
db_with() {
	{
		echo "$DB_HEADER"
		local l
		for l in "$@"; do
			printf '%s\n' "$l"
		done
	} >"$DMU_CERTDB"
}

# The database path as the programs name it in messages (symlinks resolved).
dbreal() {
	realpath "$DMU_CERTDB"
}

@test "certdb add: stores the record under the header, mode 0644, directory created" {
	mkcert a ec
	export DMU_CERTDB=$BATS_TEST_TMPDIR/new/sub/certdb
	rec=$(record st1:443 a)
	umask 077
	run --separate-stderr dmu-certdb add <<<"$rec"
	assert_success
	assert_output ''
	[ -d "$BATS_TEST_TMPDIR/new/sub" ]
	run cat "$DMU_CERTDB"
	assert_line -n 0 "$DB_HEADER"
	assert_line -n 1 "$rec"
	assert_equal "${#lines[@]}" 2
	run stat -c %a "$DMU_CERTDB"
	assert_output 644
	# No temporary file is left beside it.
	run ls "$BATS_TEST_TMPDIR/new/sub"
	refute_output --partial tmp
}

@test "certdb add: the same record twice is one line, exit 0" {
	mkcert a ec
	rec=$(record st1:443 a)
	dmu-certdb add <<<"$rec"
	cp "$DMU_CERTDB" before
	run --separate-stderr dmu-certdb add <<<"$rec"
	assert_success
	assert_output ''
	cmp before "$DMU_CERTDB"
	# The same certificate learned again later is still the same record.
	run --separate-stderr dmu-certdb add <<<"$(record st1:443 a 2030-01-01T00:00:00Z)"
	assert_success
	run grep -c '^st1:443 ' "$DMU_CERTDB"
	assert_output 1
}

@test "certdb add: another certificate for a known device is refused (4), database unchanged" {
	mkcert a ec
	mkcert b ec
	dmu-certdb add <<<"$(record st1:443 a)"
	cp "$DMU_CERTDB" before
	run --separate-stderr dmu-certdb add <<<"$(record st1:443 b)"
	assert_failure 4
	assert_output ''
	[[ $stderr == *"st1:443"* ]]
	# Fingerprints for people: colon hex, as the device and show have it.
	[[ $stderr == *"$(fpr_colon a)"* ]]
	[[ $stderr == *"$(fpr_colon b)"* ]]
	# The safe step: look first, re-learn with -F only for a new device.
	[[ $stderr == *"look first: dmu-certdb seen st1:443;"*"dmu-learn -F FINGERPRINT st1:443 | dmu-certdb add -r"* ]] ||
	    fail "stderr: $stderr"
	cmp before "$DMU_CERTDB"
}

@test "certdb add -r: replaces the certificate of a known device" {
	mkcert a ec
	mkcert b ec
	dmu-certdb add <<<"$(record st1:443 a)"
	dmu-certdb add <<<"$(record st2:443 a)"
	recb=$(record st1:443 b)
	run --separate-stderr dmu-certdb add -r <<<"$recb"
	assert_success
	assert_equal "$stderr" "dmu-certdb: st1:443: replaced certificate $(fpr_colon a) with $(fpr_colon b) ($DMU_CERTDB)"
	run --separate-stderr dmu-certdb get st1:443 </dev/null
	assert_success
	assert_output "$recb"
	run grep -c '^st1:443 ' "$DMU_CERTDB"
	assert_output 1
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "certdb add: 40 parallel adds of distinct devices lose nothing" {
	mkcert a ec
	rec=$(record st0:443 a)
	for i in $(seq 1 40); do
		printf '%s\n' "${rec/#st0:443/st$i:443}" >"rec$i"
	done
	pids=()
	for i in $(seq 1 40); do
		dmu-certdb add <"rec$i" 2>"err$i" &
		pids+=($!)
	done
	rc=0
	for p in "${pids[@]}"; do
		wait "$p" || rc=$?
	done
	[ "$rc" -eq 0 ] || fail "a parallel add failed: $(cat err*)"
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_equal "${#lines[@]}" 40
	for i in $(seq 1 40); do
		assert_line --regexp "^st$i:443 $(fpr_hex a) "
	done
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
	run ls "$BATS_TEST_TMPDIR"
	refute_output --partial certdb.tmp
}

@test "certdb add: a malformed record on stdin is 7 with stdin:LINE" {
	mkcert a ec
	run --separate-stderr dmu-certdb add <<<"$(record st1:443 a)
st2:443 not-a-record"
	assert_failure 7
	[[ $stderr == *"stdin:2:"* ]]
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "certdb add: a record whose fingerprint does not match its certificate is 7" {
	mkcert a ec
	mkcert b ec
	rec=$(record st1:443 a)
	bad="st1:443 $(fpr_hex b) ${rec#* * }"
	run --separate-stderr dmu-certdb add <<<"$bad"
	assert_failure 7
	[[ $stderr == *"stdin:1:"* ]]
	[[ $stderr == *"fingerprint"* ]]
	# Nothing stored: not even an empty database was made.
	[ ! -e "$DMU_CERTDB" ]
}

@test "certdb add: a record with a non-canonical device is 7" {
	mkcert a ec
	run --separate-stderr dmu-certdb add <<<"$(record ST1 a)"
	assert_failure 7
	[[ $stderr == *"stdin:1:"* ]]
	[[ $stderr == *"canonical"* ]]
}

@test "certdb check: a valid database passes silently" {
	mkcert a ec
	mkcert b rsa
	db_with "$(record st1:443 a)" "# a comment" "" "$(record '[::1]:8443' b)"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
	assert_output ''
	assert_equal "$stderr" ''
}

@test "certdb check: a corrupt line is 7 with FILE:LINE" {
	mkcert a ec
	db_with "$(record st1:443 a)" "st2:443 garbage"
	run --separate-stderr dmu-certdb check </dev/null
	assert_failure 7
	[[ $stderr == *"$DMU_CERTDB:3:"* ]]
}

@test "certdb check: a line whose fingerprint does not match its certificate is 7 with FILE:LINE" {
	mkcert a ec
	mkcert b ec
	rec=$(record st2:443 a)
	db_with "$(record st1:443 a)" "st2:443 $(fpr_hex b) ${rec#* * }"
	run --separate-stderr dmu-certdb check </dev/null
	assert_failure 7
	[[ $stderr == *"$DMU_CERTDB:3:"*"fingerprint"* ]]
}

@test "certdb check: names every bad line, and a device that appears twice" {
	mkcert a ec
	db_with "st1:443 x" "$(record st2:443 a)" "st3:443 y" "$(record st2:443 a)"
	run --separate-stderr dmu-certdb check </dev/null
	assert_failure 7
	[[ $stderr == *"$DMU_CERTDB:2:"* ]]
	[[ $stderr == *"$DMU_CERTDB:4:"* ]]
	[[ $stderr == *"$DMU_CERTDB:5:"*"twice"* ]]
	[[ $stderr != *"$DMU_CERTDB:3:"* ]]
}

@test "certdb: a missing header is 7 for check, list, get and add (file untouched)" {
	mkcert a ec
	record st1:443 a >"$DMU_CERTDB"
	cp "$DMU_CERTDB" before
	run --separate-stderr dmu-certdb check </dev/null
	assert_failure 7
	[[ $stderr == *"$DMU_CERTDB:1:"* ]]
	run --separate-stderr dmu-certdb list </dev/null
	assert_failure 7
	[[ $stderr == *"$(dbreal):1:"* ]]
	run --separate-stderr dmu-certdb get st1:443 </dev/null
	assert_failure 7
	[[ $stderr == *":1:"* ]]
	run --separate-stderr dmu-certdb add <<<"$(record st2:443 a)"
	assert_failure 7
	cmp before "$DMU_CERTDB"
}

@test "certdb: a corrupt line is 7 with FILE:LINE for get, list, add and pin-check" {
	mkcert a ec
	db_with "$(record 127.0.0.1:1 a)" "127.0.0.1:2 garbage" "$(record 127.0.0.1:3 a)"
	cp "$DMU_CERTDB" before
	run --separate-stderr dmu-certdb get 127.0.0.1:1 </dev/null
	assert_failure 7
	[[ $stderr == *"$(dbreal):3:"* ]] || [[ $stderr == *"$DMU_CERTDB:3:"* ]]
	run --separate-stderr dmu-certdb list </dev/null
	assert_failure 7
	[[ $stderr == *"$(dbreal):3:"* ]]
	run --separate-stderr dmu-certdb add <<<"$(record st4:443 a)"
	assert_failure 7
	[[ $stderr == *"$(dbreal):3:"* ]]
	cmp before "$DMU_CERTDB"
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:1 </dev/null
	assert_failure 7
	[[ $stderr == *"$(dbreal):3:"* ]]
	refute_output --partial ' ok '
}

@test "certdb: a fingerprint/certificate mismatch line is 7 with FILE:LINE for get" {
	mkcert a ec
	mkcert b ec
	rec=$(record st2:443 a)
	db_with "$(record st1:443 a)" "st2:443 $(fpr_hex b) ${rec#* * }"
	run --separate-stderr dmu-certdb get st2:443 </dev/null
	assert_failure 7
	[[ $stderr == *"certdb:3:"* ]] || fail "no FILE:LINE in stderr: '$stderr'"
}

@test "certdb: a fingerprint/certificate mismatch line is 7 with FILE:LINE for list" {
	mkcert a ec
	mkcert b ec
	rec=$(record st2:443 a)
	db_with "$(record st1:443 a)" "st2:443 $(fpr_hex b) ${rec#* * }"
	run --separate-stderr dmu-certdb list </dev/null
	assert_failure 7
	[[ $stderr == *"certdb:3:"* ]] || fail "no FILE:LINE in stderr: '$stderr'"
}

@test "certdb: a fingerprint/certificate mismatch line is 7 with FILE:LINE for show, pem and pin" {
	mkcert a ec
	mkcert b ec
	rec=$(record st2:443 a)
	db_with "$(record st1:443 a)" "st2:443 $(fpr_hex b) ${rec#* * }"
	for cmd in show pem pin; do
		run --separate-stderr dmu-certdb "$cmd" st2:443 </dev/null
		assert_failure 7
		assert_output ''
		[[ $stderr == *"certdb:3:"* ]] ||
		    fail "$cmd: no FILE:LINE in stderr: '$stderr'"
	done
}

@test "certdb: a fingerprint/certificate mismatch line is 7 with FILE:LINE for pin-check" {
	mkcert a ec
	mkcert b ec
	rec=$(record 127.0.0.1:2 a)
	db_with "$(record 127.0.0.1:1 a)" "127.0.0.1:2 $(fpr_hex b) ${rec#* * }"
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:2 </dev/null
	assert_failure 7
	assert_output --regexp '^127\.0\.0\.1:2 error '
	[[ $stderr == *"certdb:3:"* ]] || fail "no FILE:LINE in stderr: '$stderr'"
}

@test "certdb: an unreadable database is an error, never empty" {
	mkcert a ec
	mkdir "$DMU_CERTDB"	# reading a directory fails (tests run as root)
	for cmd in list check "get st1:443" "pin st1:443" "remove st1:443"; do
		run --separate-stderr dmu-certdb $cmd </dev/null
		assert_failure 1
		[[ $stderr == *"$DMU_CERTDB"* ]] || fail "$cmd: '$stderr'"
	done
	run --separate-stderr dmu-certdb add <<<"$(record st1:443 a)"
	assert_failure 1
	[ -d "$DMU_CERTDB" ]
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:1 </dev/null
	assert_failure 1
	refute_output --partial unknown
	[[ $stderr == *"$DMU_CERTDB"* ]]
}

@test "certdb: a database below a regular file is an error, never empty" {
	mkcert a ec
	: >notadir
	export DMU_CERTDB=$BATS_TEST_TMPDIR/notadir/certdb
	run --separate-stderr dmu-certdb list </dev/null
	assert_failure 1
	[[ $stderr == *notadir* ]]
	run --separate-stderr dmu-certdb get st1:443 </dev/null
	assert_failure 1
	run --separate-stderr dmu-pin-check -t "$T" 127.0.0.1:1 </dev/null
	assert_failure 1
	refute_output --partial unknown
}

@test "certdb: a missing database is no empty fleet: every reader fails with its path and how to start one" {
	local want="$DMU_CERTDB: no certificate database (a missing one is not an empty one); start one with: dmu-learn -F FINGERPRINT DEVICE | dmu-certdb -f $DMU_CERTDB add"
	for cmd in list "get st1:443" "show st1:443" "pem st1:443" "pin st1:443" \
	    seen "seen st1:443" history "history st1:443" inventory \
	    "inventory st1:443" check "show st1:443 $(printf '%064d' 0)"; do
		# shellcheck disable=SC2086
		run --separate-stderr dmu-certdb $cmd </dev/null
		assert_failure 1
		assert_output ''
		assert_equal "$stderr" "dmu-certdb: $want"
	done
	[ ! -e "$DMU_CERTDB" ]
	# A misspelt -f names the path given.
	run --separate-stderr dmu-certdb -f "$BATS_TEST_TMPDIR/certbd" list </dev/null
	assert_failure 1
	[[ $stderr == *"$BATS_TEST_TMPDIR/certbd: no certificate database"* ]]
	# An empty file is an empty database: the readers are fine with it.
	: >"$DMU_CERTDB"
	for cmd in list seen history inventory check; do
		run --separate-stderr dmu-certdb $cmd </dev/null
		assert_success
		assert_output ''
		assert_equal "$stderr" ''
	done
	run --separate-stderr dmu-certdb get st1:443 </dev/null
	assert_failure 3
	[[ $stderr == *"st1:443: unknown device"* ]]
}

@test "certdb: an unknown device one edit away from a known one is named" {
	mkcert a ec
	dmu-certdb import -q 127.0.0.1:18443 <a.pem
	for typo in 127.0.0.1:1843 127.0.0.1:18434 127.0.0.1:18413 127.0.0.11:18443; do
		run --separate-stderr dmu-certdb get "$typo" </dev/null
		assert_failure 3
		[[ $stderr == *"$typo: unknown device (not in $DMU_CERTDB; did you mean 127.0.0.1:18443?)"* ]] ||
		    fail "$typo: $stderr"
		for cmd in inventory remove; do
			run --separate-stderr dmu-certdb "$cmd" "$typo" </dev/null
			assert_failure 3
			[[ $stderr == *"did you mean 127.0.0.1:18443?"* ]] || fail "$cmd $typo: $stderr"
		done
	done
	# Two edits away: no guess.
	run --separate-stderr dmu-certdb get 127.0.0.1:18334 </dev/null
	assert_failure 3
	[[ $stderr != *"did you mean"* ]] || fail "$stderr"
}

@test "certdb pem: parses in openssl x509 with the same fingerprint" {
	mkcert a ec
	mkcert r rsa
	dmu-certdb import st1:443 <a.pem
	dmu-certdb import st2:443 <r.pem
	run --separate-stderr dmu-certdb pem st1:443 </dev/null
	assert_success
	assert_line -n 0 -- '-----BEGIN CERTIFICATE-----'
	assert_line -- '-----END CERTIFICATE-----'
	dmu-certdb pem st1:443 </dev/null >out.pem
	run openssl x509 -in out.pem -noout -fingerprint -sha256
	assert_success
	assert_output "sha256 Fingerprint=$(fpr_colon a)"
	run openssl x509 -in out.pem -noout -subject
	assert_output 'subject=CN = DMU801'
	dmu-certdb pem st2:443 </dev/null >out2.pem
	assert_equal "$(openssl x509 -in out2.pem -outform DER | sha256sum | cut -c1-64)" "$(fpr_hex r)"
}

@test "certdb pin: equals the SPKI pin computed by openssl (EC and RSA)" {
	mkcert a ec
	mkcert r rsa
	dmu-certdb import st1:443 <a.pem
	dmu-certdb import st2:443 <r.pem
	run --separate-stderr dmu-certdb pin st1:443 </dev/null
	assert_success
	assert_output "$(spki_pin a)"
	run --separate-stderr dmu-certdb pin st2:443 </dev/null
	assert_success
	assert_output "$(spki_pin r)"
}

@test "certdb pin: works as curl --pinnedpubkey against the device; a wrong pin fails" {
	command -v curl >/dev/null || skip "curl is not installed"
	mkcert a ec
	mkcert b ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	dmu-certdb import "$dev" <a.pem
	dmu-certdb import st9:443 <b.pem
	pin=$(dmu-certdb pin "$dev" </dev/null)
	run curl -sk --max-time 5 -o /dev/null -w '%{http_code}' \
	    --pinnedpubkey "$pin" "https://$dev/"
	assert_success
	assert_output --regexp '^[1-5][0-9][0-9]$'
	wrong=$(dmu-certdb pin st9:443 </dev/null)
	run curl -sk --max-time 5 -o /dev/null -w '%{http_code}' \
	    --pinnedpubkey "$wrong" "https://$dev/"
	assert_failure 90	# CURLE_SSL_PINNEDPUBKEYNOTMATCH
}

@test "certdb get: prints the record exactly; several devices; unknown is 3" {
	mkcert a ec
	mkcert b rsa
	ra=$(record st1:443 a)
	rb=$(record st2:8443 b)
	dmu-certdb add <<<"$ra
$rb"
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_success
	assert_output "$ra"
	run --separate-stderr dmu-certdb get st2:8443 st1:443 </dev/null
	assert_success
	assert_line -n 0 "$rb"
	assert_line -n 1 "$ra"
	run --separate-stderr dmu-certdb get st1 st7 st2:8443 </dev/null
	assert_failure 3
	assert_line -n 0 "$ra"
	assert_line -n 1 "$rb"
	[[ $stderr == *"st7:443: unknown device"* ]]
}

@test "certdb get: any spelling of a device finds its canonical record" {
	mkcert a ec
	dmu-certdb import 'HTTPS://St1.Example:8443/api/application/x/reports/v1/' <a.pem
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_output --regexp "^st1\.example:8443 $(fpr_hex a) "
	for spelling in st1.example:8443 ST1.EXAMPLE:8443 https://st1.example:8443/; do
		run --separate-stderr dmu-certdb get "$spelling" </dev/null
		assert_success
		assert_output --regexp "^st1\.example:8443 "
	done
	dmu-certdb import '[::1]' <a.pem
	dmu-certdb import 'https://[::1]:8443' <a.pem
	run --separate-stderr dmu-certdb get '[::1]:443' '[::1]:8443' </dev/null
	assert_success
	assert_line -n 0 --regexp '^\[::1\]:443 '
	assert_line -n 1 --regexp '^\[::1\]:8443 '
}

@test "certdb show: a human summary with colon fingerprint, pin, subject, key, learned" {
	mkcert a ec
	mkcert r rsa
	dmu-certdb add <<<"$(record st1:443 a 2024-05-06T07:08:09Z)"
	dmu-certdb import st2:443 <r.pem
	run --separate-stderr dmu-certdb show st1:443 </dev/null
	assert_success
	assert_line --regexp '^device: +st1:443$'
	assert_line --regexp "^sha256: +$(fpr_colon a)$"
	assert_line --regexp "^pin: +$(spki_pin a | sed 's/[+/]/\\&/g')$"
	assert_line --regexp '^subject: +CN=DMU801$'
	assert_line --regexp '^key: +EC P-256$'
	assert_line --regexp '^learned: +2024-05-06T07:08:09Z$'
	run --separate-stderr dmu-certdb show st2:443 </dev/null
	assert_success
	assert_line --regexp '^key: +RSA 2048$'
}

@test "certdb list: DEVICE SHA256 LEARNED PROVENANCE USER SUBJECT lines in file order" {
	mkcert a ec
	mkcert b rsa
	dmu-certdb add <<<"$(record st2:443 a 2024-01-01T00:00:00Z)
$(record st1:443 b 2024-02-02T00:00:00Z)"
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 0 "st2:443 $(fpr_hex a) 2024-01-01T00:00:00Z unknown - CN=DMU801"
	assert_line -n 1 "st1:443 $(fpr_hex b) 2024-02-02T00:00:00Z unknown - CN=DMU801"
}

@test "certdb remove: removes the named devices, keeps the others; unknown is 3" {
	mkcert a ec
	for d in st1 st2 st3; do dmu-certdb import "$d" <a.pem; done
	run --separate-stderr dmu-certdb remove st1 st3:443 </dev/null
	assert_success
	run --separate-stderr dmu-certdb list </dev/null
	assert_equal "${#lines[@]}" 1
	assert_line -n 0 --regexp '^st2:443 '
	cp "$DMU_CERTDB" before
	run --separate-stderr dmu-certdb remove st1 </dev/null
	assert_failure 3
	[[ $stderr == *"st1:443: unknown device"* ]]
	cmp before "$DMU_CERTDB"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "certdb import: a PEM certificate on stdin becomes a record" {
	mkcert a ec
	run --separate-stderr dmu-certdb import st1 <a.pem
	assert_success
	assert_output ''
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_success
	assert_output --regexp "^st1:443 $(fpr_hex a) [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z unverified [A-Za-z0-9_][A-Za-z0-9._-]* [A-Za-z0-9+/=]+$"
	# Text around the PEM block (openssl x509 -text) is fine.
	openssl x509 -in a.pem -text >a.txt
	run --separate-stderr dmu-certdb import st2 <a.txt
	assert_success
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "certdb import: junk is 7 and nothing is stored" {
	mkcert a ec
	run --separate-stderr dmu-certdb import st1 <<<"this is not a certificate"
	assert_failure 7
	[[ $stderr == *"stdin"* ]]
	[ ! -e "$DMU_CERTDB" ] || ! grep -q '^st1:443 ' "$DMU_CERTDB"
	# A PEM block that is not a certificate either.
	run --separate-stderr dmu-certdb import st1 <a.key
	assert_failure 7
	# A certificate block with broken contents.
	{ echo '-----BEGIN CERTIFICATE-----'; echo 'MIIBAAAA'; echo '-----END CERTIFICATE-----'; } >broken.pem
	run --separate-stderr dmu-certdb import st1 <broken.pem
	assert_failure 7
	run --separate-stderr dmu-certdb import st1 </dev/null
	assert_failure 7
	[ ! -e "$DMU_CERTDB" ]
}

@test "certdb import: another certificate for a known device is 4; -r replaces" {
	mkcert a ec
	mkcert b ec
	dmu-certdb import st1 <a.pem
	run --separate-stderr dmu-certdb import st1 <b.pem
	assert_failure 4
	[[ $stderr == *"$(fpr_colon a)"* ]]
	[[ $stderr == *"look first: dmu-certdb seen st1:443;"*"(a PEM: dmu-certdb import -r)"* ]] ||
	    fail "stderr: $stderr"
	run --separate-stderr dmu-certdb list </dev/null
	assert_output --regexp "^st1:443 $(fpr_hex a) "
	run --separate-stderr dmu-certdb import -r st1 <b.pem
	assert_success
	run --separate-stderr dmu-certdb list </dev/null
	assert_output --regexp "^st1:443 $(fpr_hex b) "
}

@test "certdb: an unknown device is 3 for get, show, pem, pin and remove" {
	mkcert a ec
	dmu-certdb import st1 <a.pem
	for cmd in get show pem pin remove; do
		run --separate-stderr dmu-certdb "$cmd" st2 </dev/null
		assert_failure 3
		assert_output ''
		[[ $stderr == *"st2:443: unknown device"* ]] ||
		    fail "$cmd: '$stderr'"
	done
}

@test "certdb: usage errors are 2" {
	run --separate-stderr dmu-certdb </dev/null
	assert_failure 2
	[[ $stderr == *usage* ]]
	for args in "frobnicate" "get" "show" "pem" "pin" "remove" "import" \
	    "list extra" "check extra" "add extra" "add -x" "pem st1 st2" \
	    "pin st1 st2" "import st1 st2" "-f" "-Z list" "get st1:99999" \
	    "get st1:0" "get st1:abc" "import :443"; do
		run --separate-stderr dmu-certdb $args </dev/null
		assert_failure 2
		assert_output ''
		[ -n "$stderr" ] || fail "'$args': no message"
	done
	[ ! -e "$DMU_CERTDB" ]
}

@test "certdb: -f overrides DMU_CERTDB; XDG_CONFIG_HOME is the default place" {
	mkcert a ec
	run --separate-stderr dmu-certdb -f other import st1 <a.pem
	assert_success
	[ -s other ]
	[ ! -e "$DMU_CERTDB" ]
	unset DMU_CERTDB
	run --separate-stderr dmu-certdb import st2 <a.pem
	assert_success
	[ -s "$XDG_CONFIG_HOME/dmu/certdb" ]
	unset XDG_CONFIG_HOME
	run --separate-stderr dmu-certdb import st3 <a.pem
	assert_success
	[ -s "$HOME/.config/dmu/certdb" ]
}

@test "certdb -V: prints the version" {
	run --separate-stderr dmu-certdb -V </dev/null
	assert_success
	assert_output --regexp '^dmu-certdb [0-9]+\.[0-9]+'
}

@test "certdb: a symbolic link is followed (the target replaced, the link kept) with a warning" {
	mkcert a ec
	mkdir real
	echo "$DB_HEADER" >real/certdb
	ln -s real/certdb "$DMU_CERTDB"
	run --separate-stderr dmu-certdb import st1 <a.pem
	assert_success
	[[ $stderr == *"symbolic link"* ]]
	[ -L "$DMU_CERTDB" ]
	run grep -c '^st1:443 ' real/certdb
	assert_output 1
}

@test "certdb: a database writable by others draws a warning" {
	mkcert a ec
	dmu-certdb import st1 <a.pem
	chmod 666 "$DMU_CERTDB"
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_output --regexp '^st1:443 '
	[[ $stderr == *"writable by group or others"* ]]
}

@test "certdb: a write error on stdout is 1" {
	[ -w /dev/full ] || skip "no /dev/full"
	mkcert a ec
	dmu-certdb import st1 <a.pem
	for cmd in list "get st1" "show st1" "pem st1" "pin st1"; do
		run --separate-stderr to_full dmu-certdb $cmd </dev/null
		assert_failure 1
		[[ $stderr == *"write error"* ]] || fail "$cmd: '$stderr'"
	done
}

@test "the programs under test are the ones in DMU_BIN" {
	for p in dmu-certdb dmu-learn dmu-pin-check; do
		assert_equal "$(command -v "$p")" "$DMU_BIN/$p"
	done
}

@test "certdb add and import: say on stderr what was stored (new, same, replaced) unless -q" {
	mkcert a ec
	mkcert b ec
	run --separate-stderr dmu-certdb add <<<"$(record st1:443 a)"
	assert_success
	assert_output ''
	assert_equal "$stderr" "dmu-certdb: st1:443: new certificate $(fpr_colon a) stored ($DMU_CERTDB)"
	run --separate-stderr dmu-certdb add <<<"$(record st1:443 a)"
	assert_success
	assert_equal "$stderr" "dmu-certdb: st1:443: same certificate $(fpr_colon a), already pinned: nothing changed ($DMU_CERTDB)"
	run --separate-stderr dmu-certdb import -r st1 <b.pem
	assert_success
	assert_equal "$stderr" "dmu-certdb: st1:443: replaced certificate $(fpr_colon a) with $(fpr_colon b) ($DMU_CERTDB)"
	run --separate-stderr dmu-certdb import st2 <a.pem
	assert_equal "$stderr" "dmu-certdb: st2:443: new certificate $(fpr_colon a) stored ($DMU_CERTDB)"
	# -q: nothing on success.
	run --separate-stderr dmu-certdb add -q <<<"$(record st3:443 a)"
	assert_success
	assert_equal "$stderr" ''
	run --separate-stderr dmu-certdb add -qr <<<"$(record st3:443 b)"
	assert_success
	assert_equal "$stderr" ''
	run --separate-stderr dmu-certdb import -q -r st3 <a.pem
	assert_success
	assert_equal "$stderr" ''
	run --separate-stderr dmu-certdb list </dev/null
	assert_line -n 2 --regexp "^st3:443 $(fpr_hex a) "
	# No records at all: nothing stored, and said so.
	run --separate-stderr dmu-certdb add </dev/null
	assert_success
	assert_equal "$stderr" "dmu-certdb: no records on stdin: nothing stored"
	# A refusal is still said with -q.
	run --separate-stderr dmu-certdb add -q <<<"$(record st3:443 b)"
	assert_failure 4
	[[ $stderr == *refused* ]]
}

@test "certdb add and import: started on a terminal, they say they read stdin" {
	mkcert a ec
	# Ctrl-D at once: the end of the input.
	run "$DMU_TEST_DIR/pty-answer" -a $'\x04' "dmu-certdb add"
	assert_success
	assert_output --partial "dmu-certdb: reading records from stdin (end with Ctrl-D), as in: dmu-learn -F FINGERPRINT DEVICE | dmu-certdb add"
	run "$DMU_TEST_DIR/pty-answer" -a $'\x04' "dmu-certdb import st1"
	assert_failure 7
	assert_output --partial "dmu-certdb: reading a PEM certificate from stdin (end with Ctrl-D)"
	# From a pipe or a file: not a word of it.
	run --separate-stderr dmu-certdb add -q <<<"$(record st1:443 a)"
	assert_equal "$stderr" ''
}

@test "certdb show/pem: an echoed argument reaches stderr scrubbed and cut with ..." {
	mkcert a ec
	dmu-certdb add <<<"$(record st1:443 a)"
	esc=$'\033]0;owned\007\033[2J\x9b31m'
	long=$(printf 'f%.0s' {1..300})
	for cmd in show pem; do
		run --separate-stderr dmu-certdb "$cmd" st1:443 "x${esc}y$long" </dev/null
		assert_failure 2
		assert_output ''
		[[ $stderr != *[$'\001'-$'\037'$'\177'$'\x9b']* ]] || fail "raw: $(cat -v <<<"$stderr")"
		[[ $stderr == *"'x?]0;owned??[2J?31my"*"...' ("* ]] || fail "$stderr"
		echoed=${stderr#*\'}
		echoed=${echoed%%\'*}
		assert_equal "${#echoed}" 120
	done
	# The device and the command are echoed scrubbed too.
	run --separate-stderr dmu-certdb show "st1${esc}:443" "$(fpr_hex a)" </dev/null
	assert_failure 2
	[[ $stderr != *[$'\001'-$'\037'$'\177'$'\x9b']* ]] || fail "raw: $(cat -v <<<"$stderr")"
	run --separate-stderr dmu-certdb "sh${esc}ow" st1:443 </dev/null
	assert_failure 2
	first=${stderr%%$'\n'*}
	[[ $first != *[$'\001'-$'\037'$'\177'$'\x9b']* ]] || fail "raw: $(cat -v <<<"$first")"
	[[ $first == *"unknown command 'sh?]0;owned"* ]] || fail "$first"
}

@test "certdb, get, pin-check: every echoed argument and path reaches stderr without a control character" {
	esc=$'\033[2J\007'
	for c in "dmu-get -t 1$esc st1" "dmu-get -l 1$esc st1 wait" \
	    "dmu-get -n x$esc st1 follow" "dmu-get -w 9$esc st1 wait" \
	    "dmu-get st1 late$esc" "dmu-get -a a$esc st1" \
	    "dmu-pin-check -j x$esc st1" "dmu-learn -t x$esc st1" \
	    "dmu-certdb -f /nonexistent/x$esc/db get st1"; do
		read -ra argv <<<"$c"
		run --separate-stderr "${argv[@]}" </dev/null
		[ "$status" -ne 0 ] || fail "$c: exit 0"
		[ -n "$stderr" ] || fail "$c: silent"
		[[ $stderr != *[$'\001'-$'\037'$'\177']* ]] || fail "$c: raw: $(cat -v <<<"$stderr")"
	done
}
