#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
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

# modes: the permission bits of the database's companions, one a line:
# database, lock, history.
modes() {
	stat -c %a "$DMU_CERTDB" "$(lockfile)" "$DMU_CERTDB.history"
}

@test "modes: the lock is open only to those the database's mode lets write it; a write takes group and other write away" {
	mkcert a ec
	mkcert b ec
	umask 000
	dmu-certdb add <<<"$(record st1:443 a)"
	run modes
	assert_output "$(printf '644\n600\n644')"
	# A lock file an older version made 0644 is closed again.
	chmod 644 "$(lockfile)"
	chmod 664 "$DMU_CERTDB"
	dmu-certdb add <<<"$(record st2:443 a)" 2>/dev/null
	# The lock was opened to the group, which could write the database;
	# the database is rewritten without that (a warning said so).
	run modes
	assert_output "$(printf '644\n660\n644')"
	dmu-certdb add <<<"$(record st3:443 a)"
	run modes
	assert_output "$(printf '644\n600\n644')"
	chmod 600 "$DMU_CERTDB"
	dmu-certdb remove st2:443
	run modes
	assert_output "$(printf '600\n600\n600')"
}

@test "modes: a 0600 database stays 0600 after add, import, remove and a mismatch; its lock, history and evidence too" {
	mkcert a ec
	mkcert b ec
	mkcert c ec
	umask 022
	(umask 077 && echo '# dmu-certdb 1' >"$DMU_CERTDB")
	for step in add import remove; do
		case $step in
		add) dmu-certdb add <<<"$(record st1:443 a)" ;;
		import) dmu-certdb import st2 <b.pem ;;
		remove) dmu-certdb remove st2 ;;
		esac
		run modes
		assert_output "$(printf '600\n600\n600')"
	done
	# Evidence kept beside it takes its mode, the evidence's lock too.
	pinned_sim a
	impostor_at "$SIM_PORT" c
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	run stat -c %a "$DMU_CERTDB" "$DMU_CERTDB.evidence" "$DMU_CERTDB.evidence.lock" "$DMU_CERTDB.history"
	assert_output "$(printf '600\n600\n600\n600')"
	# A group-readable database: the evidence as open, not its lock,
	# which only those who may write the evidence may open.
	chmod 640 "$DMU_CERTDB"
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	run stat -c %a "$DMU_CERTDB.evidence" "$DMU_CERTDB.evidence.lock"
	assert_output "$(printf '640\n600')"
}

@test "modes: root writing another user's 0600 database keeps it, its lock and its history theirs" {
	[ "$(id -u)" = 0 ] || skip "needs root"
	mkcert a ec
	(umask 077 && echo '# dmu-certdb 1' >"$DMU_CERTDB")
	chown nobody:nogroup "$DMU_CERTDB"
	dmu-certdb add <<<"$(record st1:443 a)"
	run stat -c '%a %U:%G' "$DMU_CERTDB" "$(lockfile)" "$DMU_CERTDB.history"
	assert_output "$(printf '600 nobody:nogroup\n600 nobody:nogroup\n600 nobody:nogroup')"
}

# as_nobody COMMAND...: COMMAND as user nobody, without root's groups.
as_nobody() {
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# open_dir: OPEN_DIR, a new directory (mode 0755) that user nobody can
# enter; the test is skipped where nobody cannot be become.
open_dir() {
	command -v setpriv >/dev/null || skip "setpriv is not installed"
	[ "$(id -u)" = 0 ] || skip "needs root to become nobody"
	OPEN_DIR=$(mktemp -d /tmp/dmu-lock.XXXXXX)
	chmod 755 "$OPEN_DIR"
}

@test "lock: a user who may not write the database cannot block its writers" {
	# A directory that nobody may enter and read, not write.
	open_dir
	mkcert a ec
	export DMU_CERTDB=$OPEN_DIR/certdb
	dmu-certdb add <<<"$(record st1:443 a)"
	run stat -c %a "$DMU_CERTDB"
	assert_output 644
	# nobody flocks whatever it can open of the database's files, and
	# says which in a file of its own.
	: >"$OPEN_DIR/held"
	chown nobody "$OPEN_DIR/held"
	as_nobody "$(PATH=/usr/bin:/bin command -v python3)" -c 'import fcntl, os, sys, time
held = []
for p in sys.argv[2:]:
    try:
        fd = os.open(p, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.append(p)
    except OSError as e:
        pass
open(sys.argv[1], "w").write("\n".join(held) + "\n")
time.sleep(60)' "$OPEN_DIR/held" "$(lockfile)" "$DMU_CERTDB" \
	    "$DMU_CERTDB.history" "$OPEN_DIR" &
	HOLDER=$!
	wait_until 10 test -s "$OPEN_DIR/held"
	run cat "$OPEN_DIR/held"
	refute_line "$(lockfile)"
	assert_line "$DMU_CERTDB"
	DMU_LOCK_TIMEOUT=1 run --separate-stderr dmu-certdb add <<<"$(record st2:443 a)"
	kill "$HOLDER"
	wait "$HOLDER" 2>/dev/null || :
	assert_success
	run --separate-stderr dmu-certdb get st2 </dev/null
	assert_success
}

@test "modes: root's first mismatch makes the evidence and its lock the database owner's, whose own mismatches are kept" {
	open_dir
	mkcert a ec
	mkcert b ec
	export DMU_CERTDB=$OPEN_DIR/certdb
	(umask 077 && echo '# dmu-certdb 1' >"$DMU_CERTDB")
	chown nobody:nogroup "$DMU_CERTDB"
	pinned_sim a
	impostor_at "$SIM_PORT" b
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	[[ $stderr != *"not kept"* ]] || fail "$stderr"
	run stat -c '%a %U:%G' "$DMU_CERTDB.evidence" "$DMU_CERTDB.evidence.lock"
	assert_output "$(printf '600 nobody:nogroup\n600 nobody:nogroup')"
	run --separate-stderr as_nobody "$DMU_BIN/dmu-pin-check" -t "$T" "$DEV" </dev/null
	assert_failure 4
	[[ $stderr != *"not kept"* ]] || fail "$stderr"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 2 "
}

@test "modes: a history more open than the database that the writer may not change refuses the change" {
	open_dir
	chown nobody "$OPEN_DIR"
	mkcert a ec
	db=$OPEN_DIR/certdb
	as_nobody dmu-certdb -f "$db" add <<<"$(record st1:443 a)"
	run stat -c '%a %U' "$db" "$db.history"
	assert_output "$(printf '644 nobody\n644 nobody')"
	# Root's copy of the history, open to all: nobody may not close it.
	cp "$db.history" h
	rm "$db.history"
	cp h "$db.history"
	chmod 666 "$db.history"
	cp "$db" before
	run --separate-stderr as_nobody dmu-certdb -f "$db" add <<<"$(record st2:443 a)"
	assert_failure 1
	assert_equal "$stderr" "dmu-certdb: cannot write $db.history: it is more open (0666) than the database (0644)"
	cmp before "$db"
	cmp h "$db.history"
}

# The helper's teardown, and then the directory a test made outside its own.
eval "helper_$(declare -f teardown)"
teardown() {
	[ -z "${HOLDER-}" ] || kill "$HOLDER" 2>/dev/null || :
	helper_teardown
	[ -z "${OPEN_DIR-}" ] || rm -rf "$OPEN_DIR"
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
	assert_line -n 3 --regexp "^st4:443 $(fpr_hex d) [0-9TZ:-]+ unverified $u CN=DMU801$"
	assert_line -n 4 "st5:443 $(fpr_hex a) 2024-01-02T03:04:05Z unknown - CN=DMU801"
	for pair in "$da fingerprint" "$db manifest" "$dc unverified" "st4 unverified"; do
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
	assert_equal "$stderr" "dmu-pin-check: $da: warning: pin $(fpr_colon a) is unverified: $(me) pinned it on $(dmu-certdb get "$da" | cut -d' ' -f3) and nobody compared its fingerprint (dmu-learn -y, or dmu-certdb import without -F)"
	echo 'DEMO:SECRET_KEY' >key
	chmod 600 key
	run --separate-stderr dmu-get -k key -t "$T" -w 1 "$da" wait </dev/null
	assert_success
	assert_equal "${#stderr_lines[@]}" 1
	[[ $stderr == "dmu-get: $da: warning: pin $(fpr_colon a) is unverified:"* ]] || fail "$stderr"
	run --separate-stderr dmu-get -k key -t "$T" -w 1 "$db" wait </dev/null
	assert_success
	assert_equal "$stderr" ''
}

# pem_of NAME: the certificate NAME.pem as dmu-certdb pem prints it.
pem_of() {
	openssl x509 -in "$1.pem"
}

@test "history: add, replace and remove are kept with their certificates, which pem and show export" {
	mkcert a ec
	mkcert b rsa
	u=$(me)
	dmu-certdb add <<<"$(record st1:443 a)"
	run --separate-stderr dmu-certdb add -r <<<"$(record st1:443 b)"
	assert_success
	run --separate-stderr dmu-certdb remove st1
	assert_success
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_failure 3
	run --separate-stderr dmu-certdb history </dev/null
	assert_success
	assert_equal "${#lines[@]}" 3
	t='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
	assert_line -n 0 --regexp "^$t add st1:443 $(fpr_hex a) unknown $u$"
	assert_line -n 1 --regexp "^$t replace st1:443 $(fpr_hex b) unknown $u $(fpr_hex a) unknown$"
	assert_line -n 2 --regexp "^$t remove st1:443 $(fpr_hex b) unknown $u$"
	# Both certificates the device had are still there.
	run --separate-stderr dmu-certdb pem st1 "$(fpr_hex a)" </dev/null
	assert_success
	assert_output "$(pem_of a)"
	run --separate-stderr dmu-certdb pem st1 "$(fpr_colon b)" </dev/null
	assert_success
	assert_output "$(pem_of b)"
	run --separate-stderr dmu-certdb show st1 "$(fpr_b64 b)" </dev/null
	assert_success
	assert_line --regexp '^key: +RSA 2048$'
	assert_line --regexp '^status: +in the history$'
	# openssl's line, as pasted, names a past certificate too.
	run --separate-stderr dmu-certdb pem st1 "$(openssl x509 -in a.pem -noout -fingerprint -sha256)" </dev/null
	assert_success
	assert_output "$(pem_of a)"
	run --separate-stderr dmu-certdb pem st1 "$(fpr_hex a | tr 0-9a-f 1-9a-f0)" </dev/null
	assert_failure 3
	run head -n 1 "$DMU_CERTDB.history"
	assert_output '# dmu-certdb-history 1'
	run --separate-stderr dmu-certdb history st2 st1:443 </dev/null
	assert_equal "${#lines[@]}" 3
	run --separate-stderr dmu-certdb history st2 </dev/null
	assert_success
	assert_output ''
}

@test "history: 40 parallel writers; every change is in the history, and the history and the database agree" {
	mkcert a ec
	mkcert b ec
	for i in $(seq 1 20); do record st$i:443 a; done | dmu-certdb add
	for i in $(seq 41 50); do record st$i:443 a; done | dmu-certdb add
	pids=()
	for i in $(seq 1 20); do
		dmu-certdb add -r <<<"$(record st$i:443 b)" 2>/dev/null &
		pids+=($!)
	done
	for i in $(seq 21 30); do
		dmu-certdb add <<<"$(record st$i:443 b)" 2>/dev/null &
		pids+=($!)
	done
	for i in $(seq 41 50); do
		dmu-certdb remove st$i 2>/dev/null &
		pids+=($!)
	done
	rc=0
	for p in "${pids[@]}"; do
		wait "$p" || rc=$?
	done
	[ "$rc" -eq 0 ] || fail "a writer failed ($rc)"
	run --separate-stderr dmu-certdb history </dev/null
	assert_success
	assert_equal "${#lines[@]}" 70
	assert_equal "$(grep -c ' replace ' <<<"$output")" 20
	assert_equal "$(grep -c ' remove ' <<<"$output")" 10
	assert_equal "$(grep -c ' add ' <<<"$output")" 40
	# Replaying the history gives the database.
	awk '{ if ($2 == "remove") delete pin[$3]; else pin[$3] = $4 }
	    END { for (d in pin) print d, pin[d] }' <<<"$output" | sort >replayed
	dmu-certdb list | cut -d' ' -f1,2 | sort >listed
	diff replayed listed
	assert_equal "$(wc -l <listed)" 30
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
}

@test "history: a corrupt line is FILE:LINE exit 7 for history, and blocks no program that reads pins" {
	mkcert a ec
	pinned_sim a
	dmu-certdb add <<<"$(record st1:443 a)"
	echo 'garbage line' >>"$DMU_CERTDB.history"
	run --separate-stderr dmu-certdb history </dev/null
	assert_failure 7
	assert_equal "$stderr" "dmu-certdb: $DMU_CERTDB.history:4: expected 7 or 10 fields separated by single spaces"
	# Nothing of a file with a bad line is printed, not the good lines.
	assert_output ''
	run --separate-stderr dmu-certdb history "$DEV" </dev/null
	assert_failure 7
	assert_output ''
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	run --separate-stderr dmu-certdb list </dev/null
	assert_success
	run --separate-stderr dmu-certdb get st1 </dev/null
	assert_success
	run --separate-stderr dmu-certdb check </dev/null
	assert_success
	# Writers only append.
	run --separate-stderr dmu-certdb remove st1
	assert_success
	run tail -n 1 "$DMU_CERTDB.history"
	assert_output --regexp " remove st1:443 $(fpr_hex a) "
}

@test "history: a bad line after the certificate asked for: pem and show exit 7, print nothing, leak nothing" {
	mkcert a ec
	mkcert b ec
	dmu-certdb add <<<"$(record st1:443 a)"
	dmu-certdb add -r <<<"$(record st1:443 b)" 2>/dev/null
	dmu-certdb remove st1:443
	run --separate-stderr dmu-certdb pem st1 "$(fpr_hex a)" </dev/null
	assert_success
	assert_output "$(pem_of a)"
	echo 'garbage line' >>"$DMU_CERTDB.history"
	# The certificate is found on line 2, the bad line is 5: the copy
	# made of it is freed (the ASan build's leak check says so).
	for cmd in pem show; do
		run --separate-stderr dmu-certdb "$cmd" st1 "$(fpr_hex a)" </dev/null
		assert_failure 7
		assert_output ''
		assert_equal "$stderr" "dmu-certdb: $DMU_CERTDB.history:5: expected 7 or 10 fields separated by single spaces"
	done
}

@test "history: a piece of a line that a killed writer left is not read, and is cut at the next change" {
	mkcert a ec
	dmu-certdb add <<<"$(record st1:443 a)"
	printf '2026-01-01T00:00:00Z add st9:443 abc' >>"$DMU_CERTDB.history"
	# Until then it is not read: it may be a line being appended.
	run --separate-stderr dmu-certdb history </dev/null
	assert_success
	assert_equal "${#lines[@]}" 1
	refute_output --partial st9
	dmu-certdb add <<<"$(record st2:443 a)"
	run --separate-stderr dmu-certdb history </dev/null
	assert_success
	assert_equal "${#lines[@]}" 2
	refute_output --partial st9
}

# pinned_sim NAME: a simulator serving NAME, pinned with dmu-learn -F;
# sets DEV.
pinned_sim() {
	start_sim "$1"
	DEV=127.0.0.1:$SIM_PORT
	dmu-learn -F "$(fpr_hex "$1")" -t "$T" "$DEV" </dev/null 2>/dev/null |
	    dmu-certdb add
}

# impostor_at PORT NAME [KEYNAME]: the device's port now served by a
# simulator with NAME.pem and the key of KEYNAME (default NAME).
impostor_at() {
	stop_sims
	[ "${3:-$2}" = "$2" ] || cp "$3.key" "$2.key"
	start_sim "$2" -p "$1"
}

# seen_once: device DEV pinned to a.pem, then served b.pem by an impostor
# whom one pin-check met (exit 4): b is in the evidence.
seen_once() {
	mkcert a ec
	mkcert b ec
	pinned_sim a
	impostor_at "$SIM_PORT" b
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
}

@test "evidence: a pin-check mismatch keeps what was presented; seen, show and pem tell it; add -r clears it" {
	mkcert a ec
	mkcert b ec
	pinned_sim a
	port=$SIM_PORT
	impostor_at "$port" b
	for n in 1 2 3; do
		run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
		assert_failure 4
	done
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	t='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z'
	assert_output --regexp "^$DEV $(fpr_hex b) $t $t 3 127\.0\.0\.1:$port certificate$"
	head -n 1 "$DMU_CERTDB.evidence" | grep -qx '# dmu-evidence 1'
	run --separate-stderr dmu-certdb show "$DEV" "$(fpr_hex b)" </dev/null
	assert_success
	assert_line --regexp '^subject: +CN=DMU801$'
	assert_line --regexp '^status: +seen$'
	run --separate-stderr dmu-certdb pem "$DEV" "$(fpr_hex b)" </dev/null
	assert_output "$(pem_of b)"
	# The person checked the device: re-learned with its fingerprint.
	dmu-learn -F "$(fpr_hex b)" -t "$T" "$DEV" </dev/null | dmu-certdb add -r
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	assert_output ''
	run --separate-stderr dmu-certdb history "$DEV" </dev/null
	assert_line -n 1 --regexp "^$t replace $DEV $(fpr_hex b) fingerprint $(me) $(fpr_hex a) fingerprint$"
}

@test "evidence: a bad line: seen, show and pem print nothing and exit 7, and leak nothing" {
	seen_once
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	assert_output --partial "$(fpr_hex b)"
	echo 'garbage line' >>"$DMU_CERTDB.evidence"
	run --separate-stderr dmu-certdb seen </dev/null
	assert_failure 7
	assert_output ''
	assert_equal "$stderr" "dmu-certdb: $DMU_CERTDB.evidence:3: expected 8 fields separated by single spaces"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_failure 7
	assert_output ''
	# The certificate is on the line before the bad one: its copy is
	# freed (the ASan build's leak check says so).
	for cmd in pem show; do
		run --separate-stderr dmu-certdb "$cmd" "$DEV" "$(fpr_hex b)" </dev/null
		assert_failure 7
		assert_output ''
	done
}

@test "evidence: pem of a seen certificate piped to import -r makes no pin; import -F with its fingerprint does, and clears it" {
	seen_once
	cp "$DMU_CERTDB" before
	dmu-certdb pem "$DEV" "$(fpr_hex b)" >seen.pem
	for opts in "-r" "" ; do
		run --separate-stderr dmu-certdb import $opts "$DEV" <seen.pem
		assert_failure 4
		assert_equal "$stderr" "dmu-certdb: $DEV: refused: certificate $(fpr_colon b) was presented in a mismatch (dmu-certdb seen); after checking the device, import it with -F and its fingerprint"
	done
	# Also for another device name: the evidence is per device, so that
	# one is a plain unverified import.
	cmp before "$DMU_CERTDB"
	# A fingerprint that is not the certificate's: 4, nothing stored.
	run --separate-stderr dmu-certdb import -r -F "$(fpr_hex a)" "$DEV" <seen.pem
	assert_failure 4
	assert_equal "$stderr" "dmu-certdb: $DEV: the certificate on stdin has fingerprint $(fpr_colon b), not the one given with -F; nothing was stored"
	cmp before "$DMU_CERTDB"
	# The person read the fingerprint off the device.
	run --separate-stderr dmu-certdb import -r -F "$(fpr_colon b)" "$DEV" <seen.pem
	assert_success
	run --separate-stderr dmu-certdb list </dev/null
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ fingerprint $(me) CN=DMU801$"
	run --separate-stderr dmu-certdb seen </dev/null
	assert_success
	assert_output ''
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_success
	assert_equal "$stderr" ''
}

@test "evidence: import without -F cannot tell from a bad evidence file: it refuses (exit 7); -F still imports" {
	mkcert a ec
	dmu-certdb import st1 <a.pem
	echo 'garbage line' >>"$DMU_CERTDB.evidence"
	mkcert b ec
	run --separate-stderr dmu-certdb import st2 <b.pem
	assert_failure 7
	assert_equal "$stderr" "dmu-certdb: $DMU_CERTDB.evidence:1: not dmu evidence (the first line must be '# dmu-evidence 1') (without -F, import must know the certificate was not presented in a mismatch)"
	run --separate-stderr dmu-certdb import -F "$(fpr_hex b)" st2 <b.pem
	assert_success
}

@test "import: without -F the pin is unverified, which pin-check and dmu-get warn about; -F makes it fingerprint" {
	mkcert a ec
	mkcert b ec
	start_sim a
	da=127.0.0.1:$SIM_PORT
	dmu-certdb import "$da" <a.pem
	run --separate-stderr dmu-certdb get "$da" </dev/null
	assert_output --regexp "^$da $(fpr_hex a) [^ ]+ unverified $(me) "
	run --separate-stderr dmu-certdb inventory "$da" </dev/null
	assert_output --partial '"authorized":"unverified"'
	run --separate-stderr dmu-pin-check -t "$T" "$da" </dev/null
	assert_success
	assert_equal "$stderr" "dmu-pin-check: $da: warning: pin $(fpr_colon a) is unverified: $(me) pinned it on $(dmu-certdb get "$da" | cut -d' ' -f3) and nobody compared its fingerprint (dmu-learn -y, or dmu-certdb import without -F)"
	echo 'DEMO:SECRET_KEY' >key
	chmod 600 key
	run --separate-stderr dmu-get -k key -t "$T" -w 1 "$da" wait </dev/null
	assert_success
	[[ $stderr == "dmu-get: $da: warning: pin $(fpr_colon a) is unverified:"* ]] || fail "$stderr"
	# With the fingerprint (any form dmu-learn -F takes) it is checked.
	for f in "$(fpr_hex a)" "$(fpr_colon a)" "$(fpr_b64 a)"; do
		dmu-certdb remove "$da"
		run --separate-stderr dmu-certdb import -F "$f" "$da" <a.pem
		assert_success
		run --separate-stderr dmu-certdb get "$da" </dev/null
		assert_output --regexp "^$da $(fpr_hex a) [^ ]+ fingerprint "
	done
	run --separate-stderr dmu-pin-check -t "$T" "$da" </dev/null
	assert_success
	assert_equal "$stderr" ''
	run --separate-stderr dmu-certdb import -F nothex "$da" <a.pem
	assert_failure 2
}

@test "evidence: a dmu-get mismatch, a follow mismatch and a replayed certificate are kept" {
	mkcert a ec
	mkcert b ec
	mkcert x ec
	echo 'DEMO:SECRET_KEY' >key
	chmod 600 key
	pinned_sim a
	port=$SIM_PORT
	impostor_at "$port" b
	run --separate-stderr dmu-get -k key -t "$T" "$DEV" latest </dev/null
	assert_failure 4
	run --separate-stderr timeout 10 dmu-get -k key -t "$T" -w 1 "$DEV" follow </dev/null
	assert_failure 4
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_output --regexp "^$DEV $(fpr_hex b) [^ ]+ [^ ]+ 2 127\.0\.0\.1:$port certificate$"
	# The pinned certificate replayed with another key.
	cp a.pem imp.pem
	impostor_at "$port" imp x
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	run --separate-stderr timeout 10 dmu-get -k key -t "$T" -w 1 "$DEV" follow </dev/null
	assert_failure 4
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 2
	assert_line -n 1 --regexp "^$DEV $(fpr_hex a) [^ ]+ [^ ]+ 2 127\.0\.0\.1:$port key-proof-failed$"
	refute_key_in "$DMU_CERTDB.evidence"
}

# refute_key_in FILE: the API key is not in FILE, plain or base64.
refute_key_in() {
	! grep -q 'SECRET_KEY' "$1" || fail "the key is in $1"
	! grep -q "$(printf %s 'DEMO:SECRET_KEY' | base64)" "$1" || fail "the key is in $1"
}

@test "evidence: bounded at 16 certificates a device, the one seen longest ago dropped" {
	mkcert a ec
	mkcert b ec
	pinned_sim a
	port=$SIM_PORT
	c=$(openssl x509 -in a.pem -outform DER | base64 -w0)
	{
		echo '# dmu-evidence 1'
		for i in $(seq 10 25); do
			h=$(printf '%064x' "$i")
			echo "$DEV $h 2020-01-$i""T00:00:00Z 2020-01-$i""T00:00:00Z 1 - certificate $c"
		done
		echo "st9:443 $(printf '%064x' 9) 2019-01-01T00:00:00Z 2019-01-01T00:00:00Z 1 - certificate $c"
	} >"$DMU_CERTDB.evidence"
	impostor_at "$port" b
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 16
	refute_output --partial "$(printf '%064x' 10) "
	assert_output --partial "$(printf '%064x' 11) "
	assert_line -n 15 --regexp "^$DEV $(fpr_hex b) "
	# Other devices keep theirs.
	run --separate-stderr dmu-certdb seen st9 </dev/null
	assert_equal "${#lines[@]}" 1
}

@test "evidence: a failure to keep it is one warning; the exit status stays 4 and nothing is sent" {
	mkcert a ec
	mkcert b ec
	pinned_sim a
	port=$SIM_PORT
	impostor_at "$port" b
	mkdir "$DMU_CERTDB.evidence.lock"	# not a file: the lock fails
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	# The mismatch, the safe step, and the one warning.
	assert_equal "${#stderr_lines[@]}" 3
	[[ ${stderr_lines[1]} == "dmu-pin-check: $DEV: look first: "* ]] || fail "stderr: $stderr"
	[[ ${stderr_lines[2]} == "dmu-pin-check: $DEV: warning: what it presented was not kept: cannot lock $DMU_CERTDB.evidence.lock: "* ]] ||
	    fail "stderr: $stderr"
	echo 'DEMO:SECRET_KEY' >key
	chmod 600 key
	run --separate-stderr dmu-get -k key -t "$T" "$DEV" latest </dev/null
	assert_failure 4
	[[ $stderr == *"warning: what it presented was not kept"* ]] || fail "$stderr"
	# A corrupt evidence file is not read by an append (its cost does
	# not grow with the file), nor replaced; seen names the bad line.
	rmdir "$DMU_CERTDB.evidence.lock"
	printf '# dmu-evidence 1\nbroken\n' >"$DMU_CERTDB.evidence"
	run --separate-stderr dmu-pin-check -t "$T" "$DEV" </dev/null
	assert_failure 4
	assert_equal "${#stderr_lines[@]}" 2	# the mismatch and what to do
	[[ $stderr != *"not kept"* ]] || fail "$stderr"
	sed -n 2p "$DMU_CERTDB.evidence" | grep -qx broken
	run --separate-stderr dmu-certdb seen </dev/null
	assert_failure 7
	assert_output ''
	[[ $stderr == *"$DMU_CERTDB.evidence:2: expected 8 fields"* ]] || fail "$stderr"
	sim_log_settled b
	run grep -c '^request ' b.log
	assert_output 0
}

@test "dmu(7) SECURITY CONSIDERATIONS: every test it names exists" {
	sec=$(sed -n '/^\.Sh SECURITY CONSIDERATIONS/,/^\.Sh /p' "$DMU_REPO/man/dmu.7")
	[ -n "$sec" ] || fail "no SECURITY CONSIDERATIONS in dmu(7)"
	names=$(cat "$DMU_TEST_DIR"/[0-9][0-9]-*.bats | sed -n 's/^@test "\(.*\)" {$/\1/p')
	n=0
	while IFS= read -r t; do
		grep -qxF -- "$t" <<<"$names" || fail "dmu(7) names no such test: '$t'"
		n=$((n + 1))
	done < <(sed -n 's/^\.\(Pq \)\{0,1\}Dq //p' <<<"$sec" | sed 's/ [.,;]$//')
	[ "$n" -ge 18 ] || fail "only $n tests named"
}
