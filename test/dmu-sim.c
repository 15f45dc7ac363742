/* SPDX-License-Identifier: ISC */
/*
 * dmu-sim - a fake Vaisala DMU801 for the test suite and the demo.  It
 * serves the Kaiku HTTPS Reports API on loopback with BearSSL's server side
 * and listens on a second, plain-TCP loopback port for line commands that
 * generate reports and inject failures.
 *
 * The simulator is the test oracle for libdmu, so it shares no code with it:
 * a bug in the library's base64 or PEM code must not be mirrored here.
 *
 * The control port takes one command a line and answers one line; the
 * commands, and the options, are in help[] below (dmu-sim -h).
 *
 * The clock only stamps new reports (their timestamp and the date and time
 * in their content), so a test that needs a report of another second says
 * so instead of waiting for the real clock to tick; every time-out and
 * delay runs on the real, monotonic clock.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <bearssl.h>

#define REQ_MAX		8192		/* request line and header block */
#define CTL_LINE_MAX	1024		/* one control command */
#define MAX_CONNS	256		/* API connections served at once */
#define MAX_PEM		16		/* PEM objects read from one file */
#define FILE_MAX	(1L << 20)	/* certificate and key files */
#define KEY_MAX		256		/* API key as the device shows it */
#define HS_TIMEOUT	30000		/* ms for each read in the handshake */
#define IDLE_TIMEOUT	300000		/* ms a kept-alive connection may idle */
#define IO_TIMEOUT	30000		/* ms for each write */
#define WAIT_SLICE	250		/* ms between checks for a gone client */
#define THREAD_STACK	(256 * 1024)

enum { MODE_LENGTH, MODE_CHUNKED, MODE_CLOSE, MODE_PRETTY };
enum { SERVE_TLS, SERVE_SILENT, SERVE_DRIP };
enum { KEEP, CLOSE, ABORT };		/* what becomes of a connection */

struct report {
	long long serial;
	char ts[21];			/* YYYY-MM-DDTHH:MM:SSZ */
	char content[96];
};

struct buf {
	char *p;
	size_t len, cap;
};

struct conn {
	int fd;
	unsigned long id;
	int timeout_ms;			/* for each socket wait */
	unsigned long long rx;		/* decrypted bytes received */
	br_ssl_server_context sc;
	br_sslio_context io;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
	char req[REQ_MAX + 1];
	size_t rlen;
};

struct answer {
	int status;
	struct buf body;		/* empty for 204 */
	char retry[64];			/* Retry-After value or "" */
	int allow;			/* 405: send Allow: GET */
	int close;			/* close the connection after it */
};

/* Fixed after start-up. */
static struct {
	int v6, serve, logfd;
	unsigned tls_min, tls_max;
	long port, interval, initial;
	size_t ringsize, maxans;
	const char *portfile;
	const char *listen_addr;	/* -l: the API port's address, or NULL */
	char base[128];			/* /api/application/APP/reports/v1 */
	size_t baselen;
} opt;

/* Everything the threads share; guarded by mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t newreport;	/* on CLOCK_MONOTONIC */
static struct {
	struct report *ring;		/* 2 * ringsize slots */
	size_t start, n;		/* live reports: ring[start..start+n) */
	long long maxserial;
	unsigned long epoch;		/* bumped by restart */
	char keyb64[(KEY_MAX + 2) / 3 * 4 + 1];
	int fail_n, fail_status;
	char fail_retry[64];
	int cut_n, malformed_n, slow_n, slow_ms, mode;
	int trail_n, trail_answer, trail_apart, fold_n;
	long long trail_serial;
	long long clock_off;		/* seconds added to the real clock */
	unsigned long requests, conns, handshakes, deletes, active;
} sim;

static br_x509_certificate chain[MAX_PEM];
static size_t chain_len;
static br_skey_decoder_context skey;	/* the keys point into it */
static int key_type;
static unsigned issuer_type;
static int wakefd[2];			/* self-pipe: signals and quit */

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("dmu-sim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/*
 * The one help: the first paragraph is the usage, the rest the options and
 * the control commands (README "Try it without a device" points here).
 */
static const char help[] =
"usage: dmu-sim -c CERT.pem -k KEY.pem [-46h] [-p PORT] [-P PORTFILE] [-a APP]\n"
"               [-l ADDRESS[%IFACE]] [-K KEY] [-b RINGSIZE] [-g INTERVAL_MS]\n"
"               [-n INITIAL] [-m MAXPERANSWER] [-V tls10|tls11|tls12]\n"
"               [-L LOGFILE] [-S silent|drip]\n"
"\n"
"A simulated Vaisala DMU801: serves the HTTPS Reports API on loopback with\n"
"CERT.pem and KEY.pem, and takes control commands on a second, plain-TCP\n"
"loopback port. It runs until SIGTERM, SIGINT or the quit command.\n"
"\n"
"  -4 | -6         listen on 127.0.0.1 (the default) or ::1\n"
"  -a APP          the application name in the URL (https_server_1)\n"
"  -b RINGSIZE     keep the newest RINGSIZE reports (128)\n"
"  -c CERT.pem     the certificate (chain) to present\n"
"  -g INTERVAL_MS  make a new report every INTERVAL_MS (0: only on gen)\n"
"  -K KEY          the API key expected, as the device shows it\n"
"                  (DEMO:SECRET_KEY)\n"
"  -k KEY.pem      the private key of the certificate\n"
"  -L LOGFILE      append one line per event (conn, handshake, request)\n"
"  -l ADDRESS[%IFACE]  serve the API on this address (a test's namespace)\n"
"  -m MAX          at most MAX reports in one answer (0: no limit)\n"
"  -n INITIAL      start with INITIAL reports (0)\n"
"  -P PORTFILE     write \"PORT CONTROLPORT\" to PORTFILE once listening\n"
"  -p PORT         the API port (0: any free one)\n"
"  -S silent|drip  accept connections but never answer, or drip bytes\n"
"  -V tls1N        speak only this TLS version (tls12)\n"
"  -h, --help      print this help\n"
"\n"
"Control commands, one a line on the control port; each answers one line,\n"
"\"ok ...\" or \"err usage: ...\" (e.g. echo gen 3 | socat - TCP:127.0.0.1:CTL):\n"
"  gen [N]             N new reports (1); answers the last serial\n"
"  restart             forget every report: serials start at 1 again\n"
"  fail N [STATUS] [RA]  the next N requests get STATUS (503), with\n"
"                      Retry-After RA (the rest of the line) if given\n"
"  cut N               the next N answers with a body stop half-way\n"
"  malformed N         the next N 200 answers are truncated JSON\n"
"  slow N MS           the next N answers wait MS milliseconds first\n"
"  mode length|chunked|close|pretty  how answers are framed\n"
"  trail N crlf|answer SERIAL [apart]  the next N answers are followed by a\n"
"                      stray CRLF, or by a second, unrequested 200 answer\n"
"                      holding one report of serial SERIAL; in the same TLS\n"
"                      record, or with apart in a record of its own\n"
"  fold N              the next N answers fold every header line (obs-fold)\n"
"  key KEY             the API key the device expects from now on\n"
"  clock               the device's clock: \"ok EPOCH YYYY-MM-DDTHH:MM:SSZ\"\n"
"  clock +S | clock -S moves the device's clock S seconds on or back\n"
"  clock set EPOCH | clock set YYYY-MM-DDTHH:MM:SSZ  sets it; it runs on\n"
"  stats               counters: reports, first, last, maxserial,\n"
"                      requests, conns, handshakes, deletes\n"
"  quit                ends the simulator\n"
"\n"
"The clock only stamps new reports; every time-out and delay runs on the\n"
"real, monotonic clock.\n";

/* A usage error: what was wrong (why, unless NULL), then the usage. */
static void
usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "dmu-sim: %s\n", why);
	fwrite(help, 1, (size_t)(strstr(help, "\n\n") - help) + 1, stderr);
	exit(2);
}

/* A test tool may simply give up when memory runs out. */
static void
buf_add(struct buf *b, const void *p, size_t n)
{
	char *np;
	size_t cap;

	if (b->len + n + 1 > b->cap) {
		cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL)
			die("out of memory");
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n :
		    sizeof tmp - 1);
}

static void logev(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static size_t vline(char *, size_t, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

/*
 * Formats one line into line (size bytes), cut to fit, with its newline:
 * its length, or 0 when there is nothing to write.
 */
static size_t
vline(char *line, size_t size, const char *fmt, va_list ap)
{
	int n;

	n = vsnprintf(line, size - 1, fmt, ap);
	if (n < 0)
		return 0;
	if ((size_t)n > size - 2)
		n = (int)(size - 2);
	line[n++] = '\n';
	return (size_t)n;
}

/* One write(2) per line on an O_APPEND descriptor: whole lines, no buffer. */
static void
logev(const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	size_t n;

	if (opt.logfd < 0)
		return;
	va_start(ap, fmt);
	n = vline(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n == 0)
		return;
	if (write(opt.logfd, line, n) < 0) {
		/* nothing sensible to do */
	}
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms(long ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Strict decimal: optional '-', 1..18 digits, nothing else. */
static int
parse_ll(const char *s, long long min, long long max, long long *out)
{
	const char *p = s;
	long long v = 0;
	int neg = 0;

	if (*p == '-') {
		neg = 1;
		p++;
	}
	if (*p == '\0' || strlen(p) > 18)
		return -1;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (neg)
		v = -v;
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static long
optnum(const char *s, long min, long max, int c)
{
	long long v;
	char why[128];

	if (parse_ll(s, min, max, &v) < 0) {
		snprintf(why, sizeof why, "-%c: not a number in %ld..%ld: %.40s",
		    c, min, max, s);
		usage(why);
	}
	return (long)v;
}

static void
b64_encode(char *out, const unsigned char *in, size_t n)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = a[v >> 18];
		*out++ = a[v >> 12 & 63];
		*out++ = a[v >> 6 & 63];
		*out++ = a[v & 63];
	}
	if (i < n) {
		v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		*out++ = a[v >> 18];
		*out++ = a[v >> 12 & 63];
		*out++ = i + 1 < n ? a[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* A key goes into a header line: printable ASCII only. */
static int
set_key(const char *key)
{
	size_t i, n = strlen(key);

	if (n == 0 || n > KEY_MAX)
		return -1;
	for (i = 0; i < n; i++)
		if (key[i] < 0x20 || key[i] > 0x7e)
			return -1;
	pthread_mutex_lock(&mu);
	b64_encode(sim.keyb64, (const unsigned char *)key, n);
	pthread_mutex_unlock(&mu);
	return 0;
}

/* Credentials */

struct pemobj {
	char name[128];
	struct buf der;
};

static void
pem_dest(void *ctx, const void *src, size_t len)
{
	buf_add(ctx, src, len);
}

/* Reads every PEM object of path into objs; returns how many. */
static size_t
pem_read(const char *path, struct pemobj *objs)
{
	br_pem_decoder_context pc;
	struct buf text = { 0 };
	char chunk[4096];
	size_t n = 0, off = 0, k;
	ssize_t r;
	int fd, inobj = 0;

	if ((fd = open(path, O_RDONLY)) < 0)
		die("%s: %s", path, strerror(errno));
	while ((r = read(fd, chunk, sizeof chunk)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("%s: %s", path, strerror(errno));
		}
		if (text.len + (size_t)r > FILE_MAX)
			die("%s: larger than %ld bytes", path, FILE_MAX);
		buf_add(&text, chunk, (size_t)r);
	}
	close(fd);
	buf_adds(&text, "\n");	/* the decoder wants a final newline */

	br_pem_decoder_init(&pc);
	while (off < text.len) {
		k = br_pem_decoder_push(&pc, text.p + off, text.len - off);
		off += k;
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			if (n == MAX_PEM)
				die("%s: more than %d PEM objects", path,
				    MAX_PEM);
			memset(&objs[n], 0, sizeof objs[n]);
			snprintf(objs[n].name, sizeof objs[n].name, "%s",
			    br_pem_decoder_name(&pc));
			br_pem_decoder_setdest(&pc, pem_dest, &objs[n].der);
			inobj = 1;
			break;
		case BR_PEM_END_OBJ:
			if (inobj)
				n++;
			inobj = 0;
			break;
		case BR_PEM_ERROR:
			die("%s: bad PEM", path);
		}
	}
	if (inobj)
		die("%s: unterminated PEM object", path);
	free(text.p);
	return n;
}

static void
load_creds(const char *certpath, const char *keypath)
{
	static struct pemobj objs[MAX_PEM];
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	size_t i, n;
	int found = 0;

	n = pem_read(certpath, objs);
	for (i = 0; i < n; i++) {
		if (strcmp(objs[i].name, "CERTIFICATE") != 0 &&
		    strcmp(objs[i].name, "X509 CERTIFICATE") != 0) {
			free(objs[i].der.p);
			continue;
		}
		/* Kept for the life of the process: every handshake sends it. */
		chain[chain_len].data = (unsigned char *)objs[i].der.p;
		chain[chain_len].data_len = objs[i].der.len;
		chain_len++;
	}
	if (chain_len == 0)
		die("%s: no certificate", certpath);

	n = pem_read(keypath, objs);
	for (i = 0; i < n && !found; i++) {
		if (strcmp(objs[i].name, "ENCRYPTED PRIVATE KEY") == 0)
			die("%s: encrypted keys are not supported", keypath);
		if (strcmp(objs[i].name, "RSA PRIVATE KEY") == 0 ||
		    strcmp(objs[i].name, "EC PRIVATE KEY") == 0 ||
		    strcmp(objs[i].name, "PRIVATE KEY") == 0) {
			br_skey_decoder_init(&skey);
			br_skey_decoder_push(&skey, objs[i].der.p,
			    objs[i].der.len);
			if (br_skey_decoder_last_error(&skey) != 0)
				die("%s: bad private key (BearSSL error %d)",
				    keypath, br_skey_decoder_last_error(&skey));
			key_type = br_skey_decoder_key_type(&skey);
			found = 1;
		}
	}
	for (i = 0; i < n; i++) {
		memset(objs[i].der.p, 0, objs[i].der.len);
		free(objs[i].der.p);
	}
	if (!found)
		die("%s: no private key", keypath);

	/* ECDH_* suites need the type of the key that signed our cert. */
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, chain[0].data, chain[0].data_len);
	if (br_x509_decoder_last_error(&dc) != 0 ||
	    (pk = br_x509_decoder_get_pkey(&dc)) == NULL)
		die("%s: cannot decode the first certificate (BearSSL error "
		    "%d)", certpath, br_x509_decoder_last_error(&dc));
	if (pk->key_type != key_type)
		die("%s: the key type does not match the certificate",
		    keypath);
	issuer_type = (unsigned)br_x509_decoder_get_signer_key_type(&dc);
	if (issuer_type != BR_KEYTYPE_RSA && issuer_type != BR_KEYTYPE_EC)
		issuer_type = (unsigned)key_type;
}

/* The ring buffer; the caller holds mu.  Serials ascend along the ring. */

static struct report *
ring_at(size_t i)
{
	return &sim.ring[sim.start + i];
}

/* Index of the first report with a serial >= s (sim.n if none). */
static size_t
ring_find(long long s)
{
	size_t lo = 0, hi = sim.n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (ring_at(mid)->serial < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
ring_remove(size_t i, size_t cnt)
{
	if (i == 0)
		sim.start += cnt;
	else
		memmove(ring_at(i), ring_at(i + cnt),
		    (sim.n - i - cnt) * sizeof(struct report));
	sim.n -= cnt;
	sim.deletes += cnt;
}

/*
 * The device's clock: the real one plus what "clock" set, so that a test can
 * make the next report carry another second without waiting for one.  The
 * caller holds mu.
 */
static time_t
sim_now(void)
{
	return time(NULL) + (time_t)sim.clock_off;
}

/* The first and the last second a timestamp of 20 characters can show. */
#define CLOCK_MIN	0LL
#define CLOCK_MAX	253402300799LL		/* 9999-12-31T23:59:59Z */

static void
iso_time(long long t, char out[21])
{
	struct tm tm;
	time_t tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/*
 * Days from 1970-01-01 to the civil date y-m-d (proleptic Gregorian): the
 * year is counted from March, so that February's leap day comes last.
 */
static long long
days_from_civil(long long y, long long m, long long d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * A point in time for "clock set": seconds since the epoch, or
 * YYYY-MM-DDTHH:MM:SSZ as the device stamps it.  A date that does not
 * exist (February 30) does not survive the round trip and is refused.
 */
static int
parse_clock(const char *s, long long *out)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	long long f[6];
	char back[21];
	size_t i;
	int k;

	if (parse_ll(s, CLOCK_MIN, CLOCK_MAX, out) == 0)
		return 0;
	if (strlen(s) != sizeof shape - 1)
		return -1;
	for (i = 0; i < sizeof shape - 1; i++)
		if (shape[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != shape[i])
			return -1;
	for (k = 0, i = 0; k < 6; k++) {
		f[k] = 0;
		while (s[i] >= '0' && s[i] <= '9')
			f[k] = f[k] * 10 + (s[i++] - '0');
		i++;
	}
	if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31)
		return -1;
	*out = days_from_civil(f[0], f[1], f[2]) * 86400 + f[3] * 3600 +
	    f[4] * 60 + f[5];
	if (*out < CLOCK_MIN || *out > CLOCK_MAX)
		return -1;
	iso_time(*out, back);
	return strcmp(back, s) == 0 ? 0 : -1;
}

/* Twice the slots, so the live window slides and moves once per ringsize. */
static void
ring_add(void)
{
	struct report *r;
	time_t t = sim_now();
	long long s;
	int ta, rh, pa;

	if (sim.n == opt.ringsize) {
		sim.start++;
		sim.n--;
	}
	if (sim.start + sim.n == 2 * opt.ringsize) {
		memmove(sim.ring, ring_at(0), sim.n * sizeof(struct report));
		sim.start = 0;
	}
	r = ring_at(sim.n++);
	s = r->serial = ++sim.maxserial;
	iso_time((long long)t, r->ts);
	/* Plausible weather that depends only on the serial. */
	ta = (int)(s * 37 % 400) - 100;
	rh = 30 + (int)(s * 13 % 70);
	pa = 9800 + (int)(s * 29 % 500);
	snprintf(r->content, sizeof r->content,
	    "S=AWS830_DEMO,D=%.10s,T=%.8s,TA=%s%d.%d,RH=%d,PA=%d.%d",
	    r->ts, r->ts + 11, ta < 0 ? "-" : "", abs(ta) / 10, abs(ta) % 10,
	    rh, pa / 10, pa % 10);
}

static long long
generate(long count)
{
	long long last;
	long i;

	pthread_mutex_lock(&mu);
	for (i = 0; i < count; i++)
		ring_add();
	last = sim.maxserial;
	pthread_cond_broadcast(&newreport);
	pthread_mutex_unlock(&mu);
	return last;
}

/* JSON, shaped like the published examples (or pretty-printed). */

static void
json_str(struct buf *b, const char *s)
{
	size_t n;

	buf_adds(b, "\"");
	for (;; s++) {
		/* The characters that need no escape go in one piece. */
		for (n = 0; s[n] != '\0' && s[n] != '"' && s[n] != '\\' &&
		    (unsigned char)s[n] >= 0x20; n++)
			;
		buf_add(b, s, n);
		s += n;
		if (*s == '\0')
			break;
		if (*s == '"' || *s == '\\')
			buf_printf(b, "\\%c", *s);
		else
			buf_printf(b, "\\u%04x", (unsigned char)*s);
	}
	buf_adds(b, "\"");
}

static void
json_report(struct buf *b, const struct report *r, int pretty, int ind)
{
	const char *sep = pretty ? ",\n" : ", ";

	if (pretty)
		buf_printf(b, "{\n%*s", ind + 2, "");
	else
		buf_adds(b, "{");
	buf_printf(b, "\"serial\": %lld%s", r->serial, sep);
	if (pretty)
		buf_printf(b, "%*s", ind + 2, "");
	buf_adds(b, "\"timestamp\": ");
	json_str(b, r->ts);
	buf_adds(b, sep);
	if (pretty)
		buf_printf(b, "%*s", ind + 2, "");
	buf_adds(b, "\"content\": ");
	json_str(b, r->content);
	if (pretty)
		buf_printf(b, "\n%*s}", ind, "");
	else
		buf_adds(b, "}");
}

/* {"reports": [...]} of n reports from ring index i; caller holds mu. */
static void
json_list(struct buf *b, size_t i, size_t n, int pretty)
{
	size_t k;

	if (n == 0) {
		buf_adds(b, "{\"reports\": []}");
	} else if (!pretty) {
		buf_adds(b, "{\"reports\": [");
		for (k = 0; k < n; k++) {
			if (k > 0)
				buf_adds(b, ", ");
			json_report(b, ring_at(i + k), 0, 0);
		}
		buf_adds(b, "]}");
	} else {
		buf_adds(b, "{\n  \"reports\": [\n");
		for (k = 0; k < n; k++) {
			buf_adds(b, "    ");
			json_report(b, ring_at(i + k), 1, 4);
			buf_adds(b, k + 1 < n ? ",\n" : "\n");
		}
		buf_adds(b, "  ]\n}");
	}
	if (pretty)
		buf_adds(b, "\n");
}

static void message(struct answer *a, int status, int pretty,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
message(struct answer *a, int status, int pretty, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	a->status = status;
	a->body.len = 0;
	buf_adds(&a->body, pretty ? "{\n  \"message\": " : "{\"message\": ");
	json_str(&a->body, text);
	buf_adds(&a->body, pretty ? "\n}\n" : "}");
}

/* TLS transport */

/*
 * One read into rp (when rp is set) or one send from wp on the connection's
 * socket, each after a wait of at most timeout_ms: the bytes moved, or -1
 * for an error, end of input or a wait that ran out.
 */
static int
sock_io(struct conn *c, int timeout_ms, unsigned char *rp,
    const unsigned char *wp, size_t len)
{
	struct pollfd pfd;
	ssize_t n;
	int r;

	for (;;) {
		pfd.fd = c->fd;
		pfd.events = rp != NULL ? POLLIN : POLLOUT;
		r = poll(&pfd, 1, timeout_ms);
		if (r == 0)
			return -1;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (rp != NULL)
			n = read(c->fd, rp, len);
		else
			n = send(c->fd, wp, len, MSG_NOSIGNAL);
		if (n > 0)
			return (int)n;
		if (n < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static int
sock_read(void *ctx, unsigned char *p, size_t len)
{
	struct conn *c = ctx;

	return sock_io(c, c->timeout_ms, p, NULL, len);
}

static int
sock_write(void *ctx, const unsigned char *p, size_t len)
{
	return sock_io(ctx, IO_TIMEOUT, NULL, p, len);
}

/*
 * Sends close_notify without waiting for the peer's, then drains the
 * socket for a moment: closing with unread input would send a reset that
 * can destroy the answer before the client has read it.
 */
static void
tls_close(struct conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned char *p, junk[4096];
	size_t len;
	size_t total = 0;
	int64_t end;
	int n;

	br_ssl_engine_close(eng);
	while (br_ssl_engine_current_state(eng) & BR_SSL_SENDREC) {
		p = br_ssl_engine_sendrec_buf(eng, &len);
		if ((n = sock_write(c, p, len)) <= 0)
			break;
		br_ssl_engine_sendrec_ack(eng, (size_t)n);
	}
	shutdown(c->fd, SHUT_WR);
	end = now_ms() + 2000;
	while (total < (1u << 20) && now_ms() < end) {
		c->timeout_ms = (int)(end - now_ms());
		if (c->timeout_ms <= 0 || (n = sock_read(c, junk,
		    sizeof junk)) <= 0)
			break;
		total += (size_t)n;
	}
}

/*
 * True when the client has gone during a long poll: EOF, an error, or a
 * close_notify.  What arrives is fed to the engine, so a pipelined request
 * stays buffered there for the next read.
 */
static int
peer_gone(struct conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	struct pollfd pfd;
	unsigned char *p;
	unsigned st;
	size_t len;
	ssize_t n;

	pfd.fd = c->fd;
	pfd.events = POLLIN;
	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (pfd.revents & (POLLERR | POLLNVAL))
		return 1;
	if (br_ssl_engine_current_state(eng) & BR_SSL_RECVREC) {
		p = br_ssl_engine_recvrec_buf(eng, &len);
		n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR;
		br_ssl_engine_recvrec_ack(eng, (size_t)n);
	}
	st = br_ssl_engine_current_state(eng);
	/* After close_notify the engine wants neither records nor reads. */
	return (st & BR_SSL_CLOSED) ||
	    !(st & (BR_SSL_RECVREC | BR_SSL_RECVAPP));
}

/* HTTP */

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Status";
	}
}

static void field(struct buf *w, int fold, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes one header field, folded (obs-fold) after its colon with fold. */
static void
field(struct buf *w, int fold, const char *name, const char *fmt, ...)
{
	char value[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(value, sizeof value, fmt, ap);
	va_end(ap);
	buf_printf(w, fold ? "%s:\r\n %s\r\n" : "%s: %s\r\n", name, value);
}

/*
 * What "trail" sends after an answer: a stray CRLF, or a whole second
 * answer the client did not ask for, with one report of serial.
 */
static void
trailer_bytes(struct buf *t, int answer, long long serial)
{
	struct report r;
	struct buf body = { 0 };

	if (!answer) {
		buf_adds(t, "\r\n");
		return;
	}
	memset(&r, 0, sizeof r);
	r.serial = serial;
	pthread_mutex_lock(&mu);
	iso_time((long long)sim_now(), r.ts);
	pthread_mutex_unlock(&mu);
	snprintf(r.content, sizeof r.content, "SMUGGLED=1");
	buf_adds(&body, "{\"reports\": [");
	json_report(&body, &r, 0, 0);
	buf_adds(&body, "]}");
	buf_printf(t, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n", body.len);
	buf_add(t, body.p, body.len);
	free(body.p);
}

/* Sends n bytes as records of their own and flushes them. */
static int
tls_send(struct conn *c, const void *p, size_t n)
{
	return br_sslio_write_all(&c->io, p, n) < 0 ||
	    br_sslio_flush(&c->io) < 0 ? -1 : 0;
}

/* TCP_CORK holds both records of "trail ... apart" for one segment. */
static void
cork(struct conn *c, int on)
{
#ifdef TCP_CORK
	setsockopt(c->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on);
#else
	(void)c;
	(void)on;
#endif
}

/*
 * Frames and sends an answer, applying the injected faults.  mode is the
 * framing chosen when the request came in.
 */
static int
send_answer(struct conn *c, struct answer *a, int mode, int http10)
{
	static const size_t sizes[] = { 1, 7, 64, 3, 200, 16, 5 };
	struct buf w = { 0 }, t = { 0 };
	size_t head, off, k, n, sendlen;
	int cut = 0, slow = 0, hasbody, ret, fold = 0, trail = 0, apart = 0;
	int tanswer = 0;
	long long tserial = 0;

	hasbody = a->status != 204 && a->status != 304;
	if (mode == MODE_CHUNKED && http10)
		mode = MODE_LENGTH;	/* a 1.0 client cannot read chunks */
	pthread_mutex_lock(&mu);
	if (a->status == 200 && hasbody && sim.malformed_n > 0) {
		sim.malformed_n--;
		/* A truncated object is never valid JSON. */
		a->body.len /= 2;
		a->body.p[a->body.len] = '\0';
	}
	if (hasbody && sim.cut_n > 0) {
		sim.cut_n--;
		cut = 1;
	}
	if (sim.slow_n > 0) {
		sim.slow_n--;
		slow = sim.slow_ms;
	}
	if (sim.fold_n > 0) {
		sim.fold_n--;
		fold = 1;
	}
	if (sim.trail_n > 0 && !cut) {
		sim.trail_n--;
		trail = 1;
		tanswer = sim.trail_answer;
		tserial = sim.trail_serial;
		apart = sim.trail_apart;
	}
	pthread_mutex_unlock(&mu);

	buf_printf(&w, "%s %d %s\r\n", mode == MODE_CLOSE ? "HTTP/1.0" :
	    "HTTP/1.1", a->status, reason(a->status));
	buf_adds(&w, fold ? "Server: dmu-sim\r\n\t (folded)\r\n" :
	    "Server: dmu-sim\r\n");
	if (hasbody) {
		field(&w, fold, "Content-Type", "application/json");
		if (mode == MODE_CHUNKED)
			field(&w, fold, "Transfer-Encoding", "chunked");
		else if (mode != MODE_CLOSE)
			field(&w, fold, "Content-Length", "%zu", a->body.len);
	}
	if (a->retry[0])
		field(&w, fold, "Retry-After", "%s", a->retry);
	if (a->allow)
		field(&w, fold, "Allow", "GET");
	if (a->close && mode != MODE_CLOSE)
		field(&w, fold, "Connection", "close");
	buf_adds(&w, "\r\n");
	head = w.len;
	if (hasbody && mode == MODE_CHUNKED) {
		for (off = 0, k = 0; off < a->body.len; off += n, k++) {
			n = sizes[k % (sizeof sizes / sizeof sizes[0])];
			if (n > a->body.len - off)
				n = a->body.len - off;
			buf_printf(&w, k % 2 ? "%zX\r\n" : "%zx\r\n", n);
			buf_add(&w, a->body.p + off, n);
			buf_adds(&w, "\r\n");
		}
		buf_adds(&w, "0\r\n\r\n");
	} else if (hasbody) {
		buf_add(&w, a->body.p, a->body.len);
	}
	sendlen = cut ? head + (w.len - head) / 2 : w.len;
	if (trail) {
		trailer_bytes(&t, tanswer, tserial);
		if (!apart) {
			buf_add(&w, t.p, t.len);
			sendlen = w.len;
		}
	}

	if (slow > 0)
		sleep_ms(slow);
	c->timeout_ms = IO_TIMEOUT;
	if (trail && apart)
		cork(c, 1);
	if (tls_send(c, w.p, sendlen) < 0 ||
	    (trail && apart && tls_send(c, t.p, t.len) < 0))
		ret = ABORT;
	else if (cut)
		ret = ABORT;	/* no close_notify: a truncated stream */
	else if (a->close || mode == MODE_CLOSE)
		ret = CLOSE;
	else
		ret = KEEP;
	if (trail && apart)
		cork(c, 0);
	free(w.p);
	free(t.p);
	return ret;
}

struct query {
	const char *last, *timeout, *del;
};

/* Splits a query string in place; the last occurrence of a name wins. */
static void
parse_query(char *s, struct query *q)
{
	char *tok, *save = NULL, *eq;

	memset(q, 0, sizeof *q);
	for (tok = strtok_r(s, "&", &save); tok != NULL;
	    tok = strtok_r(NULL, "&", &save)) {
		if ((eq = strchr(tok, '=')) == NULL)
			continue;
		*eq++ = '\0';
		if (strcmp(tok, "lastSerial") == 0)
			q->last = eq;
		else if (strcmp(tok, "timeout") == 0)
			q->timeout = eq;
		else if (strcmp(tok, "delete") == 0)
			q->del = eq;
	}
}

/* Returns 0 or 1, or -1 after setting a 400 answer. */
static int
want_delete(const struct query *q, struct answer *a, int pretty)
{
	if (q->del == NULL || strcmp(q->del, "false") == 0)
		return 0;
	if (strcmp(q->del, "true") == 0)
		return 1;
	message(a, 400, pretty, "'delete' must be true or false");
	return -1;
}

static void
api_single(const char *what, const struct query *q, struct answer *a,
    int pretty)
{
	struct report r;
	long long s = 0;
	size_t i;
	int del;

	if ((del = want_delete(q, a, pretty)) < 0)
		return;
	if (strcmp(what, "oldest") != 0 && strcmp(what, "latest") != 0 &&
	    parse_ll(what, -999999999999999999LL, 999999999999999999LL,
	    &s) < 0) {
		message(a, 400, pretty, "'serial' must be an integer");
		return;
	}
	pthread_mutex_lock(&mu);
	if (sim.n == 0 && (what[0] == 'o' || what[0] == 'l')) {
		pthread_mutex_unlock(&mu);
		message(a, 404, pretty, "No reports");
		return;
	}
	if (strcmp(what, "oldest") == 0)
		i = 0;
	else if (strcmp(what, "latest") == 0)
		i = sim.n - 1;
	else if ((i = ring_find(s)) == sim.n || ring_at(i)->serial != s) {
		pthread_mutex_unlock(&mu);
		message(a, 404, pretty, "Report with serial %lld not found", s);
		return;
	}
	r = *ring_at(i);
	if (del)
		ring_remove(i, 1);
	pthread_mutex_unlock(&mu);
	a->status = 200;
	json_report(&a->body, &r, pretty, 0);
	if (pretty)
		buf_adds(&a->body, "\n");
}

/* Up to opt.maxans reports with serial > after; caller holds mu. */
static void
list_after(long long after, int del, struct answer *a, int pretty)
{
	size_t i = ring_find(after + 1), n = sim.n - i;

	if (opt.maxans > 0 && n > opt.maxans)
		n = opt.maxans;
	a->status = 200;
	json_list(&a->body, i, n, pretty);
	if (del && n > 0)
		ring_remove(i, n);
}

/* Returns 1 when the client left while we waited: nothing to answer. */
static int
api_wait(struct conn *c, const struct query *q, struct answer *a, int pretty)
{
	struct timespec ts;
	long long last, tmo = 75;
	unsigned long epoch;
	int64_t deadline, until;
	int del;

	if ((del = want_delete(q, a, pretty)) < 0)
		return 0;
	if (q->last == NULL) {
		message(a, 400, pretty, "'lastSerial' is required");
		return 0;
	}
	if (parse_ll(q->last, 0, 999999999999999999LL, &last) < 0) {
		message(a, 400, pretty,
		    "'lastSerial' must be a non-negative integer");
		return 0;
	}
	if (q->timeout != NULL && parse_ll(q->timeout, 1, 75, &tmo) < 0) {
		message(a, 400, pretty,
		    "'timeout' must be an integer from 1 to 75");
		return 0;
	}
	deadline = now_ms() + tmo * 1000;
	pthread_mutex_lock(&mu);
	epoch = sim.epoch;
	for (;;) {
		/* A restart, also during the wait, makes N too large. */
		if (last > sim.maxserial) {
			message(a, 400, pretty, "lastSerial (%lld) is greater "
			    "than current max serial (%lld)", last,
			    sim.maxserial);
			break;
		}
		/*
		 * Report a restart seen during the wait as it was then, even
		 * if new reports came before we got the lock back.
		 */
		if (sim.epoch != epoch && last > 0) {
			message(a, 400, pretty, "lastSerial (%lld) is greater "
			    "than current max serial (0)", last);
			break;
		}
		epoch = sim.epoch;
		if (sim.n > 0 && ring_at(sim.n - 1)->serial > last) {
			list_after(last, del, a, pretty);
			break;
		}
		if (now_ms() >= deadline) {
			a->status = 204;
			break;
		}
		if (peer_gone(c)) {
			pthread_mutex_unlock(&mu);
			return 1;
		}
		until = now_ms() + WAIT_SLICE;
		if (until > deadline)
			until = deadline;
		ts.tv_sec = until / 1000;
		ts.tv_nsec = (long)(until % 1000) * 1000000L;
		pthread_cond_timedwait(&newreport, &mu, &ts);
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

/* Case-insensitive search for a token in a comma-separated header value. */
static int
has_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (*v) {
		while (*v == ' ' || *v == '\t' || *v == ',')
			v++;
		if (strncasecmp(v, tok, n) == 0 && (v[n] == '\0' ||
		    v[n] == ',' || v[n] == ' ' || v[n] == '\t'))
			return 1;
		while (*v && *v != ',')
			v++;
	}
	return 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* Copies s for the log, truncated, with anything unprintable as '?'. */
static void
visible(char *out, const char *s, size_t sz)
{
	size_t i;

	for (i = 0; s[i] && i < sz - 1; i++)
		out[i] = s[i] > 0x20 && s[i] < 0x7f ? s[i] : '?';
	out[i] = '\0';
}

/*
 * Handles the request whose header block is req[0..hlen).  Returns KEEP,
 * CLOSE or ABORT.
 */
static int
handle_request(struct conn *c, size_t hlen)
{
	struct answer a;
	struct query q;
	char *line, *next, *method, *target, *version, *name, *val;
	char *path, *qs, *rest, logmethod[33], logtarget[REQ_MAX];
	char key[sizeof sim.keyb64], empty[1] = "";
	const char *apikey = NULL;
	int mode, pretty, http10, ret, authok, keepalive10 = 0, bad = 0;

	memset(&a, 0, sizeof a);
	pthread_mutex_lock(&mu);
	mode = sim.mode;
	pthread_mutex_unlock(&mu);
	pretty = mode == MODE_PRETTY;

	c->req[hlen - 1] = '\0';
	if (memchr(c->req, '\0', hlen - 1) != NULL) {
		message(&a, 400, pretty, "Bad request");
		a.close = 1;
		ret = send_answer(c, &a, mode, 0);
		goto done;
	}
	line = c->req;
	next = strchr(line, '\n');
	*next++ = '\0';
	line = trim(line);
	method = strtok_r(line, " ", &rest);
	target = strtok_r(NULL, " ", &rest);
	version = strtok_r(NULL, " ", &rest);
	if (method == NULL || target == NULL || version == NULL ||
	    strtok_r(NULL, " ", &rest) != NULL || target[0] != '/' ||
	    (strcmp(version, "HTTP/1.1") != 0 &&
	    strcmp(version, "HTTP/1.0") != 0)) {
		message(&a, 400, pretty, "Bad request");
		a.close = 1;
		ret = send_answer(c, &a, mode, 0);
		goto done;
	}
	http10 = strcmp(version, "HTTP/1.0") == 0;
	visible(logmethod, method, sizeof logmethod);
	visible(logtarget, target, sizeof logtarget);
	logev("request %lu %s %s", c->id, logmethod, logtarget);
	pthread_mutex_lock(&mu);
	sim.requests++;
	pthread_mutex_unlock(&mu);

	for (line = next; line != NULL && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line = trim(line);
		if (*line == '\0')
			break;
		if ((val = strchr(line, ':')) == NULL) {
			bad = 1;
			continue;
		}
		*val++ = '\0';
		name = line;
		val = trim(val);
		if (strcasecmp(name, "X-Api-Key") == 0)
			apikey = val;
		else if (strcasecmp(name, "Connection") == 0) {
			if (has_token(val, "close"))
				a.close = 1;
			if (has_token(val, "keep-alive"))
				keepalive10 = 1;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0 ||
		    (strcasecmp(name, "Content-Length") == 0 &&
		    strcmp(val, "0") != 0)) {
			/* No body is read: its bytes cannot be skipped. */
			a.close = 1;
		}
	}
	if (http10 && !keepalive10)
		a.close = 1;
	if (bad) {
		message(&a, 400, pretty, "Bad request");
		a.close = 1;
		ret = send_answer(c, &a, mode, http10);
		goto done;
	}

	pthread_mutex_lock(&mu);
	if (sim.fail_n > 0) {
		sim.fail_n--;
		a.status = sim.fail_status;
		snprintf(a.retry, sizeof a.retry, "%s", sim.fail_retry);
	}
	memcpy(key, sim.keyb64, sizeof key);
	pthread_mutex_unlock(&mu);
	authok = apikey != NULL && strcmp(apikey, key) == 0;

	path = target;
	if ((qs = strchr(target, '?')) != NULL)
		*qs++ = '\0';
	parse_query(qs ? qs : empty, &q);
	if (a.status != 0) {
		message(&a, a.status, pretty, "Service unavailable");
	} else if (strcmp(method, "GET") != 0) {
		message(&a, 405, pretty, "Method not allowed");
		a.allow = 1;
	} else if (!authok) {
		message(&a, 401, pretty, "Unauthorized");
	} else if (strncmp(path, opt.base, opt.baselen) != 0) {
		message(&a, 404, pretty, "Not found");
	} else {
		rest = path + opt.baselen;
		if (strcmp(rest, "/reports") == 0) {
			int del = want_delete(&q, &a, pretty);

			if (del >= 0) {
				pthread_mutex_lock(&mu);
				list_after(0, del, &a, pretty);
				pthread_mutex_unlock(&mu);
			}
		} else if (strncmp(rest, "/reports/", 9) == 0 &&
		    rest[9] != '\0' && strchr(rest + 9, '/') == NULL) {
			api_single(rest + 9, &q, &a, pretty);
		} else if (strcmp(rest, "/wait") == 0) {
			if (api_wait(c, &q, &a, pretty)) {
				ret = ABORT;
				goto done;
			}
		} else {
			message(&a, 404, pretty, "Not found");
		}
	}
	ret = send_answer(c, &a, mode, http10);
done:
	memset(key, 0, sizeof key);
	free(a.body.p);
	return ret;
}

/* Offset just past the blank line that ends the header block, or 0. */
static size_t
header_end(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (i + 1 < n && p[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && p[i + 1] == '\r' && p[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int
http_loop(struct conn *c)
{
	struct answer a;
	size_t hlen;
	int n, ret, mode;

	for (;;) {
		if ((hlen = header_end(c->req, c->rlen)) == 0) {
			if (c->rlen == REQ_MAX) {
				memset(&a, 0, sizeof a);
				pthread_mutex_lock(&mu);
				mode = sim.mode;
				pthread_mutex_unlock(&mu);
				message(&a, 431, mode == MODE_PRETTY,
				    "Request header fields too large");
				a.close = 1;
				ret = send_answer(c, &a, mode, 0);
				free(a.body.p);
				return ret;
			}
			c->timeout_ms = IDLE_TIMEOUT;
			n = br_sslio_read(&c->io, c->req + c->rlen,
			    REQ_MAX - c->rlen);
			if (n < 0)
				return ABORT;
			c->rx += (unsigned long long)n;
			c->rlen += (size_t)n;
			continue;
		}
		ret = handle_request(c, hlen);
		memmove(c->req, c->req + hlen, c->rlen - hlen);
		c->rlen -= hlen;
		if (ret != KEEP)
			return ret;
	}
}

static void
serve_tls(struct conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;

	if (key_type == BR_KEYTYPE_RSA)
		br_ssl_server_init_full_rsa(&c->sc, chain, chain_len,
		    br_skey_decoder_get_rsa(&skey));
	else
		br_ssl_server_init_full_ec(&c->sc, chain, chain_len,
		    issuer_type, br_skey_decoder_get_ec(&skey));
	br_ssl_engine_set_versions(eng, opt.tls_min, opt.tls_max);
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof c->iobuf, 1);
	br_sslio_init(&c->io, eng, sock_read, c, sock_write, c);
	c->timeout_ms = HS_TIMEOUT;
	/* Flushing runs the handshake until application data may flow. */
	if (!br_ssl_server_reset(&c->sc) || br_sslio_flush(&c->io) < 0) {
		logev("handshake %lu fail %d", c->id,
		    br_ssl_engine_last_error(eng));
		return;
	}
	logev("handshake %lu ok", c->id);
	pthread_mutex_lock(&mu);
	sim.handshakes++;
	pthread_mutex_unlock(&mu);
	if (http_loop(c) == CLOSE)
		tls_close(c);
}

/* -S silent: swallow input, never answer. */
static void
serve_silent(struct conn *c)
{
	char junk[4096];
	ssize_t n;

	while ((n = read(c->fd, junk, sizeof junk)) != 0)
		if (n < 0 && errno != EINTR)
			break;
}

/*
 * -S drip: a TLS record header announcing 16 KiB, then one byte a second.
 * Each read of the client succeeds, so only a total time-out saves it.
 */
static void
serve_drip(struct conn *c)
{
	static const unsigned char hdr[] = { 0x16, 0x03, 0x03, 0x40, 0x00 };
	struct pollfd pfd;
	unsigned char b;
	char junk[4096];
	unsigned long i;
	int64_t next;
	ssize_t n;

	for (i = 0;; i++) {
		b = i < sizeof hdr ? hdr[i] : (unsigned char)(i * 131 + 7);
		if (send(c->fd, &b, 1, MSG_NOSIGNAL) != 1)
			return;
		next = now_ms() + 1000;
		while (now_ms() < next) {
			pfd.fd = c->fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, (int)(next - now_ms())) <= 0)
				continue;
			n = read(c->fd, junk, sizeof junk);
			if (n == 0 || (n < 0 && errno != EINTR))
				return;
		}
	}
}

static void *
conn_main(void *arg)
{
	struct conn *c = arg;

	if (opt.serve == SERVE_SILENT)
		serve_silent(c);
	else if (opt.serve == SERVE_DRIP)
		serve_drip(c);
	else
		serve_tls(c);
	close(c->fd);
	logev("rxbytes %lu %llu", c->id, c->rx);
	logev("close %lu", c->id);
	pthread_mutex_lock(&mu);
	sim.active--;
	pthread_mutex_unlock(&mu);
	/* The context held session keys. */
	memset(c, 0, sizeof *c);
	free(c);
	return NULL;
}

/* Control port */

static void ctl_reply(int fd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
ctl_reply(int fd, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t off = 0, len;
	ssize_t n;

	va_start(ap, fmt);
	len = vline(line, sizeof line, fmt, ap);
	va_end(ap);
	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

static char *
word(char **p)
{
	char *w;

	while (**p == ' ' || **p == '\t')
		(*p)++;
	if (**p == '\0')
		return NULL;
	w = *p;
	while (**p && **p != ' ' && **p != '\t')
		(*p)++;
	if (**p)
		*(*p)++ = '\0';
	return w;
}

/* A count in 0..max from a command word; a missing word means def. */
static int
ctl_num(const char *w, long long def, long long max, long long *out)
{
	if (w == NULL) {
		*out = def;
		return 0;
	}
	return parse_ll(w, 0, max, out);
}

static void
ctl_command(int fd, char *line)
{
	static const char *const modes[] = { "length", "chunked", "close",
	    "pretty" };
	char *p = trim(line), *cmd, *w, *w2;
	long long n, v, now;
	size_t i;
	long long first, last;
	char ts[21];

	if ((cmd = word(&p)) == NULL) {
		ctl_reply(fd, "err empty command");
		return;
	}
	w = word(&p);
	if (strcmp(cmd, "gen") == 0) {
		if (ctl_num(w, 1, 1000000, &n) < 0 || word(&p) != NULL)
			ctl_reply(fd, "err usage: gen [N]");
		else
			ctl_reply(fd, "ok %lld", generate((long)n));
	} else if (strcmp(cmd, "restart") == 0) {
		if (w != NULL) {
			ctl_reply(fd, "err usage: restart");
			return;
		}
		pthread_mutex_lock(&mu);
		sim.start = sim.n = 0;
		sim.maxserial = 0;
		sim.epoch++;
		pthread_cond_broadcast(&newreport);
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "fail") == 0) {
		w2 = word(&p);
		p = trim(p);
		v = 503;
		if (w == NULL || ctl_num(w, 0, 1000000, &n) < 0 ||
		    ctl_num(w2, 503, 599, &v) < 0 || v < 100 ||
		    strlen(p) >= sizeof sim.fail_retry) {
			ctl_reply(fd, "err usage: fail N [STATUS] "
			    "[RETRY_AFTER]");
			return;
		}
		pthread_mutex_lock(&mu);
		sim.fail_n = (int)n;
		sim.fail_status = (int)v;
		/* The rest of the line, so that an HTTP-date fits too. */
		snprintf(sim.fail_retry, sizeof sim.fail_retry, "%s", p);
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "cut") == 0 || strcmp(cmd, "malformed") == 0) {
		if (w == NULL || ctl_num(w, 0, 1000000, &n) < 0 ||
		    word(&p) != NULL) {
			ctl_reply(fd, "err usage: %s N", cmd);
			return;
		}
		pthread_mutex_lock(&mu);
		if (cmd[0] == 'c')
			sim.cut_n = (int)n;
		else
			sim.malformed_n = (int)n;
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "slow") == 0) {
		w2 = word(&p);
		if (w == NULL || w2 == NULL || word(&p) != NULL ||
		    ctl_num(w, 0, 1000000, &n) < 0 ||
		    ctl_num(w2, 0, 600000, &v) < 0) {
			ctl_reply(fd, "err usage: slow N MS");
			return;
		}
		pthread_mutex_lock(&mu);
		sim.slow_n = (int)n;
		sim.slow_ms = (int)v;
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "mode") == 0) {
		for (i = 0; w != NULL && i < 4; i++)
			if (strcmp(w, modes[i]) == 0)
				break;
		if (w == NULL || i == 4 || word(&p) != NULL) {
			ctl_reply(fd, "err usage: mode "
			    "length|chunked|close|pretty");
			return;
		}
		pthread_mutex_lock(&mu);
		sim.mode = (int)i;
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "trail") == 0) {
		int answer = 0, apart = 0;

		int bad;

		w2 = word(&p);
		v = 0;
		bad = w2 == NULL;
		if (!bad && strcmp(w2, "answer") == 0) {
			answer = 1;
			bad = ctl_num(word(&p), -1, 999999999999LL, &v) < 0 ||
			    v < 1;
		} else if (!bad && strcmp(w2, "crlf") != 0)
			bad = 1;
		if (!bad && (w2 = word(&p)) != NULL) {
			apart = strcmp(w2, "apart") == 0;
			bad = !apart || word(&p) != NULL;
		}
		if (w == NULL || ctl_num(w, 0, 1000000, &n) < 0 || bad) {
			ctl_reply(fd, "err usage: trail N crlf|answer SERIAL "
			    "[apart]");
			return;
		}
		pthread_mutex_lock(&mu);
		sim.trail_n = (int)n;
		sim.trail_answer = answer;
		sim.trail_serial = v;
		sim.trail_apart = apart;
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "fold") == 0) {
		if (w == NULL || ctl_num(w, 0, 1000000, &n) < 0 ||
		    word(&p) != NULL) {
			ctl_reply(fd, "err usage: fold N");
			return;
		}
		pthread_mutex_lock(&mu);
		sim.fold_n = (int)n;
		pthread_mutex_unlock(&mu);
		ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "key") == 0) {
		/* The rest of the line: a key may hold blanks. */
		if (w != NULL && *p)
			w[strlen(w)] = ' ';
		if (w == NULL || set_key(trim(w)) < 0)
			ctl_reply(fd, "err usage: key KEY (printable, at most "
			    "%d bytes)", KEY_MAX);
		else
			ctl_reply(fd, "ok");
	} else if (strcmp(cmd, "stats") == 0) {
		if (w != NULL) {
			ctl_reply(fd, "err usage: stats");
			return;
		}
		pthread_mutex_lock(&mu);
		first = sim.n ? ring_at(0)->serial : 0;
		last = sim.n ? ring_at(sim.n - 1)->serial : 0;
		ctl_reply(fd, "ok reports=%zu first=%lld last=%lld "
		    "maxserial=%lld requests=%lu conns=%lu handshakes=%lu "
		    "deletes=%lu", sim.n, first, last, sim.maxserial,
		    sim.requests, sim.conns, sim.handshakes, sim.deletes);
		pthread_mutex_unlock(&mu);
	} else if (strcmp(cmd, "clock") == 0) {
		w2 = word(&p);
		pthread_mutex_lock(&mu);
		now = (long long)time(NULL);
		v = now + sim.clock_off;
		if (w == NULL && w2 == NULL)
			;
		else if (w != NULL && (*w == '-' || (*w == '+' &&
		    w[1] != '-')) && w2 == NULL && parse_ll(w + (*w == '+'),
		    CLOCK_MIN - CLOCK_MAX, CLOCK_MAX, &n) == 0)
			v += n;
		else if (w != NULL && strcmp(w, "set") == 0 && w2 != NULL &&
		    word(&p) == NULL && parse_clock(w2, &n) == 0)
			v = n;
		else
			v = -1;
		if (v < CLOCK_MIN || v > CLOCK_MAX) {
			pthread_mutex_unlock(&mu);
			ctl_reply(fd, "err usage: clock [+SECONDS|-SECONDS|"
			    "set EPOCH|set YYYY-MM-DDTHH:MM:SSZ]");
			return;
		}
		sim.clock_off = v - now;
		pthread_mutex_unlock(&mu);
		iso_time(v, ts);
		ctl_reply(fd, "ok %lld %s", v, ts);
	} else if (strcmp(cmd, "quit") == 0) {
		ctl_reply(fd, "ok");
		if (write(wakefd[1], "q", 1) < 0)
			_exit(0);
	} else {
		ctl_reply(fd, "err unknown command");
	}
}

static void *
ctl_main(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char line[CTL_LINE_MAX], in[512];
	size_t len = 0;
	ssize_t n, i;
	int skipping = 0;

	for (;;) {
		if ((n = read(fd, in, sizeof in)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			if (in[i] == '\n') {
				line[len] = '\0';
				if (skipping)
					ctl_reply(fd, "err line too long");
				else
					ctl_command(fd, line);
				len = 0;
				skipping = 0;
			} else if (skipping || len == sizeof line - 1) {
				skipping = 1;
			} else {
				line[len++] = in[i];
			}
		}
	}
	if (len > 0 && !skipping) {
		/* A last command without a newline. */
		line[len] = '\0';
		ctl_command(fd, line);
	}
	close(fd);
	return NULL;
}

/* Main: listeners, signals, the generator clock */

/*
 * Binds ss to addr (a numeric address; an IPv6 one may carry %IFACE, as a
 * link-local address must) and port; returns its length.
 */
static socklen_t
bind_addr(struct sockaddr_storage *ss, const char *addr, long port)
{
	struct addrinfo hints, *res;
	char p[8];
	socklen_t sl;
	int r;

	memset(&hints, 0, sizeof hints);
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(p, sizeof p, "%ld", port);
	if ((r = getaddrinfo(addr, p, &hints, &res)) != 0)
		die("-l %s: %s", addr, gai_strerror(r));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	sl = res->ai_addrlen;
	freeaddrinfo(res);
	return sl;
}

/*
 * Listens on loopback, or on addr when it is not NULL, at port (0: any);
 * sets *bound to the port.
 */
static int
listen_on(const char *addr, long port, long *bound)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sl;
	int fd, one = 1;

	memset(&ss, 0, sizeof ss);
	if (addr != NULL) {
		sl = bind_addr(&ss, addr, port);
	} else if (opt.v6) {
		s6->sin6_family = AF_INET6;
		s6->sin6_addr = in6addr_loopback;
		s6->sin6_port = htons((uint16_t)port);
		sl = sizeof *s6;
	} else {
		s4->sin_family = AF_INET;
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		s4->sin_port = htons((uint16_t)port);
		sl = sizeof *s4;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		die("socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
		die("bind %s port %ld: %s", addr != NULL ? addr : opt.v6 ?
		    "::1" : "127.0.0.1", port, strerror(errno));
	if (listen(fd, 128) < 0)
		die("listen: %s", strerror(errno));
	sl = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		die("getsockname: %s", strerror(errno));
	*bound = ntohs(ss.ss_family == AF_INET6 ? s6->sin6_port :
	    s4->sin_port);
	return fd;
}

static void
write_portfile(long port, long ctlport)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", opt.portfile) >=
	    (int)sizeof tmp)
		die("%s: name too long", opt.portfile);
	if ((f = fopen(tmp, "w")) == NULL)
		die("%s: %s", tmp, strerror(errno));
	fprintf(f, "%ld %ld\n", port, ctlport);
	if (fclose(f) != 0)
		die("%s: %s", tmp, strerror(errno));
	if (rename(tmp, opt.portfile) < 0)
		die("%s: %s", opt.portfile, strerror(errno));
}

static void
on_signal(int sig)
{
	int e = errno;

	(void)sig;
	if (write(wakefd[1], "s", 1) < 0) {
		/* the pipe is full: a wake-up is pending anyway */
	}
	errno = e;
}

/* Threads are detached and block the signals: main alone handles them. */
static int
spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	pthread_t t;
	sigset_t set, old;
	int r;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	r = pthread_create(&t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static void
accept_api(int lfd)
{
	struct conn *c;
	unsigned long id;
	int fd, one = 1, refuse;

	if ((fd = accept(lfd, NULL, NULL)) < 0) {
		if (errno == EMFILE || errno == ENFILE)
			sleep_ms(10);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	pthread_mutex_lock(&mu);
	id = ++sim.conns;
	refuse = sim.active >= MAX_CONNS;
	if (!refuse)
		sim.active++;
	pthread_mutex_unlock(&mu);
	logev("conn %lu", id);
	if (!refuse && (c = calloc(1, sizeof *c)) != NULL) {
		c->fd = fd;
		c->id = id;
		if (spawn(conn_main, c) == 0)
			return;
		free(c);
	}
	if (!refuse) {
		pthread_mutex_lock(&mu);
		sim.active--;
		pthread_mutex_unlock(&mu);
	}
	close(fd);
	logev("rxbytes %lu 0", id);
	logev("close %lu", id);
}

int
main(int argc, char *argv[])
{
	struct pollfd pfd[3];
	struct sigaction sa;
	pthread_condattr_t ca;
	const char *cert = NULL, *key = NULL, *app = "https_server_1";
	const char *apikey = "DEMO:SECRET_KEY", *logfile = NULL;
	long port = 0, ctlport;
	int64_t nextgen = 0, wait;
	int ch, lfd, cfd, fd, tmo;
	size_t i;
	char msg[64];

	opt.logfd = -1;
	opt.ringsize = 128;
	opt.tls_min = opt.tls_max = BR_TLS12;
	for (i = 1; i < (size_t)argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--help") == 0) {
			fputs(help, stdout);
			return fflush(stdout) != 0;
		}
	opterr = 0;
	while ((ch = getopt(argc, argv, "46a:b:c:g:hk:l:m:n:p:K:L:P:S:V:")) !=
	    -1) {
		switch (ch) {
		case 'h':
			fputs(help, stdout);
			return fflush(stdout) != 0;
		case '4': opt.v6 = 0; break;
		case '6': opt.v6 = 1; break;
		case 'a': app = optarg; break;
		case 'b': opt.ringsize = (size_t)optnum(optarg, 1, 65536, ch);
			break;
		case 'c': cert = optarg; break;
		case 'g': opt.interval = optnum(optarg, 0, 86400000, ch); break;
		case 'k': key = optarg; break;
		case 'l': opt.listen_addr = optarg; break;
		case 'm': opt.maxans = (size_t)optnum(optarg, 0, 65536, ch);
			break;
		case 'n': opt.initial = optnum(optarg, 0, 1000000, ch); break;
		case 'p': opt.port = optnum(optarg, 0, 65535, ch); break;
		case 'K': apikey = optarg; break;
		case 'L': logfile = optarg; break;
		case 'P': opt.portfile = optarg; break;
		case 'S':
			if (strcmp(optarg, "silent") == 0)
				opt.serve = SERVE_SILENT;
			else if (strcmp(optarg, "drip") == 0)
				opt.serve = SERVE_DRIP;
			else
				usage("-S: silent or drip");
			break;
		case 'V':
			if (strcmp(optarg, "tls10") == 0)
				opt.tls_min = opt.tls_max = BR_TLS10;
			else if (strcmp(optarg, "tls11") == 0)
				opt.tls_min = opt.tls_max = BR_TLS11;
			else if (strcmp(optarg, "tls12") == 0)
				opt.tls_min = opt.tls_max = BR_TLS12;
			else
				usage("-V: tls10, tls11 or tls12");
			break;
		default:
			snprintf(msg, sizeof msg, strchr("abcgklmnpKLPSV",
			    optopt) != NULL ? "option -%c needs an argument" :
			    "unknown option -%c", optopt);
			usage(msg);
		}
	}
	if (optind != argc)
		usage("no operands: every setting is an option");
	if (cert == NULL || key == NULL)
		usage("-c CERT.pem and -k KEY.pem are needed");
	for (i = 0; app[i]; i++)
		if (!(app[i] >= 'a' && app[i] <= 'z') &&
		    !(app[i] >= 'A' && app[i] <= 'Z') &&
		    !(app[i] >= '0' && app[i] <= '9') && !strchr("._-", app[i]))
			break;
	if (app[i] != '\0' || i == 0 || i > 64) {
		usage("-a: letters, digits, '.', '_', '-' only, 1..64 of them");
	}
	snprintf(opt.base, sizeof opt.base, "/api/application/%s/reports/v1",
	    app);
	opt.baselen = strlen(opt.base);
	if (set_key(apikey) < 0) {
		snprintf(msg, sizeof msg, "-K: printable ASCII, 1..%d bytes",
		    KEY_MAX);
		usage(msg);
	}

	load_creds(cert, key);
	if (logfile != NULL && (opt.logfd = open(logfile,
	    O_WRONLY | O_APPEND | O_CREAT, 0644)) < 0)
		die("%s: %s", logfile, strerror(errno));
	if ((sim.ring = calloc(2 * opt.ringsize, sizeof *sim.ring)) == NULL)
		die("out of memory");
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&newreport, &ca);
	pthread_condattr_destroy(&ca);
	if (opt.initial > 0)
		generate(opt.initial);

	if (pipe(wakefd) < 0)
		die("pipe: %s", strerror(errno));
	fcntl(wakefd[1], F_SETFL, O_NONBLOCK);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	lfd = listen_on(opt.listen_addr, opt.port, &port);
	cfd = listen_on(NULL, 0, &ctlport);
	if (opt.portfile != NULL)
		write_portfile(port, ctlport);

	if (opt.interval > 0)
		nextgen = now_ms() + opt.interval;
	pfd[0].fd = lfd;
	pfd[1].fd = cfd;
	pfd[2].fd = wakefd[0];
	for (;;) {
		for (i = 0; i < 3; i++)
			pfd[i].events = POLLIN;
		tmo = -1;
		if (opt.interval > 0) {
			wait = nextgen - now_ms();
			tmo = wait < 0 ? 0 : (int)wait;
		}
		if (poll(pfd, 3, tmo) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (pfd[2].revents & POLLIN)
			_exit(0);	/* SIGTERM, SIGINT or quit */
		if (opt.interval > 0 && now_ms() >= nextgen) {
			generate(1);
			nextgen += opt.interval;
			if (nextgen < now_ms())
				nextgen = now_ms() + opt.interval;
		}
		if (pfd[0].revents & POLLIN)
			accept_api(lfd);
		if ((pfd[1].revents & POLLIN) &&
		    (fd = accept(cfd, NULL, NULL)) >= 0 &&
		    spawn(ctl_main, (void *)(intptr_t)fd) != 0)
			close(fd);
	}
}
