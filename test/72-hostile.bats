#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# A hostile TLS peer (test/hostile-peer) sends chains no device would: a
# 0-byte, an oversized, a garbage certificate, many of them.  Each is a
# mismatch (exit 4) with the usual line, never a signal; its evidence is
# kept after the mismatch is reported, in one bounded store beside the
# database.  Data files that are not regular files are refused at once.

load helper

HOSTILE=$DMU_TEST_DIR/hostile-peer

# hostile ELEMENT...: a hostile peer sending that chain, pinned to a.pem
# (made here) so that whatever it sends is a mismatch; sets DEV.  b.pem is
# a well-formed impostor certificate for chains that start with it.
hostile() {
	[ -e a.pem ] || mkcert a ec
	[ -e b.pem ] || mkcert b ec
	rm -f hp.port
	"$HOSTILE" -P hp.port -l hp.log "$@" </dev/null >hp.out 2>hp.err 3>&- &
	BG_PIDS+=($!)
	wait_until 5 test -s hp.port || fail "hostile-peer: $(cat hp.err)"
	DEV=127.0.0.1:$(cat hp.port)
	dmu-certdb import -q -F "$(fpr_hex a)" "$DEV" <a.pem ||
	    fail "cannot pin $DEV"
}

# The chains of the tests: name and elements after the impostor's own.
CHAINS=(
	"zero-byte|empty"
	"oversized|garbage:70000"
	"garbage|garbage:3000"
	"many|garbage:200*40"
	"mixed|empty garbage:70000 zero:5 empty pem:a.pem"
)

# assert_no_signal: the last run ended by itself, not by a signal.
assert_no_signal() {
	((status < 128)) || fail "ended by signal $((status - 128)): $stderr"
}

@test "hostile chain: a 0-byte certificate in the chain is a mismatch (4) with the usual line, and is kept" {
	hostile pem:b.pem empty
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_no_signal
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	# The mismatch and what to do about it; nothing about the evidence.
	assert_equal "${#stderr_lines[@]}" 2
	[[ $stderr == *"CERTIFICATE MISMATCH: the device presented $(fpr_colon b)"* ]] ||
	    fail "$stderr"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 1 127\.0\.0\.1:[0-9]+ certificate$"
	# The end-entity certificate is kept, the empty one left out.
	run --separate-stderr dmu-certdb pem "$DEV" "$(fpr_hex b)" </dev/null
	assert_success
	assert_output "$(openssl x509 -in b.pem)"
}

@test "hostile chain: 0-byte, oversized, garbage and many-element chains are 4 for dmu-pin-check" {
	local c name
	for c in "${CHAINS[@]}"; do
		name=${c%%|*}
		stop_bg
		# shellcheck disable=SC2086
		hostile pem:b.pem ${c#*|}
		run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
		assert_no_signal
		[ "$status" -eq 4 ] || fail "$name: exit $status: $stderr"
		assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
		grep -q '^chain ' hp.log || fail "$name: the chain was not sent"
		[[ $stderr != *"not kept"* ]] || fail "$name: $stderr"
	done
	# A whole chain at once, -j: every line is there.
	run --separate-stderr dmu-pin-check -j 4 -t "$T" "$DEV" "$DEV" "$DEV" </dev/null
	assert_failure 4
	assert_equal "${#lines[@]}" 3
}

@test "hostile chain: a 0-byte or garbage end-entity certificate is a mismatch too" {
	hostile empty pem:b.pem
	empty_sha=$(printf '' | sha256sum | cut -c1-64)
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_no_signal
	assert_failure 4
	assert_output "$DEV mismatch presented=$empty_sha expected=$(fpr_hex a)"
	stop_bg
	hostile garbage:70000
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_no_signal
	assert_failure 4
	assert_output --regexp "^$DEV mismatch presented=[0-9a-f]{64} expected=$(fpr_hex a)$"
	# Too large to keep: its fingerprint is kept, its bytes are not.
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	grep -q " certificate -$" "$DMU_CERTDB.evidence" ||
	    fail "$(cut -c1-300 "$DMU_CERTDB.evidence")"
}

@test "hostile chain: dmu-get latest and dmu-get follow exit 4 with the usual message for every chain" {
	local c name
	echo 'DEMO:SECRET_KEY' >key
	chmod 600 key
	for c in "${CHAINS[@]}"; do
		name=${c%%|*}
		stop_bg
		# shellcheck disable=SC2086
		hostile pem:b.pem ${c#*|}
		run --separate-stderr dmu-get -k key -t "$T" "$DEV" latest </dev/null
		assert_no_signal
		[ "$status" -eq 4 ] || fail "$name: latest exit $status: $stderr"
		assert_output ''
		[[ ${stderr_lines[0]} == "dmu-get: $DEV: certificate mismatch: presented $(fpr_colon b), pinned $(fpr_colon a); nothing was sent"* ]] ||
		    fail "$name: $stderr"
		run --separate-stderr timeout 20 dmu-get -k key -t "$T" -w 1 -s state "$DEV" follow </dev/null
		assert_no_signal
		[ "$status" -eq 4 ] || fail "$name: follow exit $status: $stderr"
		[[ ${stderr_lines[0]} == *"certificate mismatch: presented $(fpr_colon b)"* ]] ||
		    fail "$name: $stderr"
		[ ! -e state ] || fail "$name: follow wrote a state"
	done
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 2 "
}

@test "hostile chain: dmu-learn never dies by a signal on any chain" {
	local c name
	for c in "empty|empty" "garbage|garbage:3000" "oversized|garbage:70000" \
	    "chain|pem:b.pem empty garbage:70000 garbage:200*40"; do
		name=${c%%|*}
		stop_bg
		# shellcheck disable=SC2086
		hostile ${c#*|}
		run --separate-stderr dmu-learn -y -t "$T" "$DEV" </dev/null
		assert_no_signal
		[ "$status" -ne 0 ] || fail "$name: learned: $output"
		assert_output ''
		assert_equal "${#stderr_lines[@]}" 1
		[[ ${stderr_lines[0]} == "dmu-learn: $DEV: "* ]] || fail "$name: $stderr"
	done
}

@test "hostile chain: the mismatch is reported first; a held evidence lock delays only the warning" {
	hostile pem:b.pem empty
	flock "$DMU_CERTDB.evidence.lock" -c 'touch locked; exec sleep 60' &
	BG_PIDS+=($!)
	wait_until 5 test -e locked || fail "no lock"
	t0=$(now_ms)
	DMU_LOCK_TIMEOUT=3 dmu-pin-check -t "$T" "$DEV" </dev/null 2>err |
	    while IFS= read -r line; do
		    printf '%s %s\n' "$(elapsed_ms "$t0")" "$line" >>seen.txt
	    done
	total=$(elapsed_ms "$t0")
	read -r ms line <seen.txt
	assert_equal "$line" "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	# The line came out before the 3 s wait for the lock began to run.
	((ms + 2500 <= total)) || fail "line at $ms ms, end at $total ms"
	run cat err
	assert_equal "${#lines[@]}" 3
	assert_line -n 2 --partial "$DEV: warning: what it presented was not kept: cannot lock $DMU_CERTDB.evidence.lock"
}

@test "evidence: one place beside the database for every run, whatever HOME and the working directory" {
	hostile pem:b.pem
	mkdir -p elsewhere other
	db=$DMU_CERTDB
	# A relative -f, HOME unset, no XDG variables.
	(cd "$BATS_TEST_TMPDIR" && unset HOME XDG_STATE_HOME DMU_CERTDB &&
	    dmu-pin-check -f certdb -t "$T" "$DEV" </dev/null >/dev/null 2>&1) ||
	    [ $? -eq 4 ] || fail "pin-check"
	[ -f "$db.evidence" ] || fail "not beside the database"
	[ ! -e elsewhere/.local ] && [ ! -e .local ] ||
	    fail "written under a relative or HOME path"
	# From another directory, with another HOME: the same evidence.
	run --separate-stderr env -u DMU_CERTDB HOME="$BATS_TEST_TMPDIR/other" \
	    sh -c 'cd elsewhere && exec dmu-certdb -f ../certdb seen' </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) "
	# Through a symbolic link to the database: the same file again.
	ln -s "$db" link
	run --separate-stderr dmu-pin-check -f link -t "$T" "$DEV" </dev/null
	assert_failure 4
	[ ! -e link.evidence ] || fail "beside the link"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 2 "
}

@test "evidence: a read-only database directory keeps nothing and says so once; the outcome stays 4" {
	hostile pem:b.pem
	mkdir ro
	mv certdb ro/
	export DMU_CERTDB=$BATS_TEST_TMPDIR/ro/certdb
	if [ "$(id -u)" -eq 0 ]; then
		unshare -m true 2>/dev/null || skip "root without unshare -m"
		run --separate-stderr unshare -m sh -c 'mount --bind -o ro "$1" "$1" &&
		    shift && exec "$@"' sh "$BATS_TEST_TMPDIR/ro" \
		    dmu-pin-check -t "$T" "$DEV" </dev/null
	else
		chmod 555 ro
		run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
		chmod 755 ro
	fi
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	assert_equal "${#stderr_lines[@]}" 3
	[[ ${stderr_lines[2]} == *"warning: what it presented was not kept: cannot write $BATS_TEST_TMPDIR/ro/certdb.evidence: "* ]] ||
	    fail "$stderr"
	[ ! -e "$HOME/.local" ] && [ ! -e ro/certdb.evidence ] || fail "kept elsewhere"
}

@test "evidence: a mismatch appends one line and reads nothing else; readers merge the lines" {
	hostile pem:b.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	cp "$DMU_CERTDB.evidence" before
	# A line the store cannot parse is not read by an append either.
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	[ "$(wc -l <"$DMU_CERTDB.evidence")" -eq 3 ] || fail "$(cut -c1-200 "$DMU_CERTDB.evidence")"
	cmp -n "$(stat -c %s before)" before "$DMU_CERTDB.evidence" ||
	    fail "the lines before changed"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 2 "
	# A piece of a line left by a killed writer (or one being appended) is
	# not read, and the next append cuts it.
	printf '%s' "$DEV 0123" >>"$DMU_CERTDB.evidence"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 2 "
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 3 "
}

# big_evidence N BYTES: an evidence file of N devices with one entry each,
# lines of about BYTES bytes, seen in 2020.
big_evidence() {
	python3 - "$1" "$2" "$DMU_CERTDB.evidence" <<'EOF'
import base64, hashlib, sys
n, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path, "w") as f:
    f.write("# dmu-evidence 1\n")
    for i in range(n):
        der = bytes([0x30, 0x82]) + i.to_bytes(4, "big") * max(1, size // 6)
        b = base64.b64encode(der[: (size * 3) // 4]).decode()
        h = hashlib.sha256(str(i).encode()).hexdigest()
        f.write("10.0.%d.%d:443 %s 2020-01-01T00:00:%02dZ 2020-01-01T00:00:%02dZ 1 - certificate %s\n"
                % (i // 250, i % 250, h, i % 60, i % 60, b))
EOF
}

@test "evidence: bounded as a whole; an append past 16 MiB compacts it to half, newest kept" {
	hostile pem:b.pem
	# 2,400 devices of 8 KiB lines: past 16 MiB with the next line.
	big_evidence 2400 8400
	size=$(stat -c %s "$DMU_CERTDB.evidence")
	((size > 16 * 1024 * 1024 - 8400)) || fail "only $size bytes"
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	[[ $stderr != *"not kept"* ]] || fail "$stderr"
	size=$(stat -c %s "$DMU_CERTDB.evidence")
	((size <= 8 * 1024 * 1024)) || fail "$size bytes after compaction"
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	# The newest is there, the oldest went.
	assert_line --regexp "^$DEV $(fpr_hex b) "
	refute_line --regexp "^10\.0\.0\.0:443 "
	# Entries: at most 4096 in all, whatever the file holds.
	big_evidence 5000 100
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	assert_equal "${#lines[@]}" 4096
}

@test "evidence: recording a mismatch with 15 MiB of evidence on file costs no more memory than with none" {
	command -v /usr/bin/time >/dev/null || skip "no /usr/bin/time"
	[ -z "${DMU_VARIANT-}" ] || skip "sanitizers and valgrind change the memory"
	hostile pem:b.pem
	run --separate-stderr /usr/bin/time -f '%M' dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	small=${stderr_lines[-1]}
	big_evidence 1800 8400
	run --separate-stderr /usr/bin/time -f '%M' dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	big=${stderr_lines[-1]}
	# Peak RSS in KiB: within 2 MiB of the run without evidence.
	((big < small + 2048)) || fail "peak RSS $big KiB with 15 MiB on file, $small KiB without"
	tail -n 1 "$DMU_CERTDB.evidence" | grep -q "^$DEV $(fpr_hex b) " ||
	    fail "not appended"
}

@test "evidence: readers during appends of long lines see whole lines only, never a piece" {
	hostile pem:b.pem
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	# Lines of 20 KiB appended while seen reads.  A reader may meet a
	# line in part (a write(2) is not atomic to read(2)); here each
	# arrives in two pieces, 2 ms apart, so that the reads meet many.
	python3 - "$DMU_CERTDB.evidence" <<'EOF' &
import base64, hashlib, os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
for i in range(300):
    der = bytes([0x30, 0x82]) + i.to_bytes(4, "big") * 2500
    b = base64.b64encode(der[:15000]).decode()
    h = hashlib.sha256(str(i).encode()).hexdigest()
    line = ("10.1.%d.%d:443 %s 2020-01-01T00:00:00Z "
            "2020-01-01T00:00:00Z 1 - certificate %s\n"
            % (i // 250, i % 250, h, b)).encode()
    os.write(fd, line[:100])
    time.sleep(0.002)
    os.write(fd, line[100:])
EOF
	writer=$!
	BG_PIDS+=("$writer")
	n=0
	while kill -0 "$writer" 2>/dev/null; do
		dmu-certdb seen >seen.out 2>seen.err </dev/null ||
		    fail "seen during an append: $(cat seen.err)"
		n=$((n + 1))
	done
	wait "$writer"
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	assert_equal "${#lines[@]}" 301
	((n >= 10)) || fail "only $n reads during the appends"
}

# ---- data files that are not regular files ----

# refused_at_once CODE MESSAGE CMD...: CMD ends within 10 s with CODE and
# MESSAGE in its stderr (a program blocked on a FIFO would hang).
refused_at_once() {
	local code=$1 msg=$2
	shift 2
	run --separate-stderr timeout 10 "$@" </dev/null
	[ "$status" -ne 124 ] || fail "$* hangs"
	[ "$status" -eq "$code" ] || fail "$*: exit $status, not $code: $stderr"
	[[ $stderr == *"$msg"* ]] || fail "$*: $stderr"
}

@test "files: a FIFO, directory or device as the database is refused at once" {
	mkfifo fifo
	refused_at_once 1 "cannot read $BATS_TEST_TMPDIR/fifo: it is a FIFO, not a regular file" \
	    dmu-certdb -f "$BATS_TEST_TMPDIR/fifo" list
	refused_at_once 1 "it is a FIFO" dmu-pin-check -f fifo 127.0.0.1:1
	DMU_API_KEY=DEMO:SECRET_KEY refused_at_once 1 "it is a FIFO" \
	    dmu-get -f fifo 127.0.0.1:1
	mkdir dir
	refused_at_once 1 "/dir: it is a directory" dmu-certdb -f dir list
	refused_at_once 1 "cannot read /dev/zero: it is a device" dmu-certdb -f /dev/zero list
}

@test "files: a FIFO as history, evidence, state or key file is refused at once" {
	hostile pem:b.pem
	rm -f "$DMU_CERTDB.history"
	mkfifo "$DMU_CERTDB.history" "$DMU_CERTDB.evidence" state key
	echo 'DEMO:SECRET_KEY' >k
	chmod 600 k
	refused_at_once 1 "cannot read $DMU_CERTDB.history: it is a FIFO" dmu-certdb history
	refused_at_once 1 "cannot read $DMU_CERTDB.evidence: it is a FIFO" dmu-certdb seen
	# An evidence FIFO: the mismatch is 4 all the same, with one warning.
	refused_at_once 4 "not kept: cannot write $DMU_CERTDB.evidence: it is a FIFO" \
	    dmu-pin-check -t "$T" "$DEV"
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	refused_at_once 4 "not kept: cannot write $DMU_CERTDB.evidence: it is a FIFO" \
	    dmu-get -k k -t "$T" -w 1 "$DEV" follow
	# A history FIFO: a change is refused, nothing replaced.
	mkcert c ec
	refused_at_once 1 "cannot write $DMU_CERTDB.history: it is a FIFO" \
	    sh -c 'dmu-certdb import -F "$1" 127.0.0.1:9 <c.pem' sh "$(fpr_hex c)"
	refused_at_once 1 "cannot read key file key: it is a FIFO" \
	    dmu-get -k key -t "$T" "$DEV" latest
	refused_at_once 1 "cannot read state: it is a FIFO" \
	    dmu-get -k k -s state -t "$T" "$DEV" follow
}
