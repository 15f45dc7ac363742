#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Promises kept under hostile conditions: an impostor replaying the pinned
# certificate is a mismatch, exit 5 says which kind of failure, the trust
# prompt ignores type-ahead, no argument forges an output line, one device
# has one name, a stalled reader cannot keep SIGTERM out, deadlines hold
# for names with several addresses, and the key and deletions are kept as
# dmu-get(1) says.

load helper-get

# impostor NAME: a simulator that serves a.pem (the pinned certificate)
# with another key of type ${2:-ec}; DEV is pinned to a.pem.
impostor() {
	mkcert x "${2:-ec}"
	cp a.pem "$1.pem"
	cp x.key "$1.key"
	start_sim "$1"
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem 2>/dev/null ||
	    fail "impostor: cannot pin $DEV"
}

# assert_nothing_sent NAME: NAME.log shows no request and no application
# byte on any connection.
assert_nothing_sent() {
	sim_log_settled "$1" || true
	if grep -q '^request ' "$1.log"; then
		fail "a request was sent: $(cat "$1.log")"
	fi
	if grep '^rxbytes ' "$1.log" | grep -qv ' 0$'; then
		fail "application data was sent: $(cat "$1.log")"
	fi
}

@test "promise 1: dmu-get to an impostor replaying the pinned certificate exits 4 and sends nothing" {
	mkcert a ec
	impostor imp
	run --separate-stderr dmu-get -t "$T" "$DEV" latest
	assert_failure 4
	assert_output ''
	[[ $stderr == *"$DEV: CERTIFICATE MISMATCH"*"$(fpr_colon a)"*"could not prove"*"look first: dmu-certdb seen $DEV;"* ]] ||
	    fail "stderr: $stderr"
	assert_nothing_sent imp
}

@test "promise 1: follow exits 4 at once on a replayed certificate and never backs off" {
	mkcert a ec
	impostor imp
	t0=$(now_ms)
	run --separate-stderr timeout 20 dmu-get -t "$T" -s st "$DEV" follow
	ms=$(elapsed_ms "$t0")
	assert_failure 4
	[[ $stderr != *"trying again"* ]] || fail "it backed off: $stderr"
	[[ $stderr == *"could not prove"* ]] || fail "stderr: $stderr"
	[ "$ms" -lt $((2000 * SLOW)) ] || fail "took $ms ms: retried?"
	[ ! -e st ] || fail "a state file was written"
	assert_nothing_sent imp
}

@test "promise 1: an RSA device's certificate replayed with another RSA key is key-proof-failed (4) too" {
	mkcert a rsa
	impostor imp rsa
	run --separate-stderr dmu-pin-check -t "$T" "$DEV"
	assert_failure 4
	assert_output "$DEV mismatch key-proof-failed $(fpr_hex a)"
	assert_nothing_sent imp
}

@test "promise 1: dmu-learn -y refuses a certificate whose key the device cannot prove (4), no record" {
	mkcert a ec
	impostor imp
	run --separate-stderr dmu-learn -y -t "$T" "$DEV"
	assert_failure 4
	assert_output ''
	[[ $stderr == *"could not prove"*"not learned"* ]] || fail "stderr: $stderr"
}

@test "promise 2: dmu-get tells a network failure from a device it can never reach" {
	mkcert a ec
	port=$(free_port)
	dmu-certdb import "127.0.0.1:$port" <a.pem
	run --separate-stderr dmu-get -t "$T" "127.0.0.1:$port" latest
	assert_failure 5
	[[ $stderr == *"cannot connect: Connection refused"* ]] || fail "stderr: $stderr"
	[[ $stderr != *"never"* ]] || fail "stderr: $stderr"
	mkcert r rsa
	start_sim r -V tls10
	dmu-certdb import "127.0.0.1:$SIM_PORT" <r.pem
	run --separate-stderr dmu-get -t "$T" "127.0.0.1:$SIM_PORT" latest
	assert_failure 5
	[[ $stderr == *"does not speak TLS 1.2"*"will never reach it"* ]] ||
	    fail "stderr: $stderr"
}

@test "promise 3: a yes typed before the trust prompt authorizes nothing" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	# yes typed ahead, no at the prompt: not learned.
	run "$DMU_TEST_DIR/pty-answer" -a yes "dmu-learn -t $T $dev >out 2>err" no
	assert_failure 1
	[ ! -s out ] || fail "learned: $(cat out)"
	grep -q "not authorized" err || fail "stderr: $(cat err)"
	# no typed ahead, yes at the prompt: learned.
	run "$DMU_TEST_DIR/pty-answer" -a no "dmu-learn -t $T $dev >out 2>err" yes
	assert_success
	grep -q "^$dev $(fpr_hex a) " out || fail "not learned: $(cat out) $(cat err)"
}

@test "promise 5: no argument or input line forges an output line" {
	mkcert a ec
	start_sim a
	dev=127.0.0.1:$SIM_PORT
	record "$dev" a | dmu-certdb add
	forged=$(printf 'x\n%s ok %s' "$dev" "$(fpr_hex a)")
	run --separate-stderr dmu-pin-check -t "$T" "$forged"
	assert_failure 7
	assert_equal "${#lines[@]}" 1
	assert_output "x\\012127.0.0.1:$SIM_PORT\\040ok\\040$(fpr_hex a) error invalid device"
	# On stdin, a control character inside a device is escaped too.
	run --separate-stderr dmu-pin-check -t "$T" < <(printf 'x\033[2J%s\n' "$dev")
	assert_failure 7
	assert_output "x\\033[2J$dev error invalid device"
	# The other programs print nothing on stdout for such a device.
	for p in "dmu-learn -y" "dmu-certdb get" "dmu-certdb show" \
	    "dmu-certdb pem" "dmu-certdb pin" "dmu-get"; do
		run --separate-stderr $p "$forged"
		assert_failure 2
		assert_output ''
		[[ $stderr != *$'\n'*$'\n'* ]] || fail "$p: more than one line: $stderr"
	done
}

@test "promise 6: IPv4 addresses in other spellings are refused (2) with the dotted quad to write" {
	local d
	: >"$DMU_CERTDB"
	for d in 127.1 0x7f.1 0x7f.0.0.1 2130706433 0177.0.0.1 127.000.000.001; do
		run --separate-stderr dmu-get "$d"
		assert_failure 2
		[[ $stderr == *"write the IPv4 address as a dotted quad: 127.0.0.1"* ]] ||
		    fail "$d: $stderr"
		run --separate-stderr dmu-learn -y "$d:443"
		assert_failure 2
		run --separate-stderr dmu-certdb get "https://$d/"
		assert_failure 2
		run --separate-stderr dmu-pin-check "$d"
		assert_failure 7
		assert_output "$d error invalid device"
	done
	run --separate-stderr dmu-get 1.2.3.4.5
	assert_failure 2
	[[ $stderr == *"last label of a host name cannot be a number"* ]] || fail "$stderr"
	# The canonical spellings still work.
	run --separate-stderr dmu-certdb get 127.0.0.1
	assert_failure 3
}

@test "promise 6: a trailing dot is refused, and a record spelled so is a FILE:LINE error" {
	run --separate-stderr dmu-get st1.
	assert_failure 2
	[[ $stderr == *"trailing dot"* ]] || fail "$stderr"
	run --separate-stderr dmu-certdb get st1.:443
	assert_failure 2
	mkcert a ec
	{ echo "$DB_HEADER"; record 127.1:443 a; } >"$DMU_CERTDB"
	run --separate-stderr dmu-certdb check
	assert_failure 7
	[[ $stderr == *"$DMU_CERTDB:2:"* ]] || fail "$stderr"
}

@test "promise 6: SNI goes out for a host name, never for an IP address" {
	mkcert a ec
	port=$(free_port)
	# s_server ends at the end of its stdin: give it one that stays open.
	mkfifo srv.in
	exec {SRV_IN}<>srv.in
	setsid openssl s_server -accept "127.0.0.1:$port" -cert a.pem -key a.key \
	    -tls1_2 -tlsextdebug <srv.in >srv.out 2>srv.err 3>&- &
	SRV=$!
	wait_until 5 listening "$port" || fail "s_server: $(cat srv.err)"
	dmu-certdb import "127.0.0.1:$port" <a.pem
	dmu-certdb import "localhost:$port" <a.pem
	dmu-pin-check -t "$T" "127.0.0.1:$port" >/dev/null || true
	dmu-pin-check -t "$T" "localhost:$port" >/dev/null || true
	kill -- "-$SRV" 2>/dev/null || kill "$SRV" 2>/dev/null || true
	wait "$SRV" 2>/dev/null || true
	exec {SRV_IN}>&-
	# Two handshakes, one server_name extension: the host name's.
	[ "$(grep -c 'TLS client extension "server name"' srv.out)" -eq 1 ] ||
	    fail "server names: $(grep -A2 'server name' srv.out)"
	grep -A3 'TLS client extension "server name"' srv.out | grep -q 'localhost' ||
	    fail "no SNI of localhost: $(cat srv.out)"
}

# fifo_bytes FD: how many bytes wait unread in the pipe open on FD.
fifo_bytes() {
	python3 -c 'import fcntl, sys, termios, array
a = array.array("i", [0])
fcntl.ioctl(int(sys.argv[1]), termios.FIONREAD, a)
print(a[0])' "$1"
}

@test "promise 7: SIGTERM ends a collector whose stdout nobody reads within a second, state not ahead" {
	sim_up a -b 4096 -n 2000
	mkfifo fifo
	exec {keep}<>fifo	# a reader that never reads: writes block
	bg fifo err dmu-get -t "$T" -w 1 -s st "$DEV" follow
	pid=$BG_PID
	wait_until 10 eval '[ "$(fifo_bytes '"$keep"')" -ge 60000 ]' ||
	    fail "the pipe did not fill: $(fifo_bytes "$keep") bytes, $(cat err)"
	t0=$(now_ms)
	kill -TERM "$pid"
	bg_wait "$pid" $((3 * SLOW))
	ms=$(elapsed_ms "$t0")
	assert_equal "$BG_STATUS" 0
	[ "$ms" -lt $((1000 * SLOW)) ] || fail "SIGTERM took $ms ms"
	# Everything delivered is whole lines, and the state names the last.
	python3 - "$keep" >delivered <<'EOF'
import fcntl, os, sys, termios, array
fd = int(sys.argv[1])
a = array.array("i", [0])
fcntl.ioctl(fd, termios.FIONREAD, a)
sys.stdout.buffer.write(os.read(fd, a[0]) if a[0] else b"")
EOF
	exec {keep}>&-
	[ "$(tail -c 1 delivered | od -An -c | tr -d ' ')" = '\n' ] ||
	    fail "a cut line: $(tail -c 100 delivered)"
	last=$(tail -n 1 delivered | jq -r .serial)
	read -r state _ <st || fail "no state file: $(cat err)"
	assert_equal "$state" "$last"
	[ "$(jq -s 'length' delivered)" -eq "$last" ] || fail "lines lost or doubled"
}

# resolver_hook: builds hook.so, a getaddrinfo(3) for LD_PRELOAD in which
# dual.test has two addresses, 127.0.0.2 (first) and 127.0.0.1, and
# slow.test takes 30 s to resolve to 127.0.0.1.  Skips where LD_PRELOAD
# cannot reach the programs (static builds, sanitizer wrappers).
resolver_hook() {
	[ "$(head -c 2 "$DMU_BIN/dmu-pin-check")" != '#!' ] ||
	    skip "$DMU_BIN/dmu-pin-check is a wrapper: LD_PRELOAD would not reach it"
	ldd "$DMU_BIN/dmu-pin-check" >/dev/null 2>&1 ||
	    skip "$DMU_BIN/dmu-pin-check is static: LD_PRELOAD cannot reach it"
	command -v cc >/dev/null || skip "no C compiler for the resolver hook"
	cat >hook.c <<'EOF'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *,
	    struct addrinfo **) = dlsym(RTLD_NEXT, "getaddrinfo");
	struct addrinfo h = *hints, *a, *b;
	int r;

	h.ai_flags |= AI_NUMERICHOST;
	h.ai_family = AF_INET;
	if (node != NULL && strcmp(node, "slow.test") == 0) {
		sleep(30);
		return real("127.0.0.1", service, &h, res);
	}
	if (node == NULL || strcmp(node, "dual.test") != 0)
		return real(node, service, hints, res);
	if ((r = real("127.0.0.2", service, &h, &a)) != 0)
		return r;
	if ((r = real("127.0.0.1", service, &h, &b)) != 0)
		return r;
	a->ai_next = b;
	*res = a;
	return 0;
}
EOF
	cc -shared -fPIC -o hook.so hook.c -ldl || fail "cannot build the hook"
}

# black_hole PORT: a listener on 127.0.0.2:PORT whose full backlog drops
# every SYN, so that a connection to it neither succeeds nor fails.
# teardown ends it.
black_hole() {
	python3 - "$1" >bh.out 2>&1 3>&- <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket()
s.bind(("127.0.0.2", port))
s.listen(0)
fill = []
for i in range(3):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.2", port))
    except BlockingIOError:
        pass
    fill.append(c)
print("ready", flush=True)
time.sleep(60)
EOF
	BG_PIDS+=("$!")
	wait_until 5 grep -q ready bh.out || fail "black hole: $(cat bh.out)"
}

@test "promise 8: a black-holed first address does not eat the time of a good second one" {
	resolver_hook
	mkcert a ec
	start_sim a
	port=$SIM_PORT
	black_hole "$port"
	dmu-certdb import "dual.test:$port" <a.pem
	t0=$(now_ms)
	run --separate-stderr env LD_PRELOAD="$PWD/hook.so" dmu-pin-check -t 4 "dual.test:$port"
	ms=$(elapsed_ms "$t0")
	assert_success
	assert_output "dual.test:$port ok $(fpr_hex a)"
	# The first address had its share (2 s of 4), not all of it.
	[ "$ms" -ge 1500 ] && [ "$ms" -lt $((4000 * SLOW)) ] || fail "took $ms ms"
}

@test "promise 7: SIGTERM ends a collector within a second while it resolves, connects or handshakes" {
	resolver_hook
	mkcert a ec
	start_sim a -S silent
	port=$SIM_PORT
	black_hole "$port"
	for dev in "slow.test:$port" "dual.test:$port" "127.0.0.1:$port"; do
		dmu-certdb import "$dev" <a.pem
		# slow.test: in getaddrinfo; dual.test: connecting to the black
		# hole; 127.0.0.1: in the handshake with a silent device.
		bg out err env LD_PRELOAD="$PWD/hook.so" dmu-get -t 20 "$dev" follow
		pid=$BG_PID
		sleep 0.5
		kill -0 "$pid" || fail "$dev: it ended early: $(cat err)"
		t0=$(now_ms)
		kill -TERM "$pid"
		bg_wait "$pid" $((3 * SLOW))
		ms=$(elapsed_ms "$t0")
		assert_equal "$BG_STATUS" 0
		[ "$ms" -lt $((1000 * SLOW)) ] || fail "$dev: SIGTERM took $ms ms"
	done
}

@test "promise 8: a host name and key too long for a request are a usage error (2) before any connection" {
	mkcert a ec
	host=$(printf '%.0sabcdefghij' {1..6}).$(printf '%.0sabcdefghij' {1..6}).$(printf '%.0sabcdefghij' {1..6})
	[ "${#host}" -gt 180 ] || fail "host of ${#host}"
	write_key key "$(head -c 512 /dev/zero | tr '\0' k)"
	dmu-certdb import "$host" <a.pem
	for res in latest follow; do
		t0=$(now_ms)
		run --separate-stderr timeout 10 dmu-get -t "$T" "$host" $res
		ms=$(elapsed_ms "$t0")
		assert_failure 2
		[[ $stderr == *"too long"* ]] || fail "$res: $stderr"
		[[ $stderr != *"trying again"* ]] || fail "$res: $stderr"
		[ "$ms" -lt $((1000 * SLOW)) ] || fail "$res: took $ms ms"
	done
}

@test "promise 9: while dmu-get holds the key, its page is excluded from core dumps" {
	# dmu-get holding a key is not dumpable (PR_SET_DUMPABLE 0): only root
	# (CAP_SYS_PTRACE) may look into it, as a packager's build user cannot.
	[ "$(id -u)" -eq 0 ] || skip "root only: dmu-get with a key is not dumpable"
	[ "$(head -c 2 "$DMU_BIN/dmu-get")" != '#!' ] ||
	    skip "$DMU_BIN/dmu-get is a wrapper (sanitizer or valgrind build)"
	sim_up a -n 0
	bg out err dmu-get -t "$T" -w 60 "$DEV" wait
	wait_log a '^request ' 10
	# An anonymous, writable mapping marked dd (MADV_DONTDUMP); the kernel's
	# own [vvar] is dd too, but named and read-only.
	awk '/^[0-9a-f]+-[0-9a-f]+ / { anon = ($2 ~ /^rw/ && NF == 5) }
	    /^VmFlags:/ && anon && / dd/ { found = 1 }
	    END { exit !found }' "/proc/$BG_PID/smaps" ||
	    fail "no anonymous MADV_DONTDUMP mapping: $(grep -B20 ' dd' "/proc/$BG_PID/smaps")"
}

@test "promise 9: 429 Too Many Requests is backed off like a 5xx, and follow goes on" {
	sim_up a -n 1
	ctl "fail 1 429" >/dev/null
	run --separate-stderr timeout 15 dmu-get -t "$T" -n 1 -w 2 "$DEV" follow
	assert_success
	assert_equal "$(serials "$output")" 1
	[[ $stderr == *"HTTP 429; trying again in "* ]] || fail "stderr: $stderr"
}

@test "promise 9: a deletion (-d) that failed is tried again after the next answer" {
	sim_up a -n 0
	bg out err dmu-get -t "$T" -d -w 1 -s st "$DEV" follow
	wait_log a 'wait\?lastSerial=0' 10
	# The long poll is in; the next two requests (the deletions) fail.
	ctl "fail 2" >/dev/null
	ctl "gen 2" >/dev/null
	wait_lines out 2
	wait_until 10 eval '[ "$(stat_of reports)" -eq 0 ]' ||
	    fail "not deleted: $(ctl stats) $(cat err)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	grep -q "cannot delete serial 1: HTTP 503; trying again after the next answer" err ||
	    fail "stderr: $(cat err)"
	# Each report was asked to be deleted twice: once failed, once done.
	assert_equal "$(grep -c 'reports/1?delete=true' a.log)" 2
	assert_equal "$(grep -c 'reports/2?delete=true' a.log)" 2
}
