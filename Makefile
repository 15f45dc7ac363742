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

CC = cc
AR = ar
CFLAGS = -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDFLAGS = -pie -Wl,-z,relro,-z,now
WARN = -Wall -Wextra -Wshadow -Wconversion -Wpointer-arith \
	-Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
BEARSSL_CFLAGS =
BEARSSL_LIBS = -l:libbearssl.a
THREAD_LIBS = -pthread

DMU_CFLAGS = $(WARN) -Ilib $(BEARSSL_CFLAGS) -DDMU_VERSION=\"$(VERSION)\" \
	-D_DEFAULT_SOURCE

PROGS = cmd/dmu-learn cmd/dmu-pin-check cmd/dmu-get cmd/dmu-certdb
TESTPROGS = test/dmu-sim
LIBOBJ = lib/util.o lib/codec.o lib/device.o lib/cert.o lib/pin.o \
	lib/net.o lib/tls.o lib/db.o lib/http.o lib/json.o lib/key.o \
	lib/follow.o
MAN1 = man/dmu-learn.1 man/dmu-pin-check.1 man/dmu-get.1 man/dmu-certdb.1
MAN5 = man/dmu-certdb.5
MAN7 = man/dmu.7

all: $(PROGS)

.c.o:
	$(CC) $(CFLAGS) $(CPPFLAGS) $(DMU_CFLAGS) -c -o $@ $<

$(LIBOBJ): lib/dmu.h
lib/libdmu.a: $(LIBOBJ)
	rm -f $@
	$(AR) rcs $@ $(LIBOBJ)

cmd/dmu-learn.o cmd/dmu-pin-check.o cmd/dmu-get.o cmd/dmu-certdb.o: lib/dmu.h

cmd/dmu-learn: cmd/dmu-learn.o lib/libdmu.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ cmd/dmu-learn.o lib/libdmu.a $(BEARSSL_LIBS)
cmd/dmu-pin-check: cmd/dmu-pin-check.o lib/libdmu.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ cmd/dmu-pin-check.o lib/libdmu.a $(BEARSSL_LIBS) $(THREAD_LIBS)
cmd/dmu-get: cmd/dmu-get.o lib/libdmu.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ cmd/dmu-get.o lib/libdmu.a $(BEARSSL_LIBS)
cmd/dmu-certdb: cmd/dmu-certdb.o lib/libdmu.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ cmd/dmu-certdb.o lib/libdmu.a $(BEARSSL_LIBS)
test/dmu-sim: test/dmu-sim.o
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ test/dmu-sim.o $(BEARSSL_LIBS) $(THREAD_LIBS)

check: all $(TESTPROGS)
	test/run

# The suite again, against ASan+UBSan builds and under valgrind.
VALGRIND_TESTS = test/10-certdb.bats test/20-learn.bats test/40-get.bats \
	test/50-follow.bats
check-asan: all $(TESTPROGS)
	test/check-variant asan
check-valgrind: all $(TESTPROGS)
	test/check-variant valgrind $(VALGRIND_TESTS)

demo: all $(TESTPROGS)
	test/demo

install: all
	mkdir -p $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	cp -f $(PROGS) $(DESTDIR)$(BINDIR)/
	cp -f $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	cp -f $(MAN5) $(DESTDIR)$(MANDIR)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANDIR)/man7/

uninstall:
	cd $(DESTDIR)$(BINDIR) && rm -f dmu-learn dmu-pin-check dmu-get dmu-certdb
	cd $(DESTDIR)$(MANDIR)/man1 && rm -f dmu-learn.1 dmu-pin-check.1 dmu-get.1 dmu-certdb.1
	rm -f $(DESTDIR)$(MANDIR)/man5/dmu-certdb.5 $(DESTDIR)$(MANDIR)/man7/dmu.7

clean:
	rm -f $(PROGS) $(TESTPROGS) cmd/*.o lib/*.o test/*.o lib/libdmu.a
	rm -rf build

.PHONY: all check check-asan check-valgrind demo install uninstall clean
