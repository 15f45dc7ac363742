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
