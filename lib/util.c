/* SPDX-License-Identifier: ISC */
/* util.c - diagnostics, allocation wrappers, small helpers. */
#define _GNU_SOURCE	/* ppoll(), in POSIX only since 2024 */
#include <sys/stat.h>
#include <sys/uio.h>
#include <ctype.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dmu.h"

const char *dmu_progname = "dmu";

/* see dmu.h */
void
dmu_setprogname(const char *argv0)
{
	const char *p;

	if (argv0 == NULL || *argv0 == '\0')
		return;
	p = strrchr(argv0, '/');
	dmu_progname = p != NULL ? p + 1 : argv0;
}

/*
 * Says "progname: message" on one line.  Whatever a caller forgot to
 * scrub, no control character reaches the terminal raw: the message is
 * written with each one that dmu_is_control() names as '?' (UTF-8 text is
 * kept), and cut with "..." past 2 KiB.
 */
static void
vwarn(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt), len;
	unsigned char msg[2048], *p;

	if (vsnprintf((char *)msg, sizeof(msg), fmt, ap) >= (int)sizeof(msg))
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	len = strlen((char *)msg);
	if (n > 0 && fmt[n - 1] == ':')
		snprintf((char *)msg + len, sizeof(msg) - len, " %s",
		    strerror(saved));
	fflush(stdout);
	fprintf(stderr, "%s: ", dmu_progname);
	for (p = msg; *p != '\0'; p++) {
		if (dmu_is_control(p, 1))
			*p = '?';
		else if (p[1] != '\0' && dmu_is_control(p, 2))
			*p++ = '?', *p = '?';
	}
	fprintf(stderr, "%s\n", (char *)msg);
}

/* see dmu.h */
void
dmu_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

/* see dmu.h */
void
dmu_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(code);
}

/* see dmu.h */
void
dmu_seterr(char *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err, DMU_ERRLEN, fmt, ap);
	va_end(ap);
}

/* see dmu.h */
void
dmu_usage(const char *help, const char *fmt, ...)
{
	const char *end = strstr(help, "\n\n");
	va_list ap;

	if (fmt != NULL) {
		va_start(ap, fmt);
		vwarn(fmt, ap);
		va_end(ap);
	}
	fwrite(help, 1, end != NULL ? (size_t)(end - help) + 1 : strlen(help),
	    stderr);
	exit(DMU_EUSAGE);
}

/* see dmu.h */
void
dmu_help(const char *help)
{
	fputs(help, stdout);
	exit(dmu_fshut() != 0 ? DMU_EFAIL : DMU_OK);
}

/*
 * Looks through the options still to come for "--help" and for other
 * "--word"s, which getopt(3) would take apart letter by letter.  Option
 * arguments are skipped, so "-a --help" is an argument, not a request.
 */
static void
long_options(int argc, char **argv, const char *optstring, const char *help)
{
	const char *p, *q;
	int i, inorder = optstring[0] == '+';

	for (i = optind; i < argc; i++) {
		p = argv[i];
		if (strcmp(p, "--") == 0)
			return;
		if (p[0] != '-' || p[1] == '\0') {
			if (inorder)
				return;
			continue;
		}
		if (strcmp(p, "--help") == 0)
			dmu_help(help);
		if (p[1] == '-')
			dmu_usage(help, "unknown option '%.40s'", p);
		for (p++; *p != '\0'; p++)
			if (*p != ':' && (q = strchr(optstring, *p)) != NULL &&
			    q[1] == ':') {
				if (p[1] == '\0')
					i++;	/* the next one is its argument */
				break;
			}
	}
}

/* see dmu.h */
int
dmu_getopt(int argc, char **argv, const char *optstring, const char *help)
{
	const char *q;
	int c;

	long_options(argc, argv, optstring, help);
	opterr = 0;
	if ((c = getopt(argc, argv, optstring)) != '?')
		return c;
	if (optopt == 'h')
		dmu_help(help);
	q = optopt != 0 && optopt != ':' && optopt != '+' ?
	    strchr(optstring, optopt) : NULL;
	if (q != NULL && q[1] == ':')
		dmu_usage(help, "option -%c needs an argument", optopt);
	if (optopt > 0x20 && optopt < 0x7f)
		dmu_usage(help, "unknown option -%c", optopt);
	dmu_usage(help, "unknown option");
}

/* see dmu.h */
int
dmu_opt_timeout(const char *arg)
{
	long long v;

	if (dmu_parse_long(arg, 1, 3600, &v) != 0)
		dmu_die(DMU_EUSAGE, "invalid time-out '%s' (1 to 3600 seconds)",
		    dmu_echo(arg));
	return (int)v * 1000;
}

/* see dmu.h */
int
dmu_print_version(void)
{
	printf("%s %s\n", dmu_progname, DMU_VERSION);
	return dmu_fshut() != 0 ? DMU_EFAIL : DMU_OK;
}

/* see dmu.h */
void *
dmu_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		dmu_die(DMU_EFAIL, "out of memory");
	return p;
}

/* see dmu.h */
void *
dmu_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		dmu_die(DMU_EFAIL, "out of memory");
	return p;
}

/* see dmu.h */
void *
dmu_xreallocarray(void *p, size_t n, size_t size)
{
	void *q;

	if (size != 0 && n > SIZE_MAX / size)
		dmu_die(DMU_EFAIL, "out of memory");
	q = realloc(p, n * size > 0 ? n * size : 1);
	if (q == NULL)
		dmu_die(DMU_EFAIL, "out of memory");
	return q;
}

/* see dmu.h */
char *
dmu_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		dmu_die(DMU_EFAIL, "out of memory");
	return s;
}

/* see dmu.h */
char *
dmu_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(dmu_xmalloc(n), s, n);
}

static int
rank(int code)
{
	/*
	 * A mismatch first, then what no retry mends (bad data), then what
	 * may (the network, the device's HTTP errors), then the rest: 4 > 7 >
	 * 5 > 6 > 3 > 1 > 0, and 2 high, as dmu(7) says.
	 */
	switch (code) {
	case DMU_OK:		return 0;
	case DMU_EFAIL:		return 1;
	case DMU_EUNKNOWN:	return 2;
	case DMU_EHTTP:		return 3;
	case DMU_ENET:		return 4;
	case DMU_EDATA:		return 5;
	case DMU_EMISMATCH:	return 7;
	default:		return 6;
	}
}

/* see dmu.h */
int
dmu_worse(int a, int b)
{
	return rank(a) >= rank(b) ? a : b;
}

/* see dmu.h */
int
dmu_fshut(void)
{
	int bad = fflush(stdout) != 0 || ferror(stdout);

	if (fclose(stdout) != 0)
		bad = 1;
	if (bad) {
		dmu_warn("write error on stdout:");
		return -1;
	}
	return 0;
}

/* see dmu.h */
int
dmu_parse_long(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* see dmu.h */
void
dmu_lines_init(struct dmu_lines *l, int fd, size_t max)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->max = max;
	l->buf = dmu_xmalloc(DMU_LINES_BLOCK + max + 1);
}

/*
 * Reads more input after the n bytes at s, which move to the start of the
 * buffer.  Sets l->eof at the end of the input or after a read error.
 */
static void
lines_fill(struct dmu_lines *l, const char *s, size_t n)
{
	ssize_t k;

	memmove(l->buf, s, n);
	l->off = 0;
	l->len = n;
	while ((k = read(l->fd, l->buf + n, DMU_LINES_BLOCK)) < 0 &&
	    errno == EINTR)
		;
	if (k > 0)
		l->len += (size_t)k;
	else {
		l->eof = 1;
		l->error = k < 0 ? errno : 0;
	}
}

/* see dmu.h */
long
dmu_lines_next(struct dmu_lines *l, char **line)
{
	char *s, *nl;
	size_t n;
	int toolong = 0;

	/*
	 * Blocks of input cut with memchr: every program reads the whole
	 * database, and a character at a time would cost several times more.
	 * read(2) rather than fread(3), so that a line typed on a terminal
	 * is taken as soon as it is there.
	 */
	for (;;) {
		s = l->buf + l->off;
		n = l->len - l->off;
		if ((nl = memchr(s, '\n', n)) != NULL || l->eof)
			break;
		if (n > l->max) {
			toolong = 1;	/* drop it, look for its end */
			n = 0;
		}
		lines_fill(l, s, n);
	}
	if (nl == NULL && n == 0)
		return toolong ? -2 : -1;
	l->partial = nl == NULL;
	if (nl == NULL)
		nl = s + n;	/* the last line has no newline */
	*nl = '\0';
	n = (size_t)(nl - s);
	l->off += n + (l->off + n < l->len);
	if (toolong || n > l->max)
		return -2;
	if (n > 0 && s[n - 1] == '\r')
		s[--n] = '\0';
	*line = s;
	return (long)n;
}

/* see dmu.h */
void
dmu_lines_free(struct dmu_lines *l)
{
	free(l->buf);
	l->buf = NULL;
}

/* The kind of a file that is not a regular one, for a message. */
static const char *
file_kind(mode_t m)
{
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a regular file";
}

/* see dmu.h */
int
dmu_open_file(const char *path, int flags, unsigned mode, const char *verb,
    char *err)
{
	struct stat st;
	int fd, saved;

	/* O_NONBLOCK: opening a FIFO without a writer must not wait. */
	if ((fd = open(path, flags | O_NONBLOCK | O_CLOEXEC, (mode_t)mode)) < 0)
		goto fail;
	if (fstat(fd, &st) != 0)
		goto fail_close;
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		dmu_seterr(err, "cannot %s %.200s: it is %s, not a regular "
		    "file", verb, path, file_kind(st.st_mode));
		errno = EINVAL;
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		goto fail_close;
	return fd;
fail_close:
	saved = errno;
	close(fd);
	errno = saved;
fail:
	saved = errno;
	dmu_seterr(err, "cannot %s %.200s: %s", verb, path, strerror(errno));
	errno = saved;
	return -1;
}

/* see dmu.h */
int
dmu_write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	ssize_t k;

	while (n > 0) {
		if ((k = write(fd, p, n)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* see dmu.h */
off_t
dmu_whole_end(int fd, off_t size)
{
	char buf[4096];
	off_t pos = size;
	ssize_t k, i;

	while (pos > 0) {
		size_t want = pos < (off_t)sizeof(buf) ? (size_t)pos :
		    sizeof(buf);

		if ((k = pread(fd, buf, want, pos - (off_t)want)) <= 0)
			return -1;
		for (i = k; i > 0; i--)
			if (buf[i - 1] == '\n')
				return pos - (off_t)want + i;
		pos -= (off_t)want;
	}
	return 0;
}

/* see dmu.h */
int
dmu_read_file(const char *path, const char *header, const char *what,
    size_t max, int (*fn)(void *, char *, long, char *), void *ctx,
    char *err)
{
	struct dmu_lines l;
	char *line, why[DMU_ERRLEN];
	long n, lineno = 0;
	int fd, rc = DMU_OK;

	if ((fd = dmu_open_file(path, O_RDONLY, 0, "read", err)) < 0)
		return errno == ENOENT ? DMU_OK : DMU_EFAIL;
	dmu_lines_init(&l, fd, max);
	while (rc == DMU_OK && (n = dmu_lines_next(&l, &line)) != -1) {
		if (l.partial)
			break;	/* being appended, or a killed writer's piece */
		lineno++;
		why[0] = '\0';
		if (n == -2)
			dmu_seterr(why, "line too long");
		else if (strlen(line) != (size_t)n)
			dmu_seterr(why, "NUL byte in line");
		else if (lineno == 1 && strcmp(line, header) != 0)
			dmu_seterr(why, "not %s (the first line must be '%s')",
			    what, header);
		else if (lineno > 1)
			rc = fn(ctx, line, lineno, why);
		if (why[0] != '\0') {
			dmu_seterr(err, "%.200s:%ld: %s", path, lineno, why);
			rc = DMU_EDATA;
		}
	}
	if (rc == DMU_OK && l.error != 0) {
		dmu_seterr(err, "cannot read %.200s: %s", path,
		    strerror(l.error));
		rc = DMU_EFAIL;
	}
	dmu_lines_free(&l);
	close(fd);
	return rc;
}

/* see dmu.h */
void
dmu_secret_copy(void *dst, const void *src, size_t n)
{
	volatile unsigned char *d = dst;
	const volatile unsigned char *s = src;

	while (n-- > 0)
		*d++ = *s++;
}

/* see dmu.h */
int
dmu_held_open(struct dmu_held *h)
{
	h->buf = NULL;
	h->len = 0;
	h->f = open_memstream(&h->buf, &h->len);
	return h->f != NULL ? 0 : -1;
}

/* see dmu.h */
int
dmu_held_close(struct dmu_held *h, FILE *out)
{
	int e;

	if (fclose(h->f) != 0) {
		e = errno;
		free(h->buf);
		errno = e;
		return -1;
	}
	if (out != NULL)
		fwrite(h->buf, 1, h->len, out);
	free(h->buf);
	return 0;
}

/* see dmu.h */
char *
dmu_escape(char *out, size_t outsz, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	for (; *p != '\0'; p++) {
		if (*p > ' ' && *p < 0x7f && *p != '\\') {
			if (n + 1 >= outsz)
				break;
			out[n++] = (char)*p;
		} else {
			if (n + 4 >= outsz)
				break;
			out[n++] = '\\';
			out[n++] = (char)('0' + (*p >> 6));
			out[n++] = (char)('0' + ((*p >> 3) & 7));
			out[n++] = (char)('0' + (*p & 7));
		}
	}
	out[n] = '\0';
	return out;
}

/* see dmu.h */
char *
dmu_trim(char *s)
{
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	return s;
}

/* see dmu.h */
int
dmu_is_timestamp(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) :
		    s[i] != pat[i])
			return 0;
	return s[i] == '\0';
}

/* see dmu.h */
int
dmu_is_hex64(const char *s)
{
	return strspn(s, "0123456789abcdef") == 64 && s[64] == '\0';
}

/* see dmu.h */
int
dmu_is_cert_b64(const char *s, size_t n)
{
	return n > 0 && n <= DMU_B64_LEN(DMU_CERT_MAX) && strspn(s,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/=") == n;
}

/* see dmu.h */
int
dmu_split_fields(char *s, char **f, int max)
{
	int nf;

	for (nf = 0; nf < max; nf++) {
		f[nf] = s;
		if ((s = strchr(s, ' ')) == NULL)
			return nf + 1;
		*s++ = '\0';
	}
	return max + 1;
}

/* see dmu.h */
void
dmu_utc_now(char *out)
{
	time_t t = time(NULL);
	struct tm tm;

	/*
	 * snprintf(3), which every program links anyway, rather than
	 * strftime(3), whose locale and time zone code took 8 KiB of each
	 * static program (armhf dmu-get: 161 KiB, 153 without).
	 */
	gmtime_r(&t, &tm);
	snprintf(out, 21, "%04u-%02u-%02uT%02u:%02u:%02uZ",
	    (unsigned)(tm.tm_year + 1900) % 10000, (unsigned)(tm.tm_mon + 1) %
	    100, (unsigned)tm.tm_mday % 100, (unsigned)tm.tm_hour % 100,
	    (unsigned)tm.tm_min % 100, (unsigned)tm.tm_sec % 100);
}

/* see dmu.h */
int64_t
dmu_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* see dmu.h */
char *
dmu_dirname(const char *path)
{
	char *d = dmu_xstrdup(path), *slash = strrchr(d, '/');

	if (slash == NULL)
		snprintf(d, 2, ".");
	else if (slash == d)
		slash[1] = '\0';
	else
		*slash = '\0';
	return d;
}

/* see dmu.h */
int
dmu_mkparents(const char *path, unsigned mode)
{
	char *d = dmu_xstrdup(path), *p;
	int rc = 0;

	for (p = d + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(d, (mode_t)mode) != 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*p = '/';
	}
	free(d);
	return rc;
}

/* see dmu.h */
void
dmu_fsync_dir(const char *path)
{
	char *dir = dmu_dirname(path);
	int dfd;

	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	free(dir);
}

/* see dmu.h */
unsigned
dmu_mode_of(const char *path, unsigned dflt)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return (unsigned)(st.st_mode & 0777);
	return dflt & 0777;
}

/* see dmu.h */
int
dmu_file_like(int fd, const char *like, unsigned mode)
{
	struct stat st, own;

	if (fstat(fd, &own) != 0)
		return -1;
	if (like != NULL && stat(like, &st) == 0 &&
	    (st.st_uid != own.st_uid || st.st_gid != own.st_gid)) {
		/*
		 * Root keeps a user's files theirs; a user can give a file
		 * only a group of their own.  Either way, try: a file left
		 * with our group is at worst closed to that group.
		 */
		if (fchown(fd, geteuid() == 0 ? st.st_uid : (uid_t)-1,
		    st.st_gid) != 0 && geteuid() == 0)
			return -1;
		if (fstat(fd, &own) != 0)
			return -1;
	}
	if ((own.st_mode & 07777) != (mode & 0777) &&
	    fchmod(fd, (mode_t)(mode & 0777)) != 0)
		return -1;
	return 0;
}

/* see dmu.h */
int
dmu_replace_file(const char *path, unsigned mode, int (*fill)(void *, FILE *),
    void *ctx, char *err)
{
	char *tmp;
	size_t n;
	FILE *f = NULL;
	int fd;

	n = strlen(path) + sizeof(".tmp.XXXXXX");
	tmp = dmu_xmalloc(n);
	snprintf(tmp, n, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) < 0) {
		dmu_seterr(err, "cannot create a temporary file "
		    "beside %.200s: %s", path, strerror(errno));
		free(tmp);
		return DMU_EFAIL;
	}
	if (dmu_file_like(fd, path, mode) != 0 ||
	    (f = fdopen(fd, "w")) == NULL) {
		close(fd);
		goto ioerr;
	}
	errno = 0;
	if (fill(ctx, f) != 0) {
		/* Keep the reason of the write that failed (ENOSPC, ...). */
		if (errno == 0)
			errno = EIO;
		goto ioerr;
	}
	if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0)
		goto ioerr;
	if (fclose(f) != 0) {
		f = NULL;
		goto ioerr;
	}
	f = NULL;
	if (rename(tmp, path) != 0)
		goto ioerr;
	/* The rename itself must reach the disk too. */
	dmu_fsync_dir(path);
	free(tmp);
	return DMU_OK;
ioerr:
	dmu_seterr(err, "cannot write %.200s: %s", path,
	    strerror(errno));
	if (f != NULL)
		fclose(f);
	unlink(tmp);
	free(tmp);
	return DMU_EFAIL;
}

volatile int dmu_stop;
static sigset_t waitmask;	/* the mask inside dmu_poll() */
static int masked;		/* dmu_catch_signals() was called */
static volatile sig_atomic_t exit_at_once;	/* dmu_stop_exits(1) */

static void
on_signal(int sig)
{
	(void)sig;
	dmu_stop = 1;
	if (exit_at_once)
		_exit(0);
}

/* see dmu.h */
void
dmu_catch_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/*
	 * Outside the waits the signals stay pending: no line is ever cut,
	 * and ppoll() takes them atomically with the wait.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	masked = 1;
}

/*
 * ppoll() through a pointer: glibc 2.36's _FORTIFY_SOURCE wrapper of ppoll
 * calls the 32-bit time_t ppoll even with -D_TIME_BITS=64, which reads our
 * 64-bit struct timespec wrong and cuts every wait short by its fraction
 * of a second on 32-bit systems.  The address is that of the right one
 * (__ppoll64 there); volatile, so that the compiler cannot turn the call
 * back into the wrapper's.  test/time64.bats checks it.
 */
static int (*volatile ppoll_fn)(struct pollfd *, nfds_t,
    const struct timespec *, const sigset_t *) = ppoll;

/* see dmu.h */
int
dmu_poll(struct pollfd *fds, unsigned nfds, int timeout_ms)
{
	int64_t end = dmu_now_ms() + timeout_ms, left;
	struct timespec ts;
	int r;

	for (;;) {
		if (dmu_stop) {
			errno = EINTR;
			return -1;
		}
		left = end - dmu_now_ms();
		if (left < 0)
			left = 0;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		r = ppoll_fn(fds, nfds, timeout_ms < 0 ? NULL : &ts,
		    masked ? &waitmask : NULL);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

/* see dmu.h */
void
dmu_stop_exits(int on)
{
	sigset_t block;

	if (!masked)
		return;
	if (on) {
		exit_at_once = 1;
		sigprocmask(SIG_SETMASK, &waitmask, NULL);
		return;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, NULL);
	exit_at_once = 0;
}

/* see dmu.h */
int
dmu_signals_caught(void)
{
	return masked;
}

/* see dmu.h */
void
dmu_sleep_ms(long ms)
{
	dmu_poll(NULL, 0, (int)ms);
}

/*
 * Waits until fd takes more output.  After dmu_stop is set, a line that
 * has begun gets until grace (a dmu_now_ms() time) to be finished.
 */
static int
wait_writable(int fd, int started, int64_t *grace)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	int64_t left;
	int r;

	if (!dmu_stop && dmu_poll(&pfd, 1, -1) >= 0)
		return 0;
	if (!started)
		return -1;
	if (*grace == 0)
		*grace = dmu_now_ms() + 1000;
	do {
		if ((left = *grace - dmu_now_ms()) <= 0)
			return -1;
		r = poll(&pfd, 1, (int)left);
	} while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : -1;
}

/* see dmu.h */
int
dmu_write_line(int fd, const char *s, size_t n)
{
	struct iovec iov[2], part[2];
	int64_t grace = 0;
	size_t room, len;
	ssize_t k;
	int i = 0, j, started = 0;

	iov[0].iov_base = (void *)(uintptr_t)s;
	iov[0].iov_len = n;
	iov[1].iov_base = (void *)(uintptr_t)"\n";
	iov[1].iov_len = 1;
	while (i < 2) {
		/*
		 * With the stop signals caught, a write must never block:
		 * wait for room in a wait that a signal ends, then write at
		 * most PIPE_BUF bytes, which a pipe with room takes at once
		 * and whole.
		 */
		if (dmu_signals_caught() && wait_writable(fd, started,
		    &grace) != 0) {
			errno = EINTR;
			return -1;
		}
		for (j = 0, room = PIPE_BUF; i + j < 2 && room > 0; j++) {
			len = iov[i + j].iov_len < room ? iov[i + j].iov_len :
			    room;
			part[j].iov_base = iov[i + j].iov_base;
			part[j].iov_len = len;
			room -= len;
		}
		if ((k = writev(fd, part, j)) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		started = 1;
		/* A partial write: skip what went out and go on. */
		for (; i < 2 && (size_t)k >= iov[i].iov_len; i++)
			k -= (ssize_t)iov[i].iov_len;
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= (size_t)k;
		}
	}
	return 0;
}

/* see dmu.h */
int
dmu_one_edit(const char *a, const char *b)
{
	size_t i = 0, na = strlen(a), nb = strlen(b);

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	if (na == nb)
		return i < na && (strcmp(a + i + 1, b + i + 1) == 0 ||
		    (a[i + 1] == b[i] && a[i] == b[i + 1] &&
		    strcmp(a + i + 2, b + i + 2) == 0));
	if (na == nb + 1)
		return strcmp(a + i + 1, b + i) == 0;
	if (nb == na + 1)
		return strcmp(a + i, b + i + 1) == 0;
	return 0;
}
