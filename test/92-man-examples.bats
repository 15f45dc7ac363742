#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Every example of every manual page, run as the page shows it: the text is
# taken out of man/*.[157] by test/helper-man.bash, its devices turned into
# simulators and its /usr/local/share/dmu paths into share/.  A test is
# named "PAGE(N) example K: ..." after the example it runs; the first test
# holds every example to having one (the fleet recipes of dmu(7) are run by
# test/91-fleet.bats).

load helper-get
load helper-man

# run_ex: runs $EX in bash with -e and pipefail, so that any failing
# command of the example fails it.
run_ex() {
	run --separate-stderr bash -e -o pipefail -c "$EX"
}

# count_in FILE TEXT N: FILE has at least N lines that contain TEXT, once
# the colours of a terminal are taken out.
count_in() {
	[ "$(sed 's/\x1b\[[0-9;]*m//g' "$1" 2>/dev/null | grep -c -- "$2")" -ge "$3" ]
}

@test "every example of every manual page is run by a test named after it" {
	names=$(cat "$DMU_TEST_DIR"/9[12]-*.bats | sed -n 's/^@test "\(.*\)" {$/\1/p')
	total=0
	for f in "$DMU_REPO"/man/*.[157]; do
		page=${f##*/}
		title="${page%.*}(${page##*.})"
		n=$(man_block_count "$f" EXAMPLES)
		[ "$n" -gt 0 ] || fail "$page has no example"
		for ((i = 1; i <= n; i++)); do
			grep -qF "$title example $i: " <<<"$names" ||
			    fail "$title example $i is run by no test: $(man_block "$f" EXAMPLES "$i")"
			total=$((total + 1))
		done
	done
	[ "$total" -ge 30 ] || fail "only $total examples"
	# And no test names an example that is not there.
	while read -r title k; do
		page=${title%(*}.${title#*(}
		page=${page%)}
		[ -f "$DMU_REPO/man/$page" ] || fail "no page for '$title'"
		n=$(man_block_count "$DMU_REPO/man/$page" EXAMPLES)
		[ "${k%:}" -le "$n" ] || fail "a test runs $title example ${k%:}; there are $n"
	done < <(grep -oE '[a-z0-9-]+\([0-9]\) example [0-9]+:' <<<"$names" |
	    sed 's/ example / /')
}

# ---- dmu-certdb(1) ----

@test "dmu-certdb(1) example 1: learn a device on a trusted network and add it" {
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	example dmu-certdb.1 1
	example_has "dmu-learn -y"
	run_ex
	assert_success
	run dmu-certdb get "127.0.0.1:$P1"
	assert_output --regexp "^127\.0\.0\.1:$P1 $(fpr_hex a) "
}

@test "dmu-certdb(1) example 2: list, show, and the certificate through openssl" {
	sim_up a
	P1=$PORT
	example dmu-certdb.1 2
	example_has "openssl x509 -noout -text"
	run_ex
	assert_success
	assert_output --regexp "^127\.0\.0\.1:$P1 $(fpr_hex a) [0-9T:Z-]+ [a-z]+ [^ ]+ CN=DMU801"
	assert_output --partial "$(fpr_colon a)"
	assert_output --partial "Certificate:"
	assert_output --regexp "Subject: ?CN ?= ?DMU801"
	assert_output --partial "id-ecPublicKey"
}

@test "dmu-certdb(1) example 3: curl pinned to the device's key, the API key in a header file" {
	command -v curl >/dev/null || skip "curl is not installed"
	sim_up a -n 3
	P1=$PORT
	example dmu-certdb.1 3
	example_has "--pinnedpubkey"
	run_ex
	assert_success
	assert_equal "$(jq -c '.reports // [.] | .[0] | .serial' <<<"$output")" 3
	# The key went in a file, not on curl's command line.
	grep -q "^X-Api-Key: $KEY_B64\$" hdr
	[[ $EX != *"$KEY_B64"* ]]
	# Another key on the device's address: curl sends nothing.
	mkcert evil ec
	stop_sims
	start_sim evil -p "$P1"
	run_ex
	assert_failure
	assert_no_http evil
}

@test "dmu-certdb(1) example 4: copy a record into a site database" {
	sim_up a
	P1=$PORT
	sim_up b
	example dmu-certdb.1 4
	example_has "dmu-certdb -f site.certdb add"
	run_ex
	assert_success
	assert_equal "$(dmu-certdb -f site.certdb get "127.0.0.1:$P1")" \
	    "$(dmu-certdb get "127.0.0.1:$P1")"
	assert_equal "$(dmu-certdb -f site.certdb list | wc -l)" 1
}

@test "dmu-certdb(1) example 5: import an exported certificate, check, remove" {
	mkcert a ec
	cp a.pem st1.pem
	mkcert b ec
	record 127.0.0.1:9 b | dmu-certdb add
	P1=8443
	example dmu-certdb.1 5
	example_has 'dmu-certdb import -F "$fp" 127.0.0.1:8443 < st1.pem'
	# The fingerprint as the device shows it.
	export fp=$(fpr_colon a)
	# Step by step: imported with its fingerprint, the database checks.
	run --separate-stderr bash -e -c "${CMDS[0]}; ${CMDS[1]}"
	assert_success
	assert_equal "$(dmu-certdb get 127.0.0.1:8443 | cut -d' ' -f2,4)" "$(fpr_hex a) fingerprint"
	# Then the whole example again from the start.
	dmu-certdb remove 127.0.0.1:8443
	run_ex
	assert_success
	run dmu-certdb get 127.0.0.1:8443
	assert_failure 3
	assert_equal "$(dmu-certdb list | cut -d' ' -f1)" 127.0.0.1:9
}

@test "dmu-certdb(1) example 7: a mismatch seen, the device re-learned by its fingerprint, the history" {
	mkcert a ec
	mkcert b ec
	start_sim b
	P1=$SIM_PORT
	record "127.0.0.1:$P1" a | dmu-certdb add
	run --separate-stderr dmu-pin-check -t "$T" "127.0.0.1:$P1" </dev/null
	assert_failure 4
	example dmu-certdb.1 7
	example_has 'dmu-learn -F "$fp"'
	run setsid bash -e -o pipefail -c "fp=$(fpr_colon b)"$'\n'"$EX"
	assert_success
	assert_line -n 0 --regexp "^127\.0\.0\.1:$P1 $(fpr_hex b) [^ ]+ [^ ]+ 1 127\.0\.0\.1:$P1 certificate$"
	assert_line --regexp '^status: +seen$'
	assert_line --regexp " replace 127\.0\.0\.1:$P1 $(fpr_hex b) fingerprint [^ ]+ $(fpr_hex a) unknown$"
	assert_equal "$(dmu-certdb seen)" ''
}

# ---- dmu-certdb(5) ----

# default_db_sim: a simulator learned into the default database
# (~/.config/dmu/certdb); sets P1.
default_db_sim() {
	unset DMU_CERTDB XDG_CONFIG_HOME
	sim_up a
	P1=$PORT
	[ -s "$HOME/.config/dmu/certdb" ] || fail "not in the default database"
}

@test "dmu-certdb(5) example 1: the fingerprint is the SHA-256 of the stored certificate" {
	default_db_sim
	example dmu-certdb.5 1
	example_has "sha256sum"
	run_ex
	assert_success
	assert_equal "${output%% *}" "$(fpr_hex a)"
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f2)" "${output%% *}"
}

@test "dmu-certdb(5) example 2: openssl decodes a stored certificate" {
	default_db_sim
	example dmu-certdb.5 1
	first=${CMDS[0]}
	[[ $first == db=* ]] || fail "example 1 does not set db: $first"
	example dmu-certdb.5 2
	example_has "openssl x509 -inform der"
	EX="$first"$'\n'"$EX"
	run_ex
	assert_success
	assert_output --regexp "subject=CN ?= ?DMU801"
	assert_output --partial "notBefore="
	assert_output --partial "notAfter="
}

@test "dmu-certdb(5) example 3: the devices learned before 2030" {
	unset DMU_CERTDB XDG_CONFIG_HOME
	mkcert a ec
	{ record 127.0.0.1:8443 a 2029-12-31T23:59:59Z
	  record old.example.net:443 a 2024-01-02T03:04:05Z
	  record new.example.net:443 a 2030-01-01T00:00:00Z; } | dmu-certdb add
	example dmu-certdb.5 1
	first=${CMDS[0]}
	example dmu-certdb.5 3
	example_has '$3 < "2030-01-01"'
	EX="$first"$'\n'"$EX"
	run_ex
	assert_success
	assert_output "127.0.0.1:8443
old.example.net:443"
}

# ---- dmu-get(1) ----

@test "dmu-get(1) example 1: a key file only you can read, and the latest report" {
	sim_up a -n 4
	P1=$PORT
	unset DMU_API_KEY_FILE
	example dmu-get.1 1
	example_has "umask 077"
	run_ex
	assert_success
	assert_equal "$(stat -c %a key)" 600
	assert_equal "$(jq -c '{serial, timestamp, content}' <<<"$output")" \
	    "$(oracle_reports /reports/latest)"
	assert_equal "$(jq -r .device <<<"$output")" "$DEV"
	assert_equal "$stderr" ""
}

@test "dmu-get(1) example 2: the content of the oldest report" {
	sim_up a -n 4
	P1=$PORT
	example dmu-get.1 2
	example_has "oldest | jq -r .content"
	run_ex
	assert_success
	assert_output "$(oracle_reports /reports/oldest | jq -r .content)"
}

@test "dmu-get(1) example 3: collect into a file; stopped with SIGTERM and started again it resumes" {
	sim_up a -n 3
	P1=$PORT
	example dmu-get.1 3
	example_has "follow >> st1.ndjson"
	bg out err bash -c "exec $EX"
	wait_lines st1.ndjson 3
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	ctl "gen 2" >/dev/null
	bg out err bash -c "exec $EX"
	wait_lines st1.ndjson 5
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat st1.ndjson)")" "1 2 3 4 5"
}

@test "dmu-get(1) example 4: a state file made from the latest report starts the collector after it" {
	sim_up a -n 3
	P1=$PORT
	example dmu-get.1 4
	example_has "> st1.state"
	run_ex
	assert_success
	assert_equal "$(cat st1.state)" "3 $(oracle_reports /reports/latest | jq -r .timestamp)"
	ctl "gen 2" >/dev/null
	run --separate-stderr dmu-get -n 2 -s st1.state "$DEV" follow </dev/null
	assert_success
	assert_equal "$(serials "$output")" "4 5"
}

@test "dmu-get(1) example 5: follow and split the values, on a terminal and, with --unbuffered, into a file" {
	sim_up a -n 2
	P1=$PORT
	example dmu-get.1 5
	example_has "follow | jq -c -f"
	# As shown, on a terminal: each line comes out as it comes in.
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	printf '%s\n' "$EX" >ex.sh
	tty_bg tty tty.err ex.sh
	wait_until 5 count_in tty '"values":{' 2 || fail "tty: $(cat tty)"
	ctl "gen 1" >/dev/null
	wait_until 5 count_in tty '"values":{' 3 || fail "tty: $(cat tty)"
	tty_stop
	# With --unbuffered, as the page says, into a file.
	EX=${EX/jq -c/jq -c --unbuffered}
	group_bg values.ndjson err "$EX"
	wait_lines values.ndjson 3
	ctl "gen 1" >/dev/null
	wait_lines values.ndjson 4
	jq -e -s 'map(.values.TA | type) == ["number", "number", "number", "number"]' \
	    values.ndjson >/dev/null || fail "values: $(cat values.ndjson)"
}

@test "dmu-get(1) example 6: CSV of all the content, and of chosen values" {
	command -v python3 >/dev/null || skip "python3 is not installed"
	sim_up a -n 4
	P1=$PORT
	example dmu-get.1 6
	example_has "values-csv.jq"
	run_ex
	assert_success
	csv_rows() {
		python3 -c 'import csv, sys
for r in csv.reader(sys.stdin): print(len(r), r[0], r[1])'
	}
	assert_equal "$(csv_rows <st1.csv)" "$(printf '4 %s %s\n' "$DEV" 1 "$DEV" 2 "$DEV" 3 "$DEV" 4)"
	assert_equal "$(csv_rows <<<"$output")" "$(printf '6 %s %s\n' "$DEV" 1 "$DEV" 2 "$DEV" 3 "$DEV" 4)"
}

@test "dmu-get(1) example 7: wait for a report newer than the last one collected" {
	sim_up a -n 3
	P1=$PORT
	dmu-get "$DEV" list </dev/null >st1.ndjson
	example dmu-get.1 7
	example_has "wait"
	bg out err bash -e -c "$EX"
	wait_log a 'GET [^ ]*/wait\?lastSerial=3(&|$)' 10
	ctl "gen 1" >/dev/null
	bg_wait "$BG_PID" 6
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat out)")" 4
}

@test "dmu-get(1) example 8: the latest report of every device into one file, failures named" {
	sim_up a -n 2
	P1=$PORT
	sim_up b -n 3
	P2=$PORT
	mkcert down ec
	closed_port dport
	down=127.0.0.1:$dport
	record "$down" down | dmu-certdb add
	example dmu-get.1 8
	example_has "while read -r dev"
	run --separate-stderr bash -c "$EX"
	assert_success
	assert_equal "$(jq -r '"\(.device) \(.serial)"' latest.ndjson)" "127.0.0.1:$P1 2
127.0.0.1:$P2 3"
	[[ $stderr == *"$down: exit 5"* ]] || fail "stderr: $stderr"
}

@test "dmu-get(1) example 9: drain: each report deleted on the device once it is in the file" {
	sim_up a -n 3
	P1=$PORT
	example dmu-get.1 9
	example_has "dmu-get -d -s st1.state"
	bg out err bash -c "exec $EX"
	wait_lines st1.ndjson 3
	wait_until 5 eval '[ "$(stat_of reports)" = 0 ]' || fail "still held: $(ctl stats)"
	ctl "gen 1" >/dev/null
	wait_lines st1.ndjson 4
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat st1.ndjson)")" "1 2 3 4"
	[ -s st1.state ]
}

@test "dmu-get(1) example 11: drain into a compressed file through -x, deleted once it is on the disk" {
	sim_up a -n 3
	P1=$PORT
	example dmu-get.1 11
	example_has "-x 'gzip >> st1.ndjson.gz && sync st1.ndjson.gz'"
	bg out err bash -c "exec $EX"
	wait_until 10 eval '[ "$(zcat st1.ndjson.gz 2>/dev/null | wc -l)" -ge 3 ]' ||
	    fail "$(cat err)"
	wait_until 5 eval '[ "$(stat_of reports)" = 0 ]' || fail "still held: $(ctl stats)"
	ctl "gen 1" >/dev/null
	wait_until 10 eval '[ "$(zcat st1.ndjson.gz | wc -l)" -ge 4 ]' || fail "$(cat err)"
	# The fourth is on the disk once sync has run and dmu-get deleted it:
	# a SIGTERM before that (a slow sync on a busy disk) leaves it unsaid.
	wait_until 10 eval '[ "$(stat_of reports)" = 0 ]' || fail "still held: $(ctl stats)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(cat out)" ""
	assert_equal "$(serials "$(zcat st1.ndjson.gz)")" "1 2 3 4"
	[[ $(cat st1.state) == "4 "* ]] || fail "state: $(cat st1.state)"
}

# ---- dmu-learn(1) ----

@test "dmu-learn(1) example 1: learn a device, asking on the terminal" {
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	example dmu-learn.1 1
	example_has "dmu-learn 127.0.0.1:$P1 | dmu-certdb add"
	run on_pty yes "$EX"
	assert_success
	grep -q "$(fpr_colon a)" tty || fail "the fingerprint was not shown: $(cat tty)"
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f2)" "$(fpr_hex a)"
}

@test "dmu-learn(1) example 2: learn without a question, by the fingerprint of an exported certificate" {
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	cp a.pem st1.pem
	example dmu-learn.1 2
	example_has 'dmu-learn -F "$fp"'
	run setsid bash -e -o pipefail -c "$EX"
	assert_success
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f2)" "$(fpr_hex a)"
	# The certificate of another device is refused.
	mkcert b ec
	cp b.pem st1.pem
	rm -f "$DMU_CERTDB"
	run setsid bash -e -o pipefail -c "$EX"
	assert_failure 4
	# Nothing stored: not even an empty database was made.
	[ ! -e "$DMU_CERTDB" ] || fail "a database was written: $(cat "$DMU_CERTDB")"
}

@test "dmu-learn(1) example 3: a manifest, one line with a fingerprint and one without" {
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	mkcert b rsa
	start_sim b
	P2=$SIM_PORT
	cp a.pem st1.pem
	example dmu-learn.1 2
	fp_line=${CMDS[0]}
	example dmu-learn.1 3
	example_has "dmu-learn -y < manifest"
	run setsid bash -e -o pipefail -c "$fp_line"$'\n'"$EX"
	assert_success
	assert_equal "$(dmu-certdb list | cut -d' ' -f1,2)" "127.0.0.1:$P1 $(fpr_hex a)
127.0.0.1:$P2 $(fpr_hex b)"
}

@test "dmu-learn(1) example 4: re-learn a device that was really replaced" {
	mkcert old ec
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	record "127.0.0.1:$P1" old | dmu-certdb add
	# The nightly check saw the new certificate.
	run dmu-pin-check -t "$T" "127.0.0.1:$P1"
	assert_failure 4
	cp a.pem st1.pem
	example dmu-learn.1 4
	example_has 'dmu-learn -F "$fp" 127.0.0.1:'"$P1"' | dmu-certdb add -r'
	example_has "dmu-certdb seen"
	# No terminal: -F, never a question.
	run --separate-stderr setsid bash -e -o pipefail -c "$EX"
	assert_success
	# The look came first: what was presented, then the record replaced.
	assert_line -n 0 --regexp "^127\.0\.0\.1:$P1 $(fpr_hex a) "
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f2)" "$(fpr_hex a)"
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f4)" fingerprint
	# It was told loudly that this may be a man in the middle.
	[[ ${stderr,,} == *"man in the middle"* ]] || fail "no warning: $stderr"
	# An impostor's certificate instead is refused, the pin kept.
	mkcert b ec
	cp b.pem st1.pem
	run --separate-stderr setsid bash -e -o pipefail -c "$EX"
	assert_failure 4
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f2)" "$(fpr_hex a)"
}

# ---- dmu-pin-check(1) ----

@test "dmu-pin-check(1) example 1: check one device" {
	sim_up a
	P1=$PORT
	example dmu-pin-check.1 1
	run_ex
	assert_success
	assert_output "127.0.0.1:$P1 ok $(fpr_hex a)"
}

@test "dmu-pin-check(1) example 2: every device of the database, only those not fine shown" {
	sim_up a
	P1=$PORT
	sim_up b
	P2=$PORT
	example dmu-pin-check.1 2
	example_has "awk '\$2 != \"ok\"'"
	run_ex
	assert_success
	assert_output ""
	mkcert other ec
	record "127.0.0.1:$P2" other | dmu-certdb add -r 2>/dev/null
	run --separate-stderr bash -c "$EX"
	assert_success
	assert_output "127.0.0.1:$P2 mismatch presented=$(fpr_hex b) expected=$(fpr_hex other)"
}

@test "dmu-pin-check(1) example 3: stations from a file, the exit status alone" {
	sim_up a
	P1=$PORT
	sim_up b
	P2=$PORT
	example dmu-pin-check.1 3
	example_has "|| echo 'not all ok'"
	run --separate-stderr bash -c "$EX"
	assert_success
	assert_output ""
	kill "${SIM_PIDS[1]}"
	wait "${SIM_PIDS[1]}" 2>/dev/null || true
	run --separate-stderr bash -c "$EX"
	assert_output "not all ok"
}

# ---- dmu(7) ----

@test "dmu(7) example 1: learn a station on the terminal, store it, check it" {
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	example dmu.7 1
	example_has "dmu-pin-check 127.0.0.1:$P1"
	run on_pty yes "$EX"
	assert_success
	assert_equal "$(cat out)" "127.0.0.1:$P1 ok $(fpr_hex a)"
}

@test "dmu(7) example 2: the key in a file only you can read, and the latest report" {
	sim_up a -n 2
	P1=$PORT
	unset DMU_API_KEY_FILE
	example dmu.7 2
	example_has "export DMU_API_KEY_FILE"
	run_ex
	assert_success
	assert_equal "$(stat -c %a key)" 600
	assert_equal "$(jq -c '{serial, timestamp, content}' <<<"$output")" \
	    "$(oracle_reports /reports/latest)"
}

@test "dmu(7) example 3: collect into a file, and watch the values from another shell" {
	command -v script >/dev/null || skip "script (util-linux) is not installed"
	sim_up a -n 2
	P1=$PORT
	example dmu.7 3
	example_has "tail -f st1.ndjson"
	[ "${#CMDS[@]}" -eq 2 ] || fail "two commands expected: $EX"
	bg out err bash -c "exec ${CMDS[0]}"
	collector=$BG_PID
	wait_lines st1.ndjson 2
	printf '%s\n' "${CMDS[1]}" >watch.sh
	tty_bg tty tty.err watch.sh
	wait_until 5 count_in tty '"values":{' 2 || fail "tty: $(cat tty)"
	ctl "gen 1" >/dev/null
	wait_until 5 count_in tty '"values":{' 3 || fail "tty: $(cat tty)"
	tty_stop
	kill -TERM "$collector"
	bg_wait "$collector" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat st1.ndjson)")" "1 2 3"
}

@test "dmu(7) example 4: the pin given to curl" {
	command -v curl >/dev/null || skip "curl is not installed"
	sim_up a -n 2
	P1=$PORT
	example dmu.7 4
	example_has "--pinnedpubkey"
	run_ex
	assert_success
	assert_equal "$(jq -c '.reports // [.] | .[0] | {serial, timestamp, content}' <<<"$output")" \
	    "$(oracle_reports /reports/latest)"
}

@test "dmu(7) example 5: a replaced device is learned again, its record replaced" {
	mkcert old ec
	mkcert a ec
	start_sim a
	P1=$SIM_PORT
	record "127.0.0.1:$P1" old | dmu-certdb add
	run dmu-pin-check -t "$T" "127.0.0.1:$P1"
	assert_failure 4
	cp a.pem st1.pem
	example dmu.7 5
	example_has 'dmu-learn -F "$fp"'
	example_has "dmu-certdb seen"
	run --separate-stderr setsid bash -e -o pipefail -c "$EX"
	assert_success
	assert_line -n 0 --regexp "^127\.0\.0\.1:$P1 $(fpr_hex a) "
	assert_equal "$(dmu-certdb get "127.0.0.1:$P1" | cut -d' ' -f2)" "$(fpr_hex a)"
	# Without -r the database would have refused it.
	record "127.0.0.1:$P1" old | dmu-certdb add -r 2>/dev/null
	run --separate-stderr setsid bash -e -o pipefail -c "${EX% -r}"
	assert_failure 4
}

# ---- monitoring (issue 11) ----

@test "dmu-certdb(1) example 6: audit the pins: warnings, and RSA keys weakest first" {
	openssl req -x509 -newkey rsa:1024 -nodes -sha1 -subj /CN=DMU801 \
	    -days 30 -keyout weak.key -out weak.pem 2>/dev/null
	mkcert a ec
	mkcert b rsa
	record 127.0.0.1:8443 a | dmu-certdb add
	record st2.example:443 b | dmu-certdb add
	dmu-certdb import -F "$(fpr_hex weak)" st3.example < weak.pem
	P1=8443
	example dmu-certdb.1 6
	example_has "dmu-certdb inventory | jq"
	run_ex
	assert_success
	assert_output "st3.example:443 rsa-under-2048,sha1-signature
1024 st3.example:443
2048 st2.example:443"
}

@test "dmu-pin-check(1) example 4: metrics for the node exporter, checked by promtool" {
	command -v promtool >/dev/null ||
	    skip "promtool is not installed (Debian package prometheus)"
	sim_up a
	P1=$PORT
	sim_up b
	example dmu-pin-check.1 4
	example_has "-m pins.prom"
	run_ex
	assert_success
	assert_equal "$(grep -c '^dmu_pin_ok{.*} 1$' pins.prom)" 2
}

@test "dmu(7) example 11: check_dmu over the default database, as a monitoring system runs it" {
	unset DMU_CERTDB XDG_CONFIG_HOME
	sim_up a
	P1=$PORT
	sim_up b
	closed_port dport
	down=127.0.0.1:$dport
	mkcert c ec
	record "$down" c | dmu-certdb add
	sed "s#^BINDIR=\$#BINDIR=$DMU_BIN#" "$DMU_REPO/share/monitoring/check_dmu" >check_dmu
	chmod 755 check_dmu
	example dmu.7 11
	example_has "check_dmu -f ~/.config/dmu/certdb -c 2"
	EX=${EX//\/usr\/local\/lib\/nagios\/plugins\//$PWD/}
	run setsid env -i HOME="$HOME" bash -c "$EX" </dev/null
	assert_equal "$status" 1
	assert_line -n 0 --regexp "^DMU PINS WARNING - 1 unreachable: $down; 2 ok \| ok=2;;;0;3 "
	assert_line -n 1 --regexp "^$down error unreachable "
}

@test "dmu-get(1) example 10: a collector with metrics for the node exporter, checked by promtool" {
	command -v promtool >/dev/null ||
	    skip "promtool is not installed (Debian package prometheus)"
	sim_up a -n 3
	P1=$PORT
	example dmu-get.1 10
	example_has "-m st1.prom"
	bg out err bash -c "exec ${CMDS[0]}"
	wait_lines st1.ndjson 3
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	run --separate-stderr bash -c "${CMDS[1]}"
	assert_success
	grep -qx "dmu_reports_total{device=\"127.0.0.1:$P1\"} 3" st1.prom ||
	    fail "st1.prom: $(cat st1.prom)"
	grep -qx "dmu_up{device=\"127.0.0.1:$P1\"} 0" st1.prom
}
