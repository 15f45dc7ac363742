#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The store recipes of share/sinks (dmu-sink-mqtt, dmu-sink-influx,
# dmu-sink-pg) against the real servers from Debian's packages, started
# by helper-stores.bash on loopback as unprivileged processes: each batch
# durable in the store before the sink exits 0, each report stored once
# under its identity, and the proofs under faults of dmu(7) "Into your
# store": stores stopped and collectors killed during a drain with -d,
# stores that refuse a batch, two collectors on one device, and a device
# restart.  Not part of make check (servers, minutes): make check-stores.

load helper-get
load helper-stores

SINKS=$DMU_REPO/share/sinks

setup() {
	dmu_base_setup
	[ -x "$DMU_BIN/dmu-get" ] || fail "$DMU_BIN/dmu-get is missing"
	write_key key
	export DMU_API_KEY_FILE=$BATS_TEST_TMPDIR/key
	PATH=$SINKS:$PATH
}

teardown() {
	stop_bg
	stores_down
	stop_sims
}

# lines N [FIRST] [SECONDS-APART]: N report lines of device 127.0.0.1:9,
# serials FIRST (1) on, all in one second unless SECONDS-APART.
lines() {
	local n=$1 first=${2:-1} apart=${3:-0}
	jq -nc --argjson n "$n" --argjson f "$first" --argjson a "$apart" '
	    range($f; $f + $n) as $s
	    | {device: "127.0.0.1:9", serial: $s,
	       timestamp: (1759322110 + ($s - $f) * $a | todate),
	       content: "S=AWS830_DEMO,TA=\($s % 30).5,RH=\($s % 90),X=///"}'
}

# hostile: report lines of device 127.0.0.1:9 whose contents and
# timestamps break a naive mapping: 1 a line break and a forged
# line-protocol line, 2 a line "\." (the end of a COPY), 3 NUL, 4 other
# control characters in values and keys, 5 a station and keys with
# spaces, '=', quotes and backslashes and the keys the mapping adds
# (serial, timestamp, time), 6 a fraction, 7 an offset, 8 "now" with D
# and T in the content, 9 an impossible time ending in a line break, 10 an
# empty timestamp and a station ending in a backslash, 11 a year InfluxDB
# cannot hold, 12 no timestamp.
hostile() {
	cat <<-'EOF'
	{"device":"127.0.0.1:9","serial":1,"timestamp":"2025-10-01T12:35:10Z","content":"S=AWS\nforged,TA=15.5"}
	{"device":"127.0.0.1:9","serial":2,"timestamp":"2025-10-01T12:35:10Z","content":"TA=2\n\\.\nRH=2"}
	{"device":"127.0.0.1:9","serial":3,"timestamp":"2025-10-01T12:35:10Z","content":"TA=3,N=a\u0000b,\u0000K=3"}
	{"device":"127.0.0.1:9","serial":4,"timestamp":"2025-10-01T12:35:10Z","content":"TA=4,C=\u0001\u001f\r\t\u007f,K\u0007EY=4,\r\nL=4"}
	{"device":"127.0.0.1:9","serial":5,"timestamp":"2025-10-01T12:35:10Z","content":"S=A W=S\"'\\x\\,T A=5,Q\"=5,B\\=5,time=5,serial=5,timestamp=5"}
	{"device":"127.0.0.1:9","serial":6,"timestamp":"2025-10-01T12:35:10.5Z","content":"TA=6"}
	{"device":"127.0.0.1:9","serial":7,"timestamp":"2025-10-01T14:35:10+02:00","content":"TA=7"}
	{"device":"127.0.0.1:9","serial":8,"timestamp":"now","content":"TA=8,D=2025-10-01,T=12:35:11"}
	{"device":"127.0.0.1:9","serial":9,"timestamp":"2025-02-31T25:00:00Z\n","content":"TA=9"}
	{"device":"127.0.0.1:9","serial":10,"timestamp":"","content":"S=end\\,TA=10"}
	{"device":"127.0.0.1:9","serial":11,"timestamp":"9999-12-31T23:59:59Z","content":"TA=11"}
	{"device":"127.0.0.1:9","serial":12,"content":"TA=12"}
	EOF
}

# count_of KIND: what the store holds, by a count that is cheap to poll:
# points, rows, or (MQTT) messages the subscriber received.
count_of() {
	case $1 in
	mqtt) wc -l <sub ;;
	influx) influx_count ;;
	pg) pg_q 'SELECT count(*) FROM dmu_report' ;;
	esac
}

# twice KIND: a batch of 50 reports stored, then stored again: 50 in all.
twice() {
	lines 50 >batch
	run -0 "dmu-sink-$1" <batch
	assert_equal "$(count_of "$1")" 50
	run -0 "dmu-sink-$1" <batch
	assert_equal "$(count_of "$1")" 50
}

# ---- the recipes ----

@test "influx: a batch is stored as one point per report, the same batch again changes nothing" {
	influx_up
	twice influx
	# Tags: device and station, never the serial; numbers as fields.
	run -0 influx_q 'SHOW TAG KEYS FROM dmu'
	assert_equal "$(jq -c '[.results[0].series[0].values[][0]]' <<<"$output")" \
	    '["device","station"]'
	run -0 influx_q 'SHOW FIELD KEYS FROM dmu'
	assert_equal "$(jq -c '[.results[0].series[0].values[]]' <<<"$output")" \
	    '[["RH","float"],["TA","float"],["serial","integer"]]'
	run -0 influx_q "SELECT TA, serial FROM dmu WHERE serial = 7"
	assert_equal "$(jq -c '.results[0].series[0].values' <<<"$output")" \
	    '[["2025-10-01T12:35:10.000000007Z",7.5,7]]'
}

@test "influx: two reports of one device in one second are two points; a missing timestamp is dated by D and T, else by the epoch" {
	influx_up
	{ lines 2; echo '{"device":"127.0.0.1:9","serial":3,"content":"S=X,D=2025-10-01,T=12:35:10,TA=1"}'; } >in
	run -0 dmu-sink-influx <in
	assert_equal "$(influx_count)" 3
	# Neither: stored, at the epoch, not a batch that fails for good.
	echo '{"device":"127.0.0.1:9","serial":4,"content":"TA=1"}' >in
	run -0 --separate-stderr dmu-sink-influx <in
	assert_output ''
	assert_equal "$(influx_count)" 4
	run -0 influx_q 'SELECT serial FROM dmu WHERE serial = 4'
	assert_equal "$(jq -c '.results[0].series[0].values' <<<"$output")" \
	    '[["1970-01-01T00:00:00.000000004Z",4]]'
}

@test "influx: hostile contents are one point each: no control character, no forged line, keys and station as sent where line protocol can carry them" {
	influx_up
	hostile >in
	run -0 --separate-stderr dmu-sink-influx <in
	assert_equal "$(influx_count)" 12
	run -0 dmu-sink-influx <in
	assert_equal "$(influx_count)" 12
	# The line break forged no measurement "forged" and no point in it.
	run -0 influx_q 'SHOW MEASUREMENTS'
	assert_equal "$(jq -c '[.results[0].series[0].values[][0]]' <<<"$output")" '["dmu"]'
	# Control characters are spaces; a backslash that line protocol would
	# read as an escape (before the end) is left out, any other kept.
	run -0 influx_q 'SHOW TAG VALUES FROM dmu WITH KEY = station'
	assert_equal "$(jq -c '[.results[0].series[0].values[][1]]' <<<"$output")" \
	    '["A W=S\"'"'"'\\x","AWS forged","end"]'
	run -0 influx_q 'SHOW FIELD KEYS FROM dmu'
	assert_equal "$(jq -c '[.results[0].series[0].values[] | join(":")]' <<<"$output")" \
	    '["  L:float"," K:float","B:float","K EY:float","Q\":float","T A:float","TA:float","serial:integer","serial_:float","time_:float","timestamp:string","timestamp_:float"]'
	# Every serial once, each point's time as the timestamp (its second).
	run -0 influx_q 'SELECT serial, TA FROM dmu WHERE serial <= 7'
	assert_equal "$(jq -c '[.results[0].series[0].values[] | .[0]]' <<<"$output")" \
	    "[$(for n in 1 2 3 4 5 6 7; do printf '"2025-10-01T12:35:10.00000000%sZ"' $n; [ $n = 7 ] || printf ,; done)]"
}

@test "influx: a timestamp with a fraction or an offset dates the point by its second and is kept; one that is no time yields to D and T, else the epoch" {
	influx_up
	hostile >in
	run -0 dmu-sink-influx <in
	run -0 influx_q 'SELECT serial, "timestamp" FROM dmu WHERE serial >= 6'
	assert_equal "$(jq -c '[.results[0].series[0].values[] | [.[1], .[0], .[2]]] | sort[]' <<<"$output" | tr -d '\n')" \
	    '[6,"2025-10-01T12:35:10.000000006Z","2025-10-01T12:35:10.5Z"][7,"2025-10-01T12:35:10.000000007Z","2025-10-01T14:35:10+02:00"][8,"2025-10-01T12:35:11.000000008Z","now"][9,"1970-01-01T00:00:00.000000009Z","2025-02-31T25:00:00Z "][10,"1970-01-01T00:00:00.00000001Z",""][11,"1970-01-01T00:00:00.000000011Z","9999-12-31T23:59:59Z"][12,"1970-01-01T00:00:00.000000012Z",null]'
}

@test "influx: an HTTP error fails the batch and says why" {
	influx_up
	# No such database: 404 from /write.
	DMU_INFLUX_URL="$INFLUX_URL/write?db=nodb" run -1 --separate-stderr \
	    dmu-sink-influx < <(lines 3)
	[[ $stderr == *'database not found'* ]] || fail "$stderr"
	# A server that is not there.
	influx_stop
	run -1 --separate-stderr dmu-sink-influx < <(lines 3)
	[[ $stderr == *'dmu-sink-influx: http://127.0.0.1:'*'/write: curl: (7)'* ]] ||
	    fail "$stderr"
	# Not NDJSON: nothing is sent.
	run -1 --separate-stderr dmu-sink-influx <<<'{"device":'
	[[ $stderr == *'not NDJSON'* ]] || fail "$stderr"
}

@test "pg: a batch is one transaction of rows keyed on the identity; the same batch again changes nothing" {
	pg_up
	twice pg
	# Values split into jsonb, numbers as numbers, text as text.
	assert_equal "$(pg_q "SELECT vals FROM dmu_report WHERE serial = 7")" \
	    '{"S": "AWS830_DEMO", "X": "///", "RH": 7, "TA": 7.5}'
	assert_equal "$(pg_q "SELECT ts AT TIME ZONE 'UTC' FROM dmu_report WHERE serial = 7")" \
	    '2025-10-01 12:35:10'
	# A report without a timestamp is one identity of its own.
	echo '{"device":"127.0.0.1:9","serial":7,"content":"TA=1"}' | run -0 dmu-sink-pg
	echo '{"device":"127.0.0.1:9","serial":7,"content":"TA=1"}' | run -0 dmu-sink-pg
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report WHERE serial = 7')" 2
}

@test "pg: hostile contents (a line of a backslash and a dot, NUL, control characters, line breaks) are one row each, as sent, NUL as U+FFFD" {
	pg_up
	hostile >in
	run -0 --separate-stderr dmu-sink-pg <in
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 12
	run -0 --separate-stderr dmu-sink-pg <in
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 12
	# Content and values byte for byte, but for NUL.
	jq -c '{serial, content: (.content | gsub("\u0000"; "\ufffd"))}' in >want
	pg_q "SELECT json_build_object('serial', serial, 'content', content)
	    FROM dmu_report ORDER BY serial" | jq -c . >got
	run -0 diff want got
	jq -c -f "$DMU_REPO/share/jq/content.jq" in |
	    jq -c '.values | with_entries(.key |= gsub("\u0000"; "\ufffd")
	    | .value |= if type == "string" then gsub("\u0000"; "\ufffd") else . end)' >want
	pg_q 'SELECT vals FROM dmu_report ORDER BY serial' | jq -cS . >got
	run -0 diff <(jq -cS . want) got
}

@test "pg: a timestamp with a fraction or an offset is kept; one PostgreSQL cannot read as RFC 3339 is NULL, with a warning naming the report" {
	pg_up
	hostile >in
	run -0 --separate-stderr dmu-sink-pg <in
	assert_equal "$(pg_q "SELECT serial || ' ' || coalesce(to_char(ts AT TIME ZONE 'UTC',
	    'YYYY-MM-DD HH24:MI:SS.MS'), 'NULL') FROM dmu_report WHERE serial >= 6
	    ORDER BY serial" | tr '\n' ,)" \
	    '6 2025-10-01 12:35:10.500,7 2025-10-01 12:35:10.000,8 NULL,9 NULL,10 NULL,11 9999-12-31 23:59:59.000,12 NULL,'
	[[ $stderr == *'report 8 of 127.0.0.1:9: timestamp "now" is not a time: stored without one'* ]] ||
	    fail "$stderr"
	[[ $stderr == *'report 9 of 127.0.0.1:9: timestamp "2025-02-31T25:00:00Z\n" is not a time'* ]] ||
	    fail "$stderr"
	[[ $stderr == *'report 10 of 127.0.0.1:9: timestamp "" is not a time'* ]] ||
	    fail "$stderr"
	# A day the calendar lacks, which PostgreSQL refuses: NULL too.
	echo '{"device":"127.0.0.1:9","serial":13,"timestamp":"2025-02-31T12:00:00Z","content":"TA=13"}' >in
	run -0 --separate-stderr dmu-sink-pg <in
	[[ $stderr == *'report 13 of 127.0.0.1:9: timestamp "2025-02-31T12:00:00Z" is not a time'* ]] ||
	    fail "$stderr"
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report WHERE serial = 13 AND ts IS NULL')" 1
}

@test "pg: a batch the database refuses is rolled back whole" {
	pg_up
	pg_q 'ALTER TABLE dmu_report ADD CONSTRAINT few CHECK (serial < 40)'
	run -1 --separate-stderr dmu-sink-pg < <(lines 50)
	[[ $stderr == *'violates check constraint "few"'* ]] || fail "$stderr"
	[[ $stderr == *'dmu-sink-pg: psql failed'* ]] || fail "$stderr"
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 0
	DMU_PG_TABLE='x;drop' run -1 --separate-stderr dmu-sink-pg < <(lines 1)
	[[ $stderr == *'not a plain table name'* ]] || fail "$stderr"
}

@test "mqtt: each report is published with QoS 1 to PREFIX/DEVICE, values included" {
	mqtt_up
	mqtt_sub sub '#' -F '%t %p'
	export DMU_MQTT_OPTS="-h 127.0.0.1 -p $MQTT_PORT" DMU_DEVICE=127.0.0.1:9
	lines 20 | run -0 dmu-sink-mqtt
	wait_lines sub 20
	assert_equal "$(cut -d' ' -f1 sub | sort -u)" dmu/127.0.0.1:9
	assert_equal "$(cut -d' ' -f2- sub | jq -c 'select(.serial == 7) | .values')" \
	    '{"S":"AWS830_DEMO","TA":7.5,"RH":7,"X":"///"}'
	# Another prefix, another topic.
	DMU_MQTT_PREFIX=site/a run -0 dmu-sink-mqtt < <(lines 1 99)
	wait_lines sub 21
	run -0 grep -c '^site/a/127.0.0.1:9 {.*"serial":99,' sub
	assert_output 1
}

@test "mqtt: a broker that refuses the client fails the batch" {
	mqtt_up "allow_anonymous false"
	export DMU_MQTT_OPTS="-h 127.0.0.1 -p $MQTT_PORT" DMU_DEVICE=127.0.0.1:9
	run -1 --separate-stderr dmu-sink-mqtt < <(lines 3)
	[[ $stderr == *[Nn]'ot authori'[sz]ed* ]] || fail "$stderr"
	[[ $stderr == *'dmu-sink-mqtt: mosquitto_pub failed'* ]] || fail "$stderr"
	unset DMU_DEVICE
	run -1 --separate-stderr dmu-sink-mqtt < <(lines 3)
	[[ $stderr == *'DMU_DEVICE is not set'* ]] || fail "$stderr"
}

@test "mqtt: hostile contents are one message each, as sent; a DMU_DEVICE given by hand with '+' and '#' publishes to %2B and %23" {
	mqtt_up
	mqtt_sub sub '#' -F '%t %p'
	export DMU_DEVICE='[fe80::1%a+b#c]:443'
	hostile >in
	run -0 --separate-stderr dmu-sink-mqtt <in
	wait_lines sub 12
	assert_equal "$(cut -d' ' -f1 sub | sort -u)" 'dmu/[fe80::1%a%2Bb%23c]:443'
	cut -d' ' -f2- sub | jq -c 'del(.values)' >got
	jq -c . in >want
	run -0 diff want got
}

# odd_content: reports whose content is no string, which dmu-get hands on
# as the device sent them.
odd_content() {
	cat <<-'EOF'
	{"device":"127.0.0.1:9","serial":1,"timestamp":"2025-10-01T12:35:10Z","content":5}
	{"device":"127.0.0.1:9","serial":2,"timestamp":"2025-10-01T12:35:10Z","content":{"TA":2}}
	{"device":"127.0.0.1:9","serial":3,"timestamp":"2025-10-01T12:35:10Z","content":null}
	{"device":"127.0.0.1:9","serial":4,"timestamp":"2025-10-01T12:35:10Z"}
	{"device":"127.0.0.1:9","serial":5,"timestamp":"2025-10-01T12:35:10Z","content":"TA=5"}
	EOF
}

@test "every sink stores a report whose content is no string (a number, an object, null, none), with no values, and the batch succeeds" {
	odd_content >in
	influx_up
	run -0 --separate-stderr dmu-sink-influx <in
	assert_equal "$(influx_count)" 5
	pg_up
	run -0 --separate-stderr dmu-sink-pg <in
	assert_equal "$(pg_q "SELECT string_agg(serial || ':' || coalesce(content, 'NULL') || ':' || vals::text, ' ' ORDER BY serial) FROM dmu_report")" \
	    '1:5:{} 2:{"TA":2}:{} 3::{} 4::{} 5:TA=5:{"TA": 5}'
	mqtt_up
	mqtt_sub sub '#' -F '%p'
	DMU_MQTT_OPTS="-h 127.0.0.1 -p $MQTT_PORT" DMU_DEVICE=127.0.0.1:9 \
	    run -0 --separate-stderr dmu-sink-mqtt <in
	wait_lines sub 5
	assert_equal "$(jq -c '[.serial, .values]' sub | tr '\n' ' ')" \
	    '[1,{}] [2,{}] [3,{}] [4,{}] [5,{"TA":5}] '
}

# acl_denying: an ACL file in a directory of its own (ACL) that lets
# anyone read dmu/# and nobody write there.
acl_denying() {
	store_dir
	ACL=$STORE_DIR/acl
	echo 'topic read dmu/#' >"$ACL"
	chmod 644 "$ACL"
}

@test "mqtt: a broker whose ACL denies the topic fails the batch with its reason (MQTT 5); with -V mqttv311 in DMU_MQTT_OPTS it cannot tell" {
	acl_denying
	mqtt_up "allow_anonymous true" "acl_file $ACL"
	export DMU_DEVICE=127.0.0.1:9
	lines 3 >in
	run -1 --separate-stderr dmu-sink-mqtt <in
	assert_output ''
	[[ $stderr == *'Warning: Publish 1 failed: Not authorized.'* ]] || fail "$stderr"
	[[ $stderr == *'dmu-sink-mqtt: the broker refused 3 of 3 reports on dmu/127.0.0.1:9: Not authorized'* ]] ||
	    fail "$stderr"
	# MQTT 3.1.1 has no way to refuse a message: exit 0, as dmu(7) says.
	DMU_MQTT_OPTS="$DMU_MQTT_OPTS -V mqttv311" run -0 --separate-stderr \
	    dmu-sink-mqtt <in
}

# ---- the three stores behind one set of verbs, for the proofs ----
# KIND is mqtt, influx or pg.  For MQTT the store is what a subscriber
# with a persistent session received (file "sub"), one payload a line.

store_up() {
	case $1 in
	mqtt) mqtt_up; mqtt_sub sub 'dmu/#'; export DMU_MQTT_TIMEOUT=5 ;;
	influx) influx_up ;;
	pg) pg_up ;;
	esac
}

store_stop() {
	case $1 in mqtt) mqtt_stop ;; influx) influx_stop ;; pg) pg_stop ;; esac
}

store_start() {
	case $1 in mqtt) mqtt_start ;; influx) influx_start ;; pg) pg_start ;; esac
}

# store_ids KIND [SINCE]: "SERIAL TIMESTAMP" of every report stored, one
# line each, as often as stored (sorted); SINCE (epoch seconds): only the
# reports stamped then or later.
store_ids() {
	local since=${2:-0}
	case $1 in
	# A line still being written is not read yet.
	mqtt) jq -Rr --argjson t "$since" 'fromjson? |
	    select((.timestamp | fromdate) >= $t) | "\(.serial) \(.timestamp)"' sub ;;
	influx) influx_q "SELECT serial FROM dmu WHERE time >= ${since}s" |
	    jq -r '.results[0].series[0].values[]? |
	    "\(.[1]) \(.[0] | sub("\\.[0-9]+Z$"; "Z"))"' ;;
	pg) pg_q "SELECT serial, to_char(ts AT TIME ZONE 'UTC',
	    'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM dmu_report
	    WHERE ts >= to_timestamp($since)" | tr '|' ' ' ;;
	esac | sort
}

# stored KIND: how many different reports the store holds.
stored() {
	store_ids "$1" | uniq | wc -l
}

# stored_at_least KIND N: the store has N reports (MQTT: N messages), by
# a count that is cheap to poll.
stored_at_least() {
	[ "$(count_of "$1")" -ge "$2" ]
}

# distinct_at_least KIND N: the store holds N different reports.
distinct_at_least() {
	[ "$(stored "$1")" -ge "$2" ]
}

# sink_failures: the sink failures the collectors have said so far.
sink_failures() {
	cat c*.err 2>/dev/null | grep -c 'sink: ' || true
}

failures_above() {
	[ "$(sink_failures)" -gt "$1" ]
}

# collect KIND [dmu-get options]: a collector into the store, run N (1, 2,
# ...) logging to cN.err; its pid in COLLECTOR.
RUNS=0
collect() {
	local kind=$1
	shift
	RUNS=$((RUNS + 1))
	bg "c$RUNS.out" "c$RUNS.err" dmu-get -t "$T" "$@" "$DEV" follow \
	    -x "dmu-sink-$kind"
	COLLECTOR=$BG_PID
}

# kill9: the collector dies at once (its sink, a process group of its
# own, finishes or fails on its own).
kill9() {
	kill -9 "$COLLECTOR"
	wait "$COLLECTOR" 2>/dev/null || true
	return 0
}

# outage KIND: the store is stopped until the collector has seen a batch
# fail, then started again.
outage() {
	local before
	before=$(sink_failures)
	store_stop "$1"
	wait_until 60 failures_above "$before" ||
	    fail "no sink failure while the $1 store was down: $(cat c*.err)"
	store_start "$1"
}

# device_ids: "SERIAL TIMESTAMP" of every report the device still holds.
device_ids() {
	dmu-get -t "$T" "$DEV" list | jq -r '"\(.serial) \(.timestamp)"' | sort
}

# drain_with_faults KIND: 5,000 reports, 50 an answer, drained with -d
# while the store is stopped and started twice and the collector killed
# twice; every report ends up in the store, once (MQTT: at least once,
# duplicates no more than the faults times a batch), and whatever the
# device still holds is in the store.
drain_with_faults() {
	local kind=$1 dups
	store_up "$kind"
	sim_up dev -b 8192 -n 5000 -m 50
	collect "$kind" -d -s state
	wait_until 60 stored_at_least "$kind" 1000 || fail "no drain: $(cat c*.err)"
	outage "$kind"
	wait_until 60 stored_at_least "$kind" 2000 || fail "stuck: $(cat c*.err)"
	kill9
	collect "$kind" -d -s state
	wait_until 60 stored_at_least "$kind" 3000 || fail "stuck: $(cat c*.err)"
	outage "$kind"
	wait_until 60 stored_at_least "$kind" 4000 || fail "stuck: $(cat c*.err)"
	kill9
	[ "$(stored "$kind")" -lt 5000 ] || fail "the drain ended before the faults"
	collect "$kind" -d -s state
	# Different reports, not messages: MQTT's duplicates do not count.
	wait_until 60 distinct_at_least "$kind" 5000 ||
	    fail "stuck at $(stored "$kind"): $(tail -n 3 c*.err; ctl stats)"
	store_ids "$kind" >ids
	uniq ids >distinct
	assert_equal "$(wc -l <distinct)" 5000
	assert_equal "$(cut -d' ' -f1 distinct | sort -n | sed -n '1p;$p' | tr '\n' ' ')" '1 5000 '
	dups=$(($(wc -l <ids) - 5000))
	if [ "$kind" = mqtt ]; then
		echo "# mqtt: $dups duplicates" >&3
		[ "$dups" -le $((4 * 50)) ] || fail "$dups duplicates"
	else
		assert_equal "$dups" 0
	fi
	device_ids >left
	run -0 comm -23 left distinct
	assert_output ''
	[ "$(sink_failures)" -ge 2 ]
}

@test "faults: 5,000 reports drained with -d into InfluxDB, store restarted and collector killed twice each: every report once" {
	drain_with_faults influx
}

@test "faults: 5,000 reports drained with -d into PostgreSQL, store restarted and collector killed twice each: every report once" {
	drain_with_faults pg
}

@test "faults: 5,000 reports drained with -d over MQTT, broker restarted and collector killed twice each: every report at least once" {
	drain_with_faults mqtt
}

# refused KIND REASON FIX: 100 reports, 50 an answer, drained with -d into
# a store that refuses them until FIX (a command) runs: the collector says
# the sink's REASON (an ERE), hands the batch again, deletes nothing, and
# its metrics count the failures; after FIX every report is stored and
# deleted.
refused() {
	local kind=$1 reason=$2
	sim_up dev -b 8192 -n 100 -m 50
	collect "$kind" -d -s state -m m.prom
	wait_until 30 failures_above 1 || fail "no failure: $(cat c*.err)"
	grep -Eq -- "$reason" c1.err || fail "no '$reason' in: $(cat c1.err)"
	grep -Eq 'sink: exit status 1; handing [0-9]+ reports? again' c1.err ||
	    fail "$(cat c1.err)"
	assert_equal "$(stat_of deletes)" 0
	assert_equal "$(stat_of reports)" 100
	wait_until 10 file_has m.prom '^dmu_sink_failures_total\{.*\} [1-9]' ||
	    fail "metrics: $(cat m.prom)"
	grep -Eq '^dmu_sink_waiting_reports\{.*\} [1-9]' m.prom ||
	    fail "metrics: $(cat m.prom)"
	"$3"
	wait_until 60 distinct_at_least "$kind" 100 || fail "$(tail -n 3 c1.err)"
	wait_until 10 device_empty || fail "left on the device: $(ctl stats)"
	wait_until 10 file_has m.prom '^dmu_sink_waiting_reports\{.*\} 0$' ||
	    fail "metrics: $(cat m.prom)"
}

device_empty() {
	[ "$(stat_of reports)" = 0 ]
}

@test "refused: InfluxDB answers 400 (field type conflict): nothing deleted, the reason said, counted, retried" {
	influx_up
	# TA as text, now: the batch's float TA conflicts in this shard.
	curl -sSf --data-binary 'dmu,device=x TA="hot"' "$DMU_INFLUX_URL"
	fix() { influx_q 'DROP MEASUREMENT dmu' >/dev/null; }
	refused influx 'dmu-sink-influx: .*/write: .*(400|field type conflict)' fix
	assert_equal "$(influx_count)" 100
}

@test "refused: PostgreSQL violates a constraint: nothing deleted, the reason said, counted, retried" {
	pg_up
	pg_q 'ALTER TABLE dmu_report ADD CONSTRAINT no30 CHECK (serial <> 30)'
	fix() { pg_q 'ALTER TABLE dmu_report DROP CONSTRAINT no30'; }
	refused pg 'violates check constraint "no30"' fix
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 100
}

@test "refused: PostgreSQL rejects the password: nothing deleted, the reason said, counted, retried" {
	pg_up
	# A role of its own that must give a password over the socket; the
	# password in libpq's password file (PGPASSFILE), never in argv.
	pg_q "CREATE ROLE dmu_writer LOGIN PASSWORD 's3cret'"
	pg_q 'GRANT SELECT, INSERT ON dmu_report TO dmu_writer'
	{ echo 'local all dmu_writer scram-sha-256'
	  cat "$PG_DIR/data/pg_hba.conf"; } >hba
	cat hba >"$PG_DIR/data/pg_hba.conf"
	as_server "$PG_BIN/pg_ctl" -D "$PG_DIR/data" reload >/dev/null
	wait_until 10 eval '! PGUSER=dmu_writer PGPASSWORD=wrong psql -X -w -c "" 2>/dev/null' ||
	    fail "the server still lets dmu_writer in without a password"
	(umask 077 && echo '*:*:*:dmu_writer:wrong' >"$BATS_TEST_TMPDIR/pgpass")
	export PGUSER=dmu_writer PGPASSFILE=$BATS_TEST_TMPDIR/pgpass
	fix() { echo '*:*:*:dmu_writer:s3cret' >"$PGPASSFILE"; }
	refused pg 'password authentication failed for user "dmu_writer"' fix
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 100
}

@test "refused: the MQTT broker rejects the credentials: nothing deleted, the reason said, counted, retried" {
	need_server MQTT mosquitto_passwd
	store_dir
	touch "$STORE_DIR/passwd"
	mosquitto_passwd -b "$STORE_DIR/passwd" dmu s3cret
	chown nobody "$STORE_DIR/passwd" 2>/dev/null || true
	mqtt_up "allow_anonymous false" "password_file $STORE_DIR/passwd"
	mqtt_sub sub 'dmu/#' -u dmu -P s3cret
	# The password in mosquitto_pub's configuration file, not in argv.
	fix() {
		mkdir -p "$XDG_CONFIG_HOME"
		printf '%s\n' '-u dmu' '-P s3cret' >"$XDG_CONFIG_HOME/mosquitto_pub"
	}
	refused mqtt '[Nn]ot authori[sz]ed' fix
}

@test "refused: the MQTT broker's ACL denies the topic: nothing deleted, the reason said, counted, retried" {
	acl_denying
	mqtt_up "allow_anonymous true" "acl_file $ACL"
	mqtt_sub sub 'dmu/#'
	# This broker (max_queued_messages 0) stops acknowledging after a few
	# refusals, and the time limit ends the batch.
	export DMU_MQTT_TIMEOUT=5
	# Mosquitto reads its ACL file again on SIGHUP.
	fix() {
		echo 'topic readwrite dmu/#' >"$ACL"
		kill -HUP "$MQTT_PID"
	}
	refused mqtt 'refused [0-9]+ of [0-9]+ reports on dmu/127.0.0.1:[0-9]+: Not authorized' fix
}

# state_at FILE SERIAL: the state file says SERIAL was the last report
# handed on.
state_at() {
	[ -f "$1" ] && grep -qw -- "$2" "$1"
}

# two_collectors KIND: two collectors (state files a and b, no -d) hand
# the same 2,000 reports to one store, the second killed half-way and
# started again: each report is stored once.
two_collectors() {
	local kind=$1 a
	store_up "$kind"
	sim_up dev -b 8192 -n 2000 -m 50
	collect "$kind" -s a
	a=$COLLECTOR
	collect "$kind" -s b
	wait_until 60 stored_at_least "$kind" 500 || fail "$(cat c*.err)"
	kill9
	collect "$kind" -s b
	wait_until 60 state_at a 2000 || fail "a: $(cat a c1.err)"
	wait_until 60 state_at b 2000 || fail "b: $(cat b c2.err c3.err)"
	store_ids "$kind" >ids
	assert_equal "$(wc -l <ids)" 2000
	assert_equal "$(uniq ids | wc -l)" 2000
	assert_equal "$(stat_of reports)" 2000
	kill "$a"
}

@test "two collectors on one device into one InfluxDB, one killed: each report stored once" {
	two_collectors influx
}

@test "two collectors on one device into one PostgreSQL, one killed: each report stored once" {
	two_collectors pg
}

# device_restart KIND: the device restarts during a drain with -d (its
# buffer lost, serials from 1 again, an hour later by its clock; the
# collector says so): the 300
# reports of the new epoch are all stored beside those of the old, none
# merged with an old one of the same serial.
device_restart() {
	local kind=$1 epoch old new
	store_up "$kind"
	sim_up dev -b 8192 -n 300 -m 50
	collect "$kind" -d -s state
	wait_until 60 stored_at_least "$kind" 100 || fail "$(cat c*.err)"
	# The new epoch's 300 reports come at once, more than the
	# collector's last serial, so /wait shows it no restart: the
	# deletions' answers or the check on a new connection must.
	ctl restart >/dev/null
	epoch=$(ctl 'clock +3600' | cut -d' ' -f2)
	ctl 'gen 300' >/dev/null
	wait_until 60 distinct_at_least_since "$kind" 300 "$epoch" ||
	    fail "new epoch: $(store_ids "$kind" "$epoch" | uniq | wc -l) stored; $(cat c*.err; ctl stats)"
	grep -q "$DEV: the device restarted" c1.err || fail "$(cat c1.err)"
	store_ids "$kind" "$epoch" | uniq >new
	assert_equal "$(cut -d' ' -f1 new | sort -n | uniq | wc -l)" 300
	store_ids "$kind" | uniq >all
	old=$(($(wc -l <all) - 300))
	[ "$old" -ge 100 ] || fail "old epoch: $old reports"
	# Each serial of the old epoch once, each of both at most twice.
	run -0 sh -c "cut -d' ' -f1 all | sort | uniq -c | awk '\$1 > 2'"
	assert_output ''
	if [ "$kind" = pg ]; then
		# Content and timestamp of every row belong together.
		assert_equal "$(pg_q "SELECT count(*) FROM dmu_report WHERE
		    vals->>'T' <> to_char(ts AT TIME ZONE 'UTC', 'HH24:MI:SS')")" 0
	fi
}

distinct_at_least_since() {
	[ "$(store_ids "$1" "$3" | uniq | wc -l)" -ge "$2" ]
}

@test "device restart during a drain into InfluxDB: the new epoch is stored beside the old" {
	device_restart influx
}

@test "device restart during a drain into PostgreSQL: the new epoch is stored beside the old" {
	device_restart pg
}

@test "device restart during a drain over MQTT: the new epoch is published beside the old" {
	device_restart mqtt
}
