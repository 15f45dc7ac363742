#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Fleet operations: dmu-certdb inventory, the node-exporter metrics of
# dmu-pin-check -m and dmu-get follow -m (checked by the real promtool and
# served by the real prometheus-node-exporter), the alert rules, check_dmu
# run as Nagios and Icinga run plugins, and the gnuplot example.

load helper-get

# inv_of DEVICE: the inventory object of DEVICE, compact.
inv_of() {
	dmu-certdb inventory "$1" | jq -c .
}

# openssl_date NAME startdate|enddate: the date as YYYY-MM-DDTHH:MM:SSZ.
openssl_date() {
	date -u -d "$(openssl x509 -in "$1.pem" -noout "-$2" | cut -d= -f2)" \
	    +%Y-%m-%dT%H:%M:%SZ
}

# ---- inventory ----

@test "inventory: one JSON object per pin with every field, from the certificate" {
	mkcert a ec
	mkcert b rsa
	record 127.0.0.1:8443 a 2025-01-02T03:04:05Z | dmu-certdb add
	record st2.example.net:443 b | dmu-certdb add
	run --separate-stderr dmu-certdb inventory
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 2
	# Each line is one object, and jq reads it back whole.
	assert_equal "$(printf '%s\n' "$output" | jq -c . | wc -l)" 2
	a=${lines[0]}
	assert_equal "$(jq -r .device <<<"$a")" 127.0.0.1:8443
	assert_equal "$(jq -r .sha256 <<<"$a")" "$(fpr_hex a)"
	assert_equal "$(jq -r .pin <<<"$a")" "$(spki_pin a)"
	assert_equal "$(jq -r .pin <<<"$a")" "$(dmu-certdb pin 127.0.0.1:8443)"
	assert_equal "$(jq -r .learned <<<"$a")" 2025-01-02T03:04:05Z
	assert_equal "$(jq -r .authorized <<<"$a")" unknown
	assert_equal "$(jq -r .subject <<<"$a")" CN=DMU801
	assert_equal "$(jq -r .issuer <<<"$a")" CN=DMU801
	serial=$(openssl x509 -in a.pem -noout -serial | cut -d= -f2 | tr A-F a-f)
	assert_equal "$(jq -r .serial <<<"$a")" "$serial"
	assert_equal "$(jq -r .not_before <<<"$a")" "$(openssl_date a startdate)"
	assert_equal "$(jq -r .not_after <<<"$a")" "$(openssl_date a enddate)"
	assert_equal "$(jq -r .key <<<"$a")" "EC P-256"
	assert_equal "$(jq -r .key_bits <<<"$a")" 256
	assert_equal "$(jq -r .signature <<<"$a")" ecdsa-with-SHA256
	assert_equal "$(jq -c .warnings <<<"$a")" '[]'
	b=${lines[1]}
	assert_equal "$(jq -r '.device, .key, .key_bits, .signature' <<<"$b")" \
	    "st2.example.net:443
RSA 2048
2048
sha256WithRSAEncryption"
	# The fields the issue asks for, no fewer, in this order.
	assert_equal "$(jq -c 'keys_unsorted' <<<"$a")" \
	    '["device","sha256","pin","learned","authorized","subject","issuer","serial","not_before","not_after","key","key_bits","signature","warnings"]'
}

@test "inventory: authorized is the pin's provenance, and an unverified pin is a warning" {
	mkcert a ec
	mkcert b ec
	start_sim a
	pa=$SIM_PORT
	start_sim b
	pb=$SIM_PORT
	dmu-learn -y -t "$T" "127.0.0.1:$pa" 2>/dev/null | dmu-certdb add
	dmu-learn -F "$(fpr_hex b)" -t "$T" "127.0.0.1:$pb" 2>/dev/null | dmu-certdb add
	a=$(inv_of "127.0.0.1:$pa")
	assert_equal "$(jq -r .authorized <<<"$a")" unverified
	assert_equal "$(jq -c .warnings <<<"$a")" '["unverified"]'
	b=$(inv_of "127.0.0.1:$pb")
	assert_equal "$(jq -r .authorized <<<"$b")" fingerprint
	assert_equal "$(jq -c .warnings <<<"$b")" '[]'
	# An audit finds every pin nobody compared.
	run --separate-stderr sh -c "dmu-certdb inventory | jq -r 'select(.warnings | index(\"unverified\")) | .device'"
	assert_success
	assert_output "127.0.0.1:$pa"
}

@test "inventory: weak keys and signatures are warnings, and the pin still works" {
	openssl req -x509 -newkey rsa:1024 -nodes -sha1 -subj /CN=DMU801 \
	    -days 30 -keyout weak.key -out weak.pem 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -md5 -subj /CN=DMU801 \
	    -days 30 -keyout md5.key -out md5.pem 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=DMU801 \
	    -sigopt rsa_padding_mode:pss -days 30 -keyout pss.key \
	    -out pss.pem 2>/dev/null
	dmu-certdb import -F "$(fpr_hex weak)" weak.example < weak.pem
	dmu-certdb import -F "$(fpr_hex md5)" md5.example < md5.pem
	dmu-certdb import -F "$(fpr_hex pss)" pss.example < pss.pem
	run dmu-certdb inventory
	assert_success
	assert_equal "$(jq -c '[.device, .key, .signature, .warnings]' <<<"$output")" \
	    '["weak.example:443","RSA 1024","sha1WithRSAEncryption",["rsa-under-2048","sha1-signature"]]
["md5.example:443","RSA 2048","md5WithRSAEncryption",["md5-signature"]]
["pss.example:443","RSA 2048","rsassa-pss",[]]'
	# A warning keeps no pin from working.
	start_sim weak
	dmu-certdb remove weak.example
	record "127.0.0.1:$SIM_PORT" weak | dmu-certdb add
	run dmu-pin-check -t "$T" "127.0.0.1:$SIM_PORT"
	assert_success
	assert_output "127.0.0.1:$SIM_PORT ok $(fpr_hex weak)"
}

# dated NAME START END: a self-signed certificate NAME.pem valid from START
# to END (YYYYMMDDHHMMSSZ), made with openssl ca, which can date it.
dated() {
	mkdir -p ca
	printf '%s\n' '[ca]' 'default_ca = d' '[d]' 'database = ca/index.txt' \
	    'new_certs_dir = ca' 'serial = ca/serial' 'default_md = sha256' \
	    'policy = p' 'unique_subject = no' '[p]' 'commonName = supplied' >ca/ca.cnf
	: >ca/index.txt
	od -An -N8 -tx1 /dev/urandom | tr -d ' \n' >ca/serial
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -subj /CN=DMU801 -keyout "$1.key" -out ca/req.csr 2>/dev/null
	openssl ca -batch -config ca/ca.cnf -selfsign -keyfile "$1.key" \
	    -in ca/req.csr -startdate "$2" -enddate "$3" -out "$1.pem" \
	    >/dev/null 2>&1 || fail "openssl ca: cannot make $1.pem"
}

@test "inventory: expired and not-yet-valid come from the clock, the dates from the certificate" {
	dated old 20000101000000Z 20010101000000Z
	dated future 20900101000000Z 20991231235959Z
	mkcert now ec
	record old.example:443 old | dmu-certdb add
	record future.example:443 future | dmu-certdb add
	record now.example:443 now | dmu-certdb add
	run dmu-certdb inventory
	assert_success
	assert_equal "$(jq -c '[.device, .not_before, .not_after, .warnings]' <<<"$output")" \
	    '["old.example:443","2000-01-01T00:00:00Z","2001-01-01T00:00:00Z",["expired"]]
["future.example:443","2090-01-01T00:00:00Z","2099-12-31T23:59:59Z",["not-yet-valid"]]
["now.example:443","'"$(openssl_date now startdate)"'","'"$(openssl_date now enddate)"'",[]]'
	# An expired pin still works: the inventory only tells.
	start_sim old
	dmu-certdb remove old.example
	record "127.0.0.1:$SIM_PORT" old | dmu-certdb add
	run dmu-pin-check -t "$T" "127.0.0.1:$SIM_PORT"
	assert_success
}

@test "inventory: names with quotes, backslashes, control and non-ASCII bytes are valid JSON" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -utf8 -subj $'/CN=a"b\\\\c\x01d/O=\xc3\xa9t\xc3\xa9' -days 30 \
	    -keyout odd.key -out odd.pem 2>/dev/null
	dmu-certdb import -F "$(fpr_hex odd)" odd.example < odd.pem
	run dmu-certdb inventory
	assert_success
	assert_equal "${#lines[@]}" 1
	subject=$(jq -r .subject <<<"$output")
	[[ $subject == 'CN=a"b\c'?'d,O='* ]] || fail "subject: $subject"
	# Whatever the bytes, the line is valid JSON with nothing raw in it.
	jq -e . <<<"$output" >/dev/null
	! LC_ALL=C grep -q $'[\x01-\x1f\x7f-\xff]' <<<"$output"
}

@test "inventory: a signature algorithm without a name is its OID; devices named; unknown 3, bad record 7" {
	mkcert a ec
	mkcert b ec
	# Another OID in the outer signatureAlgorithm (the signature itself
	# is never verified: the pin is the whole certificate).
	openssl x509 -in a.pem -outform DER | od -An -v -tx1 | tr -d ' \n' >a.hex
	python3 - <<'PY'
h = open("a.hex").read()
i = h.rfind("2a8648ce3d040302")
open("odd.der", "wb").write(bytes.fromhex(h[:i] + "2a8648ce3d040309" + h[i + 16:]))
PY
	openssl x509 -inform DER -in odd.der -out odd.pem
	dmu-certdb import -F "$(fpr_hex odd)" odd.example < odd.pem
	record st2.example:443 b | dmu-certdb add
	run --separate-stderr dmu-certdb inventory odd.example nope.example st2.example
	assert_failure 3
	assert_equal "$(jq -r '"\(.device) \(.signature)"' <<<"$output")" \
	    "odd.example:443 1.2.840.10045.4.3.9
st2.example:443 ecdsa-with-SHA256"
	[[ $stderr == *"nope.example:443: unknown device"* ]] || fail "$stderr"
	# A record whose certificate is not its fingerprint: left out, 7.
	awk '/^st2/ { $2 = "'"$(fpr_hex a)"'" } { print }' "$DMU_CERTDB" >db2
	run --separate-stderr dmu-certdb -f db2 inventory
	assert_failure 7
	assert_equal "$(jq -r .device <<<"$output")" odd.example:443
	run --separate-stderr dmu-certdb inventory -x
	assert_failure 2
}

@test "inventory: 10,000 pins, one line each, in file order (speed: make bench)" {
	mkcert a ec
	rec=$(record 127.0.0.1:1 a)
	{ echo "$DB_HEADER"
	  awk -v r="$rec" 'BEGIN { split(r, f, " ")
	    for (i = 1; i <= 10000; i++)
		printf "10.%d.%d.%d:443 %s %s %s\n", int(i / 65536),
		    int(i / 256) % 256, i % 256, f[2], f[3], f[4] }'; } >"$DMU_CERTDB"
	run dmu-certdb inventory
	assert_success
	assert_equal "${#lines[@]}" 10000
	assert_equal "$(jq -r .device <<<"$output" | sed -n '1p;10000p')" \
	    "10.0.0.1:443
10.0.39.16:443"
	assert_equal "$(jq -r .sha256 <<<"$output" | sort -u)" "$(fpr_hex a)"
}

# ---- dmu-pin-check -m ----

# need_promtool: skips, saying why, when promtool is missing (CI has it).
need_promtool() {
	command -v promtool >/dev/null ||
	    skip "promtool is not installed (Debian package prometheus)"
}

# check_metrics FILE: promtool accepts FILE, lint warnings included.
check_metrics() {
	local out
	out=$(promtool check metrics <"$1" 2>&1) ||
	    fail "promtool check metrics: $out"$'\n'"$(cat "$1")"
	[ -z "$out" ] || fail "promtool: $out"
}

# sample FILE SERIES: the value of one series (name and labels as written).
sample() {
	S=$2 awk 'index($0, ENVIRON["S"] " ") == 1 {
	    print substr($0, length(ENVIRON["S"]) + 2) }' "$1"
}

@test "pin-check -m: ok, mismatch, unknown, unreachable, incompatible and error, as promtool accepts" {
	need_promtool
	sim_up a
	OK=$DEV
	sim_up b
	MIS=$DEV
	mkcert other ec
	record "$MIS" other | dmu-certdb add -r 2>/dev/null
	mkcert old rsa
	start_sim old -V tls10
	INC=127.0.0.1:$SIM_PORT
	dmu-certdb import "$INC" <old.pem
	closed_port dport
	DOWN=127.0.0.1:$dport
	record "$DOWN" a | dmu-certdb add
	run --separate-stderr dmu-pin-check -t "$T" -j 4 -m pins.prom \
	    "$OK" "$MIS" 127.0.0.1:9 "$DOWN" "$INC" 'bad"\dev' </dev/null
	assert_failure 4
	check_metrics pins.prom
	assert_equal "$(stat -c %a pins.prom)" 644
	assert_equal "$(sample pins.prom "dmu_pin_ok{device=\"$OK\"}")" 1
	assert_equal "$(sample pins.prom "dmu_pin_ok{device=\"$MIS\"}")" 0
	st() { grep "^dmu_pin_status{device=\"$1\"," pins.prom | grep ' 1$' |
	    sed 's/.*status="\([a-z]*\)".*/\1/'; }
	assert_equal "$(st "$OK")" ok
	assert_equal "$(st "$MIS")" mismatch
	assert_equal "$(st 127.0.0.1:9)" unknown
	assert_equal "$(st "$DOWN")" unreachable
	assert_equal "$(st "$INC")" incompatible
	# Each device has all six statuses, exactly one of them at 1.
	assert_equal "$(grep -c "^dmu_pin_status{device=\"$OK\"," pins.prom)" 6
	assert_equal "$(grep -c '^dmu_pin_status{.* 1$' pins.prom)" 6
	# The label value of an invalid device is escaped as the format says.
	assert_equal "$(sample pins.prom 'dmu_pin_ok{device="bad\"\\134dev"}')" 0
	assert_equal "$(sample pins.prom 'dmu_pin_status{device="bad\"\\134dev",status="error"}')" 1
	# Durations for the devices connected to; not-after from the pin.
	d=$(sample pins.prom "dmu_pin_check_duration_seconds{device=\"$OK\"}")
	awk -v d="$d" 'BEGIN { exit !(d >= 0 && d < 5) }' || fail "duration '$d'"
	[ -z "$(sample pins.prom 'dmu_pin_check_duration_seconds{device="127.0.0.1:9:443"}')" ]
	assert_equal "$(sample pins.prom "dmu_cert_not_after_timestamp_seconds{device=\"$OK\"}")" \
	    "$(date -u -d "$(openssl x509 -in a.pem -noout -enddate | cut -d= -f2)" +%s)"
	assert_equal "$(sample pins.prom "dmu_cert_not_after_timestamp_seconds{device=\"$MIS\"}")" \
	    "$(date -u -d "$(openssl x509 -in other.pem -noout -enddate | cut -d= -f2)" +%s)"
	# HELP and TYPE once per family, before its samples.
	assert_equal "$(grep '^# TYPE' pins.prom)" "# TYPE dmu_pin_ok gauge
# TYPE dmu_pin_status gauge
# TYPE dmu_pin_check_duration_seconds gauge
# TYPE dmu_cert_not_after_timestamp_seconds gauge"
}

@test "pin-check -m: the file is replaced whole, a device named twice counts once, a write failure is 1" {
	need_promtool
	sim_up a
	mkdir m
	echo 'stale 1' >m/pins.prom
	ino=$(stat -c %i m/pins.prom)
	run dmu-pin-check -t "$T" -m m/pins.prom "$DEV" "$DEV" </dev/null
	assert_success
	assert_equal "${#lines[@]}" 2
	check_metrics m/pins.prom
	assert_equal "$(grep -c '^dmu_pin_ok' m/pins.prom)" 1
	# A new file renamed over the old one; no temporary file left.
	[ "$(stat -c %i m/pins.prom)" != "$ino" ]
	assert_equal "$(ls m)" pins.prom
	# No directory to write in: the lines still come, the status is 1.
	run --separate-stderr dmu-pin-check -t "$T" -m nodir/pins.prom "$DEV" </dev/null
	assert_failure 1
	assert_output "$DEV ok $(fpr_hex a)"
	[[ $stderr == *"nodir/pins.prom"* ]] || fail "stderr: $stderr"
	# A mismatch still wins over the write failure.
	mkcert other ec
	record "$DEV" other | dmu-certdb add -r 2>/dev/null
	run --separate-stderr dmu-pin-check -t "$T" -m nodir/pins.prom "$DEV" </dev/null
	assert_failure 4
	run --separate-stderr dmu-pin-check -m </dev/null
	assert_failure 2
}

# ---- the real node exporter ----

NODE_EXPORTER=${NODE_EXPORTER:-prometheus-node-exporter}

# start_exporter DIR: prometheus-node-exporter on a free loopback port with
# only its textfile collector, reading DIR; sets EXPORTER_URL.  teardown
# stops it (stop_bg).  Skips, saying why, when the binary is missing.
start_exporter() {
	local port i
	command -v "$NODE_EXPORTER" >/dev/null ||
	    skip "prometheus-node-exporter is not installed (Debian package prometheus-node-exporter)"
	port=$(free_port)
	bg exporter.out exporter.err "$NODE_EXPORTER" \
	    --web.listen-address="127.0.0.1:$port" \
	    --collector.disable-defaults --collector.textfile \
	    --collector.textfile.directory="$1"
	EXPORTER_URL=http://127.0.0.1:$port/metrics
	for ((i = 0; i < 500; i++)); do
		curl -sf "$EXPORTER_URL" >/dev/null 2>&1 && return 0
		kill -0 "$BG_PID" 2>/dev/null ||
		    fail "node exporter did not start: $(cat exporter.err)"
		sleep 0.02
	done
	fail "node exporter: no answer on $EXPORTER_URL: $(cat exporter.err)"
}

# scrape: what the exporter serves now, into scrape.txt.
scrape() {
	curl -sf "$EXPORTER_URL" >scrape.txt || fail "cannot scrape $EXPORTER_URL"
}

@test "node exporter: serves the pin-check metrics from its textfile directory, without a scrape error" {
	need_promtool
	sim_up a
	OK=$DEV
	sim_up b
	MIS=$DEV
	mkcert other ec
	record "$MIS" other | dmu-certdb add -r 2>/dev/null
	mkdir textfile
	start_exporter "$PWD/textfile"
	run dmu-pin-check -t "$T" -m textfile/dmu-pins.prom "$OK" "$MIS" </dev/null
	assert_failure 4
	scrape
	grep -q "^dmu_pin_ok{device=\"$OK\"} 1$" scrape.txt || fail "$(grep dmu_ scrape.txt)"
	grep -q "^dmu_pin_ok{device=\"$MIS\"} 0$" scrape.txt
	grep -q "^dmu_pin_status{device=\"$MIS\",status=\"mismatch\"} 1$" scrape.txt
	grep -q '^node_textfile_scrape_error 0$' scrape.txt ||
	    fail "scrape error: $(grep textfile scrape.txt)"
	promtool check metrics <scrape.txt >/dev/null 2>&1 ||
	    fail "promtool: $(promtool check metrics <scrape.txt 2>&1)"
	# The device replaced its certificate with the pinned one: ok again.
	record "$MIS" b | dmu-certdb add -r 2>/dev/null
	run dmu-pin-check -t "$T" -m textfile/dmu-pins.prom "$OK" "$MIS" </dev/null
	assert_success
	scrape
	grep -q "^dmu_pin_ok{device=\"$MIS\"} 1$" scrape.txt
}

# ---- check_dmu ----

# plugin: check_dmu as make install writes it, with the programs under
# test as its BINDIR.
plugin() {
	sed "s#^BINDIR=\$#BINDIR=$DMU_BIN#" "$DMU_REPO/share/monitoring/check_dmu" >check_dmu
	chmod 755 check_dmu
}

# as_nagios ARG...: runs check_dmu as Nagios and Icinga run plugins: an
# empty environment, no standard input, no terminal.  Sets status, output
# (standard output; standard error goes to plugin.err) and elapsed (ms).
as_nagios() {
	local t0
	t0=$(now_ms)
	run setsid env -i ./check_dmu "$@" </dev/null 2>plugin.err
	elapsed=$(($(now_ms) - t0))
}

# valid_plugin_output: the first line is "DMU PINS STATE - TEXT | PERFDATA",
# STATE matching the exit status, and the performance data follows the
# guidelines: 'label'=value[UOM];[warn];[crit];[min];[max], separated by
# spaces, warn and crit in range format.
valid_plugin_output() {
	local first=${lines[0]} states=(OK WARNING CRITICAL UNKNOWN) perf item
	local num='-?([0-9]+([.][0-9]+)?|[.][0-9]+)'
	local range="@?((~|$num):)?($num)?"
	[[ $first =~ ^DMU\ PINS\ (OK|WARNING|CRITICAL|UNKNOWN)\ -\ [^\|]+$|^DMU\ PINS\ (OK|WARNING|CRITICAL|UNKNOWN)\ -\ [^\|]+\ \|\ (.*)$ ]] ||
	    fail "status line: '$first'"
	[ "$status" -le 3 ] || fail "exit $status"
	[[ $first == "DMU PINS ${states[$status]} - "* ]] ||
	    fail "exit $status does not match '$first'"
	[[ $first == *" | "* ]] || return 0
	perf=${first#* | }
	for item in $perf; do
		[[ $item =~ ^([^\ \'=]+|\'([^\']|\'\')+\')=($num)(s|ms|us|%|B|KB|MB|TB|c)?(\;($range)?(\;($range)?(\;($num)?(\;($num)?)?)?)?)?$ ]] ||
		    fail "perfdata item '$item' in '$first'"
	done
	# No '|' after the first line's performance data.
	[ "$(printf '%s\n' "${lines[@]:1}" | grep -c '|')" = 0 ] ||
	    fail "'|' in the long output: $output"
}

# perf LABEL: the value of one performance data item, without its UOM.
perf() {
	printf '%s\n' "${lines[0]#* | }" | tr ' ' '\n' |
	    sed -n "s/^$1=\([-0-9.]*\).*/\1/p"
}

@test "check_dmu: OK, run as Nagios runs it: empty environment, no stdin, no terminal" {
	sim_up a
	A=$DEV
	sim_up b
	plugin
	as_nagios -f "$DMU_CERTDB"
	assert_equal "$status" 0
	valid_plugin_output
	assert_equal "${#lines[@]}" 1
	[[ ${lines[0]} == "DMU PINS OK - 2 ok | "* ]] || fail "${lines[0]}"
	assert_equal "$(perf ok) $(perf mismatch) $(perf unreachable) $(perf unknown)" "2 0 0 0"
	t=$(perf time)
	awk -v t="$t" 'BEGIN { exit !(t > 0 && t < 10) }' || fail "time=$t"
	[[ ${lines[0]} == *" time=${t}s;;;0" ]] || fail "${lines[0]}"
	# Named devices only; one that is not in the database is UNKNOWN.
	as_nagios -f "$DMU_CERTDB" "$A" 127.0.0.1:9
	assert_equal "$status" 3
	valid_plugin_output
	[[ ${lines[0]} == "DMU PINS UNKNOWN - 1 unknown: 127.0.0.1:9; 1 ok | "* ]] || fail "${lines[0]}"
	assert_line -n 1 "127.0.0.1:9 unknown"
}

@test "check_dmu: any mismatch is CRITICAL and named, whatever the thresholds" {
	sim_up a
	A=$DEV
	sim_up b
	B=$DEV
	mkcert other ec
	record "$B" other | dmu-certdb add -r 2>/dev/null
	closed_port dport
	DOWN=127.0.0.1:$dport
	record "$DOWN" a | dmu-certdb add
	plugin
	as_nagios -f "$DMU_CERTDB" -w 5 -c 10
	assert_equal "$status" 2
	valid_plugin_output
	[[ ${lines[0]} == "DMU PINS CRITICAL - 1 mismatch: $B; 1 unreachable: $DOWN; 1 ok | "* ]] ||
	    fail "${lines[0]}"
	assert_equal "$(perf mismatch) $(perf unreachable) $(perf ok)" "1 1 1"
	[[ ${lines[0]} == *" unreachable=1;5;10;0;3 "* ]] || fail "${lines[0]}"
	assert_line -n 1 "$B mismatch presented=$(fpr_hex b) expected=$(fpr_hex other)"
	assert_line -n 2 --regexp "^$DOWN error unreachable "
	echo "${lines[0]}" >"$BATS_FILE_TMPDIR/check_dmu.line"
}

@test "check_dmu: unreachable devices against -w and -c in the guidelines' range syntax" {
	sim_up a
	closed_port p1
	closed_port p2
	D1=127.0.0.1:$p1
	D2=127.0.0.1:$p2
	record "$D1" a | dmu-certdb add
	record "$D2" a | dmu-certdb add
	plugin
	# try WARN CRIT: the state for 2 unreachable and 1 ok.
	try() {
		local args=(-f "$DMU_CERTDB" -t 5)
		[ -z "$1" ] || args+=(-w "$1")
		[ -z "$2" ] || args+=(-c "$2")
		as_nagios "${args[@]}"
		valid_plugin_output
		echo "$status"
	}
	assert_equal "$(try '' '')" 1		# default -w 0
	assert_equal "$(try 2 '')" 0		# 0..2
	assert_equal "$(try 1 '')" 1		# above 1
	assert_equal "$(try 0 1)" 2		# above 1: critical wins
	assert_equal "$(try 0 2)" 1
	assert_equal "$(try '~:1' '')" 1	# above 1, no lower end
	assert_equal "$(try '3:' '')" 1		# below 3
	assert_equal "$(try '2:' '')" 0
	assert_equal "$(try '5:10' '')" 1	# outside 5..10
	assert_equal "$(try '1:2' '')" 0
	assert_equal "$(try '@1:2' '')" 1	# inside 1..2
	assert_equal "$(try '@3:4' '')" 0
	assert_equal "$(try 10 '@2:2')" 2
	assert_equal "$(try 10 '@0.5:1.5')" 0
	assert_equal "$(try 10 '~:')" 0
}

@test "check_dmu: a bad option, a bad range, an unreadable database are UNKNOWN (3)" {
	sim_up a
	plugin
	for args in "-x" "-w" "-w abc" "-w 5:1" "-c @:" "-t 0" "-t 3601" "-t x" "-j 0"; do
		# shellcheck disable=SC2086
		as_nagios -f "$DMU_CERTDB" $args
		assert_equal "$status" 3
		valid_plugin_output
		[[ ${lines[0]} == "DMU PINS UNKNOWN - "* ]] || fail "$args: ${lines[0]}"
	done
	as_nagios -f "$DMU_CERTDB" -x
	assert_line -n 0 "DMU PINS UNKNOWN - invalid option -x"
	assert_line -n 1 --partial "Usage: check_dmu "
	# A database that is a directory, one with a bad line, none at all.
	mkdir dir.db
	as_nagios -f "$PWD/dir.db"
	assert_equal "$status" 3
	valid_plugin_output
	[[ ${lines[0]} == "DMU PINS UNKNOWN - cannot read the certificate database: "* ]] || fail "${lines[0]}"
	{ echo "$DB_HEADER"; echo "garbage"; } >bad.db
	as_nagios -f "$PWD/bad.db"
	assert_equal "$status" 3
	valid_plugin_output
	[[ ${lines[0]} == *"bad.db:2"* ]] || fail "${lines[0]}"
	as_nagios -f "$PWD/bad.db" "$DEV"
	assert_equal "$status" 3
	valid_plugin_output
	[[ ${lines[0]} == "DMU PINS UNKNOWN - dmu-pin-check failed (exit 7): "* ]] || fail "${lines[0]}"
	# None at all: its path and how to start one, whether the stations
	# come from the database or are named.
	as_nagios -f "$PWD/none.db"
	assert_equal "$status" 3
	valid_plugin_output
	assert_line -n 0 "DMU PINS UNKNOWN - cannot read the certificate database: dmu-certdb: $PWD/none.db: no certificate database (a missing one is not an empty one); start one with: dmu-learn -F FINGERPRINT DEVICE piped into dmu-certdb -f $PWD/none.db add"
	as_nagios -f "$PWD/none.db" "$DEV"
	assert_equal "$status" 3
	valid_plugin_output
	[[ ${lines[0]} == "DMU PINS UNKNOWN - dmu-pin-check failed (exit 1): dmu-pin-check: $PWD/none.db: no certificate database"* ]] ||
	    fail "${lines[0]}"
	# An empty one that exists: no devices.
	: >empty.db
	as_nagios -f "$PWD/empty.db"
	assert_equal "$status" 3
	valid_plugin_output
	assert_line -n 0 "DMU PINS UNKNOWN - no devices in the certificate database $PWD/empty.db"
	# Without its programs (PATH as a monitoring system sets it).
	cp "$DMU_REPO/share/monitoring/check_dmu" bare
	command -v dmu-pin-check | grep -q "^$DMU_BIN/" || skip "dmu-pin-check is installed"
	run setsid env -i PATH=/usr/bin:/bin ./bare -f "$DMU_CERTDB" </dev/null
	assert_equal "$status" 3
	assert_line -n 0 --partial "DMU PINS UNKNOWN - dmu-pin-check not found"
}

@test "check_dmu: nothing it echoes (arguments, database, dmu-pin-check's lines) brings a control character" {
	sim_up a
	plugin
	esc=$'\033]0;owned\007\033[2J'
	raw=[$'\001'-$'\011'$'\013'-$'\037'$'\177']
	for o in -t -j -w -c; do
		as_nagios -f "$DMU_CERTDB" "$o" "x$esc"
		assert_equal "$status" 3
		valid_plugin_output
		[[ $output != *$raw* ]] || fail "$o: raw: $(cat -v <<<"$output")"
	done
	as_nagios -f "$DMU_CERTDB" -$'\033'
	assert_equal "$status" 3
	assert_line -n 0 "DMU PINS UNKNOWN - invalid option -?"
	as_nagios -f "$DMU_CERTDB" -t "x$esc$(printf 'x%.0s' {1..300})"
	[[ ${lines[0]} == "DMU PINS UNKNOWN - invalid time-out 'x?]0;owned??[2Jxxx"*"...' (1 to 3600 seconds)" ]] || fail "${lines[0]}"
	as_nagios -f "$PWD/no${esc}ne.db"
	assert_equal "$status" 3
	[[ $output != *$raw* ]] || fail "raw: $(cat -v <<<"$output")"
	# What dmu-pin-check prints is scrubbed too, should it ever carry one.
	mkdir fake
	cat >fake/dmu-pin-check <<-EOF
	#!/bin/sh
	cat >/dev/null
	printf '%s\\n' "st1:443 ok abc" "st$esc:443 error unreachable x$esc" "st2:443 mismatch presented=$esc"
	EOF
	chmod 755 fake/dmu-pin-check
	sed "s#^BINDIR=.*#BINDIR=$PWD/fake#" check_dmu >check_fake
	chmod 755 check_fake
	run setsid env -i ./check_fake st1:443 st2:443 st3:443 </dev/null
	assert_equal "$status" 2
	[[ $output != *$raw* ]] || fail "raw: $(cat -v <<<"$output")"
	assert_line -n 1 "st?]0;owned??[2J:443 error unreachable x?]0;owned??[2J"
}

@test "check_dmu: its own time-out is UNKNOWN, on time, and leaves no process or file behind" {
	mkcert s ec
	start_sim s -S silent
	dmu-certdb import "127.0.0.1:$SIM_PORT" <s.pem
	# A silent device four times, one at a time, 1 s each: the plugin's
	# 2 s end first.
	plugin
	mkdir tmp
	t0=$(now_ms)
	out=$(setsid env -i TMPDIR="$PWD/tmp" ./check_dmu -f "$DMU_CERTDB" -j 1 -t 2 \
	    127.0.0.1:"$SIM_PORT" 127.0.0.1:"$SIM_PORT" 127.0.0.1:"$SIM_PORT" \
	    127.0.0.1:"$SIM_PORT" </dev/null 2>plugin.err) && st=0 || st=$?
	t1=$(now_ms)
	assert_equal "$st" 3
	assert_equal "$out" "DMU PINS UNKNOWN - timed out after 2 seconds"
	# The output ends when the plugin does: nothing holds it open.
	[ $((t1 - t0)) -lt $((3500 * SLOW)) ] || fail "took $((t1 - t0)) ms"
	[ "$(ls tmp)" = "" ] || fail "left: $(ls tmp)"
	sleep 0.2
	# This test's own dmu-pin-check (its database), not another suite's.
	! pgrep -f "dmu-pin-check -j 1 -t 1 -f $DMU_CERTDB" >/dev/null ||
	    fail "dmu-pin-check still runs"
}

@test "check_dmu: stopped by the monitoring system (SIGTERM), it exits 3 and stops dmu-pin-check" {
	mkcert s ec
	start_sim s -S silent
	dmu-certdb import "127.0.0.1:$SIM_PORT" <s.pem
	plugin
	mkdir tmp
	bg out err env -i TMPDIR="$PWD/tmp" ./check_dmu -f "$DMU_CERTDB" -t 30
	wait_until 5 pgrep -f "dmu-pin-check -j 16 -t 29 -f $DMU_CERTDB" >/dev/null ||
	    fail "dmu-pin-check did not start"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 3
	gone() { ! pgrep -f "dmu-pin-check -j 16 -t 29 -f $DMU_CERTDB" >/dev/null; }
	wait_until 5 gone || fail "dmu-pin-check still runs"
	[ "$(ls tmp)" = "" ] || fail "left: $(ls tmp)"
	# Nothing with its environment still runs (timeout(1) included).
	none_left() {
		! grep -qszx "TMPDIR=$PWD/tmp" /proc/[0-9]*/environ
	}
	wait_until 5 none_left ||
	    fail "left running: $(grep -lzx "TMPDIR=$PWD/tmp" /proc/[0-9]*/environ 2>/dev/null)"
	# The same after a run that ends by itself, well before its time-out.
	env -i TMPDIR="$PWD/tmp" PATH="$PATH" ./check_dmu -f "$DMU_CERTDB" -t 30 \
	    "127.0.0.1:$(free_port)" >/dev/null 2>&1 || :
	wait_until 5 none_left ||
	    fail "left running: $(grep -lzx "TMPDIR=$PWD/tmp" /proc/[0-9]*/environ 2>/dev/null)"
}

@test "check_dmu: -h and --help print the usage and the range syntax, -V and --version the version" {
	plugin
	for o in -h --help; do
		as_nagios "$o"
		assert_equal "$status" 0
		assert_line -n 0 "check_dmu v$(sed -n 's/^VERSION *= *//p' "$DMU_REPO/Makefile") (dmu)"
		assert_output --partial "Usage: check_dmu [-f CERTDB] [-j JOBS] [-w RANGE] [-c RANGE] [-t SECONDS] [DEVICE ...]"
		assert_output --partial "@10:20"
	done
	for o in -V --version; do
		as_nagios "$o"
		assert_equal "$status" 0
		assert_output "check_dmu v$(sed -n 's/^VERSION *= *//p' "$DMU_REPO/Makefile") (dmu)"
	done
	# POSIX sh: dash runs it, and checkbashisms finds nothing when present.
	if command -v checkbashisms >/dev/null; then
		checkbashisms "$DMU_REPO/share/monitoring/check_dmu"
	fi
	sh -n "$DMU_REPO/share/monitoring/check_dmu"
}

# ---- documentation ----

@test "README: the inventory query of the Monitoring tour sorts the weakest keys first" {
	load helper-man
	openssl req -x509 -newkey rsa:1024 -nodes -sha1 -subj /CN=DMU801 \
	    -days 30 -keyout weak.key -out weak.pem 2>/dev/null
	mkcert a ec
	mkcert b rsa
	record st1.example:443 a | dmu-certdb add
	record st2.example:443 b | dmu-certdb add
	dmu-certdb import -F "$(fpr_hex weak)" st3.example < weak.pem
	cmd=$(readme_blocks Monitoring)
	[[ $cmd == "dmu-certdb inventory | jq"* ]] || fail "README: $cmd"
	run bash -e -o pipefail -c "$cmd"
	assert_success
	assert_output "$(printf '%s\t%s\t%s\n' "RSA 1024" st3.example:443 \
	    rsa-under-2048,sha1-signature "RSA 2048" st2.example:443 "" \
	    "EC P-256" st1.example:443 "")"
}

# ---- share/examples/plot ----

PLOT=$DMU_REPO/share/examples/plot

# png_size FILE: "WIDTH HEIGHT" from the IHDR chunk of a PNG, after
# checking the signature and that IHDR comes first.
png_size() {
	python3 - "$1" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n", "no PNG signature"
n, t = struct.unpack(">I4s", d[8:16])
assert t == b"IHDR" and n == 13, "IHDR is not the first chunk"
crc = struct.unpack(">I", d[29:33])[0]
assert crc == zlib.crc32(d[12:29]), "IHDR CRC"
assert d[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND at the end"
print(*struct.unpack(">II", d[16:24]))
PY
}

# minutely N: N new reports on the last sim_up's simulator, a minute
# apart by its clock.
minutely() {
	local i
	for ((i = 0; i < $1; i++)); do
		ctl "clock +60" >/dev/null
		ctl "gen 1" >/dev/null
	done
}

# two_sims: two simulators whose reports are a minute apart by their
# clock, 6 each; their reports in reports.ndjson.
two_sims() {
	mkcert a ec
	mkcert b ec
	sim_up a -n 0
	A=$DEV
	minutely 6
	sim_up b -n 0
	B=$DEV
	minutely 6
	{ dmu-get "$A" list; dmu-get "$B" list; } </dev/null >reports.ndjson
	[ "$(wc -l <reports.ndjson)" -eq 12 ] || fail "reports: $(cat reports.ndjson)"
}

@test "plot: a PNG of the expected size from the simulator's reports, through content.jq" {
	command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian package gnuplot-nox)"
	two_sims
	run --separate-stderr "$PLOT" -o st.png <reports.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_output ""
	assert_equal "$(png_size st.png)" "800 600"
	run --separate-stderr "$PLOT" -o small.png -s 640x400 -k TA reports.ndjson
	assert_success
	assert_equal "$(png_size small.png)" "640 400"
	# Another picture: fewer lines.
	! cmp -s st.png small.png
}

@test "plot: on the terminal, one panel per device names every numeric value" {
	command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian package gnuplot-nox)"
	two_sims
	run --separate-stderr env COLUMNS=100 "$PLOT" reports.ndjson
	assert_success
	assert_equal "$stderr" ""
	# Both devices are panel titles; TA, RH and PA are named in each key.
	grep -q "^ *$A *\$" <<<"$output" || fail "no panel for $A: $output"
	grep -q "^ *$B *\$" <<<"$output" || fail "no panel for $B: $output"
	for k in TA RH PA; do
		assert_equal "$(grep -cE " $k( \(right\))? [*#\$%@&=-]" <<<"$output")" 2
	done
	# PA, a hundred times larger, is on the right-hand axis.
	assert_equal "$(grep -c " PA (right) " <<<"$output")" 2
	# Text values (S, D, T) are not plotted; lines are 100 wide.
	! grep -qE ' (S|D|T) [*#$%@&=-]{3}' <<<"$output"
	assert_equal "$(awk '{ print length }' <<<"$output" | sort -nu | tail -n 1)" 100
	# -k picks values.
	run --separate-stderr "$PLOT" -k RH reports.ndjson
	assert_success
	assert_equal "$(grep -c ' RH [*#$%@&=-]' <<<"$output")" 2
	! grep -q ' TA [*#$%@&=-]' <<<"$output"
}

# reports_over SECONDS N: N reports of one device, evenly over SECONDS.
reports_over() {
	local i t0=1764890000
	for ((i = 0; i < $2; i++)); do
		printf '{"device":"st1:443","serial":%d,"timestamp":"%s","content":"TA=%d,RH=50"}\n' \
		    $((i + 1)) "$(date -u -d "@$((t0 + i * $1 / ($2 - 1)))" +%Y-%m-%dT%H:%M:%SZ)" "$i"
	done
}

# axis_labels: the time labels of the terminal plot in $output, one a line.
axis_labels() {
	grep -oE '\b[0-9]{2}:[0-9]{2}(:[0-9]{2})?\b' <<<"$output"
}

@test "plot: the time axis labels differ from tick to tick, over seconds, one instant and hours" {
	command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian package gnuplot-nox)"
	for span in 3 20 150 590; do
		reports_over "$span" 7 >r.ndjson
		run --separate-stderr env COLUMNS=100 "$PLOT" r.ndjson
		assert_success
		assert_equal "$stderr" ""
		labels=$(axis_labels)
		[ "$(wc -l <<<"$labels")" -ge 3 ] || fail "$span s: labels: $labels"
		# Seconds are shown, and no label repeats.
		grep -qvE '^[0-9]{2}:[0-9]{2}:[0-9]{2}$' <<<"$labels" &&
		    fail "$span s: a label without seconds: $labels"
		assert_equal "$(sort <<<"$labels" | uniq -d)" ""
	done
	# Every report at one instant: labels around it, none repeated.
	reports_over 0 3 >r1.ndjson
	run --separate-stderr env COLUMNS=100 "$PLOT" r1.ndjson
	assert_success
	labels=$(axis_labels)
	[ "$(wc -l <<<"$labels")" -ge 3 ] || fail "one instant: labels: $labels"
	assert_equal "$(sort <<<"$labels" | uniq -d)" ""
	# Over hours: hours and minutes, with the date under them.
	reports_over 14400 7 >r.ndjson
	run --separate-stderr env COLUMNS=100 "$PLOT" r.ndjson
	assert_success
	labels=$(axis_labels)
	assert_equal "$(sort <<<"$labels" | uniq -d)" ""
	grep -qE '^ *([0-9]{2}:[0-9]{2} +)+[0-9]{2}:[0-9]{2} *$' <<<"$output" ||
	    fail "no HH:MM labels: $output"
	grep -qE '^ *(12-0[45] +)+12-0[45] *$' <<<"$output" || fail "no dates: $output"
}

@test "plot: says clearly when gnuplot is missing; bad input and usage errors" {
	mkdir bin
	for t in sh dirname mktemp jq awk grep rm head cat; do
		ln -s "$(command -v "$t")" bin/
	done
	printf '%s\n' '{"device":"x","timestamp":"2026-01-01T00:00:00Z","content":"TA=1"}' >r.ndjson
	run --separate-stderr env PATH="$PWD/bin" "$PLOT" r.ndjson
	assert_failure 1
	assert_output ""
	[[ $stderr == *"gnuplot is not installed"*"apt install gnuplot-nox"* ]] || fail "$stderr"
	command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian package gnuplot-nox)"
	run --separate-stderr "$PLOT" -s big r.ndjson
	assert_failure 2
	echo 'not json' >bad.ndjson
	run --separate-stderr "$PLOT" bad.ndjson
	assert_failure 1
	[[ $stderr == "plot: cannot read the reports: "* ]] || fail "$stderr"
	echo '{"device":"x","timestamp":"2026-01-01T00:00:00Z","content":"S=A"}' >text.ndjson
	run --separate-stderr "$PLOT" text.ndjson
	assert_failure 1
	assert_equal "$stderr" "plot: no report with a numeric value and a timestamp"
	# Names from a device cannot reach gnuplot's syntax.
	printf '%s\n' '{"device":"a'"'"'\"; system(\"touch pwned\")","timestamp":"2026-01-01T00:00:00Z","content":"T'"'"'A=1,X\"=2"}' >odd.ndjson
	run --separate-stderr "$PLOT" -o odd.png odd.ndjson
	assert_success
	[ ! -e pwned ]
	[ "$(png_size odd.png)" = "800 600" ]
}

@test "plot: station and key names from report content reach the terminal scrubbed and cut with ..." {
	command -v gnuplot >/dev/null || skip "gnuplot is not installed (Debian package gnuplot-nox)"
	long=$(printf 'y%.0s' {1..80})
	for t in 00 01; do
		printf '{"device":"st\\u001b]0;x\\u0007\\u009b2J%s","timestamp":"2026-01-01T00:%s:00Z","content":"T\\u001b[31mA=1,RH=2"}\n' "$long" "$t"
	done >esc.ndjson
	run --separate-stderr env COLUMNS=120 "$PLOT" esc.ndjson
	assert_success
	[[ "$output$stderr" != *[$'\001'-$'\010'$'\016'-$'\037'$'\177']* ]] || fail "raw: $(cat -v <<<"$output")"
	[[ $output != *$'\xc2\x9b'* ]] || fail "raw C1: $(cat -v <<<"$output")"
	grep -q "^ *st?]0;x??2Jy\{46\}\.\.\. *\$" <<<"$output" || fail "title: $(cat -v <<<"$output")"
	grep -q " T?\[31mA \*" <<<"$output" || fail "key: $(cat -v <<<"$output")"
	# What jq quotes of input it cannot take is scrubbed as well.
	printf '{"device":"x","timestamp":"2026-01-01T00:00:00Z","content":1}\n{"a":"\033[2J\007' >bad.ndjson
	run --separate-stderr "$PLOT" bad.ndjson
	assert_failure 1
	[[ $stderr == "plot: cannot read the reports: "* ]] || fail "$stderr"
	[[ $stderr != *[$'\001'-$'\037'$'\177']* ]] || fail "raw: $(cat -v <<<"$stderr")"
}

# ---- alert rules ----

@test "rules: promtool check rules accepts share/monitoring/dmu.rules.yml" {
	need_promtool
	run promtool check rules "$DMU_REPO/share/monitoring/dmu.rules.yml"
	assert_success
	assert_output --partial "SUCCESS: 7 rules found"
}

@test "rules: promtool test rules: each alert fires on its case and not on a healthy collector" {
	need_promtool
	cp "$DMU_REPO/share/monitoring/dmu.rules.yml" .
	cat >tests.yml <<'YML'
rule_files: [dmu.rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'dmu_pin_status{device="st1:443",status="mismatch"}'
        values: '0 1 1'
      - series: 'dmu_pin_ok{device="st1:443"}'
        values: '1 0 0'
      - series: 'dmu_pin_status{device="st2:443",status="mismatch"}'
        values: '0x40'
      - series: 'dmu_pin_ok{device="st2:443"}'
        values: '0x40'
      - series: 'dmu_up{device="st3:443"}'
        values: '1x5 0x10'
      - series: 'dmu_reports_total{device="st3:443"}'
        values: '0+1x40'
      - series: 'dmu_lost_reports_total{device="st3:443"}'
        values: '0x10 3x30'
      - series: 'dmu_up{device="st4:443"}'
        values: '1x40'
      - series: 'dmu_reports_total{device="st4:443"}'
        values: '0+1x5 5x35'
      - series: 'dmu_lost_reports_total{device="st4:443"}'
        values: '0x40'
      - series: 'node_textfile_mtime_seconds{file="/var/lib/prometheus/node-exporter/dmu-pins.prom"}'
        values: '0x40'
      - series: 'node_textfile_mtime_seconds{file="/var/lib/prometheus/node-exporter/dmu-st5:443.prom"}'
        values: '0+60x10 600x30'
      - series: 'dmu_sink_waiting_reports{device="st6:443"}'
        values: '0x3 4x20'
      - series: 'dmu_sink_waiting_reports{device="st7:443"}'
        values: '0 5 5 5 5 5 0 5 5 5 5 5 0 5 5 5 5 5 0 5 5 5'
    alert_rule_test:
      - eval_time: 2m
        alertname: DmuCertificateMismatch
        exp_alerts:
          - exp_labels: {severity: critical, device: "st1:443", status: mismatch}
            exp_annotations:
              summary: "st1:443 presented another certificate than the pinned one"
              description: "dmu-pin-check found a certificate mismatch on st1:443 (another certificate, or the pinned one without its key). Check the device; re-learn it only if it was really replaced."
      - eval_time: 40m
        alertname: DmuPinCheckFailing
        exp_alerts:
          - exp_labels: {severity: warning, device: "st2:443"}
            exp_annotations:
              summary: "st2:443 failed its pin check for 30 minutes"
              description: "dmu_pin_status says why: unreachable, incompatible, unknown or error."
      - eval_time: 4m
        alertname: DmuCollectorDown
        exp_alerts: []
      - eval_time: 14m
        alertname: DmuCollectorDown
        exp_alerts:
          - exp_labels: {severity: warning, device: "st3:443"}
            exp_annotations:
              summary: "dmu collector down (st3:443)"
              description: "The collector is not connected to its device, or has stopped writing its metrics file."
      - eval_time: 25m
        alertname: DmuCollectorDown
        exp_alerts:
          - exp_labels: {severity: warning, file: "/var/lib/prometheus/node-exporter/dmu-st5:443.prom"}
            exp_annotations:
              summary: "dmu collector down (/var/lib/prometheus/node-exporter/dmu-st5:443.prom)"
              description: "The collector is not connected to its device, or has stopped writing its metrics file."
      - eval_time: 12m
        alertname: DmuLostReports
        exp_alerts:
          - exp_labels: {severity: warning, device: "st3:443"}
            exp_annotations:
              summary: "st3:443 lost 3 reports in the last hour"
              description: "Serials were missing between answers: the device's buffer overflowed before they were read."
      # dmu-pins.prom, never rewritten after time 0: stale after 30 min.
      - eval_time: 20m
        alertname: DmuPinCheckStale
        exp_alerts: []
      - eval_time: 35m
        alertname: DmuPinCheckStale
        exp_alerts:
          - exp_labels: {severity: warning, file: "/var/lib/prometheus/node-exporter/dmu-pins.prom"}
            exp_annotations:
              summary: "the dmu pin check has not run for 35m 0s (/var/lib/prometheus/node-exporter/dmu-pins.prom)"
              description: "dmu-pin-check -m has not rewritten this file: its last results are stale and may hide a mismatch. Check the timer or cron job that runs it, and its log."
      - eval_time: 10m
        alertname: DmuNoReport
        exp_alerts: []
      - eval_time: 30m
        alertname: DmuNoReport
        exp_alerts:
          - exp_labels: {severity: warning, device: "st4:443"}
            exp_annotations:
              summary: "no report from st4:443 for 15 minutes"
              description: "The collector is connected, but no new report came in 15 minutes."
      - eval_time: 12m
        alertname: DmuSinkFailing
        exp_alerts: []
      - eval_time: 14m
        alertname: DmuSinkFailing
        exp_alerts:
          - exp_labels: {severity: warning, device: "st6:443"}
            exp_annotations:
              summary: "the sink of st6:443 has failed for 10 minutes"
              description: "4 reports wait to be handed again; the collector's warnings on stderr name the command's exit status."
YML
	run promtool test rules tests.yml
	assert_success
	assert_output --partial SUCCESS
}

# fake_pin_check SCRIPT: a dmu-pin-check first in PATH that runs SCRIPT
# (sh) instead; the plugin finds it as it finds the real one.
fake_pin_check() {
	mkdir -p fake
	printf '#!/bin/sh\n%s\n' "$1" >fake/dmu-pin-check
	chmod +x fake/dmu-pin-check
}

# run_fake_check: check_dmu over the database with the fake pin check.
run_fake_check() {
	run env PATH="$BATS_TEST_TMPDIR/fake:$PATH" \
	    "$DMU_REPO/share/monitoring/check_dmu" -f "$DMU_CERTDB" </dev/null
}

@test "check_dmu: a dmu-pin-check killed by a signal, or short of result lines, is UNKNOWN, never OK" {
	sim_up a
	A=$DEV
	sim_up b
	B=$DEV
	# Lines for both, then killed: the lines do not make it OK.
	fake_pin_check "echo '$A ok x'; echo '$B ok x'; kill -ABRT \$\$"
	run_fake_check
	assert_equal "$status" 3
	[[ ${lines[0]} == "DMU PINS UNKNOWN - dmu-pin-check was killed by signal 6 (SIGABRT); 2 ok | "* ]] ||
	    fail "${lines[0]}"
	# One line for two devices, exit 0.
	fake_pin_check "echo '$A ok x'"
	run_fake_check
	assert_equal "$status" 3
	[[ ${lines[0]} == "DMU PINS UNKNOWN - 1 of 2 devices without a result; 1 ok | "* ]] ||
	    fail "${lines[0]}"
	# A mismatch seen before it died stays CRITICAL.
	fake_pin_check "echo '$A mismatch presented=1 expected=2'; kill -KILL \$\$"
	run_fake_check
	assert_equal "$status" 2
	[[ ${lines[0]} == "DMU PINS CRITICAL - dmu-pin-check was killed by signal 9 (SIGKILL); 1 of 2 devices without a result; 1 mismatch: $A; 0 ok | "* ]] ||
	    fail "${lines[0]}"
}

# ---- dmu-get follow -m ----

# has_sample FILE LINE: FILE holds the exact line LINE.
has_sample() {
	grep -qxF -- "$2" "$1" 2>/dev/null
}

# scraped LINE [SECONDS]: waits until the exporter serves LINE, checking
# every scrape with promtool and for a textfile error.
scraped() {
	local i
	for ((i = 0; i < ${2:-10} * 10; i++)); do
		scrape
		grep -qx 'node_textfile_scrape_error 0' scrape.txt ||
		    fail "textfile scrape error: $(grep textfile scrape.txt)"
		check_metrics scrape.txt
		has_sample scrape.txt "$1" && return 0
		sleep 0.1
	done
	fail "the exporter does not serve '$1': $(grep '^dmu_' scrape.txt)"
}

@test "follow -m: the collector's metrics after reports, and dmu_up 0 once it stops" {
	need_promtool
	sim_up a -n 3
	bg out err dmu-get -t "$T" -w 2 -s st -m c.prom "$DEV" follow
	wait_lines out 3
	wait_until 5 has_sample c.prom "dmu_reports_total{device=\"$DEV\"} 3" ||
	    fail "c.prom: $(cat c.prom)"
	check_metrics c.prom
	assert_equal "$(stat -c %a c.prom)" 644
	ts=$(date -u -d "$(sed -n 3p out | jq -r .timestamp)" +%s)
	assert_equal "$(grep -v '^#' c.prom)" "dmu_reports_total{device=\"$DEV\"} 3
dmu_report_last_serial{device=\"$DEV\"} 3
dmu_report_last_timestamp_seconds{device=\"$DEV\"} $ts
dmu_restarts_total{device=\"$DEV\"} 0
dmu_lost_reports_total{device=\"$DEV\"} 0
dmu_reconnects_total{device=\"$DEV\"} 0
dmu_up{device=\"$DEV\"} 1"
	assert_equal "$(grep -c '^# TYPE .* counter$' c.prom)" 4
	assert_equal "$(grep -c '^# TYPE .* gauge$' c.prom)" 3
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	has_sample c.prom "dmu_up{device=\"$DEV\"} 0" || fail "$(cat c.prom)"
	has_sample c.prom "dmu_reports_total{device=\"$DEV\"} 3"
	check_metrics c.prom
	assert_equal "$(ls)" "$(ls | grep -v '\.tmp\.')"
}

@test "follow -m: lost serials are counted, at most one write a second, and -m goes with follow only" {
	need_promtool
	sim_up a -b 4 -n 1
	printf '1 %s\n' "$(oracle /reports/1 | jq -r .timestamp)" >st
	ctl "gen 9" >/dev/null	# 2..10, of which the device keeps 7..10
	run --separate-stderr dmu-get -t "$T" -n 4 -w 1 -s st -m c.prom "$DEV" follow </dev/null
	assert_success
	assert_equal "$(serials "$output")" "7 8 9 10"
	has_sample c.prom "dmu_lost_reports_total{device=\"$DEV\"} 5" || fail "$(cat c.prom)"
	has_sample c.prom "dmu_report_last_serial{device=\"$DEV\"} 10"
	has_sample c.prom "dmu_up{device=\"$DEV\"} 0"
	check_metrics c.prom
	# 200 answers, one report each, as fast as they come: the file is
	# written at most once a second (strace counts the renames), and
	# once more at the end.  (Not under a sanitizer: LeakSanitizer
	# cannot run under ptrace.  As root only: dmu-get with a key is not
	# dumpable, and strace cannot read its arguments otherwise.)
	if command -v strace >/dev/null && [ -z "${DMU_VARIANT-}" ] &&
	    [ "$(id -u)" -eq 0 ]; then
		sim_up b -n 0
		t0=$(now_ms)
		bg out err strace -f -qq -e trace=rename,renameat,renameat2 \
		    -o trace.txt dmu-get -t "$T" -w 5 -n 200 -m b.prom "$DEV" follow
		pid=$BG_PID
		for ((i = 0; i < 200; i++)); do
			ctl "gen 1" >/dev/null
		done
		bg_wait "$pid" 20
		assert_equal "$BG_STATUS" 0
		secs=$(( ($(now_ms) - t0) / 1000 + 1 ))
		writes=$(grep -c 'b\.prom"' trace.txt)
		answers=$(grep -c "GET $APP_BASE/wait" b.log)
		[ "$answers" -ge 50 ] || fail "only $answers answers"
		[ "$writes" -le $((secs + 3)) ] ||
		    fail "$writes writes in $secs s for $answers answers"
		has_sample b.prom "dmu_reports_total{device=\"$DEV\"} 200" ||
		    fail "$(cat b.prom)"
	fi
	# -m with another resource is a usage error.
	run --separate-stderr dmu-get -m x.prom "$DEV" latest </dev/null
	assert_failure 2
	[[ $stderr == *"-m goes with follow"* ]] || fail "$stderr"
	[ ! -e x.prom ]
	# A file that cannot be written: one warning, the reports still come.
	sim_up c -n 2
	run --separate-stderr dmu-get -t "$T" -n 2 -w 1 -m nodir/c.prom "$DEV" follow </dev/null
	assert_success
	assert_equal "$(serials "$output")" "1 2"
	assert_equal "$(grep -c 'nodir/c.prom' <<<"$stderr")" 1
}

@test "node exporter: serves a collector's metrics through a restart, a cut and a mismatch, and the pin check's" {
	need_promtool
	sim_up a -n 3
	mkdir textfile
	start_exporter "$PWD/textfile"
	EXPORTER_PID=$BG_PID
	prom=textfile/dmu-$DEV.prom
	bg out err dmu-get -t "$T" -w 2 -s st -m "$prom" "$DEV" follow
	COLLECTOR=$BG_PID
	wait_lines out 3
	scraped "dmu_reports_total{device=\"$DEV\"} 3"
	scraped "dmu_up{device=\"$DEV\"} 1"
	# The device restarts and makes two new reports.
	wait_log a "GET $APP_BASE/wait\\?lastSerial=3&timeout=2\$"
	ctl restart >/dev/null
	ctl "gen 2" >/dev/null
	wait_lines out 5
	scraped "dmu_restarts_total{device=\"$DEV\"} 1"
	scraped "dmu_report_last_serial{device=\"$DEV\"} 2"
	scraped "dmu_reports_total{device=\"$DEV\"} 5"
	# The connection is cut: the collector reconnects.
	ctl "cut 1" >/dev/null
	ctl "gen 1" >/dev/null
	wait_lines out 6 10
	scraped "dmu_reconnects_total{device=\"$DEV\"} 1"
	scraped "dmu_up{device=\"$DEV\"} 1"
	# An impostor takes the device's address: the collector stops (4).
	kill "${SIM_PIDS[-1]}"
	wait "${SIM_PIDS[-1]}" 2>/dev/null
	mkcert evil ec
	start_sim evil -p "$PORT" -n 5
	bg_wait "$COLLECTOR" 10
	assert_equal "$BG_STATUS" 4
	scraped "dmu_up{device=\"$DEV\"} 0"
	# And the pin check says why, in the same scrape.
	run dmu-pin-check -t "$T" -m textfile/dmu-pins.prom "$DEV" </dev/null
	assert_failure 4
	scraped "dmu_pin_status{device=\"$DEV\",status=\"mismatch\"} 1"
	has_sample scrape.txt "dmu_reports_total{device=\"$DEV\"} 6"
	has_sample scrape.txt "dmu_lost_reports_total{device=\"$DEV\"} 0"
	grep -q "^node_textfile_mtime_seconds{file=\"$PWD/$prom\"} " scrape.txt ||
	    grep -q "^node_textfile_mtime_seconds{file=\"dmu-$DEV.prom\"} " scrape.txt ||
	    fail "no mtime for the collector's file: $(grep mtime scrape.txt)"
	cp scrape.txt "$BATS_FILE_TMPDIR/metrics.txt"
}

# ---- the systemd drop-in of dmu(7) ----

# metrics_dropin: the drop-in of dmu(7), "Monitoring", as the page shows it
# after its "systemctl edit" line.
metrics_dropin() {
	awk '
	/^\.Sh / { insec = (substr($0, 5) == "DESCRIPTION") }
	insec && /^\.Bd -literal/ { inb = 1; next }
	inb && /^\.Ed/ { inb = 0; if (got) exit; next }
	inb && /systemctl edit dmu-follow@\.service/ { blk = ""; cand = 1; next }
	inb && cand { gsub(/\\e/, "\\"); blk = blk $0 "\n" }
	inb && /dmu-\$\$2\.prom/ { got = 1 }
	END { printf "%s", blk }' "$DMU_REPO/man/dmu.7"
}

@test "systemd: the metrics drop-in of dmu(7) verifies, and its ExecStart writes dmu-INSTANCE.prom" {
	need_promtool
	command -v systemd-analyze >/dev/null ||
	    skip "systemd-analyze is not installed (Debian: apt-get install systemd)"
	mkdir -p units/dmu-follow@.service.d man/man1 man/man7
	cp "$DMU_REPO/share/systemd/dmu-follow@.service" units/
	metrics_dropin >units/dmu-follow@.service.d/metrics.conf
	grep -q '^ExecStart=$' units/dmu-follow@.service.d/metrics.conf ||
	    fail "no drop-in in dmu(7): $(cat units/dmu-follow@.service.d/metrics.conf)"
	grep -qx 'ReadWritePaths=/var/lib/prometheus/node-exporter' \
	    units/dmu-follow@.service.d/metrics.conf
	ln -s "$DMU_REPO"/man/*.1 man/man1/
	ln -s "$DMU_REPO"/man/dmu.7 man/man7/
	MANPATH=$PWD/man run --separate-stderr systemd-analyze verify \
	    "$PWD/units/dmu-follow@localhost.service"
	assert_success
	assert_equal "$stderr" ""
	# Its ExecStart as systemd runs it: specifiers, $$, the directories.
	sim_up a -n 3
	inst=$(systemd-escape "$DEV")
	mkdir -p root/state root/log textfile
	line=$(sed -n 's/^ExecStart=\(.\)/\1/p' units/dmu-follow@.service.d/metrics.conf)
	line=${line//%I/$DEV}
	line=${line//%i/$inst}
	line=${line//'$$'/'$'}
	line=${line//\/usr\/local\/bin\/dmu-get/$DMU_BIN/dmu-get}
	line=${line//\/etc\/dmu\/certdb/$DMU_CERTDB}
	line=${line//\/var\/lib\/prometheus\/node-exporter/$PWD/textfile}
	eval "argv=($line)"
	bg out err env -i PATH=/usr/bin:/bin STATE_DIRECTORY="$PWD/root/state" \
	    LOGS_DIRECTORY="$PWD/root/log" DMU_API_KEY_FILE="$DMU_API_KEY_FILE" \
	    "${argv[@]}"
	wait_lines "root/log/$DEV.ndjson" 3
	wait_until 5 has_sample "textfile/dmu-$inst.prom" \
	    "dmu_reports_total{device=\"$DEV\"} 3" ||
	    fail "textfile: $(ls textfile) $(cat textfile/* 2>/dev/null)"
	check_metrics "textfile/dmu-$inst.prom"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 5
	assert_equal "$BG_STATUS" 0
	has_sample "textfile/dmu-$inst.prom" "dmu_up{device=\"$DEV\"} 0"
}
