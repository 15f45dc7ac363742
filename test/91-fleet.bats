#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Fleet recipes: the examples of dmu(7), "Fleets", run as the page shows
# them (test/helper-man.bash takes them out of the page), and the scripts
# they use, share/examples/fleet-check and collect-all.  The README shows
# the same recipes; the last test holds it to that.

load helper-get
load helper-man

EXAMPLES_DIR=$DMU_REPO/share/examples

# three_sims [dmu-sim options]: simulators a, b and c, learned; their ports
# are P1, P2 and P3, their control ports CTL1, CTL2 and CTL3.
three_sims() {
	sim_up a "$@"; P1=$PORT; CTL1=$CTL
	sim_up b "$@"; P2=$PORT; CTL2=$CTL
	sim_up c "$@"; P3=$PORT; CTL3=$CTL
}

# state_is FILE SERIAL: the state file FILE holds SERIAL (and its timestamp).
state_is() {
	[[ $(cat "$1" 2>/dev/null) == "$2 "* ]]
}

# device_serials FILE DEVICE: the serials of DEVICE's lines in FILE.
device_serials() {
	jq -r --arg d "$2" 'select(.device == $d) | .serial' "$1" | tr '\n' ' ' |
	    sed 's/ $//'
}

@test "fleet: dmu(7) example 6: a site is learned from its manifest; a wrong fingerprint is refused and left out" {
	example dmu.7 6
	example_has "dmu-learn < site-a.manifest | dmu-certdb add"
	mkcert a ec; start_sim a; P1=$SIM_PORT
	mkcert b rsa; start_sim b; P2=$SIM_PORT
	mkcert c ec; start_sim c; P3=$SIM_PORT
	example dmu.7 6
	# The manifest as the page shows it, with the fingerprints of these
	# devices in the same forms, and a third line whose fingerprint is
	# that of another certificate.
	[ "${#OUTS[@]}" -eq 3 ] || fail "the manifest shown: ${OUTS[*]}"
	{
		printf '%s\n' "${OUTS[0]}"
		printf '%s\n' "${OUTS[1]}" | sed "s#SHA256:[A-Za-z0-9+/]*#$(fpr_b64 a nopad)#"
		printf '%s\n' "${OUTS[2]}" | sed "s#SHA256:[A-Za-z0-9+/]*#$(fpr_b64 b nopad)#"
		printf '127.0.0.1:%s  %s\n' "$P3" "$(fpr_colon a)"
	} >site-a.manifest
	grep -q "^127.0.0.1:$P1 " site-a.manifest
	grep -q "^127.0.0.1:$P2 " site-a.manifest
	# No terminal: nothing may be asked.
	run --separate-stderr setsid bash -o pipefail -c "$EX"
	assert_failure 4
	[[ $stderr == *"127.0.0.1:$P3: certificate mismatch: presented $(fpr_colon c), expected $(fpr_colon a)"* ]] ||
	    fail "stderr does not give both fingerprints: $stderr"
	run dmu-certdb list
	assert_success
	assert_equal "$(cut -d' ' -f1,2 <<<"$output")" "127.0.0.1:$P1 $(fpr_hex a)
127.0.0.1:$P2 $(fpr_hex b)"
	# As typed, without pipefail, the pipeline is dmu-certdb's: 0.
	run bash -c "$EX"
	assert_success
}

# nightly_setup: a ok, b pinned to another certificate, a third device
# that nothing answers for; sets P1 P2 P3.
nightly_setup() {
	sim_up a; P1=$PORT
	sim_up b; P2=$PORT
	mkcert other ec
	record "127.0.0.1:$P2" other | dmu-certdb add -r 2>/dev/null
	P3=$(free_port)
	mkcert down ec
	record "127.0.0.1:$P3" down | dmu-certdb add
}

@test "fleet: dmu(7) example 7: the nightly check prints the stations that are not fine, a summary, and keeps the status" {
	nightly_setup
	example dmu.7 7
	example_has "dmu-pin-check -j 16 > pins"
	run --separate-stderr bash -c "$EX"
	assert_failure 4
	assert_equal "${lines[0]}" "127.0.0.1:$P2 mismatch presented=$(fpr_hex b) expected=$(fpr_hex other)"
	[[ ${lines[1]} == "127.0.0.1:$P3 error "* ]] || fail "line 2: ${lines[1]}"
	assert_equal "${lines[2]}" "1 ok, 1 mismatch, 0 unknown, 1 error"
	assert_equal "${#lines[@]}" 3
	# All fine: the summary alone, exit 0.
	dmu-certdb remove "127.0.0.1:$P2" "127.0.0.1:$P3"
	run --separate-stderr bash -c "$EX"
	assert_success
	assert_output "1 ok, 0 mismatch, 0 unknown, 0 error"
	# An empty database: nothing checked is no success, and said so.
	dmu-certdb remove "127.0.0.1:$P1"
	run --separate-stderr bash -c "$EX"
	assert_failure 2
	assert_output "0 ok, 0 mismatch, 0 unknown, 0 error"
	[[ $stderr == *"dmu-pin-check: no device to check"* ]] || fail "$stderr"
	# No database at all (the wrong HOME): 1, and both say where.
	rm -f "$DMU_CERTDB"
	run --separate-stderr bash -c "$EX"
	assert_failure 1
	assert_output "0 ok, 0 mismatch, 0 unknown, 0 error"
	[[ $stderr == *"dmu-certdb: $DMU_CERTDB: no certificate database"* ]] || fail "$stderr"
	[[ $stderr == *"dmu-pin-check: $DMU_CERTDB: no certificate database"* ]] || fail "$stderr"
}

@test "fleet: dmu(7) example 8: fleet-check prints the summary as the page shows it, then the stations that are not fine" {
	three_sims
	example dmu.7 8
	example_has "examples/fleet-check -j 16"
	run --separate-stderr bash -c "$EX"
	assert_success
	assert_equal "$stderr" ""
	# Exactly the output the page shows, for three fine stations.
	assert_equal "${#OUTS[@]}" 1
	assert_output "${OUTS[0]}"
	# A mismatch and a station that does not answer: the summary first,
	# then those two in database order; the status is dmu-pin-check's.
	mkcert other ec
	record "127.0.0.1:$P2" other | dmu-certdb add -r 2>/dev/null
	kill "${SIM_PIDS[2]}"
	wait "${SIM_PIDS[2]}" 2>/dev/null || true
	run --separate-stderr bash -c "$EX"
	assert_failure 4
	assert_equal "${lines[0]}" "dmu: 1 ok, 1 mismatch, 0 unknown, 1 unreachable, 0 incompatible, 0 error"
	assert_equal "${lines[1]}" "127.0.0.1:$P2 mismatch presented=$(fpr_hex b) expected=$(fpr_hex other)"
	[[ ${lines[2]} == "127.0.0.1:$P3 error unreachable "* ]] || fail "line 3: ${lines[2]}"
	assert_equal "${#lines[@]}" 3
}

@test "fleet: fleet-check: the summary line, the exit status, -f, -j and -t" {
	nightly_setup
	run --separate-stderr "$EXAMPLES_DIR/fleet-check"
	assert_failure 4
	assert_equal "${lines[0]}" "dmu: 1 ok, 1 mismatch, 0 unknown, 1 unreachable, 0 incompatible, 0 error"
	assert_equal "${lines[1]}" "127.0.0.1:$P2 mismatch presented=$(fpr_hex b) expected=$(fpr_hex other)"
	[[ ${lines[2]} == "127.0.0.1:$P3 error unreachable "* ]] || fail "line 3: ${lines[2]}"
	assert_equal "${#lines[@]}" 3
	[[ $stderr == *"127.0.0.1:$P2"* ]]
	# Another database with -f; -j and -t pass through.
	dmu-certdb get "127.0.0.1:$P1" | dmu-certdb -f site.db add
	run --separate-stderr "$EXAMPLES_DIR/fleet-check" -f site.db -j 2 -t 3
	assert_success
	assert_output "dmu: 1 ok, 0 mismatch, 0 unknown, 0 unreachable, 0 incompatible, 0 error"
	# An empty database that exists: no devices, said so, fine.
	: >empty.db
	run --separate-stderr "$EXAMPLES_DIR/fleet-check" -f empty.db
	assert_success
	assert_output "dmu: 0 ok, 0 mismatch, 0 unknown, 0 unreachable, 0 incompatible, 0 error"
	assert_equal "$stderr" "fleet-check: no devices in the certificate database"
	# One that does not exist (a misspelt name, the wrong HOME) is no
	# healthy fleet: dmu-certdb's failure, its path, no summary.
	run --separate-stderr "$EXAMPLES_DIR/fleet-check" -f certbd -j 16
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "dmu-certdb: certbd: no certificate database (a missing one is not an empty one); start one with: dmu-learn -F FINGERPRINT DEVICE | dmu-certdb -f certbd add"
	run --separate-stderr env DMU_CERTDB="$PWD/certbd" "$EXAMPLES_DIR/fleet-check"
	assert_failure 1
	assert_output ''
	[[ $stderr == *"$PWD/certbd: no certificate database"* ]] || fail "$stderr"
	# A corrupt database is 7, as dmu-certdb says.
	printf '%s\nnot a record\n' "$DB_HEADER" >bad.db
	run --separate-stderr "$EXAMPLES_DIR/fleet-check" -f bad.db
	assert_failure 7
	assert_output ''
	[[ $stderr == *"bad.db:2:"* ]] || fail "$stderr"
	run --separate-stderr "$EXAMPLES_DIR/fleet-check" -x
	assert_failure 2
	run --separate-stderr "$EXAMPLES_DIR/fleet-check" extra
	assert_failure 2
}

@test "fleet: fleet-check: the summary comes first, before dmu-pin-check's warnings, and unreachable, incompatible and error are apart" {
	nightly_setup
	# An old device that speaks TLS 1.0 only: incompatible.
	mkcert old ec
	start_sim old -V tls10
	P4=$SIM_PORT
	record "127.0.0.1:$P4" old | dmu-certdb add
	# One stream, as on a terminal or in a cron mail.
	run bash -c "'$EXAMPLES_DIR/fleet-check' -t 3 2>&1"
	assert_failure 4
	assert_equal "${lines[0]}" "dmu: 1 ok, 1 mismatch, 0 unknown, 1 unreachable, 1 incompatible, 0 error"
	assert_equal "${lines[1]}" "127.0.0.1:$P2 mismatch presented=$(fpr_hex b) expected=$(fpr_hex other)"
	[[ ${lines[2]} == "127.0.0.1:$P3 error unreachable "* ]] || fail "line 3: ${lines[2]}"
	[[ ${lines[3]} == "127.0.0.1:$P4 error incompatible "* ]] || fail "line 4: ${lines[3]}"
	# Then dmu-pin-check's talk, the long mismatch warning among it.
	[ "${#lines[@]}" -gt 4 ] || fail "no warnings after the lines: $output"
	for ((i = 4; i < ${#lines[@]}; i++)); do
		[[ ${lines[i]} == dmu-pin-check:* ]] || fail "line $((i + 1)): ${lines[i]}"
	done
	[[ $output == *"dmu-pin-check: 127.0.0.1:$P2"* ]] ||
	    fail "no mismatch warning: $output"
}

@test "fleet: dmu(7) example 9: collect-all merges every station into one file, whole lines, and resumes after Ctrl-C" {
	three_sims -n 5
	example dmu.7 9
	example_has "examples/collect-all -s state |"
	group_bg out err "$EX"
	wait_lines all.ndjson 15 10
	CTL_PORT=$CTL1 ctl "gen 1" >/dev/null
	CTL_PORT=$CTL3 ctl "gen 2" >/dev/null
	wait_lines all.ndjson 18 10
	# Each collector has saved the state of its last line.
	wait_until 10 state_is "state/127.0.0.1:$P1.state" 6 || fail "a's state: $(cat state/*)"
	wait_until 10 state_is "state/127.0.0.1:$P2.state" 5 || fail "b's state: $(cat state/*)"
	wait_until 10 state_is "state/127.0.0.1:$P3.state" 7 || fail "c's state: $(cat state/*)"
	# Ctrl-C: SIGINT to the whole job.
	kill -INT -- "-$GROUP"
	group_wait 10
	# Every line is one whole report, with the values of its content.
	jq -e -s 'all(.[]; (.values | type) == "object" and (.device | type) == "string")' \
	    all.ndjson >/dev/null || fail "not whole reports: $(cat all.ndjson)"
	assert_equal "$(device_serials all.ndjson "127.0.0.1:$P1")" "1 2 3 4 5 6"
	assert_equal "$(device_serials all.ndjson "127.0.0.1:$P2")" "1 2 3 4 5"
	assert_equal "$(device_serials all.ndjson "127.0.0.1:$P3")" "1 2 3 4 5 6 7"
	for p in "$P1" "$P2" "$P3"; do
		[ -s "state/127.0.0.1:$p.state" ] || fail "no state for 127.0.0.1:$p"
	done
	# Again: it resumes after the last report of each station.
	: >b.log
	group_bg out err "$EX"
	wait_log b 'GET [^ ]*/wait\?lastSerial=5(&|$)' 10
	CTL_PORT=$CTL2 ctl "gen 2" >/dev/null
	wait_lines all.ndjson 20 10
	wait_until 10 state_is "state/127.0.0.1:$P2.state" 7 || fail "b's state: $(cat state/*)"
	kill -INT -- "-$GROUP"
	group_wait 10
	assert_equal "$(device_serials all.ndjson "127.0.0.1:$P1")" "1 2 3 4 5 6"
	assert_equal "$(device_serials all.ndjson "127.0.0.1:$P2")" "1 2 3 4 5 6 7"
	assert_equal "$(device_serials all.ndjson "127.0.0.1:$P3")" "1 2 3 4 5 6 7"
	assert_equal "$(wc -l <all.ndjson)" 20
}

@test "fleet: collect-all: SIGTERM stops every collector with 0; a collector that stops by itself leaves the others, and its status wins" {
	sim_up a -n 2; P1=$PORT; CTL1=$CTL
	sim_up b -n 2; P2=$PORT
	mkdir state
	bg out err "$EXAMPLES_DIR/collect-all" -s state
	wait_lines out 4
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(wc -l <out)" 4
	# b is pinned to another certificate now: its collector exits 4 at
	# once, a's goes on.
	mkcert other ec
	record "127.0.0.1:$P2" other | dmu-certdb add -r 2>/dev/null
	: >out
	bg out err "$EXAMPLES_DIR/collect-all" -s state
	wait_until 5 grep -q "127.0.0.1:$P2" err || fail "no word of b: $(cat err)"
	CTL_PORT=$CTL1 ctl "gen 1" >/dev/null
	wait_lines out 1
	assert_equal "$(serials "$(cat out)")" 3
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 4
	# -f names the database; dmu-get options pass through after --.
	dmu-certdb get "127.0.0.1:$P1" | dmu-certdb -f one.db add
	mkdir state2
	run --separate-stderr "$EXAMPLES_DIR/collect-all" -f one.db -s state2 -- -n 3
	assert_success
	assert_equal "$(serials "$output")" "1 2 3"
	[ -s "state2/127.0.0.1:$P1.state" ]
	# Nothing to collect; usage errors.
	: >empty.db
	run --separate-stderr "$EXAMPLES_DIR/collect-all" -f empty.db
	assert_success
	[[ $stderr == *"no devices"* ]]
	run --separate-stderr "$EXAMPLES_DIR/collect-all" -s nowhere
	assert_failure 1
	run --separate-stderr "$EXAMPLES_DIR/collect-all" -x
	assert_failure 2
}

@test "fleet: collect-all says which collector was killed by a signal, and fails" {
	sim_up a -n 2
	sim_up b -n 2
	B=$DEV
	mkdir state fake
	# dmu-get for b dies by SIGSEGV; a's collects two reports and ends.
	printf '#!/bin/sh\nfor a; do [ "$a" = "%s" ] && kill -SEGV $$; done\nexec "%s/dmu-get" "$@"\n' \
	    "$B" "$DMU_BIN" >fake/dmu-get
	chmod +x fake/dmu-get
	run --separate-stderr env PATH="$BATS_TEST_TMPDIR/fake:$PATH" \
	    "$EXAMPLES_DIR/collect-all" -s state -- -n 2
	assert_failure 1
	assert_equal "$(serials "$output")" "1 2"
	assert_equal "$stderr" "collect-all: $B: the collector was killed by signal 11 (SIGSEGV)"
}

# long_device NAME SIZE: a fake device whose answers hold three reports
# whose content is SIZE bytes long; sets DEV.
long_device() {
	python3 - "$2" >"$1.resp" <<'EOF'
import json, sys
n = int(sys.argv[1])
reps = [{"serial": i, "timestamp": "2026-01-01T00:00:0%dZ" % i,
         "content": "S=X%d," % i + "A" * n} for i in (1, 2, 3)]
b = json.dumps({"reports": reps}).encode()
sys.stdout.buffer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(b) + b)
EOF
	fake_tls "$1"
}

@test "fleet: lines of up to PIPE_BUF bytes from many writers never mix on one pipe" {
	command -v python3 >/dev/null || skip "python3 is not installed"
	[ "$(getconf PIPE_BUF /)" -ge 4096 ] || skip "PIPE_BUF is below 4096 here"
	# Four devices whose report lines are 4000 to 4096 bytes long, read
	# over and over by collectors that all write to one pipe.
	devs=()
	for n in 1 2 3 4; do
		long_device "f$n" $((3890 + n * 20))
		devs+=("$DEV")
	done
	len=$(dmu-get -t "$T" "${devs[3]}" list </dev/null | head -n 1 | wc -c)
	[ "$len" -le 4096 ] && [ "$len" -gt 4000 ] || fail "line length $len"
	script='for d in "$@"; do
		( for i in 1 2 3 4 5 6 7 8; do dmu-get -t 5 "$d" list || exit; done ) &
	done; wait'
	bash -c "$script" merge "${devs[@]}" </dev/null 2>err |
	    python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    r = json.loads(line)
    assert r["content"].startswith("S=X%d," % r["serial"]), line[:80]
    n += 1
print(n)' >count || fail "a line is not whole: $(cat err)"
	assert_equal "$(cat count)" 96
}

@test "fleet: dmu-get writes each report line, newline included, with one writev(2)" {
	command -v strace >/dev/null || skip "strace is not installed"
	# LeakSanitizer cannot run under ptrace; the real build is what counts.
	[ -z "${DMU_VARIANT-}" ] || skip "strace does not mix with $DMU_VARIANT"
	# dmu-get holding a key is not dumpable (PR_SET_DUMPABLE 0): only root
	# (CAP_SYS_PTRACE) may look into it, as a packager's build user cannot.
	[ "$(id -u)" -eq 0 ] || skip "root only: dmu-get with a key is not dumpable"
	# Lines of 3990 and of 4096 bytes, newline included, to a pipe.
	for size in 3894 4003; do
		long_device "f$size" "$size"
		strace -f -s 5000 -o trace -e trace=write,writev \
		    dmu-get -t "$T" "$DEV" list </dev/null | cat >out
		assert_equal "$(wc -l <out)" 3
		max=$(awk '{ if (length($0) + 1 > m) m = length($0) + 1 } END { print m }' out)
		[ "$max" -le 4096 ] && [ "$max" -gt 3900 ] || fail "lines of $max bytes"
		# Each call is one whole line: the report, then its newline.
		run grep -c 'writev(1, \[{iov_base="{.*}", iov_len=[0-9]*}, {iov_base="\\n", iov_len=1}\], 2) = [0-9]*$' trace
		assert_output 3
		run grep -c 'write(1,\|writev(1,' trace
		assert_output 3
	done
	assert_equal "$max" 4096
	# And to a file, the simulator's short lines.
	sim_up a -n 5
	strace -f -s 5000 -o trace -e trace=write,writev \
	    dmu-get -t "$T" "$DEV" list </dev/null >out
	run grep -c 'writev(1, \[{iov_base="{.*}", iov_len=[0-9]*}, {iov_base="\\n", iov_len=1}\], 2) = [0-9]*$' trace
	assert_output 5
	run grep -c 'write(1,\|writev(1,' trace
	assert_output 5
}

# fake_ssh: an "ssh" on PATH that runs its command here, as ssh runs it on
# the host: the words after the host name joined by blanks, given to sh.
fake_ssh() {
	mkdir -p bin
	cat >bin/ssh <<'EOF'
#!/bin/sh
shift
case $* in */etc/*) echo "fake ssh: not here: $*" >&2; exit 255 ;; esac
exec sh -c "$*"
EOF
	chmod 755 bin/ssh
	PATH=$PWD/bin:$PATH
}

@test "fleet: dmu(7) example 10: records go to another host's database, checked again there" {
	mkcert a ec; mkcert b rsa; mkcert c ec
	{ record 127.0.0.1:8443 a; record 127.0.0.1:8444 b
	  record st3.example.net:443 c; } | dmu-certdb add
	fake_ssh
	example dmu.7 10
	example_has "ssh collector2 dmu-certdb -f /etc/dmu/certdb add"
	remote=$PWD/collector2.certdb
	[ "${#CMDS[@]}" -eq 2 ] || fail "two commands expected: $EX"
	CMDS=("${CMDS[@]//\/etc\/dmu\/certdb/$remote}")
	[[ ${CMDS[*]} != */etc/* ]] || fail "not localized: ${CMDS[*]}"
	# The two named stations.
	run --separate-stderr bash -o pipefail -c "${CMDS[0]}"
	assert_success
	assert_equal "$(dmu-certdb -f "$remote" get 127.0.0.1:8443 127.0.0.1:8444)" \
	    "$(dmu-certdb get 127.0.0.1:8443 127.0.0.1:8444)"
	assert_equal "$(dmu-certdb -f "$remote" list | wc -l)" 2
	# All of them; again, which changes nothing.
	run --separate-stderr bash -o pipefail -c "${CMDS[1]}"
	assert_success
	assert_equal "$(dmu-certdb -f "$remote" list)" "$(dmu-certdb list)"
	cp "$remote" before
	run --separate-stderr bash -o pipefail -c "${CMDS[1]}"
	assert_success
	cmp before "$remote"
	# A host that pins a station to another certificate refuses it (4)
	# and keeps its own pin; the other records still go in.
	mkcert d ec
	rm -f "$remote"
	record 127.0.0.1:8444 d | dmu-certdb -f "$remote" add
	run --separate-stderr bash -o pipefail -c "${CMDS[0]}"
	assert_failure 4
	assert_equal "$(dmu-certdb -f "$remote" list | cut -d' ' -f1,2)" \
	    "127.0.0.1:8444 $(fpr_hex d)
127.0.0.1:8443 $(fpr_hex a)"
	dmu-certdb -f "$remote" check
}

@test "fleet: the README shows the recipes of dmu(7) word for word" {
	# README "Fleets" blocks against dmu(7) EXAMPLES 6 to 10.
	readme=$(readme_blocks Fleets)
	page=
	for n in 6 7 8 9 10; do
		[ -n "$page" ] && page+=$'\n--\n'
		page+=$(man_block "$DMU_REPO/man/dmu.7" EXAMPLES "$n")
	done
	assert_equal "$readme" "$page"
	# README "Under systemd" against the set-up and the sink drop-in
	# blocks of dmu(7), each block whole.
	n=$(man_block_count "$DMU_REPO/man/dmu.7" DESCRIPTION)
	blocks=0
	while IFS= read -r -d '' readme; do
		blocks=$((blocks + 1))
		found=
		for ((i = 1; i <= n; i++)); do
			[ "$(man_block "$DMU_REPO/man/dmu.7" DESCRIPTION "$i")" = "$readme" ] && found=$i
		done
		[ -n "$found" ] || fail "README's systemd block is not in dmu(7): $readme"
	done < <(readme_blocks "Under systemd" | awk 'BEGIN { ORS = "" }
	    $0 == "--" { printf "%s", b "\0"; b = ""; next }
	    { b = b (b == "" ? "" : "\n") $0 } END { printf "%s", b "\0" }')
	assert_equal "$blocks" 2
}

@test "fleet: collect-all: a database that does not exist is a failure naming it, an empty one has no devices" {
	run --separate-stderr "$EXAMPLES_DIR/collect-all" -f certbd
	assert_failure 1
	assert_output ''
	assert_equal "$stderr" "dmu-certdb: certbd: no certificate database (a missing one is not an empty one); start one with: dmu-learn -F FINGERPRINT DEVICE | dmu-certdb -f certbd add"
	run --separate-stderr env DMU_CERTDB="$PWD/certbd" "$EXAMPLES_DIR/collect-all"
	assert_failure 1
	[[ $stderr == *"$PWD/certbd: no certificate database"* ]] || fail "$stderr"
	: >empty.db
	run --separate-stderr "$EXAMPLES_DIR/collect-all" -f empty.db
	assert_success
	assert_output ''
	assert_equal "$stderr" "collect-all: no devices in the database"
}
