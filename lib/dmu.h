/* SPDX-License-Identifier: ISC */
/*
 * dmu.h - the one header of libdmu: device addresses, codecs, certificates,
 * the pinning X.509 class, TLS connections, the certificate database, HTTP,
 * JSON, the client of a device and its collector.
 *
 * Library functions report and the programs decide: a function returns a
 * status (0 or DMU_OK on success, else one of the exit codes below) and
 * never prints or exits.  The exceptions are named in util.c's section:
 * the allocation wrappers (exit 1 when memory runs out), the diagnostic
 * helpers dmu_warn() and dmu_die(), the command-line helpers
 * dmu_getopt(), dmu_usage(), dmu_help(), dmu_opt_timeout(), dmu_print_version() and dmu_fshut(), and a stop
 * signal during dmu_stop_exits(1).
 *
 * Failures carry their reason one way: a buffer of DMU_ERRLEN bytes, named
 * err in parameters or a struct member err, filled with dmu_seterr().  A
 * path or other text of unbounded length in a reason is cut at 200 bytes
 * (%.200s) so that what follows it is not lost, and text from outside is
 * passed through dmu_scrub() first.
 */
#ifndef DMU_H
#define DMU_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <sys/types.h>
#include <bearssl.h>

/* Exit status of every program; library functions return the same codes. */
enum {
	DMU_OK = 0,		/* success */
	DMU_EFAIL = 1,		/* I/O error, declined, other failure */
	DMU_EUSAGE = 2,		/* usage error */
	DMU_EUNKNOWN = 3,	/* device not in the certificate database */
	DMU_EMISMATCH = 4,	/* certificate mismatch; nothing was sent */
	DMU_ENET = 5,		/* network or TLS failure, not a mismatch */
	DMU_EHTTP = 6,		/* the device answered with an HTTP error */
	DMU_EDATA = 7		/* malformed answer or database line */
};

#define DMU_ERRLEN 256		/* size of every error-message buffer */

/* The Makefile defines the version; a build without it says "0". */
#ifndef DMU_VERSION
#define DMU_VERSION "0"
#endif

/* util.c */

/* The program name used in diagnostics; set once by dmu_setprogname(). */
extern const char *dmu_progname;

/* Sets dmu_progname to the last path component of argv0. */
void dmu_setprogname(const char *argv0);

/*
 * Prints "progname: message" on stderr.  A format ending in ':' appends
 * ": strerror(errno)".
 */
void dmu_warn(const char *fmt, ...);

/* As dmu_warn(), then exits with status code. */
void dmu_die(int code, const char *fmt, ...);

/*
 * Formats a reason into err (DMU_ERRLEN bytes) when err is not NULL: the
 * one way library functions say why they failed.
 */
void dmu_seterr(char *err, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/*
 * The command line.  help is a program's (or a dmu-certdb command's) one
 * help text: its first paragraph, up to the first blank line, is the usage
 * (the man page's SYNOPSIS), the rest says what the options do.
 *
 * dmu_getopt() is getopt(3) that answers -h and --help with the whole help
 * on stdout and exit 0, and a usage error (an unknown option, a missing
 * option argument, an unknown "--word") with dmu_usage(); otherwise it
 * returns what getopt(3) returns.  With optstring starting with '+' the
 * options end at the first operand.
 */
int dmu_getopt(int argc, char **argv, const char *optstring,
    const char *help);

/*
 * Prints "progname: REASON" (fmt, unless NULL) and then the usage of help
 * on stderr, and exits 2: what was wrong first, then how it is right.
 */
void dmu_usage(const char *help, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3), noreturn))
#endif
    ;

/* Prints help on stdout and exits 0 (1 when stdout cannot take it). */
void dmu_help(const char *help)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((noreturn))
#endif
    ;

/*
 * Parses the argument of -t (1 to 3600 seconds) and returns milliseconds;
 * exits 2 with a message when it is not such a number.
 */
int dmu_opt_timeout(const char *arg);

/* Prints "PROGNAME VERSION" (-V) and returns the exit status. */
int dmu_print_version(void);

/* Allocation wrappers: they never return NULL; on failure they exit 1. */
void *dmu_xmalloc(size_t n);
void *dmu_xcalloc(size_t n, size_t size);
void *dmu_xreallocarray(void *p, size_t n, size_t size);
char *dmu_xstrdup(const char *s);
char *dmu_xasprintf(const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Returns the more serious of two exit codes: 4 > 7 > 5 > 6 > 3 > 1 > 0. */
int dmu_worse(int a, int b);

/*
 * Flushes and checks stdout; returns 0, or -1 after printing a diagnostic
 * when a write to stdout failed.  Call before exiting from every program.
 */
int dmu_fshut(void);

/*
 * Parses a decimal integer in [min, max] from s.  Returns 0 and stores it in
 * *out, or -1 when s is empty, not a number, or out of range.
 */
int dmu_parse_long(const char *s, long long min, long long max,
    long long *out);

/*
 * The one line reader: the lines of a file descriptor, read in blocks of
 * DMU_LINES_BLOCK bytes with read(2), each at most max bytes long.
 */
#define DMU_LINES_BLOCK	65536
struct dmu_lines {
	int fd;			/* not closed by dmu_lines_free() */
	size_t max;
	char *buf;		/* DMU_LINES_BLOCK + max + 1 bytes */
	size_t off, len;	/* the bytes not yet cut: buf[off..len) */
	int eof;		/* no more to read */
	int error;		/* errno of a failed read, or 0 */
	int partial;		/* the line last cut ended the input unended */
};

/* Sets up l over fd for lines of at most max bytes. */
void dmu_lines_init(struct dmu_lines *l, int fd, size_t max);

/*
 * Cuts the next line into *line (NUL-terminated, without the newline and
 * a trailing carriage return; valid until the next call).  Returns its
 * length (a NUL byte in it is counted, so strlen() may say less), -1 at
 * the end of the input or on a read error (l->error), or -2 when it is
 * longer than max (it is skipped).  l->partial tells whether the line
 * was the last of the input, with no newline after it.
 */
long dmu_lines_next(struct dmu_lines *l, char **line);

/* Frees what l owns. */
void dmu_lines_free(struct dmu_lines *l);

/*
 * Opens the data file at path with open(2) flags and mode (for O_CREAT),
 * close-on-exec, without waiting: anything but a regular file (a FIFO, a
 * device, a directory) is refused at once.  Every data file dmu reads or
 * appends to is opened here.  Returns the descriptor (in blocking mode),
 * or -1 with errno set (ENOENT for a missing file, EINVAL for another
 * kind of file) and "cannot VERB PATH: reason" in err.
 */
int dmu_open_file(const char *path, int flags, unsigned mode,
    const char *verb, char *err);

/* Writes n bytes to fd, going on after short writes.  Returns 0 or -1. */
int dmu_write_all(int fd, const void *buf, size_t n);

/*
 * Where a file of size bytes open on fd ends after its last whole line
 * (0 when it has none): a writer killed in the middle of an append left a
 * piece of a line.  Returns -1 when it cannot be read.
 */
off_t dmu_whole_end(int fd, off_t size);

/*
 * Reads the file at path (a missing one is empty), whose first line must
 * be header, and calls fn(ctx, line, lineno, why) for every other line of
 * at most max bytes; fn returns DMU_OK to go on, DMU_EDATA with the reason
 * in why (DMU_ERRLEN), or another value to stop with.  Returns DMU_OK,
 * fn's value, DMU_EDATA with "PATH:LINE: reason" in err (a bad line, a
 * line too long, a NUL byte, another header; what names the kind of file
 * in that message), or DMU_EFAIL (I/O, in err).  A last line without a
 * newline is not a line: these files are appended to in one write(2) a
 * line, which a reader may see in part, and a writer killed in the middle
 * leaves a piece that the next append cuts (dmu_whole_end()).
 */
int dmu_read_file(const char *path, const char *header, const char *what,
    size_t max, int (*fn)(void *, char *, long, char *), void *ctx,
    char *err);

/*
 * Output held back until it is known to be whole: a stream f into memory,
 * so that a reader that fails half-way leaves its output empty.
 */
struct dmu_held {
	FILE *f;		/* write here */
	char *buf;
	size_t len;
};

/* Opens h->f.  Returns 0, or -1 with errno set. */
int dmu_held_open(struct dmu_held *h);

/*
 * Closes h->f and writes all that was written to it to out, unless out is
 * NULL (the output is dropped); frees what h owns.  Returns 0, or -1 with
 * errno set when the stream could not be closed (nothing is written).
 */
int dmu_held_close(struct dmu_held *h, FILE *out);

/*
 * Copies s into out (outsz bytes, at least 5) with every byte outside
 * '!'..'~' and the backslash written as a backslash and three octal
 * digits, so that the copy is one field of one line whatever s holds; cut
 * short at a whole escape when it does not fit.  Returns out.
 */
char *dmu_escape(char *out, size_t outsz, const char *s);

/*
 * Copies n bytes of a secret one by one through volatile pointers: a
 * vectorized memcpy(3) would leave pieces of it in vector registers, which
 * a core dump holds.
 */
void dmu_secret_copy(void *dst, const void *src, size_t n);

/* Returns s with leading and trailing white space cut off (in place). */
char *dmu_trim(char *s);

/*
 * Writes the n bytes at s and a newline to fd in one writev(2) when the
 * kernel takes it whole (so that lines from several writers to one pipe
 * do not mix, up to PIPE_BUF), going on after a partial write.  Once
 * dmu_catch_signals() was called it never blocks in write(2): it waits
 * for room in dmu_poll(), so a stop signal ends the wait even when the
 * reader has stalled; a line not begun is then dropped (-1, errno EINTR)
 * and one begun gets a second to be finished.  Returns 0, or -1 with
 * errno set.
 */
int dmu_write_line(int fd, const char *s, size_t n);

/* Returns 1 when s is a time written as "YYYY-MM-DDTHH:MM:SSZ", else 0. */
int dmu_is_timestamp(const char *s);

/* Returns 1 when s is 64 lower-case hex digits (a SHA-256), else 0. */
int dmu_is_hex64(const char *s);

/*
 * Returns 1 when the n bytes at s are a certificate in base64 (1 to
 * DMU_B64_LEN(DMU_CERT_MAX) characters of its alphabet; s[n] must be
 * none), else 0.  The decoding checks the rest.
 */
int dmu_is_cert_b64(const char *s, size_t n);

/*
 * Cuts s in place at single spaces into the fields f[0..max-1] of the
 * strict line formats.  Returns how many there are, max + 1 when there
 * are more than max.
 */
int dmu_split_fields(char *s, char **f, int max);

/*
 * Returns 1 when a and b differ by exactly one edit: a character inserted,
 * deleted or replaced, or two neighbours swapped (a typo); else 0.
 */
int dmu_one_edit(const char *a, const char *b);

/* Current UTC time as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void dmu_utc_now(char *out);

/* Milliseconds of a monotonic clock. */
int64_t dmu_now_ms(void);

/* The directory of path ("." when it names none), newly allocated. */
char *dmu_dirname(const char *path);

/*
 * Creates the missing directories above path with mode (as mkdir -p of its
 * directory).  Returns 0, or -1 with errno set.
 */
int dmu_mkparents(const char *path, unsigned mode);

/* fsyncs the directory of path, so that a rename or a new name lasts. */
void dmu_fsync_dir(const char *path);

/*
 * The permission bits of the file at path (its links followed), or dflt
 * when there is none: the mode a file takes from the database it belongs
 * to.
 */
unsigned dmu_mode_of(const char *path, unsigned dflt);

/*
 * Gives the open file fd the owner and group of the file at like (may be
 * NULL or missing: then they stay) as far as the caller may set them --
 * root all, another user only a group of theirs -- and the permission
 * bits mode, the umask left aside.  Returns 0, or -1 when root could not
 * set the owner or the mode could not be set (errno).
 */
int dmu_file_like(int fd, const char *like, unsigned mode);

/*
 * Replaces the file at path atomically: fill(ctx, f) writes the new
 * contents to a temporary file in the same directory, which is flushed,
 * fsync'd, given mode (and the owner and group of the file it replaces,
 * as dmu_file_like() does), renamed over path, and the directory fsync'd.
 * fill returns 0, or non-zero to abandon.  Returns DMU_OK or DMU_EFAIL with
 * the reason in err; on failure path is untouched and no temporary file
 * is left.
 */
int dmu_replace_file(const char *path, unsigned mode,
    int (*fill)(void *, FILE *), void *ctx, char *err);

/*
 * Set by the signal handler that dmu_catch_signals() installs for SIGTERM
 * and SIGINT; network waits return early once it is set.
 */
extern volatile int dmu_stop;

/*
 * Installs that handler and blocks the two signals everywhere but inside
 * dmu_poll(), so that one arriving between a check of dmu_stop and a wait
 * still ends the wait.
 */
void dmu_catch_signals(void);

/*
 * poll(2) that returns -1 with errno EINTR at once when dmu_stop is or gets
 * set, and goes on after other interruptions.  nfds may be 0 (a sleep); a
 * negative timeout_ms waits without a limit.
 */
int dmu_poll(struct pollfd *fds, unsigned nfds, int timeout_ms);

/*
 * Around a call that no signal can cut short (getaddrinfo(3)): with on
 * set, a stop signal ends the process at once with status 0; with on
 * clear, signals are held again.  Only for a caller with nothing to save
 * at that moment.  Does nothing before dmu_catch_signals().
 */
void dmu_stop_exits(int on);

/* Returns 1 once dmu_catch_signals() was called, else 0. */
int dmu_signals_caught(void);

/* Sleeps ms milliseconds, or less when dmu_stop gets set. */
void dmu_sleep_ms(long ms);

/* codec.c */

/* Writes 2n lower-case hex digits and a NUL to out. */
void dmu_hex(char *out, const void *in, size_t n);

/* Writes n upper-case hex byte pairs separated by ':' and a NUL (3n bytes). */
void dmu_hex_colon(char *out, const void *in, size_t n);

/*
 * The one form of a fingerprint for people, in messages: upper-case hex
 * byte pairs separated by ':', as dmu-learn's prompt, dmu-certdb show and
 * openssl x509 -fingerprint print it; a SHA-256 takes DMU_FPR_COLON bytes.
 * Lines that scripts parse keep the 64 lower-case hex digits.
 */
#define DMU_FPR_COLON	96

/*
 * Writes the colon form of hex, a SHA-256 (64 hex digits), into out
 * (DMU_FPR_COLON bytes); anything else is copied as it is.  Returns out.
 */
char *dmu_fpr_colon(char *out, const char *hex);

/* Bytes needed for the base64 encoding of n bytes, without the NUL. */
#define DMU_B64_LEN(n)	((((n) + 2) / 3) * 4)

/* Writes the padded standard base64 of in and a NUL to out (DMU_B64_LEN+1). */
void dmu_b64_encode(char *out, const void *in, size_t n);

/*
 * Decodes padded standard base64 (no white space) of length n into out of
 * size outsz.  Returns the decoded length, or -1 when the text is not
 * canonical base64 or does not fit.
 */
long dmu_b64_decode(void *out, size_t outsz, const char *in, size_t n);

/*
 * Parses a SHA-256 fingerprint in every form a person pastes: 64 hex
 * digits, with or without ':' between byte pairs, any case; OpenSSL's
 * "sha256 Fingerprint=" (or "SHA256 Fingerprint=") line of colon hex;
 * "SHA256:" (any case) followed by base64 with or without its padding, as
 * OpenSSH writes it.  Blanks and a line end around it are ignored.
 * Returns 0 and fills out, or -1.
 */
int dmu_fpr_parse(const char *s, uint8_t out[32]);

/* The forms dmu_fpr_parse() takes, for a message that refuses one. */
#define DMU_FPR_FORMS "64 hex digits with or without colons, " \
	"SHA256:base64, or openssl's sha256 Fingerprint=..."

/* The value of the hex digit c (either case), or -1. */
int dmu_hexval(int c);

/*
 * Returns 1 when the character c of n bytes is one that no terminal should
 * get raw: a C0 control, DEL, or a C1 control (U+0080..U+009F) in UTF-8.
 */
int dmu_is_control(const unsigned char *c, size_t n);

/*
 * The one scrubber of untrusted text for messages, which are ASCII: copies
 * n bytes of in (a NUL among them too) into out (outsz bytes,
 * NUL-terminated), each byte outside ' '..'~' written as '?'.  Text that
 * does not fit is cut and marked by "..." (three ASCII dots, in every
 * locale) in its last three places, so that out never holds more than
 * outsz - 1 bytes.  Returns out.
 * (Text decoded from JSON keeps its UTF-8 and loses only what
 * dmu_is_control() names: see dmu_json_message().)
 */
char *dmu_scrub(char *out, size_t outsz, const char *in, size_t n);

/*
 * Echoed input (an argument, a field of a manifest or a report) is shown
 * in a buffer of DMU_ECHO_MAX + 1 bytes: longer input is cut with "...".
 */
#define DMU_ECHO_MAX	120

/*
 * dmu_scrub() of the string s into a static buffer of DMU_ECHO_MAX + 1
 * bytes, for echoing an argument in a message of the main thread; each
 * call overwrites what the last one returned.
 */
const char *dmu_echo(const char *s);

/*
 * dmu_scrub() for text shown on one terminal line (a certificate's subject
 * or issuer): runs of white space, tabs and line ends among them, become
 * one space, and there is none at either end.  outsz - 1 is the width.
 */
char *dmu_scrub_line(char *out, size_t outsz, const char *in, size_t n);

/* SHA-256 of n bytes. */
void dmu_sha256(uint8_t out[32], const void *in, size_t n);

/*
 * Returns 1 when the n bytes at a and b are equal; the time it takes does
 * not depend on where they differ.
 */
int dmu_ct_equal(const void *a, const void *b, size_t n);

/* device.c */

#define DMU_HOST_MAX	255
#define DMU_ZONE_MAX	15	/* an interface name: IF_NAMESIZE - 1 */
#define DMU_DEVICE_MAX	(DMU_HOST_MAX + DMU_ZONE_MAX + 9)

struct dmu_device {
	char host[DMU_HOST_MAX + 1];	/* lower case, IPv6 without brackets */
	char zone[DMU_ZONE_MAX + 1];	/* interface of a link-local address */
	char port[6];			/* decimal, 1..65535 */
	char canon[DMU_DEVICE_MAX + 1];	/* "host:port", IPv6 as "[addr]:port",
					   link-local as "[addr%zone]:port" */
	int is_ip;			/* host is an IPv4 or IPv6 literal */
	/* What the path of an https:// URL named, else "": */
	char app[65];			/* /api/application/APP/reports/v1 */
	char resource[24];		/* after it: "list" (/reports),
					   "latest", "oldest", a serial
					   (/reports/X), "wait" (/wait) */
};

/*
 * Parses HOST, HOST:PORT, [V6ADDR]:PORT, [V6ADDR], [FE80::X%ZONE]:PORT, or
 * an https:// URL (there a zone may be written %25ZONE as RFC 6874 has
 * it).  A link-local IPv6 address needs its zone, the interface it is
 * reached through, and no other address may have one; a zone given as an
 * interface index is stored by the interface's name.  The port defaults
 * to 443.  A URL's path must be empty, "/", the base of the reports API
 * (/api/application/APP/reports/v1), or one of its resources (/reports,
 * /reports/SERIAL|oldest|latest, /wait), with or without a trailing '/',
 * and it has no query or fragment; what it names goes to d->app and
 * d->resource.  Returns 0, or -1 with a reason in err (DMU_ERRLEN bytes)
 * that names the forms supported.
 */
int dmu_device_parse(struct dmu_device *d, const char *s, char *err);

/*
 * Writes d's authority as a Host header carries it into out (DMU_DEVICE_MAX
 * + 1 bytes): the canonical form without a zone, which means nothing to
 * the device (RFC 6874).
 */
void dmu_device_authority(const struct dmu_device *d, char *out);

/*
 * The devices that operands name: dmu_device_parse() of each of the n
 * args, their canonical forms kept in *want, a new NULL-terminated array
 * (free with dmu_devs_free()), or NULL when n is 0: no operand means
 * every device.  Returns 0, or -1 with the reason of the first bad
 * operand in err (*want then NULL).
 */
int dmu_devs_parse(char ***want, int n, char *const *args, char *err);

/* Returns 1 when want (from dmu_devs_parse()) is NULL or holds device. */
int dmu_devs_has(char *const *want, const char *device);

/* Frees want (may be NULL). */
void dmu_devs_free(char **want);

/* cert.c */

#define DMU_CERT_MAX	16384	/* largest end-entity certificate kept */

struct dmu_cert {
	unsigned char *der;		/* owned; freed by dmu_cert_free() */
	size_t len;
	uint8_t sha256[32];		/* of der */
	br_x509_pkey pkey;		/* points into keybuf */
	unsigned char keybuf[1100];	/* RSA n and e, or EC point */
	char keytype[32];		/* "RSA 2048", "EC P-256", ... */
	char subject[256];		/* "CN=...,O=..." */
	char issuer[256];
	char not_before[21];		/* "YYYY-MM-DDTHH:MM:SSZ" */
	char not_after[21];
	uint8_t spki_sha256[32];	/* SHA-256 of SubjectPublicKeyInfo */
	size_t keybits;			/* RSA modulus or EC curve size */
	char serial[68];		/* lower-case hex, "..." after 32 bytes */
	char sigalg[48];		/* "ecdsa-with-SHA256", a dotted OID, or
					   "unknown" */
};

/*
 * Decodes a DER certificate: copies it, hashes it, decodes its public key
 * (RSA or EC; others are refused) and its names, dates and SPKI.  Returns 0,
 * or DMU_EDATA with a reason in err.  On failure c owns nothing.
 */
int dmu_cert_decode(struct dmu_cert *c, const void *der, size_t len,
    char *err);

/* Frees what c owns; c may then be decoded again. */
void dmu_cert_free(struct dmu_cert *c);

/*
 * Finds the first CERTIFICATE block in PEM text and decodes its DER into a
 * new buffer *der of length *len (the caller frees it).  Returns 0, or
 * DMU_EDATA with a reason in err.
 */
int dmu_pem_cert(const char *text, size_t n, unsigned char **der,
    size_t *len, char *err);

/*
 * Reads f to its end, or 1 MiB of it, and decodes the first CERTIFICATE
 * block of that PEM text into c (free with dmu_cert_free()).  Returns
 * DMU_OK, DMU_EFAIL when reading failed (strerror's text in err) or
 * DMU_EDATA with the reason in err; on failure c owns nothing.
 */
int dmu_cert_read_pem(FILE *f, struct dmu_cert *c, char *err);

/* Writes der as a PEM block with the given label ("CERTIFICATE") to f. */
int dmu_pem_write(FILE *f, const char *label, const void *der, size_t len);

/*
 * Writes the curl --pinnedpubkey value "sha256//BASE64" of c to out (54
 * bytes).
 */
void dmu_cert_pin(char *out, const struct dmu_cert *c);

/* Warnings about a certificate: bits of dmu_cert_warnings(). */
enum {
	DMU_CW_RSA_WEAK = 1,	/* an RSA key under 2048 bits */
	DMU_CW_SHA1 = 2,	/* signed with SHA-1 */
	DMU_CW_MD5 = 4,		/* signed with MD5 */
	DMU_CW_EXPIRED = 8,	/* not_after is before now */
	DMU_CW_NOTYET = 16	/* not_before is after now */
};

/*
 * Returns the DMU_CW_* bits that apply to c.  now is the current time as
 * dmu_utc_now() writes it, or NULL to leave out the two that depend on the
 * clock.  None of them keeps a pin from working.
 */
unsigned dmu_cert_warnings(const struct dmu_cert *c, const char *now);

/*
 * Writes the inventory line of a pin to f: one JSON object with device,
 * sha256, pin, learned, authorized (the provenance word), subject, issuer,
 * serial, not_before, not_after, key, key_bits, signature and warnings,
 * the array of words "rsa-under-2048", "sha1-signature", "md5-signature",
 * "expired", "not-yet-valid" (those two from now, as for
 * dmu_cert_warnings()) and "unverified" (when authorized is that word).
 * Every string is escaped so that the line is valid JSON whatever the
 * certificate holds.  Returns 0, or -1 when writing to f failed.
 */
int dmu_cert_inventory(FILE *f, const char *device, const struct dmu_cert *c,
    const char *learned, const char *authorized, const char *now);

/* The widest subject or issuer that dmu_cert_show() writes. */
#define DMU_NAME_WIDTH	69

/*
 * Writes a human summary of c for device to f: fingerprint, pin, subject,
 * issuer, validity, key, and learned when not NULL.  Each line fits 80
 * columns but the fingerprint's and the pin's: subject and issuer are
 * written by dmu_scrub_line() cut at DMU_NAME_WIDTH (the whole names are
 * in the inventory).
 */
void dmu_cert_show(FILE *f, const char *device, const struct dmu_cert *c,
    const char *learned);

/* pin.c */

enum { DMU_PIN_ASSERT, DMU_PIN_CAPTURE };

#define DMU_CHAIN_MAX	3	/* certificates kept after the end-entity one */
#define DMU_CHAIN_BYTES	16384	/* their DER together, at most */

/*
 * Our br_x509_class.  In assert mode it hashes the end-entity certificate,
 * compares the hash in constant time with the pinned one and hands out the
 * key of the pinned (stored) certificate.  In capture mode it keeps the
 * end-entity certificate (at most DMU_CERT_MAX bytes) and hands out its key.
 * Host names, dates and the rest of the chain are ignored for trust; in
 * both modes the end-entity certificate stays in buf and the next
 * DMU_CHAIN_MAX certificates that fit in DMU_CHAIN_BYTES in chain, as
 * evidence of what a server presented.
 */
struct dmu_pin {
	const br_x509_class *vtable;
	int mode;
	const struct dmu_cert *pinned;	/* assert mode */
	br_sha256_context sha;
	int ncert;			/* certificates seen in this chain */
	unsigned char *buf;		/* DMU_CERT_MAX bytes, owned */
	size_t len;			/* bytes of the end-entity certificate */
	int toolarge;			/* it did not fit in buf */
	unsigned char *chain;		/* DMU_CHAIN_BYTES, owned */
	size_t chainsz[DMU_CHAIN_MAX];	/* DER length of each kept */
	size_t chainlen;		/* bytes used in chain */
	int nchain;			/* certificates kept in chain */
	int chaindrop;			/* the current one does not fit */
	uint8_t presented[32];		/* SHA-256 of what the server sent */
	int have_presented;
	int mismatch;			/* assert mode: it was another cert */
	struct dmu_cert captured;	/* capture mode, after end_chain */
	int have_captured;
	char err[DMU_ERRLEN];		/* why end_chain refused */
};

/* Sets up p; pinned is the stored certificate, NULL in capture mode. */
void dmu_pin_init(struct dmu_pin *p, int mode, const struct dmu_cert *pinned);

/* Frees what p owns. */
void dmu_pin_free(struct dmu_pin *p);

/* net.c and tls.c */

/*
 * The class of a failed dmu_conn_open(), beyond its return code: monitoring
 * must tell a device that may answer later from one that never will, and a
 * foreign certificate from the pinned one replayed without its key.
 */
enum {
	DMU_WHY_NONE,		/* no failure, or one of another return code */
	DMU_WHY_UNREACHABLE,	/* DMU_ENET: no connection, time-out, cut */
	DMU_WHY_INCOMPATIBLE,	/* DMU_ENET: TLS version, suite, curve, key */
	DMU_WHY_CERT,		/* DMU_EMISMATCH: another certificate */
	DMU_WHY_KEYPROOF	/* DMU_EMISMATCH: the pinned one, not its key */
};

/*
 * The word for a class in dmu-pin-check lines and messages:
 * "unreachable", "incompatible", "certificate", "key-proof-failed", or ""
 * for DMU_WHY_NONE.
 */
const char *dmu_why_word(int why);

#define DMU_ADDR_MAX	80	/* "[v6addr%zone]:port" and a NUL */

struct dmu_conn {
	int fd;
	br_ssl_client_context sc;
	struct dmu_pin pin;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	int timeout_ms;			/* for each network wait */
	int64_t deadline;		/* dmu_now_ms() limit; 0: none */
	int peer_closed;		/* the device closed the TCP stream */
	int broken;			/* I/O failed: send nothing more */
	int why;			/* DMU_WHY_* of the last failed open */
	char addr[DMU_ADDR_MAX];	/* the address connected to, or "" */
	char err[DMU_ERRLEN];		/* why the last call failed */
};

/*
 * Opens a TCP connection to d (every address of the name in turn), with
 * TCP_NODELAY set and the socket non-blocking.  Returns the descriptor and
 * writes the address connected to into addr (DMU_ADDR_MAX bytes, may be
 * NULL), or returns -1 with a reason in err.
 */
int dmu_tcp_connect(const struct dmu_device *d, int timeout_ms, char *addr,
    char *err);

/*
 * Connects to d and completes the TLS 1.2 handshake.  With pinned set, the
 * handshake can only complete with that certificate's key and only when the
 * server presents exactly that certificate; with pinned NULL the
 * certificate is captured (c->pin.captured).  No application data is sent.
 * Returns DMU_OK; DMU_EMISMATCH when another certificate was presented
 * (c->why DMU_WHY_CERT) or the pinned one without proof of its key
 * (DMU_WHY_KEYPROOF), c->pin.presented holding what was seen; DMU_EDATA
 * (captured certificate unusable); or DMU_ENET, c->why saying
 * DMU_WHY_UNREACHABLE or DMU_WHY_INCOMPATIBLE.  The reason is in c->err,
 * and c->addr names the address when a TCP connection was made.  After a
 * failure the connection is closed, but dmu_conn_close() is still to be
 * called.
 */
int dmu_conn_open(struct dmu_conn *c, const struct dmu_device *d,
    const struct dmu_cert *pinned, int timeout_ms);

/*
 * Sets the time limit of what follows: ms milliseconds from now (0: only
 * the time-out of each wait applies).
 */
void dmu_conn_deadline(struct dmu_conn *c, long ms);

/* Sends len bytes and flushes them.  Returns 0, or DMU_ENET. */
int dmu_conn_write(struct dmu_conn *c, const void *buf, size_t len);

/*
 * Reads up to len bytes.  Returns the number read, 0 at the end of the
 * stream (the device's close_notify), or -1 with a reason in c->err
 * (time-out, reset, TLS error, a TCP close without close_notify).
 */
long dmu_conn_read(struct dmu_conn *c, void *buf, size_t len);

/* What dmu_conn_idle() finds between two requests. */
enum {
	DMU_IDLE_CLEAN,		/* nothing came: the connection may be reused */
	DMU_IDLE_DATA,		/* bytes the device sent after the answer */
	DMU_IDLE_GONE		/* the device closed it, or it broke */
};

/*
 * Looks, without waiting, at what came after the last answer was read:
 * application data in BearSSL's record buffer, or records on the socket
 * (which it reads into the engine).  Returns a DMU_IDLE_* value; after
 * DMU_IDLE_DATA or DMU_IDLE_GONE the connection must not carry another
 * request (RFC 9112 6.3: extra data is never the next answer).
 */
int dmu_conn_idle(struct dmu_conn *c);

/* Sends close_notify when possible, closes the socket, frees the pin. */
void dmu_conn_close(struct dmu_conn *c);

/* Sets the time-out of each network wait that follows, in milliseconds. */
void dmu_conn_timeout(struct dmu_conn *c, int ms);

/* The DMU_WHY_* class of the last failed dmu_conn_open(). */
int dmu_conn_why(const struct dmu_conn *c);

/*
 * The SHA-256 of the certificate the device presented in the last
 * dmu_conn_open(), or NULL when it presented none.
 */
const uint8_t *dmu_conn_presented(const struct dmu_conn *c);

/*
 * The certificate captured by a dmu_conn_open() without a pin, or NULL;
 * it belongs to c until dmu_conn_close().
 */
const struct dmu_cert *dmu_conn_captured(const struct dmu_conn *c);

/* db.c */

/*
 * A format-1 file holds only 4-field records "DEVICE SHA256 LEARNED CERT";
 * a format-2 file may also hold 6-field records "DEVICE SHA256 LEARNED
 * PROVENANCE USER CERT".  A file is written as format 1 while none of its
 * records carries a provenance, so that older readers keep reading it.
 */
#define DMU_DB_HEADER	"# dmu-certdb 1"
#define DMU_DB_HEADER2	"# dmu-certdb 2"
#define DMU_USER_MAX	32	/* longest USER field */
#define DMU_DB_LINE_MAX	(DMU_DEVICE_MAX + 160 + DMU_B64_LEN(DMU_CERT_MAX))

/*
 * Returns 1 when s is a provenance word: "terminal" (a person typed yes),
 * "fingerprint" (-F), "manifest" (a fingerprint on a manifest line),
 * "unverified" (-y) or "unknown".
 */
int dmu_prov_valid(const char *s);

/*
 * Returns 1 when s is a USER field: 1 to DMU_USER_MAX bytes of letters,
 * digits, '.', '_' and '-', not starting with '.' or '-'.
 */
int dmu_user_valid(const char *s);

/*
 * Writes the name of the real user into out (DMU_USER_MAX + 1 bytes): the
 * login name when it is a valid USER field, else the decimal uid.
 */
void dmu_user_name(char *out);

/* One line of the database: a record, or a comment/blank line (device NULL). */
struct dmu_rec {
	char *device;			/* canonical host:port, or NULL */
	char sha256hex[65];		/* of the certificate DER */
	char learned[21];		/* "YYYY-MM-DDTHH:MM:SSZ" */
	char prov[12];			/* provenance word; "" in a 4-field line */
	char user[DMU_USER_MAX + 1];	/* who learned it; "" in a 4-field line */
	char *certb64;			/* base64 DER, one line */
	char *mem;			/* owns device, certb64 or the comment */
	long lineno;			/* where it stands in the file, or 0 */
};

/*
 * What a writer of the database tells about its changes, for a history
 * kept beside it (history.c's dmu_hist_attach() makes one).  db.c only
 * calls these: it depends on nothing that keeps the history, and the
 * history depends on db.c for its records.
 */
struct dmu_db_hook {
	/* A change made in memory: "add", "replace" (old: the record
	   replaced) or "remove" of rec. */
	void (*change)(void *ctx, const char *action,
	    const struct dmu_rec *rec, const struct dmu_rec *old);
	/* The lock is held and the file is about to be replaced: DMU_OK to
	   go on, else the commit is abandoned with the reason in err. */
	int (*before)(void *ctx, char *err);
	/* After before() said DMU_OK: whether the file was replaced. */
	void (*after)(void *ctx, int committed);
	void *ctx;
};

struct dmu_db {
	char *path;			/* the file really written */
	struct dmu_rec *rec;		/* lines in file order */
	size_t n, cap;
	size_t *slot;			/* index by device: 1 + position, 0 */
	size_t nslot;			/* slots, a power of two, or 0 */
	int lockfd;			/* -1 when not locked */
	int exists;			/* the file was there */
	const struct dmu_db_hook *hook;	/* the caller's, or NULL */
	char warning[DMU_ERRLEN];	/* symlinked or writable by others */
	char err[DMU_ERRLEN];		/* "FILE:LINE: reason" or I/O error */
};

/*
 * Returns the database path from -f (may be NULL), $DMU_CERTDB,
 * $XDG_CONFIG_HOME/dmu/certdb or $HOME/.config/dmu/certdb, newly allocated.
 */
char *dmu_db_path(const char *opt);

/*
 * Returns DMU_OK when there is a database at path (an empty file is an
 * empty database), else DMU_EFAIL with a reason in err that names path
 * and says how to start one: for readers, a missing database is an
 * error, never an empty fleet.
 */
int dmu_db_exists(const char *path, char *err);

/*
 * Reads the database at path into db, checking the syntax of every line
 * (certificates are verified only when used: dmu_rec_cert()).  With lock
 * set (a writer), a missing file is an empty database (db->exists 0), and
 * first the directory is created if missing and an exclusive lock taken
 * on path.lock, held until dmu_db_close(); without lock (a reader), a
 * missing file is DMU_EFAIL as for dmu_db_exists().  Returns DMU_OK,
 * DMU_EFAIL (I/O, db->err) or DMU_EDATA (the first bad line, db->err).
 * db must be closed either way.
 */
int dmu_db_open(struct dmu_db *db, const char *path, int lock);

/*
 * Finds device in the database at path without keeping the other records
 * (every line's syntax is still checked).  Fills out (free with
 * dmu_rec_free()).  Returns DMU_OK, DMU_EUNKNOWN (the reason names a
 * known device one edit away: dmu_one_edit()), DMU_EFAIL (also a missing
 * database, as for dmu_db_exists()) or DMU_EDATA, with the reason in err;
 * warning (DMU_ERRLEN) gets a warning or "".
 */
int dmu_db_lookup(const char *path, const char *device, struct dmu_rec *out,
    char *warning, char *err);

/*
 * Reads past bad lines and calls report(ctx, lineno, reason) for each,
 * verifying every certificate and duplicate devices too.  Returns DMU_OK,
 * DMU_EDATA when any line was bad, or DMU_EFAIL (I/O, in err).
 */
int dmu_db_check(const char *path, void (*report)(void *, long,
    const char *), void *ctx, char *err);

/*
 * What to do about a mismatch on device, for a message: look at what was
 * seen first, and only for a replaced device re-learn it with the
 * fingerprint read off the device.  dbopt is the -f argument, or NULL.
 * Writes to out (DMU_ERRLEN bytes) and returns it.
 */
char *dmu_advice_mismatch(char *out, const char *device, const char *dbopt);

/*
 * How to learn an unknown device, for a message: with -F and the
 * fingerprint read off the device.  Writes to out (DMU_ERRLEN bytes) and
 * returns it.
 */
char *dmu_advice_learn(char *out, const char *device, const char *dbopt);

/* Returns the record of canonical device, or NULL. */
struct dmu_rec *dmu_db_find(struct dmu_db *db, const char *device);

/*
 * Returns the first device of db one edit away from device (a typo of
 * it: dmu_one_edit()), or NULL.
 */
const char *dmu_db_near(const struct dmu_db *db, const char *device);

/*
 * Returns the reason for a message that device is not in db, naming the
 * known device a typo away (dmu_db_near()) when there is one, newly
 * allocated.
 */
char *dmu_db_unknown(const struct dmu_db *db, const char *device);

/*
 * Adds r, or replaces the record of the same device; copies the strings.
 * The change is told to db->hook.
 */
void dmu_db_put(struct dmu_db *db, const struct dmu_rec *r);

/* What dmu_db_pin() did with a record. */
enum {
	DMU_PIN_NEW,		/* the device was not pinned: now it is */
	DMU_PIN_SAME,		/* already pinned to that certificate */
	DMU_PIN_REPLACED	/* pinned to another, now to this one */
};

/*
 * Pins r (a verified record) in db: stores it when its device is unknown,
 * or pinned to another certificate and replace is set; changes nothing
 * when the device is pinned to the same certificate.  oldhex (65 bytes)
 * gets the fingerprint pinned before, or "".  Returns DMU_OK with *what
 * set to a DMU_PIN_* value, or DMU_EMISMATCH, nothing changed, when the
 * device is pinned to another certificate and replace is not set.
 */
int dmu_db_pin(struct dmu_db *db, const struct dmu_rec *r, int replace,
    int *what, char *oldhex);

/*
 * Removes the record of device, telling db->hook; returns 0, or -1 when it
 * is absent.
 */
int dmu_db_remove(struct dmu_db *db, const char *device);

/*
 * Writes the database (the lock must be held): first db->hook's before()
 * (the history is appended and fsync'd), then the database goes to a
 * temporary file in the same directory, fsync, rename, fsync of the
 * directory, and after() is told whether it landed (the history takes its
 * lines back when not).  The file keeps its mode, less the write
 * permission of group and others, its owner and group; a new one is 0644
 * (whoever checks pins may be another user).  Returns DMU_OK or DMU_EFAIL with the reason
 * in db->err.
 */
int dmu_db_commit(struct dmu_db *db);

/* Releases the lock and frees everything db owns. */
void dmu_db_close(struct dmu_db *db);

/*
 * Parses one database line (copied; line is not changed).  Comment and
 * blank lines give a record with device NULL.  Checks the fields, the
 * device's canonical form and, with verify set, that the certificate
 * decodes and has the fingerprint.  Returns 0, or DMU_EDATA with a reason
 * in err.  Free r with dmu_rec_free().
 */
int dmu_rec_parse(const char *line, struct dmu_rec *r, int verify,
    char *err);

/*
 * Writes a record as one database line to f: 4 fields when r->prov is "",
 * else 6.
 */
int dmu_rec_write(FILE *f, const struct dmu_rec *r);

/*
 * Builds a record for device from a decoded certificate, learned now by
 * the real user, authorized as prov (a provenance word).
 */
void dmu_rec_make(struct dmu_rec *r, const char *device,
    const struct dmu_cert *c, const char *prov);

/*
 * Writes the warning a program that uses the pin r gives when nobody
 * compared its fingerprint (provenance "unverified": dmu-learn -y, or
 * dmu-certdb import without -F) into out (outsz bytes, 512 hold it all),
 * and returns 1; returns 0 for any other pin.
 */
int dmu_rec_unverified(const struct dmu_rec *r, char *out, size_t outsz);

/* The provenance word of r: r->prov, or "unknown" for a 4-field record. */
const char *dmu_rec_prov(const struct dmu_rec *r);

/* Frees what r owns. */
void dmu_rec_free(struct dmu_rec *r);

/*
 * Reads records from fd to its end, one database line each (comment and
 * blank lines skipped), verifying every certificate, into *recs, a new
 * array of *nrec records (free with dmu_recs_free()).  A bad line is
 * passed over, after report(ctx, lineno, reason).  Returns DMU_OK,
 * DMU_EDATA when any line was bad, or DMU_EFAIL (or DMU_EDATA after bad
 * lines) when a read failed, with strerror's text in err; err is ""
 * unless a read failed.  The records read before a failure are kept.
 */
int dmu_recs_read(int fd, struct dmu_rec **recs, size_t *nrec,
    void (*report)(void *, long, const char *), void *ctx, char *err);

/* Frees the n records of recs and the array. */
void dmu_recs_free(struct dmu_rec *recs, size_t n);

/*
 * As dmu_rec_cert() for a record read from the database at path; the
 * reason in err names "PATH:LINE:".
 */
int dmu_db_cert(const char *path, const struct dmu_rec *r,
    struct dmu_cert *c, char *err);

/*
 * Decodes the certificate of a record into c and checks its fingerprint.
 * Returns 0, or DMU_EDATA with a reason in err.
 */
int dmu_rec_cert(const struct dmu_rec *r, struct dmu_cert *c, char *err);

/* history.c */

#define DMU_HIST_HEADER	"# dmu-certdb-history 1"
#define DMU_HIST_LINE_MAX (DMU_DEVICE_MAX + 300 + 2 * DMU_B64_LEN(DMU_CERT_MAX))

/*
 * One line of FILE.history: "TIME ACTION DEVICE SHA256 PROVENANCE USER
 * CERTB64" for ACTION add or remove, and for replace three more fields,
 * "OLDSHA256 OLDPROVENANCE OLDCERTB64", the pin replaced.  SHA256,
 * PROVENANCE and CERTB64 are those of the pin added, or removed; USER is
 * who made the change.  All fields point into mem.
 */
struct dmu_hist {
	char *mem;
	const char *time, *action, *device, *sha256hex, *prov, *user;
	const char *certb64;
	const char *oldsha256hex, *oldprov, *oldcertb64;	/* or NULL */
	long lineno;
};

/* Returns the history path of the database at dbpath, newly allocated. */
char *dmu_hist_path(const char *dbpath);

/*
 * Parses one history line (copied) into h, checking every field's syntax
 * (certificates are decoded only when used).  Returns 0, or DMU_EDATA with
 * a reason in err; free h with dmu_hist_free().
 */
int dmu_hist_parse(const char *line, struct dmu_hist *h, char *err);

/* Frees what h owns. */
void dmu_hist_free(struct dmu_hist *h);

/*
 * Calls fn(ctx, entry) for every entry of the history at path, oldest
 * first; a non-zero return from fn stops and is returned.  A missing file
 * is an empty history.  Returns DMU_OK, DMU_EDATA at the first bad line
 * ("PATH:LINE: reason" in err) or DMU_EFAIL (I/O, in err).
 */
int dmu_hist_scan(const char *path, int (*fn)(void *,
    const struct dmu_hist *), void *ctx, char *err);

/*
 * The history of one database being written: the lines of its changes
 * until the commit.  history.c depends on db.c, never the other way: the
 * database reaches it only through the hook.
 */
struct dmu_hist_log {
	struct dmu_db_hook hook;	/* what the database calls */
	char *dbpath;			/* the database file */
	char *buf;			/* the lines of the changes noted */
	size_t len, cap;
	int fd;				/* appended, not yet settled; or -1 */
	long long end;			/* where the history ended before */
};

/*
 * Keeps the history of db, just opened to write (dmu_db_open() with lock
 * set), in h, which must outlive db's changes and commit: each change is
 * noted now, by the real user; dmu_db_commit() appends the lines to
 * FILE.history and fsyncs it before the database is replaced (after
 * cutting a partial last line that a killed writer left), and cuts them
 * back when the database could not be written.  The history takes the
 * database's mode (never writable by group or others), owner and group.  Free h with dmu_hist_log_free() after
 * dmu_db_close().
 */
void dmu_hist_attach(struct dmu_hist_log *h, struct dmu_db *db);

/* Frees what h owns. */
void dmu_hist_log_free(struct dmu_hist_log *h);

/*
 * Finds the certificate that device had with fingerprint sha256hex in
 * the history at path (added, replaced or removed) and decodes it into c.
 * Returns DMU_OK, DMU_EUNKNOWN, DMU_EDATA or DMU_EFAIL with err.
 */
int dmu_hist_cert(const char *path, const char *device,
    const char *sha256hex, struct dmu_cert *c, char *err);

/* evidence.c */

#define DMU_EV_HEADER	"# dmu-evidence 1"
#define DMU_EV_PER_DEVICE 16	/* entries kept a device; the oldest go */
#define DMU_EV_ENTRIES_MAX 4096	/* entries kept in all; the oldest go */
#define DMU_EV_BYTES_MAX (16L << 20)	/* the file, at most (and a line) */
#define DMU_EV_LINE_MAX	(DMU_DEVICE_MAX + 300 + DMU_B64_LEN(DMU_CERT_MAX) + \
	DMU_CHAIN_MAX * (DMU_B64_LEN(DMU_CHAIN_BYTES) + 1))

/*
 * One line of the evidence: "DEVICE SHA256 FIRST LAST COUNT ADDRESS REASON
 * CHAIN", a certificate that device presented instead of its pin: when it
 * was first and last seen, how often, from which "IP:PORT" ('-' when
 * unknown), why it was refused ("certificate" or "key-proof-failed") and
 * the certificates, base64 DER joined by ',' with the end-entity one
 * first, or '-' when it was too large to keep.  Fields point into mem.
 */
struct dmu_ev {
	char *mem;
	const char *device, *sha256hex, *first, *last, *addr, *reason;
	const char *chain;
	long long count;
	long lineno;
};

/*
 * Returns the evidence path for the database at dbpath, newly allocated:
 * FILE.evidence beside the file the database path names (symbolic links
 * resolved), an absolute path, the same for every user.
 */
char *dmu_ev_path(const char *dbpath);

/*
 * Parses one evidence line (copied) into e, checking every field's syntax.
 * Returns 0, or DMU_EDATA with a reason in err (may be NULL); free e with
 * dmu_ev_free().
 */
int dmu_ev_parse(const char *line, struct dmu_ev *e, char *err);

/* Frees what e owns. */
void dmu_ev_free(struct dmu_ev *e);

/*
 * Calls fn(ctx, entry) for every entry of the evidence at path, in file
 * order; a non-zero return from fn stops and is returned.  The lines of
 * one device and certificate are first merged into one entry (counts
 * added, the first FIRST and last LAST, the rest from the latest line),
 * and the entries cut to the bounds, the ones seen longest ago going
 * first: DMU_EV_PER_DEVICE a device and DMU_EV_ENTRIES_MAX in all.  A
 * missing file holds nothing.  Returns DMU_OK, DMU_EDATA when any line is
 * bad ("PATH:LINE: reason" in err; fn is then not called) or DMU_EFAIL.
 */
int dmu_ev_scan(const char *path, int (*fn)(void *, const struct dmu_ev *),
    void *ctx, char *err);

/*
 * The evidence line of what device presented on c, whose dmu_conn_open()
 * failed with DMU_EMISMATCH and which is not closed yet: the presented
 * end-entity certificate and the chain certificates pin kept (empty ones
 * left out), c->addr and dmu_conn_why(), seen once, now.  Returns it
 * newly allocated, or NULL with the reason in err when nothing was
 * presented (or the line would not read back).  Take it before closing c,
 * keep it with dmu_ev_keep() after the mismatch was reported.
 */
char *dmu_ev_line(const char *device, const struct dmu_conn *c, char *err);

/*
 * Keeps an evidence line (dmu_ev_line()) at path: takes path.lock (waiting
 * at most 5 s) and appends the line, reading nothing else, so the cost
 * does not grow with the file.  When the file would grow past
 * DMU_EV_BYTES_MAX it is compacted instead: merged and cut as
 * dmu_ev_scan() says and to half that size, and replaced atomically.
 * Returns DMU_OK, or another code with the reason in err; the caller only
 * warns.
 */
int dmu_ev_keep(const char *path, const char *line, char *err);

/* dmu_ev_line() and dmu_ev_keep() in one: for a caller that reports first. */
int dmu_ev_record(const char *path, const char *device,
    const struct dmu_conn *c, char *err);

/*
 * Drops the entry of device with fingerprint sha256hex (it was pinned on
 * purpose), compacting the file under the same lock.  Returns DMU_OK, or
 * another code with err.
 */
int dmu_ev_clear(const char *path, const char *device, const char *sha256hex,
    char *err);

/*
 * Decodes the end-entity certificate of the entry of device with
 * fingerprint sha256hex into c.  Returns DMU_OK, DMU_EUNKNOWN, DMU_EDATA or
 * DMU_EFAIL with err.
 */
int dmu_ev_cert(const char *path, const char *device, const char *sha256hex,
    struct dmu_cert *c, char *err);

/*
 * Drops the entries of the evidence beside the database at dbpath that
 * the records recs[0..n-1] pinned on purpose (dmu_ev_clear() of each);
 * each failure is told to warn(ctx, reason), and the others go on.
 */
void dmu_ev_forget(const char *dbpath, const struct dmu_rec *recs, size_t n,
    void (*warn)(void *, const char *), void *ctx);

/*
 * Whether device presented the certificate with fingerprint sha256 in a
 * mismatch, as the evidence beside the database at dbpath keeps it.
 * Returns DMU_EMISMATCH when it did, DMU_OK when the evidence holds no
 * such entry, or another code with the reason in err when the evidence
 * cannot be read (a caller that refuses evidence fails closed on it).
 */
int dmu_ev_presented(const char *dbpath, const char *device,
    const uint8_t sha256[32], char *err);

/*
 * Decodes into c the certificate with fingerprint sha256hex (64 hex
 * digits) that device has pinned in the database at dbpath, had (its
 * history) or was seen with (the evidence), looked for in that order;
 * *where says which: "pinned", "in the history" or "seen".  Returns DMU_OK,
 * DMU_EUNKNOWN when none has it, or another code, with the reason in err.
 */
int dmu_known_cert(const char *dbpath, const char *device,
    const char *sha256hex, struct dmu_cert *c, const char **where, char *err);

/* lock.c */

/*
 * How long a writer waits for a lock that another holds: $DMU_LOCK_TIMEOUT
 * seconds (0 to 3600), else 30 s.  Returns milliseconds.
 */
long dmu_lock_timeout_ms(void);

/*
 * Takes an exclusive flock(2) lock on lockpath, the path of the data file
 * it guards followed by ".lock".  The lock file gets the data file's owner
 * and group (as dmu_file_like() can) and read and write permission for the
 * owner and, each, for group and others only when they may write the data
 * file (0600 while it does not exist): flock(2) takes a lock through a
 * read-only descriptor too, so whoever may open the lock file could block
 * every writer.  An existing lock file is given that mode when the caller
 * may change it.  A symbolic link or anything but a regular file at lockpath
 * is refused, never followed.  Waits at most wait_ms for another holder.
 * Returns the descriptor that holds the lock (close it to release), or -1
 * with a one-line reason naming lockpath in err.
 */
int dmu_lock(const char *lockpath, long wait_ms, char *err);

/* key.c */

#define DMU_KEY_MAX	512	/* longest API key accepted */
#define DMU_KEY_B64MAX	(DMU_B64_LEN(DMU_KEY_MAX) + 1)

/*
 * The API key in base64, alone in a page of its own that is left out of
 * core dumps (MADV_DONTDUMP) and locked out of swap where the limit allows;
 * while a key is loaded the process is not dumpable (PR_SET_DUMPABLE 0),
 * which also keeps other users' debuggers from attaching (ptrace).
 */
struct dmu_key {
	void *page;		/* the mapping, NULL when no key is loaded */
	size_t size;		/* of the mapping */
	size_t len;		/* of the base64 key */
	char from[240];		/* where it came from, for messages: "key
				   file PATH (-k)", "key file PATH
				   ($DMU_API_KEY_FILE)" or "$DMU_API_KEY" */
	unsigned doubts;	/* DMU_KEY_* below: it looks mistyped */
};

/* What a key looks like that the device will probably refuse. */
enum {
	DMU_KEY_ENCODED = 1,	/* base64 of a NAME:SECRET text already */
	DMU_KEY_HEADER = 2	/* it holds "X-Api-Key:" (a whole header) */
};

/*
 * Loads the API key from the first line of file (when not NULL), else of
 * $DMU_API_KEY_FILE, else from $DMU_API_KEY, into k, and says in k->from
 * where it came from and in k->doubts what looks wrong with it (never the
 * key itself).  Plain copies are wiped, and DMU_API_KEY is removed from
 * the environment.  A key file readable by group or others sets warning.  Returns DMU_OK, DMU_EUSAGE
 * (no key given, or empty, or too long) or DMU_EFAIL (file unreadable),
 * with the reason in err; on failure nothing is loaded.
 */
int dmu_key_load(struct dmu_key *k, const char *file, char *warning,
    char *err);

/*
 * Writes the base64 key and a NUL to b64 (DMU_KEY_B64MAX bytes); the
 * caller wipes it (explicit_bzero) as soon as the request is formatted.
 */
void dmu_key_reveal(const struct dmu_key *k, char *b64);

/* Wipes and unmaps the key, and makes the process dumpable again. */
void dmu_key_wipe(struct dmu_key *k);

/* http.c */

#define DMU_HTTP_LINE_MAX	1024		/* status line, one header line */
#define DMU_HTTP_HEAD_MAX	16384		/* the whole header block */
#define DMU_HTTP_BODY_MAX	(8L << 20)	/* a body, decoded */
#define DMU_RETRY_AFTER_MAX	3600L		/* longest Retry-After, s */

/*
 * A byte source: read(ctx, buf, len) returns the number of bytes read (at
 * most len), 0 at end of stream, or -1 on error.  The reader buffers in buf.
 */
struct dmu_src {
	long (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
	unsigned char buf[4096];
	size_t off, len;
};

/* Sets up a source over read(ctx, ...). */
void dmu_src_init(struct dmu_src *s, long (*read)(void *, void *, size_t),
    void *ctx);

/*
 * The number of bytes read from the source and not used yet: after an
 * answer, what came after it in the same read.
 */
size_t dmu_src_left(const struct dmu_src *s);

struct dmu_resp {
	int status;		/* 200..599 (1xx answers are skipped) */
	int keepalive;		/* the connection may carry another request */
	long retry_after;	/* Retry-After in seconds, -1 when absent */
	char *body;		/* NUL-terminated, owned; never NULL after OK */
	size_t len;		/* body length without the NUL */
};

/*
 * Reads one HTTP/1.x response to a GET from s: status line, headers, and a
 * body delimited by Content-Length, chunked transfer coding, or the end of
 * the stream (HTTP/1.0 style).  204 and 304 have no body.  Every limit above
 * is checked before anything is stored.  Returns DMU_OK; DMU_ENET when the
 * source failed or ended before the answer was complete; DMU_EDATA when the
 * answer is malformed or over a limit.  The reason is in err.  On failure r
 * owns nothing.
 */
int dmu_http_read(struct dmu_src *s, struct dmu_resp *r, char *err);

/* Frees what r owns. */
void dmu_resp_free(struct dmu_resp *r);

/*
 * Formats "GET target HTTP/1.1" with Host, X-Api-Key (keyb64, may be NULL)
 * and Connection: keep-alive into buf.  Returns the length, or -1 when it
 * does not fit.  The caller wipes buf after sending: it holds the key.
 */
long dmu_http_get(char *buf, size_t sz, const char *host, const char *target,
    const char *keyb64);

/* json.c */

#define DMU_JSON_DEPTH	32	/* deepest nesting accepted */

struct dmu_report {
	long long serial;	/* 0 .. 2^53 */
	char timestamp[64];	/* as received, escapes kept, cut at 63; or "" */
	const char *line;	/* compact JSON, "device" first, NUL-ended */
	size_t len;
};

/*
 * Parses body as one report object, an object {"reports": [...]} or a bare
 * array of reports, and validates all of it (strict RFC 8259, UTF-8, depth
 * limit; each report an object with an integer "serial").  Only then calls
 * fn(ctx, report) for each report in order, with the report re-emitted as
 * compact JSON: {"device":"DEVICE", then every other member as received
 * (an incoming "device" member is dropped).  Returns DMU_OK, DMU_EDATA with
 * a reason in err, or the first non-zero value fn returned.
 */
int dmu_json_reports(const char *body, size_t len, const char *device,
    int (*fn)(void *, const struct dmu_report *), void *ctx, char *err);

/*
 * Copies the top-level "message" string of an error body, unescaped, with
 * control characters replaced by '?', into out (outsz bytes, truncated).
 * Returns 0, or -1 when body has no such string.
 */
int dmu_json_message(const char *body, size_t len, char *out, size_t outsz);

/*
 * Writes what an HTTP error answer says into out (outsz bytes; DMU_ERRLEN
 * + 16 hold it all): "HTTP STATUS", then ": MESSAGE" when body is a JSON
 * error with a message (dmu_json_message(), at most DMU_ERRLEN - 1 bytes
 * of it).  Returns out.
 */
char *dmu_http_reason(char *out, size_t outsz, int status, const char *body,
    size_t len);

/* follow.c */

/* What dmu_follow_answer() asks the caller to do next. */
enum {
	DMU_FOLLOW_AGAIN,	/* ask /wait again now */
	DMU_FOLLOW_SAVED,	/* reports were written: save the state */
	DMU_FOLLOW_DONE,	/* the count is reached: save the state, exit 0 */
	DMU_FOLLOW_RETRY,	/* back off f->delay_ms, reconnect, go on */
	DMU_FOLLOW_FAIL		/* stop with exit status f->status */
};

/*
 * The collector's state: which serial to ask after, what was written, and
 * the back-off.  It does no I/O itself: the caller sends the requests and
 * feeds the answers in, so that the logic can be tested on any sequence.
 */
struct dmu_follow {
	const char *device;	/* canonical, for the output lines */
	long long last;		/* highest serial written (lastSerial) */
	char last_ts[64];	/* its timestamp, "" when unknown */
	long long count;	/* reports written so far */
	long long limit;	/* stop after this many (0: never) */
	long long restarts;	/* device restarts noticed */
	long long lost;		/* serials skipped between reports */
	long delay_ms;		/* with DMU_FOLLOW_RETRY: how long to wait */
	long backoff_ms;	/* the next back-off before jitter */
	int status;		/* with DMU_FOLLOW_FAIL: the exit status */
	int http;		/* with DMU_EHTTP: the HTTP status */
	/*
	 * Writes one report; returns 0, -1 when a stop signal kept it from
	 * being written (the batch ends there, the state stays before it),
	 * or 1 on a write error.
	 */
	int (*emit)(void *ctx, const struct dmu_report *r);
	/* Receives a warning for stderr (restart, lost serials, ...). */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;
	char err[DMU_ERRLEN];	/* with DMU_FOLLOW_FAIL: why */
};

/* Sets up f to resume after serial last (0: everything pending). */
void dmu_follow_init(struct dmu_follow *f, const char *device,
    long long last, const char *last_ts);

/*
 * Feeds one answer to /wait (status, body).  Writes the new reports through
 * emit (skipping serials already written), reports serial gaps and the
 * device's restart message through warn, and says what to do next.
 * retry_after is the answer's Retry-After in seconds, or -1.
 */
int dmu_follow_answer(struct dmu_follow *f, int status, const char *body,
    size_t len, long retry_after);

/*
 * Feeds the answer to GET /reports/LAST after a reconnection: when the
 * device holds a report with that serial but another timestamp, it
 * restarted unnoticed, so f starts again from serial 0 (with a warning).
 */
void dmu_follow_continuity(struct dmu_follow *f, int status,
    const char *body, size_t len);

/*
 * A network failure or time-out: sets f->delay_ms for the caller to wait
 * (about 1 s at first, doubling up to 60 s, with jitter) and returns
 * DMU_FOLLOW_RETRY.
 */
int dmu_follow_neterr(struct dmu_follow *f, long retry_after);

/*
 * Reads a state file: "SERIAL TIMESTAMP".  A missing file gives serial 0.
 * Returns DMU_OK, DMU_EFAIL or DMU_EDATA with the reason in err.
 */
int dmu_state_read(const char *path, long long *serial, char *ts,
    size_t tssz, char *err);

/* Replaces the state file atomically.  Returns DMU_OK or DMU_EFAIL. */
int dmu_state_write(const char *path, long long serial, const char *ts,
    char *err);

/* client.c */

#define DMU_REQ_MAX	1024	/* one request, its headers and the key */
#define DMU_BASE_MAX	128	/* "/api/application/APP/reports/v1" */

/*
 * Requests to one pinned device: a kept-alive connection that is opened
 * when needed, the API key, and the base path of the reports API.  The
 * device, the pinned certificate and the key belong to the caller and must
 * outlive the client.
 */
struct dmu_client {
	const struct dmu_device *dev;
	const struct dmu_cert *pinned;
	const struct dmu_key *key;
	char base[DMU_BASE_MAX];	/* /api/application/APP/reports/v1 */
	int timeout_ms;			/* connect and each wait */
	struct dmu_conn *conn;		/* owned */
	struct dmu_src src;		/* over conn, while connected */
	int connected;
	unsigned long opened;		/* connections made so far */
	char err[DMU_ERRLEN];		/* why the last call failed */
	const char *evpath;		/* where mismatches are kept, or NULL */
	char *evline;			/* the last mismatch, not yet kept */
	char evwarn[DMU_ERRLEN];	/* why one was not kept, or "" */
	/*
	 * Set by the caller, or NULL: receives a "DEVICE: warning: ..."
	 * line for stderr, once a run, when a connection is not reused
	 * because the device sent data after an answer.
	 */
	void (*warn)(void *ctx, const char *msg);
	void *warnctx;
	long long leftovers;		/* connections closed for that */
};

/*
 * Sets up cl for device dev and application app (NULL or "":
 * https_server_1), without a key and a pin yet (dmu_client_key(), and
 * cl->pinned set by the caller).  Returns DMU_OK, or DMU_EUSAGE with the
 * reason in err when app is not a valid name.
 */
int dmu_client_init(struct dmu_client *cl, const struct dmu_device *dev,
    const char *app, int timeout_ms, char *err);

/*
 * Gives cl its API key.  Returns DMU_OK, or DMU_EUSAGE with the reason in
 * err when the longest request a run can send (a long poll with the
 * highest serial) would not fit DMU_REQ_MAX with this host and key.
 */
int dmu_client_key(struct dmu_client *cl, const struct dmu_key *key,
    char *err);

/*
 * Connects and completes the pinned handshake unless connected already.
 * Returns what dmu_conn_open() returns, the reason in cl->err; after
 * DMU_EMISMATCH, dmu_conn_why() and dmu_conn_presented() of cl->conn say
 * what was seen, and with cl->evpath set, cl->evline holds its evidence
 * line (dmu_ev_line()) for dmu_client_keep_evidence(), or cl->evwarn says
 * why there is none.
 */
int dmu_client_connect(struct dmu_client *cl);

/*
 * Keeps the evidence of the last mismatch (cl->evline) at cl->evpath; call
 * it after the mismatch was reported, so that nothing about the evidence
 * can delay or change that.  A failure leaves the reason in cl->evwarn.
 */
void dmu_client_keep_evidence(struct dmu_client *cl);

/*
 * Sends GET base+path (connecting first when needed) and reads the answer
 * into r, allowing extra_ms beyond the time-out for a long poll.  Returns
 * DMU_OK, or what dmu_client_connect() returns, or DMU_ENET, DMU_EDATA, or
 * DMU_EUSAGE (the request does not fit), with the reason in cl->err.  The
 * connection is closed after a failure, an answer that does not keep it
 * alive, or one after which the device sent more (see cl->warn), so that
 * nothing but the answer to a request is ever read as that answer.  Free
 * r with dmu_resp_free() after DMU_OK.
 */
int dmu_client_get(struct dmu_client *cl, const char *path, long extra_ms,
    struct dmu_resp *r);

/*
 * Deletes report serial on the device (GET /reports/N?delete=true); an
 * answer 404 counts as done.  With deleted not NULL, a 200 answer (which
 * holds the report deleted) is left in it for the caller to free with
 * dmu_resp_free(); after anything else deleted->body is NULL.  Returns
 * DMU_OK, DMU_EHTTP for another status, or what dmu_client_get() returns,
 * the reason in cl->err.
 */
int dmu_client_delete(struct dmu_client *cl, long long serial,
    struct dmu_resp *deleted);

/* Closes the connection (close_notify); the client can connect again. */
void dmu_client_close(struct dmu_client *cl);

/*
 * Closes the connection now when it cannot carry another request (the
 * device closed it, or sent something after its last answer), as
 * dmu_client_get() does before each request, so that the caller sees
 * that the next request would go out on a new connection.
 */
void dmu_client_settle(struct dmu_client *cl);

/* Closes the connection and frees what cl owns. */
void dmu_client_free(struct dmu_client *cl);

/* The resources of the reports API that a run asks for. */
enum {
	DMU_RES_LATEST,		/* /reports/latest */
	DMU_RES_OLDEST,		/* /reports/oldest */
	DMU_RES_SERIAL,		/* /reports/SERIAL */
	DMU_RES_LIST,		/* /reports */
	DMU_RES_WAIT,		/* /wait: one long poll */
	DMU_RES_FOLLOW		/* /wait, again and again: the collector */
};

/*
 * Parses a resource operand: "latest", "oldest", "list", "wait",
 * "follow" or a serial (1 to 2^53, into *serial).  Returns DMU_OK with
 * *res a DMU_RES_* value, or DMU_EUSAGE with the reason in err.
 */
int dmu_res_parse(const char *word, int *res, long long *serial,
    char *err);

/*
 * The resource a run asks for, from what the URL of d names (d->resource)
 * and the resource operand word (NULL when there is none), "latest" when
 * neither names one: a word that says otherwise than the URL is a usage
 * error, but follow goes with a URL of /wait, which it long-polls.
 * Returns DMU_OK with *res (and *serial), or DMU_EUSAGE with the reason
 * in err.
 */
int dmu_res_choose(const struct dmu_device *d, const char *word, int *res,
    long long *serial, char *err);

/*
 * Writes to path (sz bytes) the path, under the base of the reports API,
 * of one request for res other than DMU_RES_FOLLOW: with del set, latest,
 * oldest and a serial are deleted as they are read (list and wait are
 * not: their reports are deleted one by one); wait asks for the reports
 * after serial last, with a time-out of wait_s seconds unless it is 0.
 * Returns how much longer than a time-out the answer may take, in
 * milliseconds: wait's long poll (75 s, the device's default, when
 * wait_s is 0), else 0.
 */
long dmu_res_path(char *path, size_t sz, int res, long long serial,
    long long last, long wait_s, int del);

/* sink.c */

/* How long a sink command has to finish once a stop signal is seen. */
#define DMU_SINK_GRACE_MS	500

/* dmu_sink_ack(): the command did not acknowledge; hand the batch again. */
#define DMU_SINK_NACK	100

/*
 * Where the collector's report lines go, one batch (an answer) at a time:
 * standard output, or the standard input of a command (dmu-get follow -x)
 * whose exit status 0 acknowledges the batch.  Set up with
 * dmu_sink_init(); the first group may be changed before the first line.
 */
struct dmu_sink {
	const char *command;	/* NULL: lines go to fd */
	const char *device;	/* the command's $DMU_DEVICE */
	long timeout_ms;	/* how long the command may take for a batch */
	int fd;			/* without a command: STDOUT_FILENO */
	int sync;		/* without a command: fsync fd to acknowledge */

	long long nlines;	/* lines of the batch so far */
	long long acked;	/* lines acknowledged since the start */
	long long failures;	/* batches not acknowledged */
	long long waiting;	/* lines of the last batch not acknowledged, 0
				   after one that was */
	double last_ok;		/* Unix time (whole seconds) of the last
				   acknowledgement, or 0 */
	char **env;		/* the command's environment, once made */
	pid_t pid;		/* the command running, or -1 */
	int in, pidfd;		/* the pipe to it, a pidfd of it, or -1 */
	int status;		/* its wait status once reaped */
	int failed, eof, expired;	/* of the batch so far */
	int64_t end_ms, stop_ms;	/* its time-out; the end of its grace */
	char err[DMU_ERRLEN];	/* why the last batch was not acknowledged */
};

/*
 * Sets up s for standard output (command NULL) or for command, run as
 * /bin/sh -c command once per batch with timeout_ms for the whole batch
 * and device in $DMU_DEVICE.
 */
void dmu_sink_init(struct dmu_sink *s, const char *command,
    const char *device, long timeout_ms);

/*
 * Adds the report's line to the batch.  To standard output it is written
 * at once (dmu_write_line()): returns 0, -1 when a stop signal kept it
 * from being written, or 1 on a write error.  To a command, which the
 * first line of a batch starts, it is written to the pipe as it takes it,
 * within the time-out; returns 0: a failure (the command ended, broke the
 * pipe, could not be started or ran out of time) is kept for
 * dmu_sink_ack() to say.
 */
int dmu_sink_put(struct dmu_sink *s, const struct dmu_report *r);

/*
 * Ends the batch.  Standard output: fsync'd with s->sync (a pipe or a
 * terminal needs none); returns DMU_OK, or DMU_EFAIL with the reason in
 * s->err.  A command: its standard input is closed and it has the rest
 * of its time-out to exit, DMU_SINK_GRACE_MS once a stop signal has come;
 * then its process group is killed (SIGKILL).  Returns DMU_OK when it
 * exited 0 (or the batch was empty), else DMU_SINK_NACK with the exit
 * status, the signal or the time-out in s->err; the counts above follow.
 * The command's exit status alone decides: one that exits 0 without
 * reading all of its input acknowledges it all the same.  It runs with
 * our environment but DMU_API_KEY and DMU_API_KEY_FILE, in a process
 * group of its own, with the default signal mask and dispositions, and
 * no descriptor of ours but 1 and 2.
 */
int dmu_sink_ack(struct dmu_sink *s);

/* Kills a command still running and frees what s owns. */
void dmu_sink_free(struct dmu_sink *s);

/* collect.c */

/* A report written and not yet deleted on the device (-d). */
struct dmu_pending {
	long long serial;
	char ts[64];			/* the timestamp of the report handed on */
	int tries;			/* deletions that failed */
};

/*
 * The collector of dmu-get follow.  The caller fills in the first group
 * and calls dmu_collect_run(); the rest is the collector's own.
 */
struct dmu_collect {
	struct dmu_client *cl;
	const char *statefile;		/* NULL: no state file */
	long long limit;		/* stop after so many reports; 0: never */
	long wait_s;			/* timeout of each long poll, 1..75 */
	int delete;			/* delete what was written (-d) */
	const char *metrics;		/* -m: metrics file, or NULL */
	const char *command;		/* -x: the sink command, or NULL */
	long command_ms;		/* -X: its time-out for a batch */
	/* Receives "DEVICE: message" warnings for stderr. */
	void (*warn)(void *ctx, const char *msg);
	void *ctx;

	struct dmu_follow f;		/* what to make of each answer */
	struct dmu_sink sink;		/* stdout, or the -x command */
	struct dmu_pending *pending;	/* deletions still to make */
	size_t npending, cappending;
	unsigned long checked;		/* cl->opened at the last check */
	int done;			/* the run ends with its status */
	long long connects;		/* connections made (for -m) */
	int64_t metrics_ms;		/* when the metrics were written */
	int metrics_up;			/* dmu_up as last written, or -1 */
	int metrics_failed;		/* the last write failed: said so */
	int metrics_dirty;		/* a write was put off: poll 1 s */
	char err[DMU_ERRLEN];		/* why the run ended, when it failed */
};

/*
 * With c->metrics set, the collector keeps that file current for the node
 * exporter (dmu_follow_metrics()): at the start, after each answer but at
 * most once a second (a write put off makes the next long poll 1 s long,
 * so the file is never more than about 2 s behind), at once when the
 * connection is made or lost, and at the end, with dmu_up 0.  A failure
 * to write it is a warning, said once until a write succeeds again.
 *
 * Runs the collector until the count is reached or SIGTERM or SIGINT
 * (which it catches; see dmu_catch_signals()): long polls on one
 * kept-alive connection, hands each answer's new reports to the sink
 * (stdout, or c->command: dmu_sink_put(), dmu_sink_ack()), saves the state
 * file after each batch the sink acknowledged, deletes with -d after that,
 * and after a refusal goes back to where the answer found it, backs off
 * and asks for the same reports again; backs off on network failures, 429
 * and 5xx, and checks for an unnoticed restart on each new connection
 * (report N's timestamp) and in the answer to each deletion (the report
 * deleted: one of a new epoch is handed to the sink at once, the other
 * deletions dropped, and the run reads from serial 0).
 * With c->command, the count (c->limit, f.count) is of reports
 * acknowledged.  A refusal never ends the run.  Returns DMU_OK; DMU_EMISMATCH
 * (c->cl->conn says what was seen); or DMU_EFAIL, DMU_EDATA, DMU_EHTTP or
 * DMU_EUSAGE with the reason in c->err.
 */
int dmu_collect_run(struct dmu_collect *c);

/* Frees what c owns (not c->cl). */
void dmu_collect_free(struct dmu_collect *c);

/* metrics.c */

/*
 * Writes the "# HELP" and "# TYPE" lines of a metric family to f, in the
 * Prometheus text exposition format; type is "gauge" or "counter", help
 * one line of text without a backslash.  Every sample of the family
 * follows at once: the format wants a family in one piece.
 */
void dmu_metric_head(FILE *f, const char *name, const char *type,
    const char *help);

/*
 * Writes one sample of name to f: nlabels labels, labels[2i] the name and
 * labels[2i+1] the value of each, and the value, integers (up to 2^53)
 * exactly and others to 9 digits.  Label values are escaped as the format
 * says (backslash, double quote, line feed); other control characters and
 * bytes above 0x7f are written as '?', so any string makes a valid line.
 */
void dmu_metric(FILE *f, const char *name, const char *const *labels,
    size_t nlabels, double value);

/*
 * Replaces the metrics file at path atomically, as dmu_replace_file()
 * does (the temporary name does not end in ".prom", so the textfile
 * collector never reads half a file), mode 0644 for an exporter that runs
 * as another user.  Returns DMU_OK or DMU_EFAIL with the reason in err.
 */
int dmu_metrics_write(const char *path, int (*fill)(void *, FILE *),
    void *ctx, char *err);

/*
 * Writes the metrics file of a collector (dmu-get follow -m) for the node
 * exporter, as dmu_metrics_write() does, from f and the collector's own
 * counts: dmu_reports_total (f->count), dmu_report_last_serial,
 * dmu_report_last_timestamp_seconds (f->last_ts, left out when it is not
 * an RFC 3339 time), dmu_restarts_total, dmu_lost_reports_total,
 * dmu_reconnects_total and dmu_up, and with sink (a command's: -x) not
 * NULL dmu_sink_failures_total, dmu_sink_waiting_reports and
 * dmu_sink_last_success_timestamp_seconds (left out before the first
 * acknowledgement), each labelled with the device.  Returns DMU_OK or
 * DMU_EFAIL with the reason in err.
 */
int dmu_follow_metrics(const char *path, const struct dmu_follow *f,
    long long reconnects, int up, const struct dmu_sink *sink, char *err);

/*
 * Parses an RFC 3339 time, "YYYY-MM-DDTHH:MM:SS", optional fraction, then
 * "Z" or "+HH:MM"/"-HH:MM", into seconds since the epoch.  Returns 0, or
 * -1 when s is not such a time.
 */
int dmu_time_parse(const char *s, double *out);

#endif
