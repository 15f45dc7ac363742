#!/usr/bin/env bats
# SPDX-License-Identifier: ISC
# The license: LICENSE holds the ISC text, every tracked source file says
# so on its first comment line (after a shebang), and the Debian example's
# copyright file names the same license.  A file someone adds is caught
# here: it is either a source file, and then carries the line, or of a
# kind listed below as one where no comment is possible or wanted.

load helper

# tracked: the files git tracks, one per line; the test needs a git
# checkout of this tree (a release tarball has none: LICENSE and the
# copyright file are still checked).
tracked() {
	local top
	top=$(git -C "$DMU_REPO" rev-parse --show-toplevel 2>/dev/null) &&
	    [ "$(cd "$top" && pwd -P)" = "$(cd "$DMU_REPO" && pwd -P)" ] ||
	    return 1
	git -C "$DMU_REPO" ls-files
}

# kind FILE: "source" for a file that takes a comment, "data" for one that
# cannot or is prose, "unknown" otherwise (fine when it has the line).
kind() {
	case "$1" in
	test/fuzz/corpus/*|LICENSE|*.md|*/README|*.png|*.pem|*.der|*.crt|\
	*.key|*.json|*.csv|*.gz|*/debian/changelog|*/debian/copyright|\
	*/debian/source/format)
		echo data ;;
	*.c|*.h|*.bats|*.bash|*.jq|*.yml|*.yaml|*.dict|*.spec|*.service|\
	*.[1-9]|*.sh|*.py|Makefile|*/Makefile|PKGBUILD|*/PKGBUILD|\
	.gitignore|*/.gitignore|*/debian/rules|*/debian/control|\
	*/debian/docs|*.lintian-overrides|share/deps|*.sql)
		echo source ;;
	*)
		if [ "$(head -c 2 "$DMU_REPO/$1")" = '#!' ]; then
			echo source
		else
			echo unknown
		fi ;;
	esac
}

# spdx_line FILE: the file's first line, or its second after a shebang.
spdx_line() {
	if [ "$(head -c 2 "$1")" = '#!' ]; then
		sed -n 2p "$1"
	else
		sed -n 1p "$1"
	fi
}

@test "license: LICENSE is the ISC license of the dmu authors" {
	run head -n 1 "$DMU_REPO/LICENSE"
	assert_output 'Copyright (c) 2026 the dmu authors'
	grep -q '^Permission to use, copy, modify, and distribute this software for any$' "$DMU_REPO/LICENSE"
	grep -q 'THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES' "$DMU_REPO/LICENSE"
	grep -q '^OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE\.$' "$DMU_REPO/LICENSE"
}

@test "license: every tracked source file's first comment line is SPDX-License-Identifier: ISC" {
	local files f k bad=() unknown=() n=0
	files=$(tracked) || skip "not a git checkout of this tree"
	while IFS= read -r f; do
		k=$(kind "$f")
		[ "$k" != data ] || continue
		if spdx_line "$DMU_REPO/$f" | grep -qE '^(/\*|#|--|\.\\") SPDX-License-Identifier: ISC( \*/)?$'; then
			n=$((n + 1))
		elif [ "$k" = unknown ]; then
			unknown+=("$f")
		else
			bad+=("$f")
		fi
	done <<<"$files"
	[ ${#unknown[@]} -eq 0 ] ||
	    fail "files of no known kind (give them the SPDX line, or list their kind in test/97-license.bats): ${unknown[*]}"
	[ ${#bad[@]} -eq 0 ] ||
	    fail "no SPDX-License-Identifier: ISC line at the top: ${bad[*]}"
	# The rule above must have found the sources, not nothing.
	[ "$n" -gt 50 ]
}

@test "license: the check catches a file without the line, and one after a shebang in the wrong place" {
	printf '/* no license here */\nint x;\n' >a.c
	printf '#!/bin/sh\necho hi\n# SPDX-License-Identifier: ISC\n' >b
	printf '#!/bin/sh\n# SPDX-License-Identifier: ISC\necho hi\n' >c
	run spdx_line a.c
	refute_output --partial SPDX
	run spdx_line b
	refute_output --partial SPDX
	run spdx_line c
	assert_output '# SPDX-License-Identifier: ISC'
}

@test "license: the Debian example's copyright file is DEP-5 and names ISC for every file" {
	local c=$DMU_REPO/share/packaging/debian/copyright
	run sed -n 1p "$c"
	assert_output 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/'
	grep -qx 'Files: \*' "$c"
	! grep -q 'dmu-unstated' "$c"
	[ "$(grep -c '^License: ISC$' "$c")" -ge 2 ]
	# The stand-alone License paragraph carries the same text as LICENSE.
	diff <(sed -n '/^ Permission/,$p' "$c" | sed 's/^ //; s/^\.$//') \
	    <(sed -n '/^Permission/,$p' "$DMU_REPO/LICENSE")
}
