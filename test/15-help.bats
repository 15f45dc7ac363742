#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Help where people look: -h and --help of every program, of every
# dmu-certdb command and of the simulator; usage errors that say what was
# wrong before the usage.

load helper
load helper-man

PROGS="dmu-learn dmu-pin-check dmu-get dmu-certdb"

# is_help PROG: the output of run is PROG's help: the usage first, then
# more than the usage (the options), nothing on stderr.
is_help() {
	assert_success
	assert_equal "$stderr" ""
	[[ ${lines[0]} == "usage: $1 "* ]] || fail "not $1's usage: ${lines[0]}"
	[ "${#lines[@]}" -gt 4 ] || fail "only the usage: $output"
	[[ $output == *"-h, --help"* ]] || fail "no -h in the help: $output"
}

@test "help: -h and --help of every program print the help on stdout, exit 0" {
	for p in $PROGS; do
		for h in -h --help; do
			run --separate-stderr "$p" "$h" </dev/null
			is_help "$p"
		done
	done
	# Also after other options and operands, and with -f given.
	run --separate-stderr dmu-get -t 5 127.0.0.1:1 latest --help </dev/null
	is_help dmu-get
	run --separate-stderr dmu-certdb -f nosuch --help </dev/null
	is_help dmu-certdb
	# An option's argument that reads --help is an argument.
	run --separate-stderr dmu-get -a --help </dev/null
	assert_failure 2
	[[ $stderr == *"no device given"* ]] || fail "$stderr"
}

@test "help: every option of each program is in its help" {
	for p in $PROGS; do
		run --separate-stderr "$p" -h </dev/null
		assert_success
		# The letters of the usage line(s), each explained below.
		usage=$(printf '%s\n' "$output" | sed '/^$/q')
		for o in $(printf '%s\n' "$usage" | grep -o '\[-[a-zA-Z]*\]\|\[-[a-zA-Z] ' |
		    tr -d '[]- ' | fold -w1 | sort -u); do
			[ "$o" = h ] && continue
			printf '%s\n' "$output" | grep -q "^  -$o " ||
			    fail "$p: -$o is not explained: $output"
		done
	done
}

@test "help: dmu-certdb's help lists every command, and COMMAND -h helps with one" {
	run --separate-stderr dmu-certdb --help </dev/null
	assert_success
	top=$output
	cmds="add check get history import inventory list pem pin remove seen show"
	for c in $cmds; do
		printf '%s\n' "$top" | grep -q "^  $c\b" ||
		    fail "$c is not in the help: $top"
		for h in -h --help; do
			run --separate-stderr dmu-certdb "$c" "$h" </dev/null
			assert_success
			assert_equal "$stderr" ""
			[[ ${lines[0]} == "usage: dmu-certdb [-f file] $c"* ]] ||
			    fail "$c $h: ${lines[0]}"
			[ "${#lines[@]}" -ge 2 ] || fail "$c $h: only the usage"
		done
	done
	# Nothing was created or read: help needs no database.
	[ ! -e "$DMU_CERTDB" ]
}

@test "help: usage errors say what was wrong first, then the usage, on stderr, exit 2" {
	# args|the reason, as the first line of stderr says it
	while IFS='|' read -r p args why; do
		# shellcheck disable=SC2086
		run --separate-stderr "$p" $args </dev/null
		assert_failure 2
		assert_output ""
		[[ ${stderr_lines[0]} == "$p: $why" ]] ||
		    fail "$p $args: first line '${stderr_lines[0]}', not '$p: $why'"
		[[ ${stderr_lines[1]} == "usage: $p "* ]] ||
		    fail "$p $args: no usage after the reason: $stderr"
	done <<'EOF'
dmu-certdb|add st1|add takes no operand
dmu-certdb|add -x|unknown option -x
dmu-certdb||no command given
dmu-certdb|frobnicate|unknown command 'frobnicate'
dmu-certdb|get|get needs a device
dmu-certdb|import|import needs a device
dmu-certdb|pin st1 st2|pin takes at most 1 operand: 'st2' is one too many
dmu-certdb|show st1 ab cd|show takes at most 2 operands: 'cd' is one too many
dmu-certdb|list extra|list takes no operand
dmu-certdb|check extra|check takes no operand
dmu-certdb|-f|option -f needs an argument
dmu-certdb|--frob list|unknown option '--frob'
dmu-get||no device given
dmu-get|-Z 127.0.0.1:1|unknown option -Z
dmu-get|-k|option -k needs an argument
dmu-get|127.0.0.1:1 latest extra|too many operands: 'extra' after the resource
dmu-learn|-F 0 127.0.0.1:1 127.0.0.1:2|-F takes exactly one device
dmu-learn|--yes 127.0.0.1:1|unknown option '--yes'
dmu-pin-check|-Z|unknown option -Z
dmu-pin-check|-j|option -j needs an argument
EOF
	[ ! -e "$DMU_CERTDB" ]
}

@test "help: the simulator answers -h and --help with its options and control commands" {
	for h in -h --help; do
		run --separate-stderr "$DMU_SIM" "$h" </dev/null
		assert_success
		assert_equal "$stderr" ""
		[[ ${lines[0]} == "usage: dmu-sim "* ]] || fail "${lines[0]}"
		for w in gen restart fail cut malformed slow mode trail fold key clock \
		    stats quit; do
			printf '%s\n' "$output" | grep -q "^  $w\b" ||
			    fail "control command $w is not in the help"
		done
		for o in 4 a b c g K k L l m n P p S V; do
			printf '%s\n' "$output" | grep -q -- "-$o " ||
			    fail "-$o is not in the help"
		done
	done
	# Usage errors: the reason first.
	while IFS='|' read -r args why; do
		# shellcheck disable=SC2086
		run --separate-stderr "$DMU_SIM" $args </dev/null
		assert_failure 2
		[[ ${stderr_lines[0]} == "dmu-sim: $why" ]] ||
		    fail "dmu-sim $args: '${stderr_lines[0]}'"
		[[ ${stderr_lines[1]} == "usage: dmu-sim "* ]] || fail "$stderr"
	done <<'EOF'
|-c CERT.pem and -k KEY.pem are needed
-x|unknown option -x
-c|option -c needs an argument
-c a.pem -k a.key extra|no operands: every setting is an option
-c a.pem -k a.key -S loud|-S: silent or drip
EOF
}

@test "README: Try it without a device: the simulator by hand, learned with -F, fetched, controlled" {
	command -v socat >/dev/null || skip "socat is not installed"
	readme=$(readme_blocks "Try it without a device")
	block_cmds "$readme"
	[ "${#CMDS[@]}" -eq 8 ] || fail "8 commands expected: ${CMDS[*]}"
	# 1: the build of the programs and the simulator, where it says.
	assert_equal "${CMDS[0]}" "make all test/dmu-sim"
	make -s -n -C "$DMU_REPO" test/dmu-sim >/dev/null || fail "no make target test/dmu-sim"
	[ -x "$DMU_REPO/test/dmu-sim" ] || fail "test/dmu-sim is not built"
	# The page's port and places, made the test's own.
	port=$(free_port)
	loc() {
		local t=${1//8443/$port}
		t=${t//test\/dmu-sim/$DMU_SIM}
		printf '%s\n' "${t//\$PWD\/cmd/$DMU_BIN}"
	}
	# 2, 3: a certificate and the simulator.
	bash -e -c "$(loc "${CMDS[1]}")" || fail "${CMDS[1]}"
	[[ ${CMDS[2]} == *" &" ]] || fail "not started in the background: ${CMDS[2]}"
	eval "$(loc "${CMDS[2]}") 3>&-"
	SIM_PIDS+=($!)
	wait_until 10 test -s sim.ports || fail "the simulator did not start"
	# 4 to 6: learned with -F, then the latest of its five reports.
	run --separate-stderr bash -e -o pipefail -c "$(loc "${CMDS[3]}")
$(loc "${CMDS[4]}")
$(loc "${CMDS[5]}")"
	assert_success
	assert_equal "$(jq -c '[.device, .serial]' <<<"$output")" "[\"127.0.0.1:$port\",5]"
	assert_equal "$(DMU_CERTDB=sim.certdb dmu-certdb list | cut -d' ' -f4)" fingerprint
	# 7: three more reports; 8: quit, and it is gone.
	run bash -e -c "$(loc "${CMDS[6]}")
$(loc "${CMDS[7]}")"
	assert_success
	assert_equal "$output" "ok 8
ok"
	bg_wait "${SIM_PIDS[-1]}" 10
	# The help it points to lists the commands it names.
	run "$DMU_SIM" -h
	for w in gen fail quit; do
		grep -q "^  $w\b" <<<"$output" || fail "$w is not in dmu-sim -h"
	done
}

@test "README: the program table names every command of dmu-certdb" {
	row=$(grep '^| `dmu-certdb` |' "$DMU_REPO/README.md")
	run dmu-certdb -h
	assert_success
	# A command's line starts with two blanks and its name.
	cmds=$(sed -n '/^commands:/,$p' <<<"$output" | awk 'NR > 1 && /^  [a-z]/ { print $1 }')
	[ "$(wc -l <<<"$cmds")" -eq 12 ] || fail "commands: $cmds"
	for c in $cmds; do
		[[ $row =~ [\ :]$c[,\ ] ]] || fail "$c is not in the README's table: $row"
	done
}

@test "README: the CSV example of list is what make demo runs and shows, from serial 1" {
	command -v jq >/dev/null || skip "jq is not installed"
	readme=$(readme_blocks "Fetching reports")
	line=$(grep -n '^\$ dmu-get .* list | jq -r -f share/jq/csv.jq' <<<"$readme")
	[ -n "$line" ] || fail "no list example: $readme"
	cmd=${line#*\$ }
	shown=$(sed -n "$((${line%%:*} + 1)),\$p" <<<"$readme" | sed '/^\$ /,$d;/^--$/,$d' |
	    cut -d, -f2)
	assert_equal "$(echo $shown)" "1 2 3"
	mkdir t
	run --separate-stderr env TMPDIR="$PWD/t" "$DMU_REPO/test/demo"
	assert_success
	dev=$(grep -o '127\.0\.0\.1:[0-9]*' <<<"${lines[0]}" | head -n 1)
	# The demo shows the same command, for its device, and what it prints.
	i=$(grep -nF -- "\$ ${cmd//127.0.0.1:36557/$dev}" <<<"$output" | cut -d: -f1)
	[ -n "$i" ] || fail "the demo does not show '$cmd': $output"
	got=$(sed -n "$((i + 1)),\$p" <<<"$output" | sed '/^$/,$d' | cut -d, -f2)
	assert_equal "$(echo $got)" "1 2 3"
}
