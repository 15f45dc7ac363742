# helper-get.bash - set-up for the dmu-get suites (40-get, 50-follow,
# 60-share, 70-mitm), on top of helper.bash.
#
# Each test gets an API key file (mode 600, DEMO:SECRET_KEY) in
# $DMU_API_KEY_FILE.  sim_up starts a simulator with a fresh certificate
# and learns it; ctl talks to its control port; bg runs a program in the
# background and teardown ends it; fake_tls serves a canned answer over TLS
# for the malformed-answer tests.  Every wait is bounded.

bats_require_minimum_version 1.5.0
load helper

# helper.bash's setup and teardown, kept under other names.
eval "dmu_base_$(declare -f setup)"
eval "dmu_base_$(declare -f teardown)"

# The key as the device shows it, and as it goes on the wire.
KEY_TEXT=DEMO:SECRET_KEY
KEY_B64=REVNTzpTRUNSRVRfS0VZ
APP_BASE=/api/application/https_server_1/reports/v1

setup() {
	dmu_base_setup
	[ -x "$DMU_BIN/dmu-get" ] ||
	    fail "$DMU_BIN/dmu-get is missing: build it first (make all)"
	[ -x "$DMU_SIM" ] || fail "$DMU_SIM is missing: make test/dmu-sim"
	BG_PIDS=()
	FAKE_PIDS=()
	write_key key
	export DMU_API_KEY_FILE=$BATS_TEST_TMPDIR/key
}

teardown() {
	stop_bg
	dmu_base_teardown
}

# write_key FILE [TEXT]: a key file of mode 600 (TEXT defaults to the
# simulator's key).
write_key() {
	(umask 077 && printf '%s\n' "${2:-$KEY_TEXT}" >"$1")
}

# sim_up NAME [dmu-sim options]: a simulator with a new EC certificate
# NAME.pem, learned into $DMU_CERTDB with dmu-learn -F.  Sets DEV
# (127.0.0.1:PORT), PORT and CTL; NAME.log is emptied after the learning
# connection, so it holds only what the test does.
sim_up() {
	local name=$1
	shift
	[ -e "$name.pem" ] || mkcert "$name" ec
	start_sim "$name" "$@"
	PORT=$SIM_PORT
	CTL=$SIM_CTL
	DEV=127.0.0.1:$PORT
	dmu-learn -F "$(fpr_hex "$name")" -t "$T" "$DEV" </dev/null 2>/dev/null |
	    dmu-certdb add ||
	    fail "sim_up: cannot learn $DEV"
	sim_log_settled "$name" || fail "sim_up: $name.log does not settle"
	: >"$name.log"
}

# ctl COMMAND: one line to the control port of the last sim_up; prints the
# answer and fails the test unless it starts with "ok".
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

# oracle PATH: what the simulator serves at base URL + PATH, fetched with
# curl (not with our code) with the right key.
oracle() {
	curl -sSk --max-time 5 -H "X-Api-Key: $KEY_B64" \
	    "https://$DEV$APP_BASE$1"
}

# oracle_reports PATH: the reports of that answer as compact
# {serial,timestamp,content} lines, whatever the answer's shape.
oracle_reports() {
	oracle "$1" | jq -c 'if type == "array" then .[]
	    elif has("reports") then .reports[] else . end
	    | {serial, timestamp, content}'
}

# fields: dmu-get's NDJSON lines on stdin reduced to the same shape.
fields() {
	jq -c '{serial, timestamp, content}'
}

# assert_ndjson TEXT: every line is compact JSON whose first member is
# "device":"$DEV", followed by "serial".
assert_ndjson() {
	local l re n=0
	re="^\\{\"device\":\"${DEV//./\\.}\",\"serial\":[0-9]+,[^ ]*\\}$"
	while IFS= read -r l; do
		n=$((n + 1))
		[[ $l =~ $re ]] || fail "not compact NDJSON with the device first: '$l'"
		[ "$(jq -r 'keys_unsorted[0]' <<<"$l")" = device ] ||
		    fail "jq: device is not the first member: '$l'"
		[ "$(jq -r .device <<<"$l")" = "$DEV" ] ||
		    fail "jq: device is not $DEV: '$l'"
		[ "$(jq -c . <<<"$l")" = "$l" ] ||
		    fail "not in jq's compact form: '$l'"
	done <<<"$1"
	[ "$n" -gt 0 ] || fail "assert_ndjson: no lines"
}

# refute_key: neither the key nor its base64 in $output or $stderr.
refute_key() {
	local s
	for s in "$KEY_TEXT" "$KEY_B64"; do
		[[ ${output:-} != *"$s"* ]] || fail "the key ($s) is on stdout"
		[[ ${stderr:-} != *"$s"* ]] || fail "the key ($s) is on stderr"
	done
}

# serials TEXT: the serials of NDJSON lines, space-separated.
serials() {
	[ -n "$1" ] || return 0
	jq -r .serial <<<"$1" | tr '\n' ' ' | sed 's/ $//'
}

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

# bg_wait PID SECONDS: waits for a background program to exit and sets
# BG_STATUS; fails the test when it is still running after SECONDS.
bg_wait() {
	local pid=$1 i
	for ((i = 0; i < $2 * 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	kill -0 "$pid" 2>/dev/null && fail "pid $pid still runs after $2 s"
	BG_STATUS=0
	wait "$pid" || BG_STATUS=$?
}

stop_bg() {
	local p
	for p in "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${FAKE_PIDS[@]}"; do
		# fake_tls starts each server as a process-group leader.
		kill -- "-$p" 2>/dev/null
	done
	for p in "${BG_PIDS[@]}" "${FAKE_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	BG_PIDS=()
	FAKE_PIDS=()
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

# listening PORT: something listens on 127.0.0.1:PORT (from /proc, so
# that the check itself makes no connection).
listening() {
	local hex
	hex=$(printf '%04X' "$1")
	grep -q "^ *[0-9]*: 0100007F:$hex 00000000:0000 0A" /proc/net/tcp
}

# fake_tls NAME: a TLS server on a free loopback port with a new
# certificate NAME.pem, learned into $DMU_CERTDB.  For every connection it
# reads the request up to its blank line, sends the bytes that NAME.resp
# holds at that moment, keeps the connection open for the seconds in
# NAME.hold (0 when absent), and closes it.  Sets DEV and PORT.
fake_tls() {
	local name=$1
	command -v socat >/dev/null || skip "socat is not installed"
	mkcert "$name" ec
	cat >"$name.sh" <<EOF
sed -n '/^.\{0,1\}\$/q' >/dev/null
cat '$PWD/$name.resp'
sleep "\$(cat '$PWD/$name.hold' 2>/dev/null || echo 0)"
EOF
	PORT=$(free_port)
	DEV=127.0.0.1:$PORT
	setsid socat "OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork,cert=$name.pem,key=$name.key,verify=0" \
	    "EXEC:sh $PWD/$name.sh" </dev/null >/dev/null \
	    2>"$name.socat.err" 3>&- &
	FAKE_PIDS+=($!)
	wait_until 5 listening "$PORT" || fail "fake_tls: socat does not listen"
	record "$DEV" "$name" | dmu-certdb add ||
	    fail "fake_tls: cannot add $DEV"
}

# measured FILE COMMAND...: runs COMMAND, stdin from /dev/null, with its
# data segment limited to 20 MiB (an allocation past that fails), and writes
# "MILLISECONDS PEAK_RSS_KB" to FILE (PEAK_RSS_KB is 0 without GNU time).
# Returns COMMAND's exit status.
measured() {
	local f=$1 t0 rc=0 limit=20480
	shift
	rm -f "$f.rss"
	# Sanitizers and valgrind reserve far more than the program uses.
	[ -n "${DMU_VARIANT-}" ] && limit=unlimited
	t0=$(now_ms)
	if [ -x /usr/bin/time ]; then
		(ulimit -d $limit && exec /usr/bin/time -f %M -o "$f.rss" "$@" \
		    </dev/null) || rc=$?
	else
		(ulimit -d $limit && exec "$@" </dev/null) || rc=$?
	fi
	echo "$(elapsed_ms "$t0") $(tail -n 1 "$f.rss" 2>/dev/null || echo 0)" >"$f"
	return "$rc"
}

# to_closed_pipe COMMAND...: runs COMMAND with stdout on a pipe whose
# reading end is already closed (every write fails with EPIPE).
to_closed_pipe() {
	python3 - "$@" <<'EOF'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)
rc = subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=w)
sys.exit(rc if rc >= 0 else 128 - rc)
EOF
}

# elapsed_ms START: milliseconds since START (from now_ms).
elapsed_ms() {
	echo $(($(now_ms) - $1))
}
