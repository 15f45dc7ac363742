#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# share/jq: the filters of the README and the demo, run with the installed
# jq on real dmu-get output (from the simulator, and from a fake device for
# contents the simulator never makes).

load helper-get

JQ_DIR=$DMU_REPO/share/jq

# device_with REPORTS-JSON: a fake device (one per test) whose every answer
# is now the body {"reports": REPORTS-JSON}; sets DEV.
device_with() {
	printf '{"reports": %s}' "$1" >body
	{ printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n'
	  printf 'Content-Length: %d\r\nConnection: close\r\n\r\n' "$(wc -c <body)"
	  cat body; } >fake.resp
	[ -f fake.pem ] || fake_tls fake
}

# csv_fields: each CSV record on stdin as a JSON array of its fields, read
# by Python's csv module (an independent reader).
csv_fields() {
	python3 -c 'import csv, json, sys
for row in csv.reader(sys.stdin):
    print(json.dumps(row, separators=(",", ":"), ensure_ascii=False))'
}

@test "share: content.jq adds the content pairs as .values, numbers as numbers" {
	sim_up a -n 5
	dmu-get -t "$T" "$DEV" list </dev/null >list.ndjson
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" list.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 5
	# The report is unchanged, with .values added last.
	assert_equal "$(jq -c 'del(.values)' <<<"$output")" "$(cat list.ndjson)"
	for l in "${lines[@]}"; do
		[[ $l == *",\"values\":{"*"}}" ]] || fail "line: $l"
	done
	jq -e -s 'all(.[]; .values
	    | ([.TA, .RH, .PA | type] == ["number", "number", "number"])
	    and ([.S, .D, .T | type] == ["string", "string", "string"])
	    and (keys_unsorted == ["S", "D", "T", "TA", "RH", "PA"]))' <<<"$output" >/dev/null ||
	    fail "values: $output"
	# Each value is the text of its pair, as a number or a string.
	assert_equal "$(jq -r '(.values | to_entries | map("\(.key)=\(.value)")
	    | join(",")) == .content' <<<"$output" | sort -u)" true
	# Negative numbers too (the simulator's serial 1 is below zero).
	assert_equal "$(head -n 1 <<<"$output" | jq '.values.TA < 0')" true
}

@test "share: csv.jq makes one RFC 4180 row per report, the serial a number" {
	sim_up a -n 3
	dmu-get -t "$T" "$DEV" list </dev/null >list.ndjson
	run --separate-stderr jq -r -f "$JQ_DIR/csv.jq" list.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 3
	i=0
	while IFS= read -r r; do
		i=$((i + 1))
		ts=$(jq -r .timestamp <<<"$r")
		c=$(jq -r .content <<<"$r")
		assert_equal "${lines[i - 1]}" "\"$DEV\",$i,\"$ts\",\"$c\""
	done <list.ndjson
	# Read back by a CSV reader: four fields, the content whole.
	assert_equal "$(csv_fields <<<"$output")" \
	    "$(jq -c '[.device, (.serial | tostring), .timestamp, .content]' list.ndjson)"
}

@test "share: csv.jq quotes quotes, commas, newlines and non-ASCII right" {
	device_with '[{"serial": 7, "timestamp": "2025-10-01T12:35:10Z",
	    "content": "S=\"DMU\",NOTE=a,b\nline 2,T=\u00e9t\u00e9"},
	    {"serial": 8, "timestamp": "2025-10-01T12:35:20Z", "content": ""},
	    {"serial": 9, "timestamp": "2025-10-01T12:35:30Z"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >list.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -r -f "$JQ_DIR/csv.jq" list.ndjson
	assert_success
	assert_equal "$output" "\"$DEV\",7,\"2025-10-01T12:35:10Z\",\"S=\"\"DMU\"\",NOTE=a,b
line 2,T=été\"
\"$DEV\",8,\"2025-10-01T12:35:20Z\",\"\"
\"$DEV\",9,\"2025-10-01T12:35:30Z\","
	# A CSV reader gets the content back unchanged.
	assert_equal "$(csv_fields <<<"$output" | jq -r '.[3]' | head -n 2)" \
	    "$(jq -r .content list.ndjson | head -n 2)"
}

@test "share: values-csv.jq picks the keys in the order given, empty when absent" {
	sim_up a -n 2
	dmu-get -t "$T" "$DEV" list </dev/null >list.ndjson
	run --separate-stderr jq -r --arg keys PA,TA,NOPE,S -f "$JQ_DIR/values-csv.jq" list.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "${#lines[@]}" 2
	assert_equal "$(csv_fields <<<"$output")" "$(jq -c '(.content | split(",")
	    | map(split("=") | {(.[0]): .[1]}) | add) as $p
	    | [.device, (.serial | tostring), .timestamp, $p.PA, $p.TA, "", $p.S]' list.ndjson)"
	[[ ${lines[0]} == "\"$DEV\",1,\""*"\","*",,\"AWS830_DEMO\"" ]] || fail "row: ${lines[0]}"
}

@test "share: values-csv.jq writes numeric values as CSV numbers, as csv.jq does the serial" {
	sim_up a -n 1
	dmu-get -t "$T" "$DEV" latest </dev/null >l.ndjson
	run --separate-stderr jq -r --arg keys TA,RH,PA,S -f "$JQ_DIR/values-csv.jq" l.ndjson
	assert_success
	# Numbers unquoted, text quoted: TA=-6.3,RH=43,PA=982.9 for serial 1.
	assert_output "\"$DEV\",1,\"$(jq -r .timestamp l.ndjson)\",-6.3,43,982.9,\"AWS830_DEMO\""
}

@test "share: content.jq keeps pairs with odd values and leaves out words without '='; a content that is no string has none" {
	device_with '[{"serial": 1, "timestamp": "2025-10-01T12:35:10Z",
	    "content": "S=A,EMPTY=,EQ=a=b,NOEQ,N=1e3,NEG=-0.5,ZERO=0,U=\u00e9"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" l.ndjson
	assert_success
	assert_equal "$(jq -c .values <<<"$output")" \
	    '{"S":"A","EMPTY":"","EQ":"a=b","N":1000,"NEG":-0.5,"ZERO":0,"U":"é"}'
	# No content at all: empty values, the report otherwise unchanged.
	device_with '[{"serial": 2, "timestamp": "2025-10-01T12:35:10Z"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" l.ndjson
	assert_success
	assert_output "{\"device\":\"$DEV\",\"serial\":2,\"timestamp\":\"2025-10-01T12:35:10Z\",\"values\":{}}"
	# A content that is no string, as a device may send: empty values.
	device_with '[{"serial": 3, "timestamp": "2025-10-01T12:35:10Z", "content": 5},
	    {"serial": 4, "timestamp": "2025-10-01T12:35:10Z", "content": {"TA": 4}},
	    {"serial": 5, "timestamp": "2025-10-01T12:35:10Z", "content": null}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" l.ndjson
	assert_success
	assert_equal "$(jq -c '[.content, .values]' <<<"$output" | tr '\n' ' ')" \
	    '[5,{}] [{"TA":4},{}] [null,{}] '
}

@test "share: csv.jq and values-csv.jq take a content that is no string: its JSON text, no values" {
	device_with '[{"serial": 1, "timestamp": "2025-10-01T12:35:10Z", "content": 5},
	    {"serial": 2, "timestamp": "2025-10-01T12:35:10Z", "content": {"TA": 2}},
	    {"serial": 3, "timestamp": "2025-10-01T12:35:10Z"},
	    {"serial": 4, "timestamp": "2025-10-01T12:35:10Z", "content": "TA=4"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -r -f "$JQ_DIR/csv.jq" l.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(cut -d, -f2,4- <<<"$output" | tr '\n' ' ')" \
	    '1,"5" 2,"{""TA"":2}" 3, 4,"TA=4" '
	run --separate-stderr jq -r --arg keys TA -f "$JQ_DIR/values-csv.jq" l.ndjson
	assert_success
	assert_equal "$stderr" ""
	assert_equal "$(cut -d, -f2,4- <<<"$output" | tr '\n' ' ')" '1, 2, 3, 4,4 '
}

@test "share: content.jq and values-csv.jq keep a value that holds a line break" {
	device_with '[{"serial": 1, "timestamp": "2025-10-01T12:35:10Z",
	    "content": "S=A,NOTE=line 1\nline 2,TA=1.5"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" l.ndjson
	assert_success
	# The filters ask for the "s" flag so that a value may span lines, but
	# in jq's regex dialect (Oniguruma, Ruby syntax) "s" does not make "."
	# match a newline: the pair is dropped without a word.
	assert_equal "$(jq -c .values <<<"$output")" '{"S":"A","NOTE":"line 1\nline 2","TA":1.5}'
	run --separate-stderr jq -r --arg keys S,NOTE,TA -f "$JQ_DIR/values-csv.jq" l.ndjson
	assert_success
	assert_equal "$(csv_fields <<<"$output" | jq -c '.[3:]')" '["A","line 1\nline 2","1.5"]'
}

@test "share: content.jq keeps words that are not numbers (nan, infinity) as text" {
	device_with '[{"serial": 1, "timestamp": "2025-10-01T12:35:10Z",
	    "content": "TA=nan,RH=NaN,PA=infinity,WS=-infinity,TD=///"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" l.ndjson
	assert_success
	# jq's tonumber reads these as NaN (printed null) and +-1.8e308: a
	# failed sensor would show as no value, or as an absurd number.
	assert_equal "$(jq -c .values <<<"$output")" \
	    '{"TA":"nan","RH":"NaN","PA":"infinity","WS":"-infinity","TD":"///"}'
}

@test "share: content.jq keeps identifiers with leading zeros or too many digits as text" {
	device_with '[{"serial": 1, "timestamp": "2025-10-01T12:35:10Z",
	    "content": "ID=007,SN=12345678901234567890,P=+5,TA=15.5"}]'
	dmu-get -t "$T" "$DEV" list </dev/null >l.ndjson || fail "dmu-get failed"
	run --separate-stderr jq -c -f "$JQ_DIR/content.jq" l.ndjson
	assert_success
	# Turned into numbers, these lose their text: 7, 1.2345678901234567e+19.
	assert_equal "$(jq -c .values <<<"$output")" \
	    '{"ID":"007","SN":"12345678901234567890","P":"+5","TA":15.5}'
}
