#!/usr/bin/env bats
# The trust lifecycle: the database lock, provenance, history, evidence.

load helper

# The lock file of the test database.
lockfile() {
	printf '%s.lock\n' "$(realpath -m "$DMU_CERTDB")"
}

# hold_lock FILE: a process that holds an exclusive flock(2) on FILE until
# killed; sets HOLDER to its pid and returns once the lock is held.
hold_lock() {
	rm -f held
	python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open("held", "w").close()
time.sleep(60)' "$1" &
	HOLDER=$!
	for ((i = 0; i < 500; i++)); do
		[ -e held ] && return 0
		sleep 0.01
	done
	fail "hold_lock: the lock was not taken"
}

@test "lock: an add whose stdin is still open (dmu-learn at its prompt) holds no lock" {
	mkcert a ec
	mkcert b ec
	mkfifo pipe
	# A writer whose input is still being typed: the fifo stays open.
	dmu-certdb add <pipe 2>slow.err &
	slow=$!
	exec 5>pipe
	record st1:443 a >&5
	# Meanwhile another writer completes at once.
	DMU_LOCK_TIMEOUT=5 run --separate-stderr dmu-certdb add <<<"$(record st2:443 b)"
	assert_success
	run --separate-stderr dmu-certdb get st2:443 </dev/null
	assert_success
	# The first writer's input ends; it merges into the current file.
	exec 5>&-
	wait "$slow" || fail "the slow add failed: $(cat slow.err)"
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_line -n 0 --regexp "^st2:443 $(fpr_hex b) "
	assert_line -n 1 --regexp "^st1:443 $(fpr_hex a) "
	assert_equal "${#lines[@]}" 2
}

@test "lock: a lock held by another writer times out with the lock file named, exit 1" {
	mkcert a ec
	dmu-certdb add <<<"$(record st1:443 a)"
	cp "$DMU_CERTDB" before
	lk=$(lockfile)
	hold_lock "$lk"
	t0=$(now_ms)
	DMU_LOCK_TIMEOUT=1 run --separate-stderr dmu-certdb add <<<"$(record st2:443 a)"
	t1=$(now_ms)
	kill "$HOLDER"
	wait "$HOLDER" 2>/dev/null || :
	assert_failure 1
	assert_equal "$stderr" "dmu-certdb: cannot lock $lk: another writer has held it for 1 s (DMU_LOCK_TIMEOUT)"
	[ $((t1 - t0)) -ge 900 ] || fail "gave up after $((t1 - t0)) ms"
	[ $((t1 - t0)) -lt $((4000 * SLOW)) ] || fail "waited $((t1 - t0)) ms"
	cmp before "$DMU_CERTDB"
	DMU_LOCK_TIMEOUT=1 run --separate-stderr dmu-certdb remove st1:443
	assert_success
}

@test "lock: a symbolic link planted at FILE.lock is refused, its target untouched" {
	mkcert a ec
	dmu-certdb add <<<"$(record st1:443 a)"
	cp "$DMU_CERTDB" before
	lk=$(lockfile)
	rm -f "$lk"
	echo precious >target
	ln -s "$BATS_TEST_TMPDIR/target" "$lk"
	ln -s "$BATS_TEST_TMPDIR/absent" "$lk.x"
	for cmd in "add" "add -r" "remove st1:443"; do
		run --separate-stderr dmu-certdb $cmd <<<"$(record st2:443 a)"
		assert_failure 1
		assert_equal "$stderr" "dmu-certdb: cannot lock $lk: it is a symbolic link (refused)"
	done
	run --separate-stderr dmu-certdb import st3 <a.pem
	assert_failure 1
	assert_equal "$(cat target)" precious
	cmp before "$DMU_CERTDB"
	# A dangling link is not followed either: nothing is created.
	rm "$lk"
	ln -s "$BATS_TEST_TMPDIR/absent" "$lk"
	run --separate-stderr dmu-certdb add <<<"$(record st2:443 a)"
	assert_failure 1
	[ ! -e absent ] || fail "the link was followed"
	# Readers take no lock and keep working.
	run --separate-stderr dmu-certdb get st1:443 </dev/null
	assert_success
}

@test "lock: the lock file is created 0644 (less by the umask) and kept" {
	mkcert a ec
	umask 022
	dmu-certdb add <<<"$(record st1:443 a)"
	run stat -c %a "$(lockfile)"
	assert_output 644
	dmu-certdb remove st1:443
	run stat -c %a "$(lockfile)"
	assert_output 644
}

# The user name that records carry.
me() {
	local u
	u=$(id -un 2>/dev/null) && [[ $u =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,31}$ ]] ||
	    u=$(id -u)
	printf '%s\n' "$u"
}

@test "provenance: fingerprint, manifest, unverified and unknown travel through the pipe, show, list, and a copy" {
	mkcert a ec
	mkcert b ec
	mkcert c ec
	mkcert d rsa
	start_sim a
	da=127.0.0.1:$SIM_PORT
	start_sim b
	db=127.0.0.1:$SIM_PORT
	start_sim c
	dc=127.0.0.1:$SIM_PORT
	u=$(me)
	dmu-learn -F "$(fpr_colon a)" -t "$T" "$da" </dev/null | dmu-certdb add
	printf '%s %s\n' "$db" "$(fpr_hex b)" | dmu-learn -t "$T" | dmu-certdb add
	dmu-learn -y -t "$T" "$dc" </dev/null | dmu-certdb add
	dmu-certdb import st4 <d.pem
	dmu-certdb add <<<"$(record st5:443 a 2024-01-02T03:04:05Z)"
	head -n 1 "$DMU_CERTDB" | grep -qx '# dmu-certdb 2'
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	assert_line -n 0 --regexp "^$da $(fpr_hex a) [0-9TZ:-]+ fingerprint $u CN=DMU801$"
	assert_line -n 1 --regexp "^$db $(fpr_hex b) [0-9TZ:-]+ manifest $u CN=DMU801$"
	assert_line -n 2 --regexp "^$dc $(fpr_hex c) [0-9TZ:-]+ unverified $u CN=DMU801$"
	assert_line -n 3 --regexp "^st4:443 $(fpr_hex d) [0-9TZ:-]+ unknown $u CN=DMU801$"
	assert_line -n 4 "st5:443 $(fpr_hex a) 2024-01-02T03:04:05Z unknown - CN=DMU801"
	for pair in "$da fingerprint" "$db manifest" "$dc unverified" "st4 unknown"; do
		run --separate-stderr dmu-certdb show ${pair% *} </dev/null
		assert_success
		assert_line "provenance: ${pair#* }"
		assert_line --regexp "^user: +$u$"
	done
	run --separate-stderr dmu-certdb show st5 </dev/null
	assert_line "provenance: unknown"
	refute_line --regexp '^user:'
	# get prints the record as stored; a second database keeps it all.
	run --separate-stderr dmu-certdb get "$da" "$db" "$dc" st4 st5 </dev/null
	assert_success
	assert_line -n 0 --regexp "^$da $(fpr_hex a) [0-9TZ:-]+ fingerprint $u [A-Za-z0-9+/=]+$"
	assert_line -n 4 "$(record st5:443 a 2024-01-02T03:04:05Z)"
	dmu-certdb get "$da" "$db" "$dc" st4 st5 | dmu-certdb -f second add
	diff <(dmu-certdb list) <(dmu-certdb -f second list)
	diff <(grep -v '^#' "$DMU_CERTDB") <(grep -v '^#' second)
}

@test "provenance: a format-1 database is read, and an add keeps every old line byte for byte" {
	mkcert a ec
	mkcert b ec
	start_sim b
	dev=127.0.0.1:$SIM_PORT
	{
		echo '# dmu-certdb 1'
		echo '# site Kumpula'
		record st1:443 a 2020-01-01T00:00:00Z
		echo
		record 127.0.0.1:1 a 2021-01-01T00:00:00Z
	} >"$DMU_CERTDB"
	cp "$DMU_CERTDB" v1
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_success
	assert_output "$(record st1:443 a 2020-01-01T00:00:00Z)"
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
	# A record without provenance keeps the file in format 1.
	dmu-certdb add <<<"$(record st2:443 a 2022-01-01T00:00:00Z)"
	{ cat v1; record st2:443 a 2022-01-01T00:00:00Z; } | cmp - "$DMU_CERTDB"
	# A record with provenance makes it format 2; the old lines stay.
	dmu-learn -F "$(fpr_hex b)" -t "$T" "$dev" </dev/null | dmu-certdb add
	head -n 1 "$DMU_CERTDB" | grep -qx '# dmu-certdb 2'
	{ tail -n +2 v1; record st2:443 a 2022-01-01T00:00:00Z; } >want
	head -n 6 "$DMU_CERTDB" | tail -n +2 | cmp - want
	run --separate-stderr dmu-pin-check -t "$T" "$dev" </dev/null
	assert_success
	# Removing it again goes back to format 1, byte for byte.
	dmu-certdb remove "$dev"
	{ cat v1; record st2:443 a 2022-01-01T00:00:00Z; } | cmp - "$DMU_CERTDB"
}

@test "provenance: the format is strict (a 6-field line in a format-1 file, bad words, bad users)" {
	mkcert a ec
	rec=$(record st1:443 a)
	set -- $rec
	six="$1 $2 $3 fingerprint alice $4"
	{ echo '# dmu-certdb 1'; echo "$six"; } >"$DMU_CERTDB"
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_failure 7
	[[ $stderr == *":2: a record with provenance in a format-1 file"* ]] || fail "$stderr"
	{ echo '# dmu-certdb 2'; echo "$six"; } >"$DMU_CERTDB"
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_success
	assert_output "$six"
	rm "$DMU_CERTDB"
	for bad in "$1 $2 $3 trusted alice $4" "$1 $2 $3 fingerprint .alice $4" \
	    "$1 $2 $3 fingerprint al/ice $4" "$1 $2 $3 fingerprint $4" \
	    "$1 $2 $3 fingerprint alice x $4" \
	    "$1 $2 $3 fingerprint $(printf 'u%.0s' {1..33}) $4"; do
		run --separate-stderr dmu-certdb add <<<"$bad"
		assert_failure 7
		[[ $stderr == *"stdin:1:"* ]] || fail "$stderr"
	done
	[ ! -e "$DMU_CERTDB" ]
}

@test "provenance: pin-check and dmu-get warn once per device per run about an unverified pin" {
	mkcert a ec
	mkcert b ec
	start_sim a
	da=127.0.0.1:$SIM_PORT
	start_sim b
	db=127.0.0.1:$SIM_PORT
	dmu-learn -y -t "$T" "$da" </dev/null | dmu-certdb add
	dmu-learn -F "$(fpr_hex b)" -t "$T" "$db" </dev/null | dmu-certdb add
	run --separate-stderr dmu-pin-check -j 2 -t "$T" "$da" "$db" "$da" "$db" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 4
	assert_equal "${#stderr_lines[@]}" 1
	assert_equal "$stderr" "dmu-pin-check: $da: warning: pin $(fpr_hex a) is unverified: $(me) accepted it with dmu-learn -y on $(dmu-certdb get "$da" | cut -d' ' -f3) and nobody compared its fingerprint"
	echo 'DEMO:SECRET_KEY' >key
	chmod 600 key
	run --separate-stderr dmu-get -k key -t "$T" -w 1 "$da" wait </dev/null
	assert_success
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "dmu-get: $da: warning: pin $(fpr_hex a) is unverified:"* ]] || fail "$stderr"
	run --separate-stderr dmu-get -k key -t "$T" -w 1 "$db" wait </dev/null
	assert_success
	assert_equal "$stderr" ''
}
