# SPDX-License-Identifier: ISC
# helper.bash - shared set-up for the dmu bats suites.
#
# Every test runs in its own directory (BATS_TEST_TMPDIR) with its own
# certificate database, no API key in the environment, and the programs from
# $DMU_BIN (default: the repository's cmd/) first in PATH.  Servers are
# loopback only; certificates are made at test time with openssl.
#
# Everything more than one suite needs is here, once: certificates and
# fingerprints, the simulator (start_sim, sim_up, ctl, sim_sync), background
# programs (bg, group_bg, bg_wait, group_wait; teardown ends them) and the
# bounded waits (wait_until, wait_lines, wait_log, listening).  helper-get,
# helper-adv and helper-man load this file and add what only their suites
# use.

bats_require_minimum_version 1.5.0
bats_load_library bats-support
bats_load_library bats-assert

DMU_TEST_DIR=$(cd "$BATS_TEST_DIRNAME" && pwd)
DMU_REPO=$(cd "$DMU_TEST_DIR/.." && pwd)
export DMU_BIN=${DMU_BIN:-$DMU_REPO/cmd}
export DMU_SIM=${DMU_SIM:-$DMU_TEST_DIR/dmu-sim}
# Upper time limits stretch for sanitizer and valgrind runs (DMU_VARIANT).
SLOW=1
[ -n "${DMU_VARIANT-}" ] && SLOW=5

# LATE_MS: how much later than it should a program may end before a test
# calls it too slow.  A loaded machine (2 cores shared with other work, the
# suite under nice) only ever makes things later, so the slack is large;
# it stays well under the programs' default time-out (10 s) and under every
# delay the tests set up for a program to ignore, so that a time-out that
# is not applied still fails.
LATE_MS=$((3000 * SLOW))

# Short time-out for every program that connects (seconds).
T=2

setup() {
	local p
	for p in dmu-learn dmu-pin-check dmu-certdb; do
		[ -x "$DMU_BIN/$p" ] ||
		    fail "$DMU_BIN/$p is missing: build it first (make $p)"
	done
	PATH=$DMU_BIN:$PATH
	export PATH
	unset DMU_API_KEY DMU_API_KEY_FILE DMU_APP
	export DMU_CERTDB=$BATS_TEST_TMPDIR/certdb
	export XDG_CONFIG_HOME=$BATS_TEST_TMPDIR/xdg
	export HOME=$BATS_TEST_TMPDIR/home
	export LC_ALL=C
	SIM_PIDS=()		# simulators (start_sim)
	SIM_OPTS=()		# dmu-sim options of every sim_up
	BG_PIDS=()		# background programs (bg)
	BG_GROUPS=()		# background process groups (group_bg, setsid)
	cd "$BATS_TEST_TMPDIR" || fail "no test directory"
}

teardown() {
	stop_bg
	stop_sims
}

# mkcert NAME rsa|ec [KEYFILE]: a self-signed certificate NAME.pem (CN=DMU801)
# and its key NAME.key.  With KEYFILE the certificate is issued anew for
# that existing key (a re-issued certificate: another certificate, same key).
mkcert() {
	local name=$1 type=$2 key=${3:-} serial
	serial=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	if [ -n "$key" ]; then
		[ "$key" -ef "$name.key" ] || cp "$key" "$name.key"
	else
		case $type in
		rsa) openssl genpkey -algorithm RSA \
		    -pkeyopt rsa_keygen_bits:2048 -out "$name.key" \
		    2>/dev/null ;;
		ec) openssl genpkey -algorithm EC \
		    -pkeyopt ec_paramgen_curve:P-256 -out "$name.key" \
		    2>/dev/null ;;
		*) fail "mkcert: type rsa or ec, not '$type'" ;;
		esac || fail "mkcert: cannot make a $type key"
	fi
	openssl req -x509 -new -key "$name.key" -out "$name.pem" \
	    -subj "/CN=DMU801" -days 3650 -set_serial "0x$serial" \
	    2>/dev/null || fail "mkcert: cannot make $name.pem"
}

# fpr_hex NAME: the SHA-256 of the certificate's DER, 64 lower-case hex.
fpr_hex() {
	openssl x509 -in "$1.pem" -outform DER | sha256sum | cut -c1-64
}

# fpr_colon NAME: openssl's form, AA:BB:...
fpr_colon() {
	openssl x509 -in "$1.pem" -noout -fingerprint -sha256 | sed 's/^.*=//'
}

# fpr_b64 NAME [nopad]: SHA256:BASE64 (OpenSSH style); nopad drops the '='.
fpr_b64() {
	local b
	b=$(openssl x509 -in "$1.pem" -outform DER |
	    openssl dgst -sha256 -binary | base64 -w0)
	[ "${2:-}" = nopad ] && b=${b%%=*}
	printf 'SHA256:%s\n' "$b"
}

# spki_pin NAME: curl's --pinnedpubkey value sha256//BASE64.
spki_pin() {
	printf 'sha256//%s\n' "$(openssl x509 -in "$1.pem" -noout -pubkey |
	    openssl pkey -pubin -outform DER |
	    openssl dgst -sha256 -binary | base64 -w0)"
}

# free_port [v6]: a loopback TCP port that nothing listens on (just now).
free_port() {
	python3 - "${1:-}" <<'EOF'
import socket, sys
fam, addr = (socket.AF_INET6, "::1") if sys.argv[1] == "v6" else (socket.AF_INET, "127.0.0.1")
s = socket.socket(fam, socket.SOCK_STREAM)
s.bind((addr, 0))
print(s.getsockname()[1])
s.close()
EOF
}

# closed_port VAR: sets VAR to a loopback TCP port that refuses every
# connection for the rest of the test: a socket bound to it that does not
# listen, held by a background process (BG_PIDS).  A port of free_port is
# free only just now: with suites side by side, another one's simulator
# may take it and turn an unreachable device into a mismatch.
closed_port() {
	local f=$BATS_TEST_TMPDIR/closed-port.$RANDOM
	python3 -c 'import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
open(sys.argv[1] + ".tmp", "w").write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(3600)' "$f" </dev/null >/dev/null 2>&1 3>&- &
	BG_PIDS+=("$!")
	wait_until 5 test -s "$f" || fail "closed_port: no port"
	printf -v "$1" '%s' "$(cat "$f")"
}

# have_ipv6: ::1 can be bound on this machine.
have_ipv6() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' \
	    2>/dev/null
}

# start_sim NAME [dmu-sim options]: runs test/dmu-sim with NAME.pem and
# NAME.key in the background, logging to NAME.log, and waits until it
# listens.  Sets SIM_PORT and SIM_CTL (the control port); NAME.port holds
# "PORT CTLPORT".  teardown stops it.
start_sim() {
	local name=$1 i
	shift
	[ -x "$DMU_SIM" ] || fail "$DMU_SIM is missing: make test/dmu-sim"
	rm -f "$name.port"
	"$DMU_SIM" -c "$name.pem" -k "$name.key" -P "$name.port" \
	    -L "$name.log" "$@" </dev/null >"$name.sim.out" \
	    2>"$name.sim.err" 3>&- &
	SIM_PIDS+=($!)
	for ((i = 0; i < 500; i++)); do
		[ -s "$name.port" ] && break
		kill -0 "${SIM_PIDS[-1]}" 2>/dev/null ||
		    fail "dmu-sim $name did not start: $(cat "$name.sim.err")"
		sleep 0.01
	done
	[ -s "$name.port" ] || fail "dmu-sim $name: no port file after 5 s"
	read -r SIM_PORT SIM_CTL <"$name.port"
}

# sim_ctl CTLPORT COMMAND: one line to a simulator's control port; prints
# the answer.
sim_ctl() {
	python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
EOF
}

# sim_up NAME [dmu-sim options]: a simulator with a new EC certificate
# NAME.pem (unless NAME.pem is there), started with $SIM_OPTS and the
# options, and learned into $DMU_CERTDB with dmu-learn -F.  Sets DEV
# (127.0.0.1:PORT), PORT and CTL; NAME.log is emptied after the learning
# connection, so it holds only what the test does.
sim_up() {
	local name=$1
	shift
	[ -e "$name.pem" ] || mkcert "$name" ec
	start_sim "$name" "${SIM_OPTS[@]}" "$@"
	PORT=$SIM_PORT
	CTL=$SIM_CTL
	DEV=127.0.0.1:$PORT
	dmu-learn -F "$(fpr_hex "$name")" -t "$T" "$DEV" </dev/null 2>/dev/null |
	    dmu-certdb add || fail "sim_up: cannot learn $DEV"
	sim_log_settled "$name" || fail "sim_up: $name.log does not settle"
	: >"$name.log"
}

# ctl COMMAND: one line to the control port $CTL_PORT, else that of the
# last sim_up; prints the answer and fails the test unless it starts with
# "ok".
ctl() {
	local fd reply
	exec {fd}<>"/dev/tcp/127.0.0.1/${CTL_PORT:-$CTL}" ||
	    fail "ctl: cannot connect to the control port"
	printf '%s\n' "$1" >&"$fd"
	IFS= read -r -t 5 reply <&"$fd"
	exec {fd}>&-
	[[ $reply == ok* ]] || fail "ctl '$1': '$reply'"
	printf '%s\n' "$reply"
}

# stat_of KEY: one number from "ctl stats" (reports, first, last, maxserial,
# requests, conns, handshakes, deletes).
stat_of() {
	local w
	for w in $(ctl stats); do
		[[ $w == "$1="* ]] && { echo "${w#*=}"; return 0; }
	done
	fail "stat_of: no '$1' in stats"
}

# sim_sync: returns once the simulator that ctl talks to has taken in, and
# logged, every connection made to it before the call.  Its main loop
# accepts a waiting API connection before a control connection that came
# later, so its answer on the control port is that barrier: a test that
# asserts that a program made no connection needs no sleep.
sim_sync() {
	ctl stats >/dev/null
}

# stop_sims: ends every simulator of the test and reaps it.
stop_sims() {
	reap "${SIM_PIDS[@]}"
	SIM_PIDS=()
}

# sim_log_settled NAME: waits (10 s at most, for a starved simulator) until
# every connection in NAME.log has its "close" line, so that the log is
# complete.
sim_log_settled() {
	local i conns closes
	for ((i = 0; i < 1000; i++)); do
		conns=$(grep -c '^conn ' "$1.log" 2>/dev/null)
		closes=$(grep -c '^close ' "$1.log" 2>/dev/null)
		[ "${conns:-0}" -gt 0 ] && [ "$conns" = "$closes" ] && return 0
		sleep 0.01
	done
	return 1
}

# assert_no_http NAME: the simulator saw at least one completed handshake,
# no HTTP request, and zero application bytes on every connection.
assert_no_http() {
	sim_log_settled "$1" || fail "$1.log: connections not closed: $(cat "$1.log")"
	grep -q '^handshake [0-9]* ok' "$1.log" ||
	    fail "$1.log has no completed handshake: $(cat "$1.log")"
	if grep -q '^request ' "$1.log"; then
		fail "an HTTP request was sent: $(cat "$1.log")"
	fi
	if grep '^rxbytes ' "$1.log" | grep -qv ' 0$'; then
		fail "application data was sent: $(cat "$1.log")"
	fi
}

# DB_HEADER: the first line of every database.
DB_HEADER='# dmu-certdb 1'

# record DEVICE NAME [LEARNED]: a database record for certificate NAME.pem.
record() {
	printf '%s %s %s %s\n' "$1" "$(fpr_hex "$2")" \
	    "${3:-2024-01-02T03:04:05Z}" \
	    "$(openssl x509 -in "$2.pem" -outform DER | base64 -w0)"
}


# to_full COMMAND...: runs COMMAND with stdout on /dev/full (write errors).
to_full() {
	"$@" >/dev/full
}

# ---- background programs and waits ----
# Every wait is bounded and polls for the event it waits for; a bound is
# there for a program that hangs, not to time a program.

# bg OUT ERR COMMAND...: runs COMMAND in the background with stdin from
# /dev/null, stdout to OUT and stderr to ERR; BG_PID is its process id.
# teardown ends it.
bg() {
	local out=$1 err=$2
	shift 2
	"$@" </dev/null >"$out" 2>"$err" 3>&- &
	BG_PID=$!
	BG_PIDS+=("$BG_PID")
}

# group_bg OUT ERR SCRIPT: runs the bash SCRIPT as a process group of its
# own (a shell job), stdin from /dev/null; GROUP is its id.  teardown ends
# the whole group.
group_bg() {
	setsid bash -c "$3" </dev/null >"$1" 2>"$2" 3>&- &
	GROUP=$!
	BG_GROUPS+=("$GROUP")
}

# exit_wait PID SECONDS: waits for PID, a child of this shell, to exit;
# returns 1 when it still runs after SECONDS, else 0 with its exit status
# in EXIT_STATUS.
exit_wait() {
	local pid=$1 i
	for ((i = 0; i < $2 * 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -0 "$pid" 2>/dev/null && return 1
	EXIT_STATUS=0
	wait "$pid" || EXIT_STATUS=$?
	return 0
}

# bg_wait PID SECONDS: waits for a background program to exit and sets
# BG_STATUS; fails the test when it is still running after SECONDS.
bg_wait() {
	exit_wait "$1" "$2" || fail "pid $1 still runs after $2 s"
	BG_STATUS=$EXIT_STATUS
}

# group_wait SECONDS: waits for the leader of the last group_bg to exit;
# sets GROUP_STATUS, fails when it still runs after SECONDS.
group_wait() {
	exit_wait "$GROUP" "$1" || fail "group $GROUP still runs after $1 s"
	GROUP_STATUS=$EXIT_STATUS
}

# stop_bg: ends every background program and process group and reaps them.
stop_bg() {
	reap "${BG_PIDS[@]}" "${BG_GROUPS[@]/#/-}"
	BG_PIDS=()
	BG_GROUPS=()
}

# reap ID...: sends TERM to each ID (a process, or -ID for a process group)
# and reaps them.
reap() {
	local p
	for p in "$@"; do
		kill -- "$p" 2>/dev/null
	done
	for p in "$@"; do
		wait "${p#-}" 2>/dev/null
	done
}

# wait_until SECONDS COMMAND...: polls COMMAND every 20 ms; returns 1 when
# it has not succeeded within SECONDS.
wait_until() {
	local s=$1 i
	shift
	for ((i = 0; i < s * 50; i++)); do
		"$@" && return 0
		sleep 0.02
	done
	"$@"
}

# has_lines FILE N: FILE has at least N lines.
has_lines() {
	[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# file_has FILE ERE [COUNT]: FILE has at least COUNT (1) lines matching ERE.
file_has() {
	local n
	n=$(grep -Ec -- "$2" "$1" 2>/dev/null)
	[ "${n:-0}" -ge "${3:-1}" ]
}

# in_log NAME ERE: NAME.log has a line matching ERE.
in_log() {
	grep -Eq -- "$2" "$1.log" 2>/dev/null
}

# wait_lines FILE N [SECONDS]: waits for FILE to hold N lines.
wait_lines() {
	wait_until "${3:-5}" has_lines "$1" "$2" ||
	    fail "$1: fewer than $2 lines after ${3:-5} s: $(cat "$1" 2>/dev/null)"
}

# wait_log NAME ERE [SECONDS]: waits for a line matching ERE in NAME.log.
wait_log() {
	wait_until "${3:-5}" in_log "$1" "$2" ||
	    fail "$1.log: no line like '$2' after ${3:-5} s: $(cat "$1.log")"
}

# listening PORT: something listens on 127.0.0.1:PORT (read from /proc, so
# that the check makes no connection that a one-shot server would take).
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp
}

# now_ms: milliseconds of the wall clock.
now_ms() {
	local t
	t=$(date +%s%N)
	echo $((t / 1000000))
}

# elapsed_ms START: milliseconds since START (from now_ms).
elapsed_ms() {
	echo $(($(now_ms) - $1))
}

# on_pty ANSWERS SCRIPT: runs SCRIPT (one command or several lines of bash,
# kept in ex.sh) on a pseudo-terminal that is its controlling terminal,
# types each line of ANSWERS once the next trust prompt has appeared (as a
# person would: dmu-learn discards what is typed before), and leaves its
# stdout in out, its stderr in err and what the terminal showed in tty.
# Returns its exit status.
on_pty() {
	local -a answers
	mapfile -t answers <<<"$1"
	printf '%s\n' "$2" >ex.sh
	"$DMU_TEST_DIR/pty-answer" "bash ex.sh >out 2>err" "${answers[@]}" >tty
}
