# SPDX-License-Identifier: ISC
# helper-man.bash - the example blocks of the manual pages and the README,
# as text and as commands, so that the suites run exactly what the
# documentation shows (test/91-fleet.bats, test/92-man-examples.bats).
#
# In a man page an example is a ".Bd -literal" display.  Lines that start
# with "$ " are commands; the lines after one that start with a blank
# continue it; any other line is output shown to the reader and is not run.
# The escapes undone are \e (a backslash) and \& (nothing).
#
# Examples name devices 127.0.0.1:8443, :8444 and :8445 and the installed
# share files under /usr/local/share/dmu; localize turns them into the
# test's simulators (P1, P2, P3) and the repository's share/.

# man_block FILE SECTION N: the Nth literal display of section SECTION.
man_block() {
	awk -v sec="$2" -v want="$3" '
	/^\.Sh / { insec = (substr($0, 5) == sec); inb = 0; next }
	insec && /^\.Bd -literal/ { n++; inb = (n == want); next }
	inb && /^\.Ed/ { inb = 0; next }
	inb { gsub(/\\&/, ""); gsub(/\\e/, "\\"); print }
	' "$1"
}

# man_block_count FILE SECTION: how many literal displays SECTION has.
man_block_count() {
	awk -v sec="$2" '
	/^\.Sh / { insec = (substr($0, 5) == sec); next }
	insec && /^\.Bd -literal/ { n++ }
	END { print n + 0 }
	' "$1"
}

# block_cmds TEXT: sets CMDS to the commands of a block (prompts taken off,
# continuation lines joined with newlines) and OUTS to its output lines.
block_cmds() {
	local l cur= incmd=0
	CMDS=()
	OUTS=()
	while IFS= read -r l; do
		if [[ $l == '$ '* ]]; then
			((incmd)) && CMDS+=("$cur")
			cur=${l#'$ '}
			incmd=1
		elif ((incmd)) && [[ $l == [[:blank:]]* ]]; then
			cur+=$'\n'$l
		else
			((incmd)) && CMDS+=("$cur")
			incmd=0
			OUTS+=("$l")
		fi
	done <<<"$1"
	((incmd)) && CMDS+=("$cur")
	return 0
}

# localize TEXT: prints TEXT with the example devices and paths replaced.
localize() {
	local t=$1
	t=${t//127.0.0.1:8443/127.0.0.1:${P1:-8443}}
	t=${t//127.0.0.1:8444/127.0.0.1:${P2:-8444}}
	t=${t//127.0.0.1:8445/127.0.0.1:${P3:-8445}}
	t=${t//\/usr\/local\/share\/dmu\//$DMU_REPO/share/}
	printf '%s\n' "$t"
}

# tty_bg OUT ERR SCRIPT: runs the bash script file SCRIPT in the background
# on a terminal of its own (script(1)), output in OUT.  script(1) puts it in
# a session of its own, out of reach of a signal to our group, and when a
# pty's session leader ends the kernel sends the rest no SIGHUP: so the
# script's process group (written to SCRIPT.pgid) joins BG_GROUPS for
# teardown, and tty_stop ends it.  Sets TTY_PGID.
#
# The group is read from /proc, not taken to be the shell's $$: script(1)
# runs the command through $SHELL -c, and where SHELL is unset or /bin/sh
# (CI, cron) dash forks for it, so the group is dash's, and bash's $$ is no
# group at all.
tty_bg() {
	printf '%s\n%s\n' \
	    's=$(cat /proc/$$/stat); s=${s##*) }; set -- $s; echo "$3" >'"$3.pgid" \
	    "$(cat "$3")" >"$3"
	group_bg "$1" "$2" "script -qfec 'bash $3' /dev/null"
	wait_until 5 test -s "$3.pgid" || fail "$3 did not start"
	TTY_PGID=$(cat "$3.pgid")
	BG_GROUPS+=("$TTY_PGID")
}

# tty_stop: sends TERM to the pipeline of tty_bg and waits until it ended;
# script(1) ends with it.
tty_stop() {
	kill -TERM -- "-$TTY_PGID" 2>/dev/null
	wait_until 10 eval '! kill -0 -- "-$TTY_PGID" 2>/dev/null' ||
	    fail "the pipeline on the terminal did not end"
	kill -TERM -- "-$GROUP" 2>/dev/null || :
}

# example PAGE N [SECTION]: the Nth example of man/PAGE (EXAMPLES unless
# SECTION is given), localized; sets EX (the whole script, commands only),
# CMDS (the commands one by one) and OUTS (the output lines shown).  Fails
# the test when there is none.
example() {
	local text
	text=$(man_block "$DMU_REPO/man/$1" "${3:-EXAMPLES}" "$2")
	[ -n "$text" ] || fail "man/$1 has no example $2 in ${3:-EXAMPLES}"
	block_cmds "$(localize "$text")"
	[ "${#CMDS[@]}" -gt 0 ] || fail "man/$1 example $2: no command"
	EX=$(printf '%s\n' "${CMDS[@]}")
}

# example_has STRING: the example holds STRING (so that a test does not run
# a neighbouring example after the page changed).
example_has() {
	[[ $EX == *"$1"* ]] || fail "the example is not the one expected (no '$1'): $EX"
}

# readme_blocks HEADING: the indented code blocks of the README section
# "## HEADING", separated by a line "--", indentation taken off.
readme_blocks() {
	awk -v h="## $1" '
	/^## / { insec = ($0 == h); next }
	!insec { next }
	/^    / { if (!inb && n++) print "--"; inb = 1; print substr($0, 5); next }
	/^$/ { next }
	{ inb = 0 }
	' "$DMU_REPO/README.md"
}
