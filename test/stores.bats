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

# ---- the recipes ----

@test "influx: a batch is stored as one point per report, the same batch again changes nothing" {
	influx_up
	lines 50 | run -0 dmu-sink-influx
	assert_equal "$(influx_count)" 50
	lines 50 | run -0 dmu-sink-influx
	assert_equal "$(influx_count)" 50
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

@test "influx: two reports of one device in one second are two points; a missing timestamp is dated by D and T" {
	influx_up
	{ lines 2; echo '{"device":"127.0.0.1:9","serial":3,"content":"S=X,D=2025-10-01,T=12:35:10,TA=1"}'; } >in
	run -0 dmu-sink-influx <in
	assert_equal "$(influx_count)" 3
	echo '{"device":"127.0.0.1:9","serial":4,"content":"TA=1"}' >in
	run -1 --separate-stderr dmu-sink-influx <in
	assert_output ''
	[[ $stderr == *"report 4 of 127.0.0.1:9 has no timestamp"* ]] || fail "$stderr"
	assert_equal "$(influx_count)" 3
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
	lines 50 | run -0 dmu-sink-pg
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 50
	lines 50 | run -0 dmu-sink-pg
	assert_equal "$(pg_q 'SELECT count(*) FROM dmu_report')" 50
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
	[[ $stderr == *'not authori'[sz]ed* ]] || fail "$stderr"
	[[ $stderr == *'dmu-sink-mqtt: mosquitto_pub failed'* ]] || fail "$stderr"
	unset DMU_DEVICE
	run -1 --separate-stderr dmu-sink-mqtt < <(lines 3)
	[[ $stderr == *'DMU_DEVICE is not set'* ]] || fail "$stderr"
}
