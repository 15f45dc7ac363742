#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# Fitting the system: make install and uninstall as a packager uses them,
# reproducible builds, -V, the manual pages as installed, bash completion,
# and the systemd unit (systemd-analyze, and its command run as systemd
# would run it).
#
# The Makefile is tested on a copy of the tree (sources only), built once
# in setup_file and staged twice: with DESTDIR and PREFIX=/usr, as a package
# does, and with PREFIX alone, so that the unit's ExecStart names a binary
# that exists.  This suite does not use DMU_BIN except where it says so.

load helper-get

# Builds take longer than a test's usual limit.
if [ "${BATS_TEST_TIMEOUT:-0}" -lt 240 ]; then
	BATS_TEST_TIMEOUT=240
fi

PROG_NAMES=(dmu-learn dmu-pin-check dmu-get dmu-certdb)

# copy_tree DIR: the sources the Makefile builds from, without any build
# output.
copy_tree() {
	mkdir -p "$1/cmd" "$1/lib" "$1/man" || return 1
	cp "$DMU_REPO/Makefile" "$1/" &&
	    cp "$DMU_REPO"/cmd/*.c "$1/cmd/" &&
	    cp "$DMU_REPO"/lib/*.c "$DMU_REPO"/lib/*.h "$1/lib/" &&
	    cp "$DMU_REPO"/man/* "$1/man/" &&
	    cp -R "$DMU_REPO/share" "$1/"
}

setup_file() {
	export DMU_SRC=$BATS_FILE_TMPDIR/src
	export DMU_STAGE=$BATS_FILE_TMPDIR/stage
	export DMU_SD=$BATS_FILE_TMPDIR/sd
	copy_tree "$DMU_SRC" || return 1
	(cd "$DMU_SRC" && make all) >"$BATS_FILE_TMPDIR/build.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/build.log" >&3
		return 1
	}
	(cd "$DMU_SRC" && make install DESTDIR="$DMU_STAGE" PREFIX=/usr &&
	    make install PREFIX="$DMU_SD/usr") \
	    >"$BATS_FILE_TMPDIR/install.log" 2>&1 || {
		cat "$BATS_FILE_TMPDIR/install.log" >&3
		return 1
	}
}

# make_version: VERSION as the Makefile sets it.
make_version() {
	sed -n 's/^VERSION *= *//p' "$DMU_REPO/Makefile"
}

# tree DIR: one line per entry below DIR, sorted: "d PATH" for a directory,
# "f MODE PATH" for a file, anything else as "? PATH".
tree() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do
		p=${p#./}
		if [ -L "$p" ]; then echo "? $p"
		elif [ -d "$p" ]; then echo "d $p"
		elif [ -f "$p" ]; then echo "f $(stat -c %a "$p") $p"
		else echo "? $p"
		fi
	done)
}

# The tree "make install DESTDIR=... PREFIX=/usr" makes.
expected_tree() {
	cat <<'EOF'
d usr
d usr/bin
f 755 usr/bin/dmu-certdb
f 755 usr/bin/dmu-get
f 755 usr/bin/dmu-learn
f 755 usr/bin/dmu-pin-check
d usr/lib
d usr/lib/nagios
d usr/lib/nagios/plugins
f 755 usr/lib/nagios/plugins/check_dmu
d usr/share
d usr/share/bash-completion
d usr/share/bash-completion/completions
f 644 usr/share/bash-completion/completions/dmu-certdb
f 644 usr/share/bash-completion/completions/dmu-get
f 644 usr/share/bash-completion/completions/dmu-learn
f 644 usr/share/bash-completion/completions/dmu-pin-check
d usr/share/dmu
d usr/share/dmu/examples
f 755 usr/share/dmu/examples/collect-all
f 755 usr/share/dmu/examples/fleet-check
f 755 usr/share/dmu/examples/plot
d usr/share/dmu/jq
f 644 usr/share/dmu/jq/content.jq
f 644 usr/share/dmu/jq/csv.jq
f 644 usr/share/dmu/jq/values-csv.jq
d usr/share/dmu/monitoring
f 644 usr/share/dmu/monitoring/dmu.rules.yml
d usr/share/dmu/sinks
f 644 usr/share/dmu/sinks/dmu-pg.sql
f 755 usr/share/dmu/sinks/dmu-sink-influx
f 755 usr/share/dmu/sinks/dmu-sink-mqtt
f 755 usr/share/dmu/sinks/dmu-sink-pg
f 644 usr/share/dmu/sinks/influx.jq
f 644 usr/share/dmu/sinks/pg.jq
d usr/share/dmu/systemd
f 644 usr/share/dmu/systemd/dmu-follow@.service
d usr/share/man
d usr/share/man/man1
f 644 usr/share/man/man1/dmu-certdb.1
f 644 usr/share/man/man1/dmu-get.1
f 644 usr/share/man/man1/dmu-learn.1
f 644 usr/share/man/man1/dmu-pin-check.1
d usr/share/man/man5
f 644 usr/share/man/man5/dmu-certdb.5
d usr/share/man/man7
f 644 usr/share/man/man7/dmu.7
EOF
}

# What stays after uninstall: the shared directories.
shared_dirs() {
	cat <<'EOF'
d usr
d usr/bin
d usr/lib
d usr/lib/nagios
d usr/lib/nagios/plugins
d usr/share
d usr/share/bash-completion
d usr/share/bash-completion/completions
d usr/share/man
d usr/share/man/man1
d usr/share/man/man5
d usr/share/man/man7
EOF
}

# mk TARGET [VAR=VALUE ...]: make in the built copy, quietly; the output is
# in mk.log.
mk() {
	(cd "$DMU_SRC" && make "$@") >mk.log 2>&1
}

# ---- install and uninstall ----

@test "install: DESTDIR and PREFIX=/usr stage exactly the programs, pages, share files and completion" {
	run tree "$DMU_STAGE"
	assert_success
	assert_output "$(expected_tree)"
	# The files are the ones of the tree.
	for p in "${PROG_NAMES[@]}"; do
		cmp "$DMU_SRC/cmd/$p" "$DMU_STAGE/usr/bin/$p"
		cmp "$DMU_REPO/share/completion/dmu.bash" \
		    "$DMU_STAGE/usr/share/bash-completion/completions/$p"
	done
	for f in "$DMU_REPO"/man/*; do
		n=${f##*/}
		cmp "$f" "$DMU_STAGE/usr/share/man/man${n##*.}/$n"
	done
	for f in "$DMU_REPO"/share/jq/*.jq "$DMU_REPO"/share/examples/* \
	    "$DMU_REPO"/share/monitoring/*.yml; do
		n=${f#"$DMU_REPO"/share/}
		cmp "$f" "$DMU_STAGE/usr/share/dmu/$n"
	done
	for f in "$DMU_REPO"/share/sinks/*.jq "$DMU_REPO"/share/sinks/*.sql; do
		cmp "$f" "$DMU_STAGE/usr/share/dmu/sinks/${f##*/}"
	done
	# The sinks differ only in the directory of their filters.
	for f in dmu-sink-influx dmu-sink-mqtt dmu-sink-pg; do
		assert_equal "$(diff "$DMU_REPO/share/sinks/$f" \
		    "$DMU_STAGE/usr/share/dmu/sinks/$f" | grep '^[<>]')" \
		    "< SHAREDIR=
> SHAREDIR=/usr/share/dmu"
	done
	# check_dmu differs only in the directory of the programs it runs.
	assert_equal "$(diff "$DMU_REPO/share/monitoring/check_dmu" \
	    "$DMU_STAGE/usr/lib/nagios/plugins/check_dmu" | grep '^[<>]')" \
	    "< BINDIR=
> BINDIR=/usr/bin"
}

@test "install: an installed sink finds its filters from any directory" {
	printf '%s\n' '{"device":"127.0.0.1:9","serial":1,"timestamp":"2025-10-01T12:35:10Z","content":"TA=1"}' >in
	cd /
	# Mapped (content.jq and influx.jq found), then refused by a closed
	# port: exit 1 with curl's reason, not a missing file.
	DMU_INFLUX_URL="http://127.0.0.1:$(free_port)/write" \
	    run -1 --separate-stderr "$DMU_SD/usr/share/dmu/sinks/dmu-sink-influx" \
	    <"$BATS_TEST_TMPDIR/in"
	[[ $stderr == *'/write: curl: (7)'* ]] || fail "$stderr"
}

@test "install: modes are set whatever the umask, and a second install changes nothing" {
	d=$BATS_TEST_TMPDIR/stage
	(umask 077 && mk install DESTDIR="$d" PREFIX=/usr) || fail "$(cat mk.log)"
	run tree "$d"
	assert_output "$(expected_tree)"
	before=$(cd "$d" && find . -type f -exec sha256sum {} + | sort)
	mk install DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	assert_equal "$(tree "$d")" "$(expected_tree)"
	assert_equal "$(cd "$d" && find . -type f -exec sha256sum {} + | sort)" "$before"
	# And the same bytes as the staging of setup_file.
	assert_equal "$before" "$(cd "$DMU_STAGE" && find . -type f -exec sha256sum {} + | sort)"
}

@test "install: PREFIX, BINDIR and the others move the files; the unit follows BINDIR" {
	d=$BATS_TEST_TMPDIR/stage
	mk install DESTDIR="$d" PREFIX=/opt/dmu BINDIR=/opt/dmu/libexec \
	    BASHCOMPDIR=/etc/bash_completion.d \
	    NAGIOSPLUGINDIR=/usr/lib/monitoring-plugins || fail "$(cat mk.log)"
	for p in "${PROG_NAMES[@]}"; do
		[ -x "$d/opt/dmu/libexec/$p" ] || fail "no $p in BINDIR"
		[ -f "$d/etc/bash_completion.d/$p" ] || fail "no completion for $p"
	done
	[ -f "$d/opt/dmu/share/man/man7/dmu.7" ]
	[ -f "$d/opt/dmu/share/dmu/jq/csv.jq" ]
	run grep '^ExecStart=' "$d/opt/dmu/share/dmu/systemd/dmu-follow@.service"
	assert_output --partial " /opt/dmu/libexec/dmu-get -f /etc/dmu/certdb "
	refute_output --partial /usr/bin/dmu-get
	grep -qx 'BINDIR=/opt/dmu/libexec' "$d/usr/lib/monitoring-plugins/check_dmu"
	# uninstall with the same variables leaves no file.
	mk uninstall DESTDIR="$d" PREFIX=/opt/dmu BINDIR=/opt/dmu/libexec \
	    BASHCOMPDIR=/etc/bash_completion.d \
	    NAGIOSPLUGINDIR=/usr/lib/monitoring-plugins || fail "$(cat mk.log)"
	run find "$d" ! -type d
	assert_output ""
	[ ! -e "$d/opt/dmu/share/dmu" ]
}

@test "uninstall: removes every file install made and the directories under share/dmu, and nothing else" {
	d=$BATS_TEST_TMPDIR/stage
	mk install DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	mk uninstall DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	run find "$d" ! -type d
	assert_output ""
	run tree "$d"
	assert_output "$(shared_dirs)"
	# The files of other packages in the shared directories stay.
	mk install DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	touch "$d/usr/bin/dmu-other" "$d/usr/share/man/man1/dmu-other.1" \
	    "$d/usr/share/bash-completion/completions/dmu-other"
	mk uninstall DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	run bash -c "cd '$d' && find . ! -type d | LC_ALL=C sort"
	assert_output "./usr/bin/dmu-other
./usr/share/bash-completion/completions/dmu-other
./usr/share/man/man1/dmu-other.1"
}

@test "uninstall: twice, or with nothing installed, succeeds; a file of the admin's under share/dmu keeps its directory" {
	d=$BATS_TEST_TMPDIR/stage
	mk uninstall DESTDIR="$d" PREFIX=/usr || fail "nothing installed: $(cat mk.log)"
	mk install DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	echo mine >"$d/usr/share/dmu/examples/my-collector"
	mk uninstall DESTDIR="$d" PREFIX=/usr || fail "$(cat mk.log)"
	mk uninstall DESTDIR="$d" PREFIX=/usr || fail "twice: $(cat mk.log)"
	run bash -c "cd '$d' && find . ! -type d"
	assert_output "./usr/share/dmu/examples/my-collector"
	[ ! -e "$d/usr/share/dmu/jq" ] && [ ! -e "$d/usr/share/dmu/systemd" ]
}

@test "install: needs neither root nor the network" {
	command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
	d=$(mktemp -d "${TMPDIR:-/tmp}/dmu-install.XXXXXX")
	INSTALL_TMP=$d
	chmod 755 "$d"
	# A copy with its build output and times, so that nothing is rebuilt.
	cp -Rp "$DMU_SRC" "$d/src"
	chmod -R a+rX "$d/src"
	mkdir "$d/stage"
	if [ "$(id -u)" -eq 0 ]; then
		command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
		chown 65534:65534 "$d/stage"
		# nobody, in a network namespace with only a down loopback.
		run unshare -n setpriv --reuid=65534 --regid=65534 --clear-groups \
		    sh -c "cd '$d/src' && make install DESTDIR='$d/stage' PREFIX=/usr"
	else
		unshare -rn true 2>/dev/null ||
		    skip "no user namespaces here to take the network away"
		run unshare -rn sh -c "cd '$d/src' && make install DESTDIR='$d/stage' PREFIX=/usr"
	fi
	assert_success
	assert_equal "$(tree "$d/stage")" "$(expected_tree)"
}

teardown() {
	[ -n "${INSTALL_TMP:-}" ] && rm -rf "$INSTALL_TMP"
	stop_bg
	dmu_base_teardown
}

# ---- reproducible builds ----

# build_copy DIR [MAKE ARGUMENTS]: copies the tree to DIR and builds it.
build_copy() {
	local dir=$1
	shift
	copy_tree "$dir" || return 1
	(cd "$dir" && make all "$@") >"$dir.log" 2>&1 || {
		cat "$dir.log"
		return 1
	}
}

# same_binaries DIR1 DIR2: the four programs are identical, as built and
# stripped.
same_binaries() {
	local p a b
	for p in "${PROG_NAMES[@]}"; do
		a=$(sha256sum <"$1/cmd/$p")
		b=$(sha256sum <"$2/cmd/$p")
		[ "$a" = "$b" ] || fail "$p differs between $1 and $2"
		if command -v strip >/dev/null; then
			strip -o "$1.$p.s" "$1/cmd/$p" && strip -o "$2.$p.s" "$2/cmd/$p"
			a=$(sha256sum <"$1.$p.s")
			b=$(sha256sum <"$2.$p.s")
			[ "$a" = "$b" ] || fail "stripped $p differs between $1 and $2"
		fi
	done
}

@test "reproducible: two builds of the tree in different directories are identical, also with -g" {
	# The default flags: a second build, elsewhere, against setup_file's.
	build_copy "$BATS_TEST_TMPDIR/x/src"
	same_binaries "$DMU_SRC" "$BATS_TEST_TMPDIR/x/src"
	# With debug information, which names the build directory unless it
	# is mapped, in directories of different lengths.
	flags="-O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE"
	build_copy "$BATS_TEST_TMPDIR/a" CFLAGS="$flags"
	build_copy "$BATS_TEST_TMPDIR/bb/some/longer/path" CFLAGS="$flags"
	same_binaries "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/bb/some/longer/path"
	# The debug information is there, and names no build directory.
	if command -v readelf >/dev/null; then
		readelf -S "$BATS_TEST_TMPDIR/a/cmd/dmu-get" | grep -q debug_info ||
		    fail "no debug information with -g"
	fi
	run grep -c "$BATS_TEST_TMPDIR" "$BATS_TEST_TMPDIR/a/cmd/dmu-get"
	assert_output 0
}

@test "reproducible: no date, time or path is compiled in" {
	run grep -rlE '__DATE__|__TIME__|__TIMESTAMP__' "$DMU_REPO/cmd" "$DMU_REPO/lib" \
	    --include='*.c' --include='*.h'
	assert_output ""
	for p in "${PROG_NAMES[@]}"; do
		run grep -c "$DMU_SRC" "$DMU_SRC/cmd/$p"
		assert_output 0
	done
}

# ---- the version ----

@test "-V: every installed program prints 'dmu-NAME VERSION', VERSION from the Makefile" {
	v=$(make_version)
	[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "Makefile VERSION: '$v'"
	for p in "${PROG_NAMES[@]}"; do
		run --separate-stderr "$DMU_STAGE/usr/bin/$p" -V </dev/null
		assert_success
		assert_output "$p $v"
		assert_equal "$stderr" ""
	done
}

@test "-V: every program under test (DMU_BIN) prints 'dmu-NAME VERSION' and exits 0" {
	v=$(make_version)
	for p in "${PROG_NAMES[@]}"; do
		run --separate-stderr "$DMU_BIN/$p" -V </dev/null
		assert_success
		assert_output "$p $v"
		assert_equal "$stderr" ""
	done
}

@test "-V: the version comes from one place: make VERSION=... builds programs that print it" {
	build_copy "$BATS_TEST_TMPDIR/v" VERSION=9.8.7-test
	for p in "${PROG_NAMES[@]}"; do
		run "$BATS_TEST_TMPDIR/v/cmd/$p" -V </dev/null
		assert_success
		assert_output "$p 9.8.7-test"
	done
	# No other copy of the version in the sources.
	v=$(make_version)
	run grep -rlF "\"$v" "$DMU_REPO/cmd" "$DMU_REPO/lib"
	assert_output ""
}

# ---- manual pages ----

@test "man: every installed page renders with man -l, without a warning" {
	command -v man >/dev/null || skip "man is not installed"
	for f in "$DMU_STAGE"/usr/share/man/man?/*; do
		n=${f##*/}
		run --separate-stderr env MANWIDTH=80 man -l "$f"
		assert_success
		assert_equal "$stderr" ""
		[[ $output == *NAME* && $output == *"${n%.*}"* ]] ||
		    fail "$n does not render: ${output:0:200}"
	done
	# And man finds them where they were installed.
	export MANPATH=$DMU_STAGE/usr/share/man
	for page in 1:dmu-learn 1:dmu-pin-check 1:dmu-get 1:dmu-certdb \
	    5:dmu-certdb 7:dmu; do
		run man -w "${page%%:*}" "${page#*:}"
		assert_success
		assert_output "$MANPATH/man${page%%:*}/${page#*:}.${page%%:*}"
	done
}

@test "man: every page is mandoc -Tlint -Wwarning clean" {
	command -v mandoc >/dev/null || skip "mandoc is not installed"
	run mandoc -Tlint -Wwarning "$DMU_REPO"/man/*
	assert_success
	assert_output ""
}

@test "man: every .Xr to a dmu page names a page that is installed, and every page has EXAMPLES" {
	refs=$(cat "$DMU_REPO"/man/* | sed -n 's/^\.Xr \(dmu[-a-z]*\) \([0-9]\).*/\1.\2/p' | sort -u)
	[ -n "$refs" ]
	for r in $refs; do
		[ -f "$DMU_STAGE/usr/share/man/man${r##*.}/$r" ] ||
		    fail "a page refers to $r, which is not installed"
	done
	for f in "$DMU_REPO"/man/*; do
		grep -q '^\.Sh EXAMPLES$' "$f" || fail "${f##*/} has no EXAMPLES"
	done
}

# ---- bash completion ----

COMPFILE_REL=usr/share/bash-completion/completions/dmu-get

# complete_line LINE: what the installed completion offers for LINE, with
# the cursor at its end, one word a line, sorted; COMP_WORDBREAKS is
# bash's default unless CWB is set.  The function is the one that
# "complete -p" names for the command.
complete_line() {
	bash --norc --noprofile -c '
		source "$1" || exit 99
		COMP_LINE=$2
		COMP_POINT=${#2}
		[ -n "${CWB+x}" ] && COMP_WORDBREAKS=$CWB
		read -ra words <<<"$2"
		spec=$(complete -p "${words[0]}") || exit 98
		fn=${spec#*-F }
		fn=${fn%% *}
		COMPREPLY=()
		"$fn" "${words[0]}" "" ""
		[ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"
	' complete_line "$DMU_STAGE/$COMPFILE_REL" "$1" | LC_ALL=C sort
}

# comp_db: a database with four devices (two that share 127.0.0.1:44),
# an IPv6 one, and a comment.
comp_db() {
	mkcert a ec
	{
		echo "$DB_HEADER"
		record 127.0.0.1:443 a
		record 127.0.0.1:4443 a
		echo "# retired: 127.0.0.1:9999"
		record 127.0.0.1:8443 a
		record st1.example.net:443 a
		record '[2001:db8::7]:8443' a
	} >"$DMU_CERTDB"
}

@test "completion: one file for the four programs, each registered with its function" {
	for p in "${PROG_NAMES[@]}"; do
		run bash --norc -c 'source "$1" && complete -p "$2"' _ \
		    "$DMU_STAGE/usr/share/bash-completion/completions/$p" "$p"
		assert_success
		assert_output --regexp "^complete -F _dmu_[a-z_]+ $p\$"
	done
}

@test "completion: options of each program" {
	run complete_line "dmu-get -"
	assert_output "$(printf '%s\n' -V -a -d -f -h -k -l -m -n -r -s -t -w -X -x --help | LC_ALL=C sort)"
	run complete_line "dmu-learn -"
	assert_output "$(printf '%s\n' -F -V -f -h -t -y --help | LC_ALL=C sort)"
	run complete_line "dmu-pin-check -"
	assert_output "$(printf '%s\n' -V -f -h -j -m -t --help | LC_ALL=C sort)"
	run complete_line "dmu-certdb -"
	assert_output "$(printf '%s\n' -V -f -h --help | LC_ALL=C sort)"
	run complete_line "dmu-certdb add -"
	assert_output "$(printf '%s\n' -q -r)"
	run complete_line "dmu-certdb import -"
	assert_output "$(printf '%s\n' -F -q -r | LC_ALL=C sort)"
	# Options that take a number are not completed.
	for l in "dmu-get -n " "dmu-get -t " "dmu-get -X " "dmu-pin-check -j " "dmu-learn -F "; do
		run complete_line "$l"
		assert_output ""
	done
}

@test "completion: devices come from the database, comments and headers left out" {
	comp_db
	run complete_line "dmu-get "
	assert_output "$(printf '%s\n' 127.0.0.1:443 127.0.0.1:4443 127.0.0.1:8443 \
	    '[2001:db8::7]:8443' st1.example.net:443 | LC_ALL=C sort)"
	run complete_line "dmu-pin-check st"
	assert_output "st1.example.net:443"
	run complete_line "dmu-learn -t 5 s"
	assert_output "st1.example.net:443"
	run complete_line "dmu-certdb show s"
	assert_output "st1.example.net:443"
	# get and remove take several devices, show, pem and pin one.
	run complete_line "dmu-certdb remove st1.example.net:443 s"
	assert_output "st1.example.net:443"
	run complete_line "dmu-certdb pem st1.example.net:443 "
	assert_output ""
}

@test "completion: after a ':' bash offers the port part (dmu-get 127.0.0.1:44)" {
	comp_db
	# COMP_WORDBREAKS holds ':', so bash replaces only what follows the
	# last ':' of the word: the completions must be the port parts.
	run complete_line "dmu-get 127.0.0.1:44"
	assert_output "$(printf '%s\n' 443 4443)"
	run complete_line "dmu-get 127.0.0.1:8"
	assert_output "8443"
	run complete_line "dmu-get -s st.state [2001:db8::7]:"
	assert_output "8443"
	run complete_line "dmu-certdb get st1.example.net:"
	assert_output "443"
	# Without ':' in COMP_WORDBREAKS, the whole names.
	CWB=$' \t\n"\'><=;|&(' run complete_line "dmu-get 127.0.0.1:44"
	assert_output "$(printf '%s\n' 127.0.0.1:443 127.0.0.1:4443)"
}

@test "completion: dmu-get resources after the device; nothing after the resource" {
	comp_db
	run complete_line "dmu-get 127.0.0.1:443 "
	assert_output "$(printf '%s\n' follow latest list oldest wait)"
	run complete_line "dmu-get -s st.state -n 5 -d 127.0.0.1:443 f"
	assert_output "follow"
	run complete_line "dmu-get -l 7 -w 5 127.0.0.1:443 w"
	assert_output "wait"
	run complete_line "dmu-get 127.0.0.1:443 follow "
	assert_output ""
}

@test "completion: dmu-certdb commands; -f names the database the devices come from" {
	comp_db
	run complete_line "dmu-certdb "
	assert_output "$(printf '%s\n' add check get history import inventory list pem pin remove seen show)"
	run complete_line "dmu-certdb p"
	assert_output "$(printf '%s\n' pem pin)"
	run complete_line "dmu-certdb -f other.db "
	assert_output "$(printf '%s\n' add check get history import inventory list pem pin remove seen show)"
	run complete_line "dmu-certdb i"
	assert_output "$(printf '%s\n' import inventory)"
	{ echo "$DB_HEADER"; record 10.0.0.9:443 a; } >other.db
	run complete_line "dmu-certdb -f other.db get "
	assert_output "10.0.0.9:443"
	run complete_line "dmu-get -f other.db "
	assert_output "10.0.0.9:443"
	# -f completes file names.
	run complete_line "dmu-pin-check -f oth"
	assert_output "other.db"
	# A database under ~ as typed.
	mkdir -p "$HOME"
	cp other.db "$HOME/sites.db"
	run complete_line "dmu-certdb -f ~/sites.db remove "
	assert_output "10.0.0.9:443"
}

@test "completion: without DMU_CERTDB the database is XDG_CONFIG_HOME's, then HOME's" {
	comp_db
	unset DMU_CERTDB
	mkdir -p "$XDG_CONFIG_HOME/dmu" "$HOME/.config/dmu"
	{ echo "$DB_HEADER"; record xdg.example:443 a; } >"$XDG_CONFIG_HOME/dmu/certdb"
	{ echo "$DB_HEADER"; record home.example:443 a; } >"$HOME/.config/dmu/certdb"
	run complete_line "dmu-get "
	assert_output "xdg.example:443"
	unset XDG_CONFIG_HOME
	run complete_line "dmu-get "
	assert_output "home.example:443"
}

# on_bash_pty DB INPUT: an interactive bash on a pseudo-terminal, with
# the installed completion sourced (or, with LOADER set, loaded on demand by
# bash-completion from the staged tree) and DB as DMU_CERTDB, is sent INPUT,
# then C-a and "echo @@ " and Enter, so that the line as readline left it
# is printed; prints that line.
on_bash_pty() {
	python3 - "$DMU_STAGE" "$1" "$2" "${LOADER:-}" <<'EOF'
import os, pty, re, select, sys, time
stage, db, typed, loader = sys.argv[1:5]
env = dict(os.environ, DMU_CERTDB=db, PS1="$ ", TERM="dumb",
           INPUTRC="/dev/null", PATH=stage + "/usr/bin:" + os.environ["PATH"])
pid, fd = pty.fork()
if pid == 0:
    os.execvpe("bash", ["bash", "--norc", "--noprofile", "-i"], env)
out = b""
# Reads until what is awaited (bytes, or a compiled pattern) is in the
# output: bounded for a starved bash, and over as soon as it is there.
# Keys typed meanwhile wait in the terminal's input, in order.
def seen(until):
    return until.search(out) if hasattr(until, "search") else until in out
def pump(until, timeout=15.0):
    global out
    end = time.time() + timeout
    while time.time() < end:
        if until is not None and seen(until):
            return True
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 4096)
            except OSError:
                return False
    return until is None or seen(until)
def send(s):
    os.write(fd, s.encode())
if loader:
    send("export XDG_DATA_DIRS=%s/usr/share; source %s; echo READY\r" % (stage, loader))
else:
    send("source %s/usr/share/bash-completion/completions/dmu-get; echo READY\r" % stage)
# READY as output (not the echo of the command line), and the prompt after
# it: readline has the terminal again.
pump(re.compile(rb"\nREADY\r\n\$ "))
send(typed + "\t")
pump(None, 0.5)
send("\x01echo @@ \r")
# The whole line that echo printed.
pump(re.compile(rb"\n@@ [^\r\n]*\r?\n"))
send("exit\r")
pump(None, 0.3)
try:
    os.kill(pid, 9)
except OSError:
    pass
os.waitpid(pid, 0)
for line in out.decode(errors="replace").replace("\r", "").split("\n"):
    if line.startswith("@@ "):
        print(line[3:].rstrip())
        break
EOF
}

@test "completion: in an interactive bash, TAB after 127.0.0.1:4 makes the whole device" {
	command -v python3 >/dev/null || skip "python3 is not installed"
	comp_db
	sed -i '/127.0.0.1:4443/d' "$DMU_CERTDB"
	run on_bash_pty "$DMU_CERTDB" "dmu-get 127.0.0.1:4"
	assert_success
	assert_output "dmu-get 127.0.0.1:443"
	run on_bash_pty "$DMU_CERTDB" "dmu-get 127.0.0.1:443 fo"
	assert_output "dmu-get 127.0.0.1:443 follow"
	run on_bash_pty "$DMU_CERTDB" "dmu-certdb sh"
	assert_output "dmu-certdb show"
}

@test "completion: bash-completion loads the staged file on demand" {
	LOADER=/usr/share/bash-completion/bash_completion
	[ -r "$LOADER" ] || skip "bash-completion is not installed"
	comp_db
	sed -i '/127.0.0.1:4443/d' "$DMU_CERTDB"
	run on_bash_pty "$DMU_CERTDB" "dmu-get 127.0.0.1:4"
	assert_output "dmu-get 127.0.0.1:443"
	run on_bash_pty "$DMU_CERTDB" "dmu-certdb sh"
	assert_output "dmu-certdb show"
}

# ---- systemd ----

SD_UNIT_REL=usr/share/dmu/systemd/dmu-follow@.service

need_analyze() {
	command -v systemd-analyze >/dev/null ||
	    skip "systemd-analyze is not installed (Debian: apt-get install systemd)"
}

@test "systemd: the installed unit differs from share/ only in the BINDIR of ExecStart and ExecStopPost" {
	unit=$DMU_SD/$SD_UNIT_REL
	diff <(sed 's#/usr/bin/dmu-#BINDIR/dmu-#g' \
	    "$DMU_REPO/share/systemd/dmu-follow@.service") \
	    <(sed "s#$DMU_SD/usr/bin/dmu-#BINDIR/dmu-#g" "$unit")
	run grep -c "exec $DMU_SD/usr/bin/dmu-get " "$unit"
	assert_output 1
	run grep -c "|| $DMU_SD/usr/bin/dmu-pin-check " "$unit"
	assert_output 1
	[ -x "$DMU_SD/usr/bin/dmu-get" ] && [ -x "$DMU_SD/usr/bin/dmu-pin-check" ]
}

# unit_line KEY: the unit's KEY= command line as systemd runs it for the
# instance $DEV, the programs from DMU_BIN and the database $DMU_CERTDB;
# sets argv.
unit_line() {
	local line
	line=$(sed -n "s/^$1=[+]\{0,1\}\(.\)/\1/p" "$DMU_REPO/share/systemd/dmu-follow@.service")
	line=${line//%I/$DEV}
	line=${line//'$$'/'$'}
	line=${line//\/usr\/bin\/dmu-/$DMU_BIN/dmu-}
	line=${line//\/etc\/dmu\/certdb/$DMU_CERTDB}
	eval "argv=($line)"
}

@test "systemd: after a mismatch (4), ExecStopPost keeps the evidence beside the database, where seen finds it" {
	mkcert a ec
	mkcert b ec
	start_sim b
	DEV=127.0.0.1:$SIM_PORT
	dmu-certdb import "$DEV" <a.pem
	grep -q '^ExecStopPost=+/bin/sh ' "$DMU_REPO/share/systemd/dmu-follow@.service" ||
	    fail "ExecStopPost does not run with full privileges"
	unit_line ExecStopPost
	# Another end of the collector: nothing is checked.
	run --separate-stderr env -i PATH=/usr/bin:/bin EXIT_CODE=exited EXIT_STATUS=0 "${argv[@]}"
	assert_success
	assert_output ''
	[ ! -e "$DMU_CERTDB.evidence" ] || fail "checked after exit 0"
	# HOME=/ as under DynamicUser: it does not matter.
	run --separate-stderr env -i PATH=/usr/bin:/bin HOME=/ EXIT_CODE=exited EXIT_STATUS=4 "${argv[@]}"
	assert_success
	assert_output "$DEV mismatch presented=$(fpr_hex b) expected=$(fpr_hex a)"
	run --separate-stderr dmu-certdb seen "$DEV" </dev/null
	assert_success
	assert_output --regexp "^$DEV $(fpr_hex b) "
}

@test "systemd: systemd-analyze verify passes for instances, Documentation= pages found" {
	need_analyze
	unit=$DMU_SD/$SD_UNIT_REL
	export MANPATH=$DMU_SD/usr/share/man
	# PATH:NAME verifies the template as the instance NAME.
	for inst in 127.0.0.1:8443 st1.example.net:443 \
	    "$(printf '%s' '\x5b2001:db8::7\x5d:8443')"; do
		run --separate-stderr systemd-analyze verify \
		    "$unit:dmu-follow@$inst.service"
		assert_success
		assert_equal "$stderr" ""
		assert_output ""
	done
	# It does fail: on a page that is not there, and on a binary.
	MANPATH=$BATS_TEST_TMPDIR run systemd-analyze verify \
	    "$unit:dmu-follow@127.0.0.1:8443.service"
	assert_failure
	sed "s#$DMU_SD/usr/bin/dmu-get#/nonexistent/dmu-get#; s#^ExecStart=/bin/sh#ExecStart=/nonexistent/sh#" \
	    "$unit" >"$BATS_TEST_TMPDIR/dmu-follow@.service"
	run systemd-analyze verify \
	    "$BATS_TEST_TMPDIR/dmu-follow@.service:dmu-follow@x.service"
	assert_failure
}

@test "systemd: the instance name is the device escaped by systemd-escape, and %I gives it back" {
	command -v systemd-escape >/dev/null ||
	    skip "systemd-escape is not installed (Debian: apt-get install systemd)"
	for dev in 127.0.0.1:8443 st1.example.net:443 st-2.example.net:443 \
	    '[2001:db8::7]:8443'; do
		inst=$(systemd-escape "$dev")
		[[ $inst != */* ]] || fail "$dev: '$inst' has a /"
		assert_equal "$(systemd-escape -u "$inst")" "$dev"
		systemd-escape --template=dmu-follow@.service "$dev" >/dev/null
	done
	assert_equal "$(systemd-escape '[2001:db8::7]:8443')" '\x5b2001:db8::7\x5d:8443'
}

@test "systemd: the exposure that systemd-analyze security finds is below 2.0" {
	need_analyze
	systemd-analyze security --help 2>&1 | grep -q -- --offline ||
	    skip "this systemd-analyze has no --offline"
	unit=$DMU_SD/$SD_UNIT_REL
	run systemd-analyze security --offline=yes \
	    "$unit:dmu-follow@127.0.0.1:8443.service"
	assert_success
	level=$(sed -n 's/.*Overall exposure level for .*: \([0-9][0-9.]*\) .*/\1/p' <<<"$output")
	[ -n "$level" ] || fail "no exposure level in: $output"
	awk -v l="$level" 'BEGIN { exit !(l < 2.0) }' ||
	    fail "exposure $level is not below 2.0: $output"
}

@test "systemd: the journal drop-in of dmu(7) verifies too" {
	need_analyze
	dir=$BATS_TEST_TMPDIR/units
	mkdir -p "$dir/dmu-follow@.service.d"
	cp "$DMU_SD/$SD_UNIT_REL" "$dir/"
	# The drop-in as dmu(7) shows it, after its "systemctl edit" line.
	man_block() {
		awk -v sec="$2" '
		/^\.Sh / { insec = (substr($0, 5) == sec); next }
		insec && /^\.Bd -literal/ { inb = 1; next }
		inb && /^\.Ed/ { inb = 0; if (got) exit; next }
		inb && /systemctl edit dmu-follow@\.service/ { got = 1; next }
		inb && got { gsub(/\\e/, "\\"); print }
		' "$1"
	}
	man_block "$DMU_REPO/man/dmu.7" DESCRIPTION |
	    sed "s#/usr/local/bin/dmu-get#$DMU_SD/usr/bin/dmu-get#" \
	    >"$dir/dmu-follow@.service.d/journal.conf"
	grep -q '^ExecStart=$' "$dir/dmu-follow@.service.d/journal.conf" ||
	    fail "no drop-in in dmu(7): $(cat "$dir/dmu-follow@.service.d/journal.conf")"
	export MANPATH=$DMU_SD/usr/share/man
	# A path without ':' so that the drop-in directory beside it is read.
	run --separate-stderr systemd-analyze verify "$dir/dmu-follow@localhost.service"
	assert_success
	assert_equal "$stderr" ""
	# The drop-in is read: a wrong binary in it fails.
	sed -i "s#$DMU_SD/usr/bin/dmu-get#$DMU_SD/usr/bin/dmu-gone#" \
	    "$dir/dmu-follow@.service.d/journal.conf"
	run systemd-analyze verify "$dir/dmu-follow@localhost.service"
	assert_failure
}

# sink_dropin: the sink drop-in as dmu(7) shows it, after its "systemctl
# edit --drop-in=sink" line.
sink_dropin() {
	awk '
	/^\.Bd -literal/ { inb = 1; next }
	inb && /^\.Ed/ { inb = 0; if (got) exit; next }
	inb && /systemctl edit --drop-in=sink / { got = 1; next }
	inb && got { gsub(/\\e/, "\\"); print }
	' "$DMU_REPO/man/dmu.7"
}

@test "systemd: the sink drop-in of dmu(7) verifies, as an instance's sink.conf" {
	need_analyze
	dir=$BATS_TEST_TMPDIR/units
	mkdir -p "$dir/dmu-follow@localhost.service.d"
	cp "$DMU_SD/$SD_UNIT_REL" "$dir/"
	sink_dropin >"$dir/dmu-follow@localhost.service.d/sink.conf"
	grep -q '^Environment="DMU_SINK=' "$dir/dmu-follow@localhost.service.d/sink.conf" ||
	    fail "no drop-in in dmu(7): $(cat "$dir/dmu-follow@localhost.service.d/sink.conf")"
	export MANPATH=$DMU_SD/usr/share/man
	run --separate-stderr systemd-analyze verify "$dir/dmu-follow@localhost.service"
	assert_success
	assert_equal "$stderr" ""
	# The drop-in directory is read: a missing binary in it fails.
	echo 'ExecStartPre=/nonexistent/x' >>"$dir/dmu-follow@localhost.service.d/sink.conf"
	run systemd-analyze verify "$dir/dmu-follow@localhost.service"
	assert_failure
}

@test "systemd: with DMU_SINK, ExecStart hands the reports to the sink (-x), none to the log, and its state moves on" {
	sim_up a -n 3
	unit_command "$DEV"
	bg out err env -i "${UNIT_ENV[@]}" "DMU_SINK=cat >>'$PWD/got'; printf '%s\\n' \"\$DMU_DEVICE\" >>'$PWD/dev'" \
	    DMU_SINK_TIMEOUT=5 "${UNIT_ARGV[@]}"
	wait_lines got 3
	wait_until 5 eval "[ -s '$UNIT_STATE' ]" || fail "no state: $(cat err)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat got)")" "1 2 3"
	assert_equal "$(uniq dev)" "$DEV"
	assert_equal "$(cat "$UNIT_LOG" 2>/dev/null)" ""
	[[ $(cat "$UNIT_STATE") == "3 "* ]] || fail "state: $(cat "$UNIT_STATE")"
	# A sink that fails: nothing moves on, the journal says why.
	ctl "gen 1" >/dev/null
	bg out err env -i "${UNIT_ENV[@]}" "DMU_SINK=cat >/dev/null; exit 3" \
	    "${UNIT_ARGV[@]}"
	wait_until 10 file_has err 'sink: exit status 3' || fail "$(cat err)"
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	[[ $(cat "$UNIT_STATE") == "3 "* ]] || fail "state: $(cat "$UNIT_STATE")"
}

@test "systemd: restarts on failure, but not after 2, 3 or 4; the key is a credential" {
	unit=$DMU_REPO/share/systemd/dmu-follow@.service
	run grep -E '^(Restart|RestartPreventExitStatus|LoadCredential|StateDirectory|LogsDirectory|DynamicUser)=' "$unit"
	assert_output "LoadCredential=api-key:/etc/dmu/api-key
StateDirectory=dmu/%i
LogsDirectory=dmu
Restart=on-failure
RestartPreventExitStatus=2 3 4
DynamicUser=yes"
	grep -q '^Environment=DMU_API_KEY_FILE=%d/api-key$' "$unit"
	# The key never on a command line.
	! grep -E '^ExecStart=.*(DMU_API_KEY=|-k )' "$unit"
}

# unit_command DEVICE: sets UNIT_ARGV to the installed unit's ExecStart as
# systemd would run it for the instance of DEVICE (specifiers %I, %i and
# %d, and $$ as $), with /etc/dmu/certdb as $DMU_CERTDB; sets UNIT_ENV to
# its environment: STATE_DIRECTORY, LOGS_DIRECTORY, CREDENTIALS_DIRECTORY
# and the unit's Environment= under $BATS_TEST_TMPDIR/root.
unit_command() {
	local unit=$DMU_SD/$SD_UNIT_REL dev=$1 inst line env r=$BATS_TEST_TMPDIR/root
	inst=$dev
	command -v systemd-escape >/dev/null && inst=$(systemd-escape "$dev")
	mkdir -p "$r/var/lib/dmu/$inst" "$r/var/log/dmu" "$r/run/credentials"
	install -m 0400 "$DMU_API_KEY_FILE" "$r/run/credentials/api-key"
	line=$(sed -n 's/^ExecStart=//p' "$unit")
	line=${line//%I/$dev}
	line=${line//%i/$inst}
	line=${line//'$$'/'$'}
	line=${line//\/etc\/dmu\/certdb/$DMU_CERTDB}
	eval "UNIT_ARGV=($line)"
	env=$(sed -n 's/^Environment=//p' "$unit")
	env=${env//%d/$r/run/credentials}
	UNIT_ENV=(PATH=/usr/bin:/bin "STATE_DIRECTORY=$r/var/lib/dmu/$inst"
	    "LOGS_DIRECTORY=$r/var/log/dmu"
	    "CREDENTIALS_DIRECTORY=$r/run/credentials" "$env")
	UNIT_STATE=$r/var/lib/dmu/$inst/state
	UNIT_LOG=$r/var/log/dmu/$dev.ndjson
}

@test "systemd: ExecStart, run as systemd runs it, appends to /var/log/dmu/DEVICE.ndjson and resumes from its state" {
	sim_up a -n 3
	unit_command "$DEV"
	[ "${UNIT_ARGV[0]}" = /bin/sh ] || fail "ExecStart: ${UNIT_ARGV[*]}"
	bg out err env -i "${UNIT_ENV[@]}" "${UNIT_ARGV[@]}"
	wait_lines "$UNIT_LOG" 3
	ctl "gen 2" >/dev/null
	wait_lines "$UNIT_LOG" 5
	# SIGTERM (systemctl stop) reaches dmu-get itself: exit 0.
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat "$UNIT_LOG")")" "1 2 3 4 5"
	assert_ndjson "$(cat "$UNIT_LOG")"
	# Nothing on stdout (the journal); the state is that of serial 5.
	assert_equal "$(cat out)" ""
	[[ $(cat "$UNIT_STATE") == "5 "* ]] || fail "state: $(cat "$UNIT_STATE")"
	# A restart resumes: new reports only (the new one comes during its
	# long poll).
	: >a.log
	bg out err env -i "${UNIT_ENV[@]}" "${UNIT_ARGV[@]}"
	wait_log a 'GET [^ ]*/wait\?lastSerial=5(&|$)' 10
	ctl "gen 1" >/dev/null
	wait_lines "$UNIT_LOG" 6
	kill -TERM "$BG_PID"
	bg_wait "$BG_PID" 10
	assert_equal "$BG_STATUS" 0
	assert_equal "$(serials "$(cat "$UNIT_LOG")")" "1 2 3 4 5 6"
	# The key was read from the credential, and is in no output.
	run cat out err "$UNIT_LOG"
	refute_key
}

@test "systemd: through ExecStart an unknown device exits 3 and an impostor 4, which are not restarted" {
	sim_up a -n 1
	unit_command 127.0.0.1:1
	run env -i "${UNIT_ENV[@]}" "${UNIT_ARGV[@]}"
	assert_failure 3
	# The device presents another certificate now.
	mkcert b ec
	record "$DEV" b >rec
	dmu-certdb add -r <rec 2>/dev/null
	unit_command "$DEV"
	run env -i "${UNIT_ENV[@]}" "${UNIT_ARGV[@]}"
	assert_failure 4
	assert_equal "$(cat "$UNIT_LOG")" ""
	grep -q '^RestartPreventExitStatus=2 3 4$' "$DMU_SD/$SD_UNIT_REL"
}
