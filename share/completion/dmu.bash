# SPDX-License-Identifier: ISC
# bash completion for dmu-learn, dmu-pin-check, dmu-get and dmu-certdb.
# Device names come from the certificate database (-f FILE, $DMU_CERTDB,
# or the default path), read without running any program that connects.

# bash splits words at ':', which devices (host:port) contain, so the
# words are taken from the line itself: _dmu_w gets them, the last one being
# the word under the cursor (empty after a space).
_dmu_words() {
	local line=${COMP_LINE:0:COMP_POINT}
	read -ra _dmu_w <<<"$line"
	[[ $line == *[[:space:]] || -z $line ]] && _dmu_w+=("")
	cur=${_dmu_w[${#_dmu_w[@]} - 1]}
	prev=${_dmu_w[${#_dmu_w[@]} - 2]-}
}

_dmu_db() {
	local i
	for ((i = 1; i < ${#_dmu_w[@]} - 1; i++)); do
		if [[ ${_dmu_w[i]} == -f ]]; then
			# As typed: a leading ~ is the shell's to expand.
			local f=${_dmu_w[i + 1]}
			[[ $f == "~/"* ]] && f=$HOME/${f#"~/"}
			printf '%s\n' "$f"
			return
		fi
	done
	if [[ -n ${DMU_CERTDB-} ]]; then
		printf '%s\n' "$DMU_CERTDB"
	elif [[ ${XDG_CONFIG_HOME-} == /* ]]; then
		printf '%s\n' "$XDG_CONFIG_HOME/dmu/certdb"
	else
		printf '%s\n' "$HOME/.config/dmu/certdb"
	fi
}

# Prints the devices of the database, one a line.  Records have 4 fields
# (format 1) or 6 (format 2), the device first; comments start with '#'.
# Only names made of the characters of a canonical device are printed:
# the rest of a line never reaches the command line.
_dmu_devices() {
	local db
	db=$(_dmu_db)
	[[ -f $db && -r $db ]] || return
	awk 'NR > 1 && $0 !~ /^#/ && (NF == 4 || NF == 6) &&
	    $1 ~ /^[][A-Za-z0-9._%:-]+$/ { print $1 }' "$db" 2>/dev/null
}

# Sets COMPREPLY to the words given ($@) that start with the current word,
# less what bash already holds before the last ':' of it.  A plain prefix
# test: compgen -W would expand $(...) and `...` in the words, which come
# from a file.
_dmu_reply() {
	local w pre=
	COMPREPLY=()
	if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
		pre=${cur%"${cur##*:}"}
	fi
	for w; do
		[[ $w == "$cur"* ]] && COMPREPLY+=("${w#"$pre"}")
	done
}

# _dmu_reply with the devices of the database.
_dmu_reply_devices() {
	local -a devs
	mapfile -t devs < <(_dmu_devices)
	_dmu_reply "${devs[@]}"
}

# Prints the operands (non-option words) before the cursor, skipping the
# arguments of options that take one ($1: those options' letters).
_dmu_operands() {
	local i w takes=$1
	for ((i = 1; i < ${#_dmu_w[@]} - 1; i++)); do
		w=${_dmu_w[i]}
		if [[ $w == -* ]]; then
			[[ $w == -? && $takes == *${w:1:1}* ]] && ((i++))
			continue
		fi
		printf '%s\n' "$w"
	done
}

_dmu_learn() {
	local cur prev _dmu_w
	_dmu_words
	case $prev in
	-f) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
	-F|-t) return ;;
	esac
	if [[ $cur == -* ]]; then
		_dmu_reply -F -V -f -h -t -y --help
	else
		_dmu_reply_devices
	fi
}

_dmu_pin_check() {
	local cur prev _dmu_w
	_dmu_words
	case $prev in
	-f|-m) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
	-j|-t) return ;;
	esac
	if [[ $cur == -* ]]; then
		_dmu_reply -V -f -h -j -m -t --help
	else
		_dmu_reply_devices
	fi
}

_dmu_get() {
	local cur prev n _dmu_w
	_dmu_words
	case $prev in
	-f|-k|-m|-s) mapfile -t COMPREPLY < <(compgen -f -- "$cur"); return ;;
	-a|-l|-n|-t|-w|-X) return ;;
	-x) mapfile -t COMPREPLY < <(compgen -c -- "$cur"); return ;;
	esac
	if [[ $cur == -* ]]; then
		_dmu_reply -V -a -d -f -h -k -l -m -n -r -s -t -w -X -x --help
		return
	fi
	n=$(_dmu_operands afklmnstwXx | wc -l)
	case $n in
	0) _dmu_reply_devices ;;
	1) _dmu_reply latest oldest list wait follow ;;
	esac
}

_dmu_certdb() {
	local cur prev ops cmd _dmu_w
	_dmu_words
	if [[ $prev == -f ]]; then
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
	fi
	mapfile -t ops < <(_dmu_operands f)
	cmd=${ops[0]-}
	# import -F takes a fingerprint: not completed, nor counted.
	[[ $cmd == import && $prev == -F ]] && return
	[[ $cmd == import ]] && mapfile -t ops < <(_dmu_operands fF)
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			_dmu_reply -V -f -h --help
		else
			_dmu_reply add check get history import inventory list pem pin \
			    remove seen show
		fi
		return
	fi
	case $cmd in
	add) [[ $cur == -* ]] && _dmu_reply -q -r ;;
	import)
		if [[ $cur == -* ]]; then
			_dmu_reply -F -q -r
		elif ((${#ops[@]} == 1)); then
			_dmu_reply_devices
		fi
		;;
	get|history|inventory|remove|seen) _dmu_reply_devices ;;
	pem|pin|show) ((${#ops[@]} == 1)) && _dmu_reply_devices ;;
	esac
}

complete -F _dmu_learn dmu-learn
complete -F _dmu_pin_check dmu-pin-check
complete -F _dmu_get dmu-get
complete -F _dmu_certdb dmu-certdb
