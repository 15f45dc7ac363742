# SPDX-License-Identifier: ISC
# helper-get.bash - set-up for the dmu-get suites (40-get, 50-follow,
# 60-share, 70-mitm), on top of helper.bash.
#
# Each test gets an API key file (mode 600, DEMO:SECRET_KEY) in
# $DMU_API_KEY_FILE.  The simulator (sim_up, ctl), background programs
# (bg) and the waits are helper.bash's; this file adds the oracle (curl),
# checks of dmu-get's output, and fake_tls, which serves a canned answer
# over TLS for the malformed-answer tests.

bats_require_minimum_version 1.5.0
load helper

# helper.bash's setup and teardown, kept under other names (teardown is
# helper.bash's own; the name stays for the suites that call it).
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
	write_key key
	export DMU_API_KEY_FILE=$BATS_TEST_TMPDIR/key
}

# write_key FILE [TEXT]: a key file of mode 600 (TEXT defaults to the
# simulator's key).
write_key() {
	(umask 077 && printf '%s\n' "${2:-$KEY_TEXT}" >"$1")
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
	BG_GROUPS+=($!)
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
