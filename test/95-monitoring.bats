#!/usr/bin/env bats
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

@test "inventory: weak keys and signatures are warnings, and the pin still works" {
	openssl req -x509 -newkey rsa:1024 -nodes -sha1 -subj /CN=DMU801 \
	    -days 30 -keyout weak.key -out weak.pem 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -md5 -subj /CN=DMU801 \
	    -days 30 -keyout md5.key -out md5.pem 2>/dev/null
	openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=DMU801 \
	    -sigopt rsa_padding_mode:pss -days 30 -keyout pss.key \
	    -out pss.pem 2>/dev/null
	dmu-certdb import weak.example < weak.pem
	dmu-certdb import md5.example < md5.pem
	dmu-certdb import pss.example < pss.pem
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

@test "inventory: expired and not-yet-valid come from the clock, everything else does not" {
	command -v faketime >/dev/null || skip "faketime is not installed"
	mkcert a ec
	record 127.0.0.1:8443 a | dmu-certdb add
	now=$(inv_of 127.0.0.1:8443)
	assert_equal "$(jq -c .warnings <<<"$now")" '[]'
	late=$(faketime '2099-01-01 00:00:00' dmu-certdb inventory 127.0.0.1:8443)
	early=$(faketime '2000-01-01 00:00:00' dmu-certdb inventory 127.0.0.1:8443)
	assert_equal "$(jq -c .warnings <<<"$late")" '["expired"]'
	assert_equal "$(jq -c .warnings <<<"$early")" '["not-yet-valid"]'
	# Only the warnings differ: the dates are the certificate's.
	assert_equal "$(jq -c 'del(.warnings)' <<<"$late")" "$(jq -c 'del(.warnings)' <<<"$now")"
	assert_equal "$(jq -c 'del(.warnings)' <<<"$early")" "$(jq -c 'del(.warnings)' <<<"$now")"
}

@test "inventory: names with quotes, backslashes, control and non-ASCII bytes are valid JSON" {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -utf8 -subj $'/CN=a"b\\\\c\x01d/O=\xc3\xa9t\xc3\xa9' -days 30 \
	    -keyout odd.key -out odd.pem 2>/dev/null
	dmu-certdb import odd.example < odd.pem
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
	dmu-certdb import odd.example < odd.pem
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
	DOWN=127.0.0.1:$(free_port)
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
