#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
#
# IPv6 link-local devices, for real: a network namespace of the test's own
# with a veth pair (these kernels have no dummy interfaces), the simulator
# listening on a link-local address of one end, and the programs reaching it
# through the other end, the zone naming the interface.  Nothing leaves the
# namespace.  Without the privilege to make one the tests skip; in CI
# (CI=true) as root they fail instead.

load helper

setup_file() {
	mkcert "$BATS_FILE_TMPDIR/ll" ec
}

# The helper's setup and teardown, run around this file's own.
eval "helper_$(declare -f setup)"
eval "helper_$(declare -f teardown)"

# ns_up: the namespace, its veth pair and the simulator on fe80::d1%dmu1;
# sets DEV, the device as reached through dmu0.
ns_up() {
	local err
	NS=dmu-ll-$$-$BATS_TEST_NUMBER
	if ! err=$(ip netns add "$NS" 2>&1); then
		# CI runs as root, which may; a package's check as a build
		# user (makepkg refuses root) may not.
		[ "${CI:-}" = true ] && [ "$(id -u)" -eq 0 ] &&
		    fail "cannot make a network namespace in CI: $err"
		skip "no network namespace here: $err"
	fi
	in_ns ip link set lo up &&
	in_ns ip link add dmu0 type veth peer name dmu1 &&
	in_ns ip link set dmu0 up && in_ns ip link set dmu1 up &&
	in_ns ip -6 addr add fe80::c1/64 dev dmu0 nodad &&
	in_ns ip -6 addr add fe80::d1/64 dev dmu1 nodad ||
	    fail "cannot set up the veth pair in $NS"
	cp "$BATS_FILE_TMPDIR/ll.pem" "$BATS_FILE_TMPDIR/ll.key" .
	# The simulator runs in the namespace, its API port on the
	# link-local address of dmu1 alone.
	printf '#!/bin/sh\nexec nsenter --net=/run/netns/%s %s "$@"\n' "$NS" "$DMU_SIM" \
	    >ns-sim
	chmod +x ns-sim
	DMU_SIM=$PWD/ns-sim start_sim ll -l 'fe80::d1%dmu1' -n 3
	DEV="[fe80::d1%dmu0]:$SIM_PORT"
}

teardown() {
	helper_teardown
	if [ -n "${NS:-}" ]; then
		ip netns pids "$NS" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$NS" 2>/dev/null
	fi
	return 0
}

# in_ns COMMAND...: runs it in the namespace.  nsenter rather than "ip
# netns exec", which remounts / and /sys and so fails in a chroot (the
# fresh Debian tree of test/fresh) where / is no mount point.
in_ns() {
	nsenter --net="/run/netns/$NS" "$@"
}

@test "a link-local address needs its zone, and only a link-local address takes one" {
	run -2 dmu-get -k /dev/null '[fe80::1]:443' latest
	assert_output --partial "needs the interface it is reached through"
	run -2 dmu-get -k /dev/null '[2001:db8::1%lo]:443' latest
	assert_output --partial "only a link-local address (fe80::/10) takes a zone"
	run -2 dmu-get -k /dev/null '[fe80::1%]:443' latest
	assert_output --partial "empty zone"
	run -2 dmu-get -k /dev/null '[fe80::1%eth0;x]:443' latest
	assert_output --partial "must be a network interface's name"
	run -2 dmu-get -k /dev/null '[fe80::1%4000000000]:443' latest
	assert_output --partial "no network interface has the index"
	run -2 dmu-learn '[fe80::1%0123456789abcdefg]'
	assert_output --partial "must be a network interface's name"
}

@test "a link-local device has one spelling, in the database and in every output" {
	idx=$(ip -o link show dev lo | cut -d: -f1)
	mkcert a ec
	n=0
	for d in '[fe80::1%lo]:8443' '[FE80:0::1%lo]:08443' "[fe80::1%$idx]:8443" \
	    'https://[fe80::1%25lo]:8443/api/application/https_server_1/reports/v1/' \
	    'fe80::0:1%lo'; do
		n=$((n + 1))
		dmu-certdb -f "db$n" import "$d" <a.pem
		run -0 --separate-stderr dmu-certdb -f "db$n" list
		assert_output --regexp '^\[fe80::1%lo\]:(8443|443) '
	done
	dmu-certdb import '[fe80::1%lo]:8443' <a.pem
	# A database record in another spelling is refused with its line.
	run -0 --separate-stderr dmu-certdb show "[fe80::1%$idx]:8443"
	assert_output --partial '[fe80::1%lo]:8443'
	sed 's/\[fe80::1%lo\]/[FE80::1%lo]/' "$DMU_CERTDB" >db2
	run -7 dmu-certdb -f db2 list
	assert_output --partial "db2:"
}

@test "a link-local device is learned, stored, checked and read through its interface" {
	ns_up
	in_ns dmu-learn -t "$T" -F "$(fpr_colon ll)" \
	    "[FE80:0:0::D1%dmu0]:$SIM_PORT" >rec
	[[ $(cat rec) == "$DEV "* ]] || fail "record not for $DEV: $(cat rec)"
	dmu-certdb add <rec
	run dmu-certdb list
	assert_output --partial "$DEV"
	run in_ns dmu-pin-check -t "$T" "$DEV"
	assert_success
	assert_output --partial "$DEV ok"
	# The zone as an interface index is stored by the interface's name.
	idx=$(in_ns ip -o link show dev dmu0 | cut -d: -f1)
	run in_ns dmu-pin-check -t "$T" "[fe80::d1%$idx]:$SIM_PORT"
	assert_success
	assert_output --partial "$DEV ok"
	printf 'DEMO:SECRET_KEY\n' >key
	run in_ns dmu-get -t "$T" -k key "$DEV" 2
	assert_success
	assert_output --partial "\"device\":\"$DEV\""
	assert_output --partial '"serial":2'
	# As an https:// URL the '%' is written %25 (RFC 6874).
	run in_ns dmu-get -t "$T" -k key "https://[fe80::d1%25dmu0]:$SIM_PORT" 3
	assert_success
	assert_output --partial '"serial":3'
}

@test "the zone is never sent: no SNI, and the Host header has the address alone" {
	ns_up
	in_ns dmu-learn -t "$T" -F "$(fpr_hex ll)" "$DEV" | dmu-certdb add
	port=$(in_ns python3 -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(socket.getaddrinfo("fe80::d1%dmu1", 0, socket.AF_INET6)[0][4])
print(s.getsockname()[1])')
	dmu-certdb import "[fe80::d1%dmu0]:$port" <ll.pem
	# s_server ends at the end of its stdin: give it one that stays open.
	mkfifo srv.in
	exec {SRV_IN}<>srv.in
	setsid nsenter --net="/run/netns/$NS" openssl s_server -accept \
	    "[fe80::d1%dmu1]:$port" -6 -cert ll.pem -key ll.key -tls1_2 \
	    -tlsextdebug <srv.in >srv.out 2>srv.err 3>&- &
	SRV=$!
	BG_GROUPS+=("$SRV")
	wait_until 5 file_has srv.out ACCEPT || fail "s_server: $(cat srv.err)"
	printf 'DEMO:SECRET_KEY\n' >key
	in_ns dmu-get -t 1 -k key "[fe80::d1%dmu0]:$port" 1 || true
	wait_until 5 file_has srv.out 'Host:' ||
	    fail "no request reached s_server: $(cat srv.out srv.err)"
	kill -- "-$SRV" 2>/dev/null || true
	exec {SRV_IN}>&-
	grep -q "^Host: \[fe80::d1\]:$port"$'\r'"\$" srv.out ||
	    fail "Host header: $(grep Host: srv.out)"
	run grep -c 'server name\|dmu0' srv.out
	assert_output 0
}

@test "the interface matters: the same address through another interface is not the device" {
	ns_up
	printf '%s\n' "$(in_ns dmu-learn -t "$T" -F "$(fpr_hex ll)" "$DEV")" |
	    dmu-certdb add
	# The zone is part of the device: through lo it is another one.
	run -3 in_ns dmu-pin-check -t "$T" "[fe80::d1%lo]:$SIM_PORT"
	assert_output --partial "[fe80::d1%lo]:$SIM_PORT unknown"
	# Pinned through lo as well, it is still not reached there: fe80::d1
	# is on dmu1 alone, which lo does not lead to.
	dmu-certdb import "[fe80::d1%lo]:$SIM_PORT" <ll.pem
	run -5 in_ns dmu-pin-check -t "$T" "[fe80::d1%lo]:$SIM_PORT"
	assert_output --partial "[fe80::d1%lo]:$SIM_PORT error unreachable"
	run -0 in_ns dmu-pin-check -t "$T" "$DEV"
}

@test "an interface this machine lacks is a connection error naming it" {
	ns_up
	dmu-certdb add <<<"$(in_ns dmu-learn -t "$T" -F "$(fpr_hex ll)" "$DEV")"
	# Outside the namespace there is no dmu0.
	printf 'DEMO:SECRET_KEY\n' >key
	run -5 dmu-get -t "$T" -k key "$DEV" 1
	assert_output --partial "no network interface 'dmu0'"
}
