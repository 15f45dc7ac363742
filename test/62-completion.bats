#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# share/completion/dmu.bash: sourced in bash, its functions called as bash
# calls them on TAB (COMP_WORDS, COMP_CWORD, COMP_LINE, COMP_POINT).

load helper

COMPLETION=$DMU_REPO/share/completion/dmu.bash

# complete LINE: what TAB at the end of LINE offers, one word a line,
# sorted.  Runs in a bash of its own, with the completion sourced.
complete() {
	bash -c '
		set -u
		. "$1"
		line=$2
		read -ra COMP_WORDS <<<"$line"
		[[ $line == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE=$line
		COMP_POINT=${#line}
		fn=$(complete -p "${COMP_WORDS[0]}" | sed "s/.*-F \([^ ]*\) .*/\1/")
		COMPREPLY=()
		"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" \
		    "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | sort
	' complete "$COMPLETION" "$1"
}

# b64 NAME: the certificate's DER in base64, one line.
b64() {
	openssl x509 -in "$1.pem" -outform DER | base64 -w0
}

@test "completion: devices of a format-1 and of a format-2 database, after the prefix typed" {
	mkcert a ec
	{ echo '# dmu-certdb 1'
	  echo '# a comment st9:443 x y'
	  record st1.example.net:443 a
	  record '[::1]:8443' a; } >"$DMU_CERTDB"
	run dmu-certdb check
	assert_success
	run complete 'dmu-get '
	assert_output "$(printf '%s\n' '[::1]:8443' st1.example.net:443)"
	# A format-2 database: 6-field records, with a 4-field one among them.
	{ echo '# dmu-certdb 2'
	  echo "st2.example.net:443 $(fpr_hex a) 2026-01-02T03:04:05Z fingerprint alice $(b64 a)"
	  echo "st3.example.net:443 $(fpr_hex a) 2026-01-02T03:04:05Z unverified bob $(b64 a)"
	  record st4.example.net:443 a; } >"$DMU_CERTDB"
	run dmu-certdb check
	assert_success
	for cmd in 'dmu-get ' 'dmu-pin-check ' 'dmu-learn ' 'dmu-certdb get ' \
	    'dmu-certdb pem ' 'dmu-certdb seen ' 'dmu-certdb history '; do
		run complete "$cmd"
		assert_output "$(printf '%s\n' st2.example.net:443 st3.example.net:443 st4.example.net:443)"
	done
	run complete 'dmu-get st3'
	assert_output st3.example.net:443
	# bash breaks words at ':': only what follows it is replaced.
	run complete 'dmu-get st2.example.net:4'
	assert_output 443
	run complete 'dmu-get st2.example.net:443 '
	assert_output "$(printf '%s\n' follow latest list oldest wait)"
	# import -F takes a fingerprint, which is not completed.
	run complete 'dmu-certdb import -F '
	assert_output ''
	run complete "dmu-certdb import -F $(fpr_hex a) st2"
	assert_output st2.example.net:443
	run complete "dmu-certdb import -F $(fpr_hex a) st2.example.net:443 "
	assert_output ''
	# -f names the database.
	mv "$DMU_CERTDB" other
	run complete 'dmu-pin-check -f other st4'
	assert_output st4.example.net:443
	run complete 'dmu-pin-check st4'
	assert_output ''
}

@test "completion: a database line is never evaluated on TAB: command substitutions run nothing and are not offered" {
	mkcert a ec
	fpr=$(fpr_hex a)
	cert=$(b64 a)
	# Names dmu-certdb would refuse, written by someone who could write
	# the file: command substitutions without a space in them.
	# shellcheck disable=SC2016
	{ echo '# dmu-certdb 2'
	  echo '$(touch${IFS}pwned1)'" $fpr 2026-01-02T03:04:05Z $cert"
	  echo '`touch${IFS}pwned2`'" $fpr 2026-01-02T03:04:05Z unknown bob $cert"
	  echo 'st1:443;touch${IFS}pwned3'" $fpr 2026-01-02T03:04:05Z $cert"
	  echo '$(touch${IFS}pwned4):443'" $fpr 2026-01-02T03:04:05Z fingerprint bob $cert"
	  record st1.example.net:443 a; } >"$DMU_CERTDB"
	for cmd in 'dmu-get ' 'dmu-get $' 'dmu-get `' 'dmu-pin-check ' \
	    'dmu-learn ' 'dmu-certdb get ' 'dmu-certdb import ' \
	    'dmu-certdb remove st1.example.net:443 ' 'dmu-get st1:'; do
		run complete "$cmd"
		assert_success
		refute_output --partial touch
		[ ! -e pwned1 ] && [ ! -e pwned2 ] && [ ! -e pwned3 ] &&
		    [ ! -e pwned4 ] || fail "'$cmd' TAB ran a command: $(ls pwned*)"
	done
	run complete 'dmu-get '
	assert_output st1.example.net:443
}

# synopsis_options PAGE: the options of the first synopsis line of man/PAGE
# (up to its second .Nm), one a line, as "-x".
synopsis_options() {
	awk '/^\.Sh SYNOPSIS/ { s = 1; next } /^\.Sh / { s = 0 }
	    s && /^\.Nm/ && n++ { exit }
	    s && /^\.Op Fl / { print $3 }' "$DMU_REPO/man/$1" |
	    while read -r w; do
		for ((i = 0; i < ${#w}; i++)); do printf -- '-%s\n' "${w:i:1}"; done
	    done
}

@test "completion: the options offered after '-' are those of each page's synopsis, -h and --help included" {
	for prog in dmu-learn dmu-pin-check dmu-get dmu-certdb; do
		want=$({ synopsis_options "$prog.1"; echo --help; } | sort)
		[[ $want == *-h* ]] || fail "$prog.1: no -h in the synopsis"
		run complete "$prog -"
		assert_success
		assert_output "$want"
		run complete "$prog --"
		assert_output --help
	done
}
