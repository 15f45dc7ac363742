# helper.bash - shared set-up for the dmu bats suites.
#
# Every test runs in its own directory (BATS_TEST_TMPDIR) with its own
# certificate database, no API key in the environment, and the programs from
# $DMU_BIN (default: the repository's cmd/) first in PATH.  Servers are
# loopback only; certificates are made at test time with openssl.

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
	SIM_PIDS=()
	cd "$BATS_TEST_TMPDIR" || fail "no test directory"
}

teardown() {
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

stop_sims() {
	local p
	for p in "${SIM_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${SIM_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	SIM_PIDS=()
}

# sim_log_settled NAME: waits (1 s at most) until every connection in
# NAME.log has its "close" line, so that the log is complete.
sim_log_settled() {
	local i conns closes
	for ((i = 0; i < 100; i++)); do
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

# now_ms: milliseconds of the wall clock.
now_ms() {
	local t
	t=$(date +%s%N)
	echo $((t / 1000000))
}

# to_full COMMAND...: runs COMMAND with stdout on /dev/full (write errors).
to_full() {
	"$@" >/dev/full
}
