# SPDX-License-Identifier: ISC
# dmu - POSIX Makefile.  User CFLAGS, CPPFLAGS and LDFLAGS are honoured;
# our warnings live in WARN, BearSSL's flags in BEARSSL_CFLAGS/BEARSSL_LIBS
# (BearSSL ships no pkg-config file).
.POSIX:
.SUFFIXES:
.SUFFIXES: .c .o

VERSION = 0.1.0
PREFIX = /usr/local
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
SHAREDIR = $(PREFIX)/share/dmu
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
NAGIOSPLUGINDIR = $(PREFIX)/lib/nagios/plugins

CC = cc
AR = ar
CFLAGS = -Os -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDFLAGS = -pie -Wl,-z,relro,-z,now
WARN = -Wall -Wextra -Wshadow -Wconversion -Wpointer-arith \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BEARSSL_CFLAGS =
BEARSSL_LIBS = -l:libbearssl.a
THREAD_LIBS = -pthread
# Size: a section per function and object, so that the linker keeps only
# what a program calls; no unwind tables (C that never unwinds), and
# build/noeh.ld drops BearSSL's; relative relocations packed (binutils
# 2.38, glibc 2.36).  Empty them for a toolchain without these options.
SIZE_CFLAGS = -ffunction-sections -fdata-sections \
	-fno-asynchronous-unwind-tables
SIZE_LDFLAGS = -Wl,--gc-sections -Wl,-z,pack-relative-relocs \
	-Wl,-T,build/noeh.ld
# Debug information names the build directory; this maps it to "." so that
# builds of the same tree in different directories are identical, with -g
# too.  Empty it for a compiler without -ffile-prefix-map (before GCC 8
# and Clang 10).
PREFIX_MAP = "-ffile-prefix-map=$$(pwd)=."

# 64-bit time_t and file offsets on 32-bit glibc too, so that a collector
# on a 32-bit gateway keeps working after January 2038; nothing changes on
# 64-bit systems or with musl 1.2, where they already are.
DMU_CFLAGS = $(WARN) -Ilib $(BEARSSL_CFLAGS) -DDMU_VERSION=\"$(VERSION)\" \
	-D_DEFAULT_SOURCE -D_TIME_BITS=64 -D_FILE_OFFSET_BITS=64 $(PREFIX_MAP)

PROGS = cmd/dmu-learn cmd/dmu-pin-check cmd/dmu-get cmd/dmu-certdb
TESTPROGS = test/dmu-sim
LIBOBJ = lib/util.o lib/codec.o lib/device.o lib/cert.o lib/pin.o \
	lib/net.o lib/tls.o lib/db.o lib/http.o lib/json.o lib/key.o \
	lib/follow.o lib/state.o lib/client.o lib/collect.o lib/metrics.o \
	lib/lock.o lib/history.o lib/evidence.o lib/sink.o
MAN1 = man/dmu-learn.1 man/dmu-pin-check.1 man/dmu-get.1 man/dmu-certdb.1
MAN5 = man/dmu-certdb.5
MAN7 = man/dmu.7

all: $(PROGS)

.c.o:
	$(CC) $(CFLAGS) $(CPPFLAGS) $(DMU_CFLAGS) $(SIZE_CFLAGS) -c -o $@ $<

$(LIBOBJ): lib/dmu.h
lib/libdmu.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

cmd/dmu-learn.o cmd/dmu-pin-check.o cmd/dmu-get.o cmd/dmu-certdb.o: lib/dmu.h

cmd/dmu-learn: cmd/dmu-learn.o lib/libdmu.a
	$(CC) $(CFLAGS) $(PREFIX_MAP) $(LDFLAGS) $(SIZE_LDFLAGS) -o $@ cmd/dmu-learn.o lib/libdmu.a $(BEARSSL_LIBS)
cmd/dmu-pin-check: cmd/dmu-pin-check.o lib/libdmu.a
	$(CC) $(CFLAGS) $(PREFIX_MAP) $(LDFLAGS) $(SIZE_LDFLAGS) -o $@ cmd/dmu-pin-check.o lib/libdmu.a $(BEARSSL_LIBS) $(THREAD_LIBS)
cmd/dmu-get: cmd/dmu-get.o lib/libdmu.a
	$(CC) $(CFLAGS) $(PREFIX_MAP) $(LDFLAGS) $(SIZE_LDFLAGS) -o $@ cmd/dmu-get.o lib/libdmu.a $(BEARSSL_LIBS)
cmd/dmu-certdb: cmd/dmu-certdb.o lib/libdmu.a
	$(CC) $(CFLAGS) $(PREFIX_MAP) $(LDFLAGS) $(SIZE_LDFLAGS) -o $@ cmd/dmu-certdb.o lib/libdmu.a $(BEARSSL_LIBS)
test/dmu-sim: test/dmu-sim.o
	$(CC) $(CFLAGS) $(LDFLAGS) $(SIZE_LDFLAGS) -o $@ test/dmu-sim.o $(BEARSSL_LIBS) $(THREAD_LIBS)

# A linker script that discards the .eh_frame sections of libbearssl.a:
# 10 KiB of every program, for unwinding that C never does.
$(PROGS) $(TESTPROGS): build/noeh.ld
build/noeh.ld:
	mkdir -p build
	printf '%s\n' 'SECTIONS { /DISCARD/ : { *libbearssl.a:*(.eh_frame) } }' \
		'INSERT AFTER .text;' > $@

# make demo and make check first install the Debian packages they lack
# (test/deps, from the list share/deps), or say which are missing and how
# to install them.  DEPS=true skips that, as a package build does, where
# the build dependencies are the packager's.
DEPS = test/deps
check:
	@$(DEPS) -w "make check" build demo test
	@$(MAKE) all $(TESTPROGS)
	test/run

# The store recipes against real Mosquitto, InfluxDB and PostgreSQL
# servers, and the proofs under faults (test/stores.bats; a few minutes),
# with the servers' packages installed first as for make check.
check-stores:
	@$(DEPS) -w "make check-stores" build test stores
	@$(MAKE) all $(TESTPROGS)
	test/run test/stores.bats

# make demo and make check on a new Debian 12 tree made with mmdebstrap
# (root, the network to this machine's Debian mirror; minutes).
check-fresh:
	test/fresh

# Fully static programs for embedded images in build/static: musl libc
# and Debian's libbearssl.a, whose _FORTIFY_SOURCE checks musl lacks and
# lib/compat/fortify.c provides.  musl-gcc looks in musl's directories
# only: BearSSL's headers and archive are named.
MUSL_CC = musl-gcc
STATIC_CFLAGS = -Os -fstack-protector-strong
STATIC_LDFLAGS = -static -Wl,-z,relro,-z,now
STATIC_BEARSSL_CFLAGS = -isystem /usr/include/bearssl
STATIC_BEARSSL_LIBS = `$(CC) -print-file-name=libbearssl.a`
STATIC_CC = $(MUSL_CC) $(STATIC_CFLAGS) $(DMU_CFLAGS) \
	$(STATIC_BEARSSL_CFLAGS) $(SIZE_CFLAGS)
static: build/noeh.ld
	rm -rf build/static
	mkdir -p build/static/obj
	for f in lib/*.c; do \
		$(STATIC_CC) -c -o build/static/obj/`basename $$f .c`.o $$f || \
		    exit 1; \
	done
	$(AR) rcs build/static/libdmu.a build/static/obj/*.o
	$(STATIC_CC) -c -o build/static/fortify.o lib/compat/fortify.c
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do \
		$(STATIC_CC) $(STATIC_LDFLAGS) $(SIZE_LDFLAGS) \
		    -o build/static/$$p cmd/$$p.c build/static/libdmu.a \
		    build/static/fortify.o $(STATIC_BEARSSL_LIBS) \
		    $(THREAD_LIBS) || exit 1; \
	done

# The suite against the static programs.
check-static: static $(TESTPROGS)
	DMU_BIN=build/static test/run

# Static musl programs for ARM in build/cross/ARCH (armhf or arm64) with
# Debian's cross gcc, musl-dev:ARCH's specs file and the multiarch
# libbearssl.a of libbearssl-dev:ARCH.  CROSS_CC, CROSS_SPECS and
# CROSS_BEARSSL_LIBS override what ARCH implies.  CROSS_LIBC=glibc builds
# dynamic glibc programs instead (libc6-dev-ARCH-cross), with CFLAGS and
# LDFLAGS; CROSS_OUT is where they go, CROSS_LDADD more to link (tests).
ARCH = armhf
CROSS_LIBC = musl
CROSS_OUT = build/cross/$(ARCH)
CROSS_CC =
CROSS_SPECS =
CROSS_BEARSSL_LIBS =
CROSS_CFLAGS = $(STATIC_CFLAGS)
CROSS_LDADD =
# The cross binutils (2.40) ignore -z pack-relative-relocs, with a warning.
CROSS_SIZE_LDFLAGS = -Wl,--gc-sections -Wl,-T,build/noeh.ld
cross: build/noeh.ld
	@case "$(ARCH)" in \
	armhf) t=arm-linux-gnueabihf; m=arm-linux-musleabihf ;; \
	arm64) t=aarch64-linux-gnu; m=aarch64-linux-musl ;; \
	*) echo "make cross: ARCH is armhf or arm64, not '$(ARCH)'" >&2; \
	    exit 2 ;; \
	esac; \
	cc="$(CROSS_CC)"; specs="$(CROSS_SPECS)"; lib="$(CROSS_BEARSSL_LIBS)"; \
	: "$${cc:=$$t-gcc}" "$${specs:=/usr/lib/$$m/musl-gcc.specs}"; \
	: "$${lib:=/usr/lib/$$t/libbearssl.a}"; \
	case "$(CROSS_LIBC)" in \
	musl) flags="-specs=$$specs $(CROSS_CFLAGS)"; \
	    ldflags="$(STATIC_LDFLAGS)"; need="$$specs $$lib" ;; \
	glibc) flags="$(CFLAGS)"; ldflags="$(LDFLAGS)"; need=$$lib ;; \
	*) echo "make cross: CROSS_LIBC is musl or glibc" >&2; exit 2 ;; \
	esac; \
	for f in $$need; do \
		test -r "$$f" || { echo "make cross: $$f is missing" \
		    "(Debian: musl-dev:$(ARCH), libbearssl-dev:$(ARCH))" >&2; \
		    exit 1; }; \
	done; \
	out=$(CROSS_OUT); \
	set -x; \
	rm -rf $$out && mkdir -p $$out/obj && \
	for f in lib/*.c; do \
		$$cc $$flags $(CPPFLAGS) $(DMU_CFLAGS) \
		    $(STATIC_BEARSSL_CFLAGS) $(SIZE_CFLAGS) \
		    -c -o $$out/obj/`basename $$f .c`.o $$f || exit 1; \
	done; \
	$(AR) rcs $$out/libdmu.a $$out/obj/*.o && \
	fortify= && if test $(CROSS_LIBC) = musl; then \
		fortify=$$out/fortify.o; \
		$$cc $$flags $(CPPFLAGS) $(DMU_CFLAGS) $(SIZE_CFLAGS) \
		    -c -o $$fortify lib/compat/fortify.c || exit 1; \
	fi && \
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do \
		$$cc $$flags $(CPPFLAGS) $(DMU_CFLAGS) \
		    $(STATIC_BEARSSL_CFLAGS) $(SIZE_CFLAGS) $$ldflags \
		    $(CROSS_SIZE_LDFLAGS) -o $$out/$$p cmd/$$p.c $$out/libdmu.a \
		    $$fortify $(CROSS_LDADD) "$$lib" $(THREAD_LIBS) || exit 1; \
	done

# The suite against the ARM programs, run by qemu-user through wrappers in
# build/qemu-ARCH (test/variant); the simulator stays native.  CROSS_TESTS
# narrows the files.
CROSS_TESTS =
check-cross: cross $(TESTPROGS)
	test/check-variant qemu-$(ARCH) $(CROSS_TESTS)

# Time after 2038 on 32-bit glibc: armhf glibc programs with this
# Makefile's flags, plus a clock hook for the tests (test/clock-hook.c,
# wrapping glibc's 64-bit time calls; never in an installed program), run
# by qemu-arm -L with the clock moved past 2038 (test/time64.bats).
TIME64_LDADD = test/clock-hook.c \
	-Wl,--wrap=__time64,--wrap=__clock_gettime64
check-time64: $(TESTPROGS)
	$(MAKE) cross ARCH=armhf CROSS_LIBC=glibc CROSS_OUT=build/cross/time64 \
	    CROSS_LDADD="$(TIME64_LDADD)"
	test/check-variant time64 test/time64.bats

# The suite again, against ASan+UBSan builds and under valgrind.
VALGRIND_TESTS = test/10-certdb.bats test/20-learn.bats test/40-get.bats \
	test/50-follow.bats
check-asan: all $(TESTPROGS)
	test/check-variant asan
check-valgrind: all $(TESTPROGS)
	test/check-variant valgrind $(VALGRIND_TESTS)

demo:
	@$(DEPS) -w "make demo" build demo
	@$(MAKE) all $(TESTPROGS)
	test/demo

# dmu against curl on loopback, the database at growing sizes and the
# size of the programs, static and ARM ones too when their toolchains are
# there: a table of medians (not part of check; minutes).
bench: all $(TESTPROGS)
	-$(MAKE) static
	-$(MAKE) cross ARCH=armhf
	-$(MAKE) cross ARCH=arm64
	test/bench

# Reports per second into each store with dmu-get -x and the recipes,
# against one curl or psql per report (not part of bench: the servers).
bench-stores: all $(TESTPROGS)
	test/bench-stores

JQ = share/jq/content.jq share/jq/csv.jq share/jq/values-csv.jq
EXAMPLES = share/examples/collect-all share/examples/fleet-check \
	share/examples/plot
MONITORING = share/monitoring/dmu.rules.yml
# The store recipes (dmu(7) "Into your store"): sinks for dmu-get -x, with
# their jq mappings and the PostgreSQL table.
SINKS = dmu-sink-influx dmu-sink-mqtt dmu-sink-pg
SINKDATA = influx.jq pg.jq dmu-pg.sql

# The release tarball dmu-VERSION.tar.gz: the files git tracks, under
# dmu-VERSION/, the same bytes from the same tree: names sorted, owner
# 0:0, modes 644 or 755, every mtime SOURCE_DATE_EPOCH (default: the last
# commit's time), gzip without a name or time.  Needs git, GNU tar.
DIST = dmu-$(VERSION)
dist:
	@sde="$${SOURCE_DATE_EPOCH:-`git log -1 --format=%ct`}" && \
	test -n "$$sde" || { echo "make dist: needs a git checkout" \
	    "or SOURCE_DATE_EPOCH" >&2; exit 1; }; \
	git ls-files -z | LC_ALL=C sort -z | \
	    tar --null --no-recursion -T - --format=ustar \
	    --transform 's,^,$(DIST)/,' --owner=0 --group=0 --numeric-owner \
	    --mode=u+rw,go=rX,a-st --mtime=@$$sde -cf - | \
	    gzip -n -9 > $(DIST).tar.gz.tmp && \
	mv $(DIST).tar.gz.tmp $(DIST).tar.gz && \
	echo "$(DIST).tar.gz, SOURCE_DATE_EPOCH=$$sde"

# The tarball unpacked in a temporary directory: built, checked, installed
# into a staging directory and uninstalled again.
distcheck: dist
	@d=`mktemp -d "$${TMPDIR:-/tmp}/dmu-distcheck.XXXXXX"` && \
	trap 'rm -rf "$$d"' EXIT && \
	gzip -dc $(DIST).tar.gz | (cd "$$d" && tar -xf -) && \
	cd "$$d/$(DIST)" && \
	$(MAKE) -j2 all test/dmu-sim && $(MAKE) check && \
	$(MAKE) DESTDIR="$$d/stage" PREFIX=/usr install && \
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do \
		test -x "$$d/stage/usr/bin/$$p" && \
		test -f "$$d/stage/usr/share/man/man1/$$p.1" || \
		{ echo "distcheck: $$p not installed" >&2; exit 1; }; \
	done && "$$d/stage/usr/bin/dmu-get" -V && \
	$(MAKE) DESTDIR="$$d/stage" PREFIX=/usr uninstall && \
	left=`find "$$d/stage" -type f` && \
	{ test -z "$$left" || { echo "distcheck: uninstall left" \
	    "$$left" >&2; exit 1; }; } && \
	echo "$(DIST).tar.gz: distcheck passed"

# Nothing here needs root, the network or a clock: DESTDIR is a staging
# directory for packagers, and every mode is set, whatever the umask.
# uninstall removes the files install made, and the directories under
# SHAREDIR; shared directories such as BINDIR or MANDIR/man1 stay.
install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
		$(DESTDIR)$(SHAREDIR)/jq $(DESTDIR)$(SHAREDIR)/systemd \
		$(DESTDIR)$(SHAREDIR)/examples $(DESTDIR)$(BASHCOMPDIR)
	cp -f $(PROGS) $(DESTDIR)$(BINDIR)/
	cd $(DESTDIR)$(BINDIR) && chmod 755 dmu-learn dmu-pin-check dmu-get dmu-certdb
	cp -f $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	cd $(DESTDIR)$(MANDIR)/man1 && chmod 644 dmu-learn.1 dmu-pin-check.1 \
		dmu-get.1 dmu-certdb.1
	cp -f $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANDIR)/man7/
	chmod 644 $(DESTDIR)$(MANDIR)/man5/dmu-certdb.5 $(DESTDIR)$(MANDIR)/man7/dmu.7
	cp -f $(JQ) $(DESTDIR)$(SHAREDIR)/jq/
	cd $(DESTDIR)$(SHAREDIR)/jq && chmod 644 content.jq csv.jq values-csv.jq
	sed 's#/usr/bin/dmu-#$(BINDIR)/dmu-#g' \
		share/systemd/dmu-follow@.service \
		> $(DESTDIR)$(SHAREDIR)/systemd/dmu-follow@.service
	chmod 644 $(DESTDIR)$(SHAREDIR)/systemd/dmu-follow@.service
	cp -f $(EXAMPLES) $(DESTDIR)$(SHAREDIR)/examples/
	cd $(DESTDIR)$(SHAREDIR)/examples && chmod 755 collect-all fleet-check plot
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do \
		cp -f share/completion/dmu.bash $(DESTDIR)$(BASHCOMPDIR)/$$p && \
		chmod 644 $(DESTDIR)$(BASHCOMPDIR)/$$p || exit 1; \
	done
	mkdir -p $(DESTDIR)$(SHAREDIR)/sinks
	for f in $(SINKS); do \
		sed 's#^SHAREDIR=$$#SHAREDIR=$(SHAREDIR)#' share/sinks/$$f \
		    > $(DESTDIR)$(SHAREDIR)/sinks/$$f && \
		chmod 755 $(DESTDIR)$(SHAREDIR)/sinks/$$f || exit 1; \
	done
	for f in $(SINKDATA); do \
		cp -f share/sinks/$$f $(DESTDIR)$(SHAREDIR)/sinks/ && \
		chmod 644 $(DESTDIR)$(SHAREDIR)/sinks/$$f || exit 1; \
	done
	mkdir -p $(DESTDIR)$(SHAREDIR)/monitoring $(DESTDIR)$(NAGIOSPLUGINDIR)
	cp -f $(MONITORING) $(DESTDIR)$(SHAREDIR)/monitoring/
	chmod 644 $(DESTDIR)$(SHAREDIR)/monitoring/dmu.rules.yml
	sed 's#^BINDIR=$$#BINDIR=$(BINDIR)#' share/monitoring/check_dmu \
		> $(DESTDIR)$(NAGIOSPLUGINDIR)/check_dmu
	chmod 755 $(DESTDIR)$(NAGIOSPLUGINDIR)/check_dmu

uninstall:
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do \
		rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(MANDIR)/man1/$$p.1 \
			$(DESTDIR)$(BASHCOMPDIR)/$$p || exit 1; \
	done
	rm -f $(DESTDIR)$(MANDIR)/man5/dmu-certdb.5 $(DESTDIR)$(MANDIR)/man7/dmu.7
	rm -f $(DESTDIR)$(SHAREDIR)/jq/content.jq $(DESTDIR)$(SHAREDIR)/jq/csv.jq \
		$(DESTDIR)$(SHAREDIR)/jq/values-csv.jq \
		$(DESTDIR)$(SHAREDIR)/systemd/dmu-follow@.service \
		$(DESTDIR)$(SHAREDIR)/examples/collect-all \
		$(DESTDIR)$(SHAREDIR)/examples/fleet-check \
		$(DESTDIR)$(SHAREDIR)/examples/plot
	for f in $(SINKS) $(SINKDATA); do \
		rm -f $(DESTDIR)$(SHAREDIR)/sinks/$$f || exit 1; \
	done
	rm -f $(DESTDIR)$(SHAREDIR)/monitoring/dmu.rules.yml \
		$(DESTDIR)$(NAGIOSPLUGINDIR)/check_dmu
	-for d in $(DESTDIR)$(SHAREDIR)/jq $(DESTDIR)$(SHAREDIR)/systemd \
		$(DESTDIR)$(SHAREDIR)/examples $(DESTDIR)$(SHAREDIR)/monitoring \
		$(DESTDIR)$(SHAREDIR)/sinks $(DESTDIR)$(SHAREDIR); do \
		if [ -d $$d ]; then rmdir $$d; fi; \
	done

clean:
	rm -f $(PROGS) $(TESTPROGS) cmd/*.o lib/*.o test/*.o lib/libdmu.a
	rm -rf test/fuzz/fuzz-* test/fuzz/replay-* test/fuzz/san test/fuzz/fz \
		test/fuzz/work
	rm -rf build

.PHONY: all check check-fresh check-stores bench-stores check-asan \
	check-valgrind check-static demo bench static \
	cross check-cross check-time64 dist distcheck install uninstall clean

# Fuzzing: one harness per parser in test/fuzz/NAME.c, seeds in
# test/fuzz/corpus/NAME/.  "make fuzz" builds them with libFuzzer (FUZZ_CC,
# clang) and runs each for FUZZ_TIME seconds on a scratch copy of its corpus
# in test/fuzz/work/ (crashes land there too; the committed corpus does not
# grow).  "make fuzz-replay" builds them with $(CC) and ASan+UBSan, without
# libFuzzer (test/fuzz/replay.c), over the library compiled anew for it,
# and replays every committed corpus.
FUZZ_CC = clang
FUZZ_TIME = 60
FUZZ_FLAGS =
FUZZ_CFLAGS = -O1 -g -fno-omit-frame-pointer
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all -g
FUZZ_NAMES = http json db device fpr cert follow history evidence
FUZZ_LIBSRC = $(LIBOBJ:.o=.c)
FUZZ_CC_ALL = $(FUZZ_CFLAGS) $(FUZZ_SAN) $(CPPFLAGS) $(DMU_CFLAGS)

# The library again, instrumented: test/fuzz/fz for libFuzzer, test/fuzz/san
# for the replay.
test/fuzz/fz/libdmu.a: $(FUZZ_LIBSRC) lib/dmu.h
	rm -rf test/fuzz/fz && mkdir test/fuzz/fz
	for s in $(FUZZ_LIBSRC); do \
		$(FUZZ_CC) $(FUZZ_CC_ALL) -fsanitize=fuzzer-no-link -c \
		    -o test/fuzz/fz/$$(basename $$s .c).o $$s || exit 1; \
	done
	$(AR) rcs $@ test/fuzz/fz/*.o
test/fuzz/san/libdmu.a: $(FUZZ_LIBSRC) lib/dmu.h
	rm -rf test/fuzz/san && mkdir test/fuzz/san
	for s in $(FUZZ_LIBSRC); do \
		$(CC) $(FUZZ_CC_ALL) -c -o test/fuzz/san/$$(basename $$s .c).o \
		    $$s || exit 1; \
	done
	$(AR) rcs $@ test/fuzz/san/*.o

# One rule for every harness: the names in FUZZ_NAMES, each built from
# test/fuzz/NAME.c, for libFuzzer (fuzz-NAME) and for the replay
# (replay-NAME).
fuzz-bins: test/fuzz/fuzz.h test/fuzz/fz/libdmu.a
	for n in $(FUZZ_NAMES); do \
		$(FUZZ_CC) $(FUZZ_CC_ALL) -fsanitize=fuzzer \
		    -o test/fuzz/fuzz-$$n test/fuzz/$$n.c test/fuzz/fz/libdmu.a \
		    $(BEARSSL_LIBS) || exit 1; \
	done
replay-bins: test/fuzz/fuzz.h test/fuzz/replay.c test/fuzz/san/libdmu.a
	for n in $(FUZZ_NAMES); do \
		$(CC) $(FUZZ_CC_ALL) -o test/fuzz/replay-$$n test/fuzz/$$n.c \
		    test/fuzz/replay.c test/fuzz/san/libdmu.a $(BEARSSL_LIBS) || \
		    exit 1; \
	done

fuzz: fuzz-bins
	@pass=0; fail=0; \
	for n in $(FUZZ_NAMES); do \
		w=test/fuzz/work/$$n; d=; \
		test -f test/fuzz/$$n.dict && d=-dict=test/fuzz/$$n.dict; \
		rm -rf $$w && mkdir -p $$w && \
		    { cp test/fuzz/corpus/$$n/* $$w/ 2>/dev/null || :; }; \
		echo "== fuzz $$n: $(FUZZ_TIME) s"; \
		if test/fuzz/fuzz-$$n -max_total_time=$(FUZZ_TIME) \
		    -print_final_stats=1 -artifact_prefix=$$w- $$d \
		    $(FUZZ_FLAGS) $$w; then \
			pass=$$((pass + 1)); \
		else \
			fail=$$((fail + 1)); echo "fuzz $$n: FAILED ($$w-*)"; \
		fi; \
	done; \
	echo "$$pass passed, $$fail failed"; \
	test $$fail -eq 0

fuzz-replay: replay-bins
	@pass=0; fail=0; \
	for n in $(FUZZ_NAMES); do \
		printf '%s: ' "replay $$n"; \
		if test/fuzz/replay-$$n test/fuzz/corpus/$$n; then \
			pass=$$((pass + 1)); \
		else \
			fail=$$((fail + 1)); echo "replay $$n: FAILED"; \
		fi; \
	done; \
	echo "$$pass passed, $$fail failed"; \
	test $$fail -eq 0

.PHONY: fuzz fuzz-replay fuzz-bins replay-bins
