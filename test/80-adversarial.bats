#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Adversarial suite: hostile and broken devices (slowloris, long chains,
# huge certificates, exotic keys, renegotiation), crashes and hostile file
# systems under the certificate database, and the API key under a
# debugger.  Everything is made at test time; loopback only.

load helper-adv

# The time-out for the slowloris tests: longer than the 1 s between two
# bytes of the dripping simulator, so that no single wait ever expires and
# only the overall limit can end the connection.
DRIP_T=2

# assert_cut_off MS T: took at least T s (it was the time limit, not an
# early failure) and not much longer (LATE_MS; the drips go on for 10 s
# and more).
assert_cut_off() {
	(($1 >= $2 * 1000 - 100 && $1 <= $2 * 1000 + LATE_MS)) ||
	    fail "took $1 ms; expected about $2 s (at most $2 s + $LATE_MS ms)"
}

# --- slowloris -------------------------------------------------------------

@test "slowloris: a device sending one byte per second is cut off at -t by dmu-learn (5)" {
	mkcert d ec
	start_sim d -S drip
	dev=127.0.0.1:$SIM_PORT
	t0=$(now_ms)
	run --separate-stderr dmu-learn -y -t "$DRIP_T" "$dev" </dev/null
	ms=$(($(now_ms) - t0))
	assert_failure 5
	assert_output ''
	assert_equal "$stderr" "dmu-learn: $dev: timed out"
	assert_cut_off "$ms" "$DRIP_T"
}

@test "slowloris: a device sending one byte per second is cut off at -t by dmu-pin-check (5)" {
	mkcert d ec
	start_sim d -S drip
	dev=127.0.0.1:$SIM_PORT
	pin "$dev" d
	t0=$(now_ms)
	run --separate-stderr dmu-pin-check -t "$DRIP_T" "$dev" </dev/null
	ms=$(($(now_ms) - t0))
	assert_failure 5
	assert_output "$dev error unreachable timed out"
	assert_cut_off "$ms" "$DRIP_T"
	# Nothing was ever sent to it: the handshake did not even finish.
	sim_log_settled d || fail "d.log does not settle: $(cat d.log)"
	if grep -q '^request ' d.log; then
		fail "a request was sent: $(cat d.log)"
	fi
}

@test "slowloris: a device sending one byte per second is cut off at -t by dmu-get (5)" {
	mkcert d ec
	start_sim d -S drip
	dev=127.0.0.1:$SIM_PORT
	pin "$dev" d
	t0=$(now_ms)
	run --separate-stderr dmu-get -t "$DRIP_T" "$dev" latest </dev/null
	ms=$(($(now_ms) - t0))
	assert_failure 5
	assert_output ''
	assert_equal "$stderr" "dmu-get: $dev: timed out"
	assert_cut_off "$ms" "$DRIP_T"
}

@test "slowloris: an answer that drips after the handshake (header, then body) is cut off at -t by dmu-get (5)" {
	# Four bytes a second: no single read waits as long as -t 1, so only
	# the time limit of the whole answer can end it.
	tls_script hdr 'printf "HTTP/1.1 200 OK\r\n"
	    i=0; while [ $i -lt 40 ]; do printf X; sleep 0.25; i=$((i + 1)); done'
	t0=$(now_ms)
	run --separate-stderr dmu-get -t 1 "$DEV" latest </dev/null
	ms=$(($(now_ms) - t0))
	assert_failure 5
	assert_output ''
	[[ $stderr == "dmu-get: $DEV: "*"timed out" ]] || fail "stderr: $stderr"
	assert_equal "${#stderr_lines[@]}" 1
	assert_cut_off "$ms" 1

	tls_script body 'printf "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
	    i=0; while [ $i -lt 40 ]; do printf "["; sleep 0.25; i=$((i + 1)); done'
	t0=$(now_ms)
	run --separate-stderr dmu-get -t 1 "$DEV" latest </dev/null
	ms=$(($(now_ms) - t0))
	assert_failure 5
	assert_output ''
	[[ $stderr == "dmu-get: $DEV: "*"body"*"timed out" ]] || fail "stderr: $stderr"
	assert_equal "${#stderr_lines[@]}" 1
	assert_cut_off "$ms" 1
}

# --- certificates ----------------------------------------------------------

@test "chain of 20 certificates (one of them 100 KiB): learn and pin-check use the end-entity certificate only" {
	mkcert ee ec
	rsa_key ca
	: >extras.pem
	for ((c = 1; c <= 18; c++)); do
		openssl req -x509 -new -key ca.key -subj "/CN=Chain CA $c" \
		    -days 30 -set_serial "$c" 2>/dev/null >>extras.pem ||
		    fail "cannot make chain certificate $c"
	done
	size=$(comment_cert huge ca.key 102400)
	((size > 100000)) || fail "huge.pem is only $size bytes"
	cat huge.pem >>extras.pem
	assert_equal "$(cat ee.pem extras.pem | grep -c 'BEGIN CERTIFICATE')" 20
	s_server chain ee.pem ee.key -quiet -msg -cert_chain extras.pem

	# The design: the chain is ignored, so learning works.
	run --separate-stderr dmu-learn -y -t "$T" "$SRV_DEV" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 1
	assert_output --regexp "^$SRV_DEV $(fpr_hex ee) [0-9TZ:-]+ unverified [A-Za-z0-9_][A-Za-z0-9._-]* [A-Za-z0-9+/]+=*$"
	[[ $stderr == *"accepted certificate $(fpr_colon ee)"* ]] || fail "stderr: $stderr"
	read -r _ _ _ _ _ b64 <<<"$output"
	assert_equal "$(base64 -d <<<"$b64" | sha256sum | cut -c1-64)" "$(fpr_hex ee)"
	run --separate-stderr dmu-certdb add <<<"$output"
	assert_success

	run --separate-stderr dmu-pin-check -t "$T" "$SRV_DEV" </dev/null
	assert_success
	assert_output "$SRV_DEV ok $(fpr_hex ee)"
	# Learned with -y: the one warning is that nobody compared it.
	[[ $stderr == *"$SRV_DEV: warning: pin $(fpr_colon ee) is unverified"* ]] ||
	    fail "stderr: $stderr"
	assert_equal "${#stderr_lines[@]}" 1
	# The fixture: the server really sent all 20 each time (a Certificate
	# message as long as their DER and the 3-byte lengths together, plus
	# the 4-byte handshake header that s_server's -msg counts).
	total=$(cat ee.pem extras.pem | awk '/BEGIN/ { f = "c" ++n ".pem" } { print > f }
	    END { for (i = 1; i <= n; i++) print "c" i ".pem" }' |
	    while read -r f; do openssl x509 -in "$f" -outform DER | wc -c; done |
	    awk '{ t += $1 + 3 } END { printf "%05x", t + 3 + 4 }')
	n=$(grep -c "^>>> TLS 1.2, Handshake \[length $total\], Certificate$" chain.out) || true
	[ "$n" -ge 2 ] ||
	    fail "s_server did not send the 20 certificates ($total hex bytes): $(grep Certificate chain.out)"

	# A certificate of the chain is never what is learned.
	run --separate-stderr dmu-learn -F "$(fpr_hex huge)" -t "$T" "$SRV_DEV" </dev/null
	assert_failure 4
	assert_output ''
	[[ $stderr == *mismatch*"$(fpr_colon ee)"*"$(fpr_colon huge)"* ]] || fail "stderr: $stderr"
}

@test "a 100 KiB end-entity certificate: learn exits 7 with one clear line and prints no record" {
	mkcert small ec
	size=$(comment_cert big small.key 102400)
	((size > 100000)) || fail "big.pem is only $size bytes"
	s_server big big.pem big.key -quiet
	for opt in -y -F; do
		if [ "$opt" = -F ]; then
			run --separate-stderr dmu-learn -F "$(fpr_hex big)" -t "$T" "$SRV_DEV" </dev/null
		else
			run --separate-stderr dmu-learn -y -t "$T" "$SRV_DEV" </dev/null
		fi
		assert_failure 7
		assert_output ''
		assert_equal "$stderr" "dmu-learn: $SRV_DEV: the device's certificate is larger than 16384 bytes"
	done
	# Pinned with another certificate, the device is a mismatch: the
	# whole 100 KiB was hashed, and the fingerprint is the right one.
	pin "$SRV_DEV" small
	run --separate-stderr dmu-pin-check -t "$T" "$SRV_DEV" </dev/null
	assert_failure 4
	assert_output "$SRV_DEV mismatch presented=$(fpr_hex big) expected=$(fpr_hex small)"
	[[ $stderr == *"MISMATCH"*"nothing was sent"* ]] || fail "stderr: $stderr"
	run --separate-stderr dmu-get -t "$T" "$SRV_DEV" latest </dev/null
	assert_failure 4
	assert_output ''
	[[ $stderr == *"certificate mismatch: presented $(fpr_colon big), pinned $(fpr_colon small)"* ]] ||
	    fail "stderr: $stderr"
	# Nor can it be imported by hand.
	run --separate-stderr dmu-certdb import "$SRV_DEV" <big.pem
	assert_failure 7
	assert_output ''
	assert_equal "$stderr" "dmu-certdb: stdin: certificate larger than 16384 bytes"
}

@test "certificate size limit: 16384 bytes are learned, stored and pinned; 16385 bytes are refused (7)" {
	rsa_key r
	sized_cert edge r.key 16384
	sized_cert over r.key 16385
	s_server edge edge.pem r.key -quiet
	edge=$SRV_DEV
	s_server over over.pem r.key -quiet
	over=$SRV_DEV

	run --separate-stderr dmu-learn -y -t "$T" "$edge" </dev/null
	assert_success
	assert_output --regexp "^$edge $(fpr_hex edge) [0-9TZ:-]+ unverified [A-Za-z0-9_][A-Za-z0-9._-]* [A-Za-z0-9+/]+=*$"
	[[ $stderr == *"accepted certificate $(fpr_colon edge)"* ]] || fail "stderr: $stderr"
	run --separate-stderr dmu-certdb add <<<"$output"
	assert_success
	assert_equal "$stderr" "dmu-certdb: $edge: new certificate $(fpr_colon edge) stored ($DMU_CERTDB)"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
	run --separate-stderr dmu-certdb pem "$edge" </dev/null
	assert_success
	assert_equal "$output" "$(cat edge.pem)"
	run --separate-stderr dmu-pin-check -t "$T" "$edge" </dev/null
	assert_success
	assert_output "$edge ok $(fpr_hex edge)"

	run --separate-stderr dmu-learn -y -t "$T" "$over" </dev/null
	assert_failure 7
	assert_output ''
	assert_equal "$stderr" "dmu-learn: $over: the device's certificate is larger than 16384 bytes"
	run --separate-stderr dmu-certdb import "$over" <over.pem
	assert_failure 7
	assert_equal "$stderr" "dmu-certdb: stdin: certificate larger than 16384 bytes"
}

@test "Ed25519 and DSA device keys: learn fails cleanly (5) with one line and prints no record" {
	openssl genpkey -algorithm ED25519 -out ed.key 2>/dev/null ||
	    skip "openssl cannot make Ed25519 keys"
	openssl genpkey -genparam -algorithm DSA \
	    -pkeyopt dsa_paramgen_bits:2048 -out dsa.param 2>/dev/null &&
	    openssl genpkey -paramfile dsa.param -out dsa.key 2>/dev/null ||
	    skip "openssl cannot make DSA keys"
	for n in ed dsa; do
		openssl req -x509 -new -key "$n.key" -out "$n.pem" \
		    -subj /CN=DMU801 -days 3650 2>/dev/null ||
		    fail "cannot make $n.pem"
		s_server "$n" "$n.pem" "$n.key" -quiet
		for opt in -y -F; do
			if [ "$opt" = -F ]; then
				run --separate-stderr dmu-learn -F "$(fpr_hex "$n")" -t "$T" "$SRV_DEV" </dev/null
			else
				run --separate-stderr dmu-learn -y -t "$T" "$SRV_DEV" </dev/null
			fi
			assert_failure 5
			assert_output ''
			assert_equal "${#stderr_lines[@]}" 1
			[[ $stderr == "dmu-learn: $SRV_DEV: "*"cipher suite"* ]] ||
			    fail "$n $opt: stderr: $stderr"
		done
		# The certificate itself is refused by name, not by a crash.
		run --separate-stderr dmu-certdb import "$SRV_DEV" <"$n.pem"
		assert_failure 7
		[[ $stderr == "dmu-certdb: stdin: unsupported public key"* ]] ||
		    fail "$n import: stderr: $stderr"
		# Nothing stored: no database was even made.
		[ ! -e "$DMU_CERTDB" ] || fail "$n: a database was written"
	done
}

@test "an EC key with explicit curve parameters is refused (7) by what it is, naming the keys that work" {
	openssl ecparam -name prime256v1 -param_enc explicit -genkey -noout \
	    -out x.key 2>/dev/null || fail "openssl cannot make the key"
	openssl req -x509 -new -key x.key -out x.pem -subj /CN=DMU801 \
	    -days 3650 2>/dev/null || fail "cannot make x.pem"
	why="the certificate's EC key gives its curve by explicit parameters, which dmu (and BearSSL) do not support: it takes EC keys on a named curve (P-256, P-384, P-521) and RSA keys"
	s_server x x.pem x.key -quiet
	for opt in -y -F; do
		if [ "$opt" = -F ]; then
			run --separate-stderr dmu-learn -F "$(fpr_hex x)" -t "$T" "$SRV_DEV" </dev/null
		else
			run --separate-stderr dmu-learn -y -t "$T" "$SRV_DEV" </dev/null
		fi
		assert_failure 7
		assert_output ''
		assert_equal "$stderr" "dmu-learn: $SRV_DEV: $why"
	done
	run --separate-stderr dmu-certdb import "$SRV_DEV" <x.pem
	assert_failure 7
	assert_equal "$stderr" "dmu-certdb: stdin: $why"
	[[ $stderr != *"BearSSL error"* ]] || fail "a bare error number: $stderr"
}

@test "learn: of a good device, a 100 KiB certificate and an Ed25519 key, only the good one gets a record (7)" {
	sim_up a
	good=$DEV
	mkcert small ec
	comment_cert big small.key 102400 >/dev/null
	s_server big big.pem big.key -quiet
	big=$SRV_DEV
	openssl genpkey -algorithm ED25519 -out ed.key 2>/dev/null ||
	    skip "openssl cannot make Ed25519 keys"
	openssl req -x509 -new -key ed.key -out ed.pem -subj /CN=DMU801 \
	    -days 3650 2>/dev/null || fail "cannot make ed.pem"
	s_server ed ed.pem ed.key -quiet
	ed=$SRV_DEV
	# As arguments and as a commissioning manifest.
	for how in args manifest; do
		if [ "$how" = args ]; then
			run --separate-stderr dmu-learn -y -t "$T" "$big" "$good" "$ed" </dev/null
		else
			run --separate-stderr dmu-learn -y -t "$T" <<<"$big
$good $(fpr_hex a)
$ed"
		fi
		assert_failure 7
		assert_equal "${#lines[@]}" 1
		assert_output --regexp "^$good $(fpr_hex a) "
		[[ $stderr == *"$big: the device's certificate is larger than 16384 bytes"* ]] ||
		    fail "$how: stderr: $stderr"
		[[ $stderr == *"$ed: "*"cipher suite"* ]] || fail "$how: stderr: $stderr"
	done
}

# --- renegotiation ---------------------------------------------------------

# renego_get NAME [s_server options]: an s_server that, once dmu-get's
# request has arrived, asks for a renegotiation (its "r" command), waits
# for dmu-get's answer to the HelloRequest, and then answers the request.
# dmu-get's status, stdout and stderr are left in BG_STATUS, NAME.get.out
# and NAME.get.err.
renego_get() {
	local name=$1 body
	shift
	mkfifo "$name.in"
	exec {RFD}<>"$name.in"
	s_server "$name" a.pem a.key -naccept 1 -msg "$@"
	pin "$SRV_DEV" a
	bg "$name.get.out" "$name.get.err" dmu-get -t 5 "$SRV_DEV" latest
	wait_until 5 file_has "$name.out" '^GET /api/application/https_server_1/reports/v1/reports/latest HTTP/1.1' ||
	    fail "no request reached s_server: $(cat "$name.get.err")"
	printf 'r\n' >&"$RFD"
	wait_until 5 file_has "$name.out" '^<<< .*Alert' ||
	    fail "dmu-get did not refuse the HelloRequest: $(grep -E '^(<<<|>>>)' "$name.out")"
	body='{"serial": 7, "timestamp": "2024-01-02T03:04:05Z", "content": "S=RENEGO"}'
	printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
	    "${#body}" "$body" >&"$RFD"
	bg_wait "$BG_PID" 5
	exec {RFD}>&-
}

@test "renegotiation asked by the device is refused: one handshake only, with or without a session cache" {
	# BR_OPT_NO_RENEGOTIATION: the HelloRequest gets a no_renegotiation
	# alert and never a second ClientHello, so neither a resumed nor a
	# full second handshake can change who is talking on a pinned
	# connection.  The device may go on with the answer (then it is
	# printed) or give up (then dmu-get fails as for a cut answer).
	mkcert a ec
	local how
	for how in resumed full; do
		if [ "$how" = full ]; then
			renego_get "$how" -no_cache
		else
			renego_get "$how"
		fi
		grep -q 'HelloRequest' "$how.out" || fail "$how: no HelloRequest was sent"
		file_has "$how.out" '^<<< .*Alert.*no_renegotiation' ||
		    fail "$how: no no_renegotiation alert: $(grep -E '^(<<<|>>>)' "$how.out")"
		[ "$(grep -c '^<<< .*ClientHello' "$how.out")" -eq 1 ] ||
		    fail "$how: a second ClientHello: $(grep -E '^(<<<|>>>)' "$how.out")"
		case $BG_STATUS in
		0) assert_equal "$(cat "$how.get.out")" \
		    "{\"device\":\"$SRV_DEV\",\"serial\":7,\"timestamp\":\"2024-01-02T03:04:05Z\",\"content\":\"S=RENEGO\"}" ;;
		5) assert_equal "$(cat "$how.get.out")" '' ;;
		*) fail "$how: dmu-get exited $BG_STATUS: $(cat "$how.get.err")" ;;
		esac
	done
}

# --- the database under kill -9 and hostile file systems ------------------

@test "kill -9 of 'dmu-certdb add' at random moments, 200 times: always a valid database, no committed record lost" {
	# A kill that lands in LeakSanitizer's exit-time check leaves a report
	# ("Unable to get registers") that check-variant would count.
	[ "$(head -c 2 "$DMU_BIN/dmu-certdb")" != '#!' ] ||
	    skip "$DMU_BIN/dmu-certdb is a wrapper (sanitizer, valgrind or qemu build)"
	mkcert a ec
	fp=$(fpr_hex a)
	b64=$(openssl x509 -in a.pem -outform DER | base64 -w0)
	# 600 records (about 380 KB), so that a write takes a few ms.
	{
		echo "$DB_HEADER"
		for ((r = 0; r < 600; r++)); do
			printf '127.1.%d.%d:443 %s 2024-01-02T03:04:05Z %s\n' \
			    $((r / 256)) $((r % 256)) "$fp" "$b64"
		done
	} >"$DMU_CERTDB"
	# How long one add takes here (the second of two tries, with a warm
	# cache; a loaded machine is slower): the kills land at random moments
	# over one and a half times that, at least 0-20 ms, at most 0-60 ms.
	for p in 1 2; do
		cp "$DMU_CERTDB" probe
		t0=$(now_ms)
		DMU_CERTDB=$BATS_TEST_TMPDIR/probe dmu-certdb add \
		    <<<"127.9.0.1:443 $fp 2024-01-02T03:04:05Z $b64" ||
		    fail "add does not work on the 600 records"
		win=$((($(now_ms) - t0) * 3 / 2))
	done
	((win >= 20)) || win=20
	((win <= 60)) || win=60
	rm -f probe probe.lock
	cp "$DMU_CERTDB" expected
	seed=${ADV_SEED:-$$}
	RANDOM=$seed
	committed=() ok=0 killed=0 late=0
	for ((it = 0; it < 200; it++)); do
		dev=127.2.$((it / 256)).$((it % 256)):443
		line="$dev $fp 2024-01-02T03:04:05Z $b64"
		printf '%s\n' "$line" >rec.in
		# (stderr of the group: bash's "Killed" notices)
		{
			dmu-certdb add <rec.in 2>add.err &
			pid=$!
			nap_ms $((RANDOM % (win + 1)))
			kill -9 "$pid" || true
			rc=0
			wait "$pid" || rc=$?
		} 2>/dev/null
		case $rc in
		0) ok=$((ok + 1)); committed+=("$dev") ;;
		137) killed=$((killed + 1)) ;;
		*) fail "iteration $it (seed $seed): add exited $rc: $(cat add.err)" ;;
		esac
		# The database is the old one or the old one plus this record,
		# never anything in between.
		if cmp -s "$DMU_CERTDB" expected; then
			[ "$rc" -ne 0 ] ||
			    fail "iteration $it (seed $seed): add exited 0 but $dev is not in the database"
		else
			printf '%s\n' "$line" >>expected
			cmp -s "$DMU_CERTDB" expected ||
			    fail "iteration $it (seed $seed): the database is neither the old one nor the old one plus $dev"
			[ "$rc" -eq 0 ] || late=$((late + 1))
		fi
		if ((it % 50 == 49)); then
			run --separate-stderr dmu-certdb check </dev/null
			assert_success
			assert_equal "$stderr" ''
		fi
	done
	echo "# kill -9 loop (seed $seed, 0-$win ms): $ok completed, $killed killed ($late of them after the rename)" >&3
	((ok > 0 && killed > 0)) || fail "the kills did not land both before and after the commit: $ok completed, $killed killed"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
	assert_output ''
	# Every add that exited 0 is there.
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	present=$(cut -d' ' -f1 <<<"$output" | sort)
	missing=$(printf '%s\n' "${committed[@]}" | sort | comm -23 - <(printf '%s\n' "$present"))
	assert_equal "$missing" ''
	# A later add still works (the lock was released by every kill).
	run --separate-stderr dmu-certdb add -q <<<"127.3.0.1:443 $fp 2024-01-02T03:04:05Z $b64"
	assert_success
	assert_equal "$stderr" ''
}

@test "read-only file system: add, import and remove fail loudly (1), naming the file, database byte-identical" {
	mkcert a ec
	mkcert b ec
	tmpfs_dir ro 1m
	export DMU_CERTDB=$BATS_TEST_TMPDIR/ro/certdb
	dmu-certdb add <<<"$(record st1:443 a)"
	cp "$DMU_CERTDB" before
	mount -o remount,ro ro 2>/dev/null || skip "cannot remount a tmpfs read-only here"
	run --separate-stderr dmu-certdb add <<<"$(record st2:443 b)"
	assert_failure 1
	assert_output ''
	[[ $stderr == "dmu-certdb: "*"$DMU_CERTDB"*"Read-only file system" ]] || fail "add: stderr: $stderr"
	run --separate-stderr dmu-certdb import st3:443 <b.pem
	assert_failure 1
	[[ $stderr == "dmu-certdb: "*"$DMU_CERTDB"*"Read-only file system" ]] || fail "import: stderr: $stderr"
	run --separate-stderr dmu-certdb remove st1:443 </dev/null
	assert_failure 1
	[[ $stderr == "dmu-certdb: "*"$DMU_CERTDB"*"Read-only file system" ]] || fail "remove: stderr: $stderr"
	cmp before "$DMU_CERTDB"
	# Reading still works.
	run --separate-stderr dmu-certdb get st1:443 </dev/null
	assert_success
	assert_output "$(record st1:443 a)"
}

@test "full file system: add fails loudly (1) naming the file and the reason, database byte-identical, no temporary file" {
	mkcert a ec
	mkcert b ec
	tmpfs_dir full 64k
	export DMU_CERTDB=$BATS_TEST_TMPDIR/full/certdb
	# 20 records (about 13 KB), more than one stdio buffer.
	for ((r = 1; r <= 20; r++)); do
		record "st$r:443" a
	done | dmu-certdb add
	cp "$DMU_CERTDB" before
	cp "$DMU_CERTDB.history" history.before
	dd if=/dev/zero of=full/fill bs=4k 2>/dev/null || true
	run df -k full
	assert_output --regexp ' 0 +100% '
	run --separate-stderr dmu-certdb add <<<"$(record new:443 b)"
	assert_failure 1
	assert_output ''
	[[ $stderr == "dmu-certdb: "*"$DMU_CERTDB"* ]] || fail "stderr: $stderr"
	cmp before "$DMU_CERTDB"
	cmp history.before "$DMU_CERTDB.history"
	run ls -A full
	assert_output "certdb
certdb.history
certdb.lock
fill"
	# The reason given is the real one, not a generic I/O error.
	[[ $stderr == *"No space left on device"* ]] ||
	    fail "the message hides the reason (ENOSPC): $stderr"
}

@test "a symlinked database draws a warning from certdb, pin-check and get, and still works" {
	sim_up a -n 1
	mkdir real
	mv "$DMU_CERTDB" real/db
	ln -s real/db "$DMU_CERTDB"
	warn="warning: $DMU_CERTDB is a symbolic link"
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex a) "
	assert_equal "$stderr" "dmu-certdb: $warn"
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	assert_output "$DEV ok $(fpr_hex a)"
	assert_equal "$stderr" "dmu-pin-check: $warn"
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_success
	[[ $output == "{\"device\":\"$DEV\",\"serial\":"* ]] || fail "output: $output"
	assert_equal "$stderr" "dmu-get: $warn"
	# add follows the link: the link stays, its target gets the record.
	mkcert b ec
	run --separate-stderr dmu-certdb add -q <<<"$(record st2:443 b)"
	assert_success
	assert_equal "$stderr" "dmu-certdb: $warn"
	[ -L "$DMU_CERTDB" ] || fail "the symbolic link was replaced by a file"
	grep -q '^st2:443 ' real/db || fail "real/db has no st2:443"
}

@test "a dangling symlinked database: add creates the file the link names and keeps the link" {
	# dmu-certdb(5): "If FILE is a symbolic link, it is followed: the file
	# it names is the one locked and replaced."  Before the first add the
	# file it names may not exist yet (a link made ahead to a shared
	# place); replacing the link by a local file would leave every later
	# reader of the link's target without the record.
	mkcert a ec
	mkdir shared
	ln -s shared/certdb "$DMU_CERTDB"
	run --separate-stderr dmu-certdb add -q <<<"$(record st1:443 a)"
	assert_success
	assert_output ''
	assert_equal "$stderr" "dmu-certdb: warning: $DMU_CERTDB is a symbolic link"
	[ -L "$DMU_CERTDB" ] || fail "the symbolic link was replaced by a regular file"
	[ -f shared/certdb ] || fail "shared/certdb, which the link names, was not created"
	grep -q '^st1:443 ' shared/certdb || fail "shared/certdb has no st1:443"
}

@test "a database writable by others or the group draws a warning, still works, and add takes that write permission away" {
	sim_up a -n 1
	for mode in 666 620; do
		chmod "$mode" "$DMU_CERTDB"
		warn="warning: $DMU_CERTDB is writable by group or others"
		run --separate-stderr dmu-certdb list </dev/null
		assert_success
		assert_output --regexp "^$DEV $(fpr_hex a) "
		assert_equal "$stderr" "dmu-certdb: $warn"
		run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
		assert_success
		assert_output "$DEV ok $(fpr_hex a)"
		assert_equal "$stderr" "dmu-pin-check: $warn"
		run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
		assert_success
		[[ $output == "{\"device\":\"$DEV\",\"serial\":"* ]] || fail "output: $output"
		assert_equal "$stderr" "dmu-get: $warn"
		mkcert "b$mode" ec
		run --separate-stderr dmu-certdb add -q <<<"$(record "st$mode:443" "b$mode")"
		assert_success
		assert_equal "$stderr" "dmu-certdb: $warn"
		case $mode in
		666) assert_equal "$(stat -c %a "$DMU_CERTDB")" 644 ;;
		620) assert_equal "$(stat -c %a "$DMU_CERTDB")" 600 ;;
		esac
	done
}

# --- the API key -----------------------------------------------------------

@test "key: not in the command line nor the environment of a running dmu-get follow" {
	sim_up a -n 2
	bg f.out f.err dmu-get -t "$T" "$DEV" follow
	pid=$BG_PID
	# It is in the long poll once both reports are out.
	wait_until 5 file_has f.out '"serial":2' || fail "follow printed: $(cat f.out) $(cat f.err)"
	wait_log_wait() { grep -q 'wait?lastSerial=2' a.log; }
	wait_until 5 wait_log_wait || fail "no long poll: $(cat a.log)"
	mapfile -d '' args </proc/"$pid"/cmdline
	# Under qemu-user the process is the emulator, the program its operand.
	[[ ${DMU_VARIANT-} == qemu-* && ${args[0]} == *qemu-* ]] &&
	    args=("${args[@]:1}")
	[[ ${args[0]} == *dmu-get ]] || fail "not dmu-get: ${args[*]}"
	assert_equal "${args[*]:1}" "-t $T $DEV follow"
	for f in cmdline environ; do
		for s in "$ADV_KEY" "$ADV_KEY_B64"; do
			! grep -qaF -e "$s" /proc/"$pid"/$f ||
			    fail "the key ($s) is in /proc/$pid/$f"
		done
	done
	kill -0 "$pid" || fail "follow is gone: $(cat f.err)"
}

@test "key: never on stdout or stderr of dmu-get: success, 401, 503, malformed, cut, refused, mismatch, follow, bad key files" {
	sim_up a -n 3
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_success
	assert_output --partial '"serial":3'
	refute_key_in_output
	run --separate-stderr dmu-get -r -t "$T" "$DEV" list </dev/null
	assert_success
	assert_output --partial '"serial": 3'
	refute_key_in_output
	run --separate-stderr dmu-get -n 3 -t "$T" "$DEV" follow </dev/null
	assert_success
	assert_equal "${#lines[@]}" 3
	refute_key_in_output

	# A wrong key (the device says 401): neither key is shown.
	WRONG_KEY='DMUKEY-0badc0de:WRONG-5e6f'
	(umask 077 && printf '%s\n' "$WRONG_KEY" >wrongkey)
	run --separate-stderr dmu-get -k wrongkey -t "$T" "$DEV" latest </dev/null
	assert_failure 6
	assert_output ''
	assert_equal "$stderr" "dmu-get: $DEV: HTTP 401: Unauthorized
dmu-get: $DEV: the device refused the API key from key file wrongkey (-k); dmu sends it base64-encoded, so give it as the device shows it (NAME:SECRET), not encoded and without 'X-Api-Key:'"
	refute_key_in_output
	run --separate-stderr dmu-get -k wrongkey -t "$T" "$DEV" follow </dev/null
	assert_failure 6
	[[ $stderr == *"HTTP 401"* ]] || fail "follow 401: $stderr"
	[[ $stderr == *"$DEV: the device refused the API key from key file wrongkey (-k); dmu sends it base64-encoded"* ]] ||
	    fail "follow 401: $stderr"
	refute_key_in_output

	# A key file that others may read: the warning names the file only.
	chmod 644 apikey
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_success
	[[ $stderr == *"warning: key file $BATS_TEST_TMPDIR/apikey is open to group or others (mode 0644)"* ]] ||
	    fail "stderr: $stderr"
	refute_key_in_output
	chmod 600 apikey

	# A key too long to be sent: refused without echoing it.
	(umask 077 && printf '%s%0600d\n' "$ADV_KEY" 0 >longkey)
	run --separate-stderr dmu-get -k longkey -t "$T" "$DEV" latest </dev/null
	assert_failure 2
	[[ $stderr == "dmu-get: API key longer than "*" bytes" ]] || fail "stderr: $stderr"
	refute_key_in_output

	ctl "fail 1 503"
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_failure 6
	[[ $stderr == "dmu-get: $DEV: HTTP 503"* ]] || fail "503: $stderr"
	refute_key_in_output
	ctl "malformed 1"
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_failure 7
	[[ $stderr == "dmu-get: $DEV: "* ]] || fail "malformed: $stderr"
	refute_key_in_output
	ctl "cut 1"
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	[ "$status" -eq 5 ] || [ "$status" -eq 7 ] || fail "cut: exit $status: $stderr"
	[[ $stderr == "dmu-get: $DEV: "* ]] || fail "cut: $stderr"
	refute_key_in_output

	# Another certificate pinned: mismatch, nothing sent.
	mkcert other ec
	cp "$DMU_CERTDB" saved
	record "$DEV" other | dmu-certdb add -r 2>/dev/null
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_failure 4
	[[ $stderr == *"certificate mismatch"* ]] || fail "mismatch: $stderr"
	refute_key_in_output
	cp saved "$DMU_CERTDB"

	# The device gone: refused.
	stop_sims
	run --separate-stderr dmu-get -t "$T" "$DEV" latest </dev/null
	assert_failure 5
	[[ $stderr == "dmu-get: $DEV: "*"refused"* ]] || fail "refused: $stderr"
	refute_key_in_output
}

# core_of PID FILE: a core dump of the running process PID in FILE (gcore).
# Only for the plain programs: a wrapper script means a sanitizer or
# valgrind build, whose core would be of the tool (or terabytes of shadow).
core_of() {
	command -v gcore >/dev/null || skip "gcore (gdb) is not installed"
	# dmu-get holding a key is not dumpable (PR_SET_DUMPABLE 0): only root
	# (CAP_SYS_PTRACE) may look into it, as a packager's build user cannot.
	[ "$(id -u)" -eq 0 ] || skip "root only: dmu-get with a key is not dumpable"
	[ "$(head -c 2 "$DMU_BIN/dmu-get")" != '#!' ] ||
	    skip "$DMU_BIN/dmu-get is a wrapper (sanitizer, valgrind or qemu build)"
	gcore -o "$2.tmp" "$1" >/dev/null 2>&1 ||
	    fail "gcore could not dump pid $1"
	mv "$2.tmp.$1" "$2"
	[ -s "$2" ] || fail "empty core"
}

# assert_no_key_in FILE: grep -c finds neither the key nor its base64.
assert_no_key_in() {
	local s n
	for s in "$ADV_KEY" "$ADV_KEY_B64"; do
		n=$(grep -caF -e "$s" "$1") || true
		[ "$n" -eq 0 ] || fail "$1: the key ($s) is in it ($n)"
	done
}

# The core tests name the database and the key file by relative paths: the
# lengths of these names shape dmu-get's heap, and with short ones the
# memory once used to read the key file is not all reused by the time of
# the dump (with long absolute paths it happens to be).
@test "key: a core of dmu-get waiting in follow's long poll holds neither the key nor its base64" {
	sim_up a -n 2
	export DMU_CERTDB=certdb DMU_API_KEY_FILE=apikey
	bg f.out f.err dmu-get -t "$T" "$DEV" follow
	pid=$BG_PID
	wait_until 5 file_has f.out '"serial":2' || fail "follow printed: $(cat f.out) $(cat f.err)"
	wait_until 5 file_has a.log 'wait\?lastSerial=2' || fail "no long poll: $(cat a.log)"
	core_of "$pid" follow.core
	# The fixture: the core is of the right process (the device and the
	# reports it printed are in it).
	grep -qaF -e "$DEV" follow.core || fail "the core does not look like dmu-get's"
	assert_no_key_in follow.core
	# And it goes on working after the dump.
	ctl "gen 1"
	wait_until 5 file_has f.out '"serial":3' || fail "follow stopped: $(cat f.err)"
}

@test "key: a core of dmu-get waiting on a slow answer holds neither the key nor its base64" {
	sim_up a -n 2
	export DMU_CERTDB=certdb DMU_API_KEY_FILE=apikey
	ctl "slow 1 3000"
	bg g.out g.err dmu-get -t 5 "$DEV" latest
	pid=$BG_PID
	wait_until 5 file_has a.log '^request [0-9]+ GET ' || fail "no request: $(cat a.log)"
	core_of "$pid" slow.core
	grep -qaF -e "$DEV" slow.core || fail "the core does not look like dmu-get's"
	assert_no_key_in slow.core
	bg_wait "$pid" 8
	assert_equal "$BG_STATUS" 0
	[[ $(cat g.out) == "{\"device\":\"$DEV\",\"serial\":2,"* ]] || fail "output: $(cat g.out) $(cat g.err)"
}

@test "key: no piece of 8 bytes or more of the key or its base64 in a core of a waiting dmu-get" {
	sim_up a -n 2
	export DMU_CERTDB=certdb DMU_API_KEY_FILE=apikey
	bg f.out f.err dmu-get -t "$T" "$DEV" follow
	wait_until 5 file_has f.out '"serial":2' || fail "follow printed: $(cat f.out) $(cat f.err)"
	wait_until 5 file_has a.log 'wait\?lastSerial=2' || fail "no long poll: $(cat a.log)"
	core_of "$BG_PID" follow.core
	ctl "slow 1 3000"
	bg g.out g.err dmu-get -t 5 "$DEV" latest
	wait_until 5 file_has a.log '^request [0-9]+ GET .*/latest' || fail "no request: $(cat a.log)"
	core_of "$BG_PID" slow.core
	traces=
	for corefile in follow.core slow.core; do
		run key_traces "$corefile"
		assert_success
		[ -z "$output" ] || traces+=" $corefile: $(echo $output)"
	done
	[ -z "$traces" ] ||
	    fail "pieces of the key $ADV_KEY (base64 $ADV_KEY_B64) in cores of dmu-get:$traces"
}
