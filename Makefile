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

DMU_CFLAGS = $(WARN) -Ilib $(BEARSSL_CFLAGS) -DDMU_VERSION=\"$(VERSION)\" \
	-D_DEFAULT_SOURCE $(PREFIX_MAP)

PROGS = cmd/dmu-learn cmd/dmu-pin-check cmd/dmu-get cmd/dmu-certdb
TESTPROGS = test/dmu-sim
LIBOBJ = lib/util.o lib/codec.o lib/device.o lib/cert.o lib/pin.o \
	lib/net.o lib/tls.o lib/db.o lib/http.o lib/json.o lib/key.o \
	lib/follow.o lib/state.o lib/client.o lib/collect.o \
	lib/lock.o lib/history.o lib/evidence.o
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

check: all $(TESTPROGS)
	test/run

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

# The suite again, against ASan+UBSan builds and under valgrind.
VALGRIND_TESTS = test/10-certdb.bats test/20-learn.bats test/40-get.bats \
	test/50-follow.bats
check-asan: all $(TESTPROGS)
	test/check-variant asan
check-valgrind: all $(TESTPROGS)
	test/check-variant valgrind $(VALGRIND_TESTS)

demo: all $(TESTPROGS)
	test/demo

# dmu against curl on loopback, the database at growing sizes and the
# size of the programs: a table of medians (not part of check; minutes).
bench: all $(TESTPROGS)
	test/bench

JQ = share/jq/content.jq share/jq/csv.jq share/jq/values-csv.jq
EXAMPLES = share/examples/collect-all share/examples/fleet-check

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
	sed 's#/usr/bin/dmu-get#$(BINDIR)/dmu-get#' \
		share/systemd/dmu-follow@.service \
		> $(DESTDIR)$(SHAREDIR)/systemd/dmu-follow@.service
	chmod 644 $(DESTDIR)$(SHAREDIR)/systemd/dmu-follow@.service
	cp -f $(EXAMPLES) $(DESTDIR)$(SHAREDIR)/examples/
	cd $(DESTDIR)$(SHAREDIR)/examples && chmod 755 collect-all fleet-check
	for p in dmu-learn dmu-pin-check dmu-get dmu-certdb; do \
		cp -f share/completion/dmu.bash $(DESTDIR)$(BASHCOMPDIR)/$$p && \
		chmod 644 $(DESTDIR)$(BASHCOMPDIR)/$$p || exit 1; \
	done

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
		$(DESTDIR)$(SHAREDIR)/examples/fleet-check
	-for d in $(DESTDIR)$(SHAREDIR)/jq $(DESTDIR)$(SHAREDIR)/systemd \
		$(DESTDIR)$(SHAREDIR)/examples $(DESTDIR)$(SHAREDIR); do \
		if [ -d $$d ]; then rmdir $$d; fi; \
	done

clean:
	rm -f $(PROGS) $(TESTPROGS) cmd/*.o lib/*.o test/*.o lib/libdmu.a
	rm -rf test/fuzz/fuzz-* test/fuzz/replay-* test/fuzz/san test/fuzz/fz \
		test/fuzz/work
	rm -rf build

.PHONY: all check check-asan check-valgrind check-static demo bench static \
	install uninstall clean

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
