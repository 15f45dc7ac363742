# SPDX-License-Identifier: ISC
# helper-adv.bash - set-up for the adversarial suite (80-adversarial), on
# top of helper.bash.
#
# Hostile servers are the simulator (-S drip), openssl s_server (Ed25519
# and DSA keys, long chains, huge certificates, renegotiation) and socat
# (an answer that drips after the handshake).  Each test gets a distinctive
# API key in $DMU_API_KEY_FILE, so that a grep of a core dump finds any
# copy of it.  Background servers, mounts and waits are all bounded and
# undone by teardown.  Loopback only.

load helper

# helper.bash's setup and teardown, kept under other names.
eval "adv_base_$(declare -f setup)"
eval "adv_base_$(declare -f teardown)"

# The key as the device shows it (the simulator's -K) and as it goes on the
# wire (base64).  Neither string occurs anywhere else.
ADV_KEY='DMUKEY-7f3a9c2e:SECRET-91b4'
ADV_KEY_B64=RE1VS0VZLTdmM2E5YzJlOlNFQ1JFVC05MWI0

setup() {
	adv_base_setup
	[ -x "$DMU_BIN/dmu-get" ] ||
	    fail "$DMU_BIN/dmu-get is missing: build it first (make all)"
	ADV_MOUNTS=()		# tmpfs mounted by the test
	SIM_OPTS=(-K "$ADV_KEY")	# every sim_up's device has that key
	(umask 077 && printf '%s\n' "$ADV_KEY" >apikey)
	export DMU_API_KEY_FILE=$BATS_TEST_TMPDIR/apikey
}

# The programs end before their file systems are unmounted.
teardown() {
	local m
	stop_bg
	for m in "${ADV_MOUNTS[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	adv_base_teardown
}

# pin DEVICE NAME: adds a record for DEVICE with certificate NAME.pem
# straight to $DMU_CERTDB (no connection).
pin() {
	record "$1" "$2" | dmu-certdb add 2>/dev/null ||
	    fail "pin: cannot add $1"
}

# s_server NAME CERT KEY [s_server options]: openssl s_server, TLS 1.2
# only, on a free loopback port, in its own process group; its stdout and
# stderr go to NAME.out and NAME.err, its stdin comes from NAME.in when that
# is a FIFO (else /dev/null).  Sets SRV_DEV and SRV_PID.
s_server() {
	local name=$1 cert=$2 key=$3 port in=/dev/null
	shift 3
	port=$(free_port)
	[ -p "$name.in" ] && in=$name.in
	setsid openssl s_server -accept "127.0.0.1:$port" -cert "$cert" \
	    -key "$key" -tls1_2 "$@" <"$in" >"$name.out" 2>"$name.err" 3>&- &
	SRV_PID=$!
	BG_GROUPS+=("$SRV_PID")
	wait_until 5 listening "$port" ||
	    fail "openssl s_server $name does not listen: $(cat "$name.err")"
	SRV_DEV=127.0.0.1:$port
}

# tls_script NAME SCRIPT: a TLS server (socat) with a new certificate
# NAME.pem, pinned in $DMU_CERTDB, that runs the shell SCRIPT for every
# connection with the decrypted stream on its stdin and stdout.  Sets DEV.
tls_script() {
	local name=$1 port
	command -v socat >/dev/null || skip "socat is not installed"
	printf '%s\n' "$2" >"$name.sh"
	mkcert "$name" ec
	port=$(free_port)
	setsid socat "OPENSSL-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork,cert=$name.pem,key=$name.key,verify=0" \
	    "SYSTEM:sh $BATS_TEST_TMPDIR/$name.sh" </dev/null >/dev/null \
	    2>"$name.socat.err" 3>&- &
	BG_GROUPS+=($!)
	wait_until 5 listening "$port" || fail "tls_script: socat does not listen"
	DEV=127.0.0.1:$port
	pin "$DEV" "$name"
}

# comment_cert NAME KEY LENGTH: a self-signed certificate NAME.pem
# (CN=DMU801) for the existing KEY with an nsComment of LENGTH bytes, which
# makes the certificate about that much larger; prints its DER size.
comment_cert() {
	local name=$1 key=$2 len=$3
	{
		printf '[req]\ndistinguished_name=dn\nprompt=no\n'
		printf '[dn]\nCN=DMU801\n[ext]\nnsComment='
		head -c "$len" /dev/zero | tr '\0' x
		printf '\n'
	} >"$name.cnf"
	openssl req -x509 -new -key "$key" -out "$name.pem" -config "$name.cnf" \
	    -extensions ext -days 3650 -set_serial 1 2>/dev/null ||
	    fail "comment_cert: cannot make $name.pem"
	[ "$key" -ef "$name.key" ] || cp "$key" "$name.key"
	openssl x509 -in "$name.pem" -outform DER | wc -c
}

# sized_cert NAME RSAKEY BYTES: a certificate whose DER is exactly BYTES
# long (an RSA signature has a fixed length, so the size is a function of
# the comment length; a few tries find it).
sized_cert() {
	local name=$1 key=$2 want=$3 len size i
	len=$((want - 800))
	for ((i = 0; i < 6; i++)); do
		size=$(comment_cert "$name" "$key" "$len")
		[ "$size" -eq "$want" ] && return 0
		len=$((len + want - size))
	done
	fail "sized_cert: no certificate of exactly $want bytes (last $size)"
}

# rsa_key NAME: a 2048-bit RSA key NAME.key.
rsa_key() {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
	    -out "$1.key" 2>/dev/null || fail "rsa_key: cannot make $1.key"
}

# tmpfs_dir DIR SIZE: mounts a tmpfs of SIZE on DIR (created), or skips the
# test when mounting is not permitted here.  teardown unmounts it.
tmpfs_dir() {
	mkdir -p "$1"
	mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" 2>/dev/null ||
	    skip "cannot mount a tmpfs here (not permitted)"
	ADV_MOUNTS+=("$1")
}

# nap_ms MS: sleeps MS (0..999) milliseconds without starting a process.
nap_ms() {
	[ "$1" -gt 0 ] || return 0
	if [ -z "${NAP_FD:-}" ]; then
		mkfifo "$BATS_TEST_TMPDIR/.nap"
		exec {NAP_FD}<>"$BATS_TEST_TMPDIR/.nap"
	fi
	read -r -t "$(printf '0.%03d' "$1")" -u "$NAP_FD" || true
}

# key_traces FILE: prints every piece of $ADV_KEY or $ADV_KEY_B64 of 8 or
# more bytes that occurs in FILE (the longest one from each place), one a
# line as KIND:TEXT; prints nothing when there is none.
key_traces() {
	python3 - "$1" "$ADV_KEY" "$ADV_KEY_B64" <<'EOF'
import sys
data = open(sys.argv[1], "rb").read()
found = set()
for kind, key in (("key", sys.argv[2].encode()), ("base64", sys.argv[3].encode())):
    i = 0
    while i + 8 <= len(key):
        j = i + 8
        if data.find(key[i:j]) < 0:
            i += 1
            continue
        while j < len(key) and data.find(key[i:j + 1]) >= 0:
            j += 1
        found.add("%s:%s" % (kind, key[i:j].decode()))
        i = j
for f in sorted(found):
    print(f)
EOF
}

# refute_key_in_output: neither $ADV_KEY nor $ADV_KEY_B64 (nor the wrong
# key WRONG_KEY, when set) on stdout or stderr of the last run.
refute_key_in_output() {
	local s
	for s in "$ADV_KEY" "$ADV_KEY_B64" ${WRONG_KEY:+"$WRONG_KEY"} \
	    ${WRONG_KEY:+"$(printf %s "$WRONG_KEY" | base64 -w0)"}; do
		[[ ${output:-} != *"$s"* ]] || fail "the key ($s) is on stdout"
		[[ ${stderr:-} != *"$s"* ]] || fail "the key ($s) is on stderr"
	done
}
