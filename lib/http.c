/* SPDX-License-Identifier: ISC */
/*
 * http.c - reads one HTTP/1.x response from a byte source and formats the
 * GET request.  The reader is strict and bounded: every limit is checked
 * before a byte is stored, so a hostile answer costs little time and memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmu.h"

/* What src_getc() returns besides a byte. */
#define SRC_EOF	(-1)
#define SRC_ERR	(-2)

/* A body under construction; cap never exceeds the limit plus the NUL. */
struct body {
	char *p;
	size_t len, cap;
};

/* What the head of one answer says about the connection and the body. */
struct head {
	int minor;		/* HTTP/1.minor */
	int status;
	int chunked;		/* Transfer-Encoding: chunked */
	int have_cl;
	size_t cl;		/* capped at DMU_HTTP_BODY_MAX + 1 */
	int conn_close;
	int conn_keepalive;
	long retry_after;
};



/* ASCII only: strcasecmp() depends on the locale. */
static int
lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
ascii_caseeq(const char *a, const char *b)
{
	for (; *a != '\0' && lower((unsigned char)*a) ==
	    lower((unsigned char)*b); a++, b++)
		;
	return *a == '\0' && *b == '\0';
}

/* Same as ascii_caseeq() for the n bytes at a. */
static int
ascii_caseeqn(const char *a, size_t n, const char *b)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] == '\0' || lower((unsigned char)a[i]) !=
		    lower((unsigned char)b[i]))
			return 0;
	return b[n] == '\0';
}

static int
is_ows(int c)
{
	return c == ' ' || c == '\t';
}

/* RFC 9110 tchar: the characters of a field name. */
static int
is_tchar(int c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}


/* see dmu.h */
void
dmu_src_init(struct dmu_src *s, long (*read)(void *, void *, size_t),
    void *ctx)
{
	s->read = read;
	s->ctx = ctx;
	s->off = 0;
	s->len = 0;
}

/* see dmu.h */
size_t
dmu_src_left(const struct dmu_src *s)
{
	return s->len - s->off;
}

/*
 * Makes sure a byte is buffered.  Returns 1, 0 at the end of the stream or
 * -1 on an error (also when read() claims more than it was given).
 */
static int
src_fill(struct dmu_src *s)
{
	long n;

	if (s->off < s->len)
		return 1;
	s->off = s->len = 0;
	n = s->read(s->ctx, s->buf, sizeof(s->buf));
	if (n < 0 || (unsigned long)n > sizeof(s->buf))
		return -1;
	if (n == 0)
		return 0;
	s->len = (size_t)n;
	return 1;
}

static int
src_getc(struct dmu_src *s)
{
	int rc;

	if ((rc = src_fill(s)) <= 0)
		return rc == 0 ? SRC_EOF : SRC_ERR;
	return s->buf[s->off++];
}

/*
 * Reads one line (of the head, of a chunked body or of its trailer, as what
 * says) into line, which holds DMU_HTTP_LINE_MAX bytes and a NUL; the CRLF
 * or LF is dropped.  *budget is what the caller still allows, line end
 * included.  NUL bytes and a CR not followed by LF are refused, since both
 * can make two parsers see different lines.
 */
static int
read_line(struct dmu_src *s, char *line, size_t *lenp, size_t *budget,
    const char *what, char *err)
{
	size_t n = 0;
	int c;

	for (;;) {
		c = src_getc(s);
		if (c < 0)
			goto cut;
		if (*budget == 0) {
			dmu_seterr(err, "%s too large", what);
			return DMU_EDATA;
		}
		(*budget)--;
		if (c == '\n')
			break;
		if (c == '\r') {
			if ((c = src_getc(s)) < 0)
				goto cut;
			if (c != '\n') {
				dmu_seterr(err, "bare CR in %s", what);
				return DMU_EDATA;
			}
			if (*budget == 0) {
				dmu_seterr(err, "%s too large", what);
				return DMU_EDATA;
			}
			(*budget)--;
			break;
		}
		if (c == '\0') {
			dmu_seterr(err, "NUL byte in %s", what);
			return DMU_EDATA;
		}
		if (n == DMU_HTTP_LINE_MAX) {
			dmu_seterr(err, "%s line too long", what);
			return DMU_EDATA;
		}
		line[n++] = (char)c;
	}
	line[n] = '\0';
	*lenp = n;
	return DMU_OK;
cut:
	if (c == SRC_EOF)
		dmu_seterr(err, "connection closed in %s", what);
	else
		dmu_seterr(err, "read error in %s", what);
	return DMU_ENET;
}

/*
 * Splits a field line "Name: value" in place into its name and its value
 * without the optional white space around it.  Returns DMU_OK or DMU_EDATA.
 */
static int
split_field(char *line, char **name, char **value, const char *what,
    char *err)
{
	char *colon, *p, *e;

	if ((colon = strchr(line, ':')) == NULL) {
		dmu_seterr(err, "%s line without a colon", what);
		return DMU_EDATA;
	}
	for (p = line; p < colon; p++)
		if (!is_tchar((unsigned char)*p))
			break;
	if (colon == line || p < colon) {
		dmu_seterr(err, "malformed field name in %s", what);
		return DMU_EDATA;
	}
	*colon = '\0';
	for (p = colon + 1; is_ows((unsigned char)*p); p++)
		;
	for (e = p + strlen(p); e > p && is_ows((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	*name = line;
	*value = p;
	return DMU_OK;
}

/* Parses 1*DIGIT, saturating at max + 1.  Returns 0, or -1. */
static int
parse_digits(const char *v, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n <= max)
			n = n * 10 + (unsigned long)(*v - '0');
	}
	*out = n > max ? max + 1 : n;
	return 0;
}

/* Notes the "close" and "keep-alive" options of a Connection field. */
static void
take_connection(struct head *h, const char *v)
{
	const char *p = v, *e, *t;

	for (;;) {
		while (is_ows((unsigned char)*p))
			p++;
		for (e = p; *e != '\0' && *e != ','; e++)
			;
		for (t = e; t > p && is_ows((unsigned char)t[-1]); t--)
			;
		if (ascii_caseeqn(p, (size_t)(t - p), "close"))
			h->conn_close = 1;
		else if (ascii_caseeqn(p, (size_t)(t - p), "keep-alive"))
			h->conn_keepalive = 1;
		if (*e == '\0')
			break;
		p = e + 1;
	}
}

/* Takes note of one header field of the final answer. */
static int
take_field(struct head *h, const char *name, const char *value, char *err)
{
	unsigned long n;

	if (ascii_caseeq(name, "content-length")) {
		if (parse_digits(value, DMU_HTTP_BODY_MAX, &n) != 0) {
			dmu_seterr(err, "malformed content-length");
			return DMU_EDATA;
		}
		if (h->have_cl && h->cl != n) {
			dmu_seterr(err, "conflicting content-length fields");
			return DMU_EDATA;
		}
		h->have_cl = 1;
		h->cl = n;
	} else if (ascii_caseeq(name, "transfer-encoding")) {
		/* A second field would apply chunked twice or add a coding. */
		if (h->chunked || !ascii_caseeq(value, "chunked")) {
			dmu_seterr(err, "unsupported transfer coding");
			return DMU_EDATA;
		}
		h->chunked = 1;
	} else if (ascii_caseeq(name, "connection")) {
		take_connection(h, value);
	} else if (ascii_caseeq(name, "retry-after")) {
		/* An HTTP-date is treated as absent: no clock to trust. */
		if (parse_digits(value, DMU_RETRY_AFTER_MAX, &n) == 0)
			h->retry_after = n > DMU_RETRY_AFTER_MAX ?
			    DMU_RETRY_AFTER_MAX : (long)n;
	}
	return DMU_OK;
}

/* Parses "HTTP/1.x NNN reason"; the reason may be empty or absent. */
static int
parse_status(struct head *h, const char *line, size_t n, char *err)
{
	char safe[33];
	int i;

	if (n >= 12 && memcmp(line, "HTTP/", 5) == 0 &&
	    line[5] >= '0' && line[5] <= '9' && line[5] != '1') {
		dmu_seterr(err, "unsupported HTTP version");
		return DMU_EDATA;
	}
	if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 ||
	    line[7] < '0' || line[7] > '9' || line[8] != ' ' ||
	    (n > 12 && line[12] != ' '))
		goto bad;
	h->status = 0;
	for (i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			goto bad;
		h->status = h->status * 10 + (line[i] - '0');
	}
	if (h->status < 100 || h->status > 599)
		goto bad;
	h->minor = line[7] - '0';
	return DMU_OK;
bad:
	dmu_scrub(safe, sizeof(safe), line, n);
	dmu_seterr(err, "malformed status line \"%s\"", safe);
	return DMU_EDATA;
}

/*
 * Reads field lines up to the blank line that ends them (the header block
 * or a trailer), each taken by take_field() when h is not NULL.  A line
 * that starts with white space continues the field before it (obs-fold):
 * as RFC 9112 5.2 asks of a user agent, the fold and the white space
 * around it become one space before the field is looked at.  A field
 * unfolded is held to DMU_HTTP_LINE_MAX like any line.  field holds
 * DMU_HTTP_LINE_MAX bytes and a NUL, as line does.
 */
static int
read_fields(struct dmu_src *s, struct head *h, char *line, char *field,
    size_t *budget, const char *what, char *err)
{
	char *name, *value, *p;
	size_t n, flen = 0;
	int rc, have = 0;

	for (;;) {
		if ((rc = read_line(s, line, &n, budget, what, err)) != DMU_OK)
			return rc;
		if (n > 0 && is_ows((unsigned char)line[0])) {
			if (!have) {
				/* Nothing to continue: RFC 9112 2.2. */
				dmu_seterr(err, "continuation line in %s",
				    what);
				return DMU_EDATA;
			}
			for (p = line; is_ows((unsigned char)*p); p++)
				;
			while (flen > 0 && is_ows((unsigned char)
			    field[flen - 1]))
				flen--;
			n -= (size_t)(p - line);
			if (flen + 1 + n > DMU_HTTP_LINE_MAX) {
				dmu_seterr(err, "%s line too long", what);
				return DMU_EDATA;
			}
			field[flen++] = ' ';
			memcpy(field + flen, p, n + 1);
			flen += n;
			continue;
		}
		if (have) {
			if ((rc = split_field(field, &name, &value, what,
			    err)) != DMU_OK)
				return rc;
			if (h != NULL && (rc = take_field(h, name, value,
			    err)) != DMU_OK)
				return rc;
		}
		if (n == 0)
			return DMU_OK;
		memcpy(field, line, n + 1);
		flen = n;
		have = 1;
	}
}

/*
 * Reads the status line and the header fields of one answer; *budget is
 * shared by the interim answers so that endless 1xx cannot keep us busy.
 */
static int
read_head(struct dmu_src *s, struct head *h, char *line, size_t *budget,
    char *err)
{
	char field[DMU_HTTP_LINE_MAX + 1];
	size_t n;
	int rc;

	memset(h, 0, sizeof(*h));
	h->retry_after = -1;
	if ((rc = read_line(s, line, &n, budget, "header", err)) != DMU_OK)
		return rc;
	if ((rc = parse_status(h, line, n, err)) != DMU_OK)
		return rc;
	/* The fields of an interim answer are checked, not taken. */
	return read_fields(s, h->status >= 200 ? h : NULL, line, field, budget,
	    "header", err);
}

/* Grows b to hold need bytes (need <= limit), doubling. */
static int
body_reserve(struct body *b, size_t need, size_t limit, char *err)
{
	size_t cap;
	char *p;

	if (need <= b->cap)
		return DMU_OK;
	cap = b->cap > 0 ? b->cap : 4096;
	while (cap < need && cap < limit)
		cap *= 2;
	if (cap > limit)
		cap = limit;
	if ((p = realloc(b->p, cap)) == NULL) {
		dmu_seterr(err, "out of memory");
		return DMU_EFAIL;
	}
	b->p = p;
	b->cap = cap;
	return DMU_OK;
}

/*
 * Appends exactly n bytes of s to b, whose buffer may grow up to limit
 * bytes.  Returns DMU_OK, DMU_EFAIL, or SRC_EOF / SRC_ERR when the source
 * ended first; the caller words that.
 */
static int
read_data(struct dmu_src *s, struct body *b, size_t n, size_t limit,
    char *err)
{
	size_t k;
	int rc;

	while (n > 0) {
		if ((rc = src_fill(s)) <= 0)
			return rc == 0 ? SRC_EOF : SRC_ERR;
		k = s->len - s->off;
		if (k > n)
			k = n;
		if ((rc = body_reserve(b, b->len + k + 1, limit, err)) !=
		    DMU_OK)
			return rc;
		memcpy(b->p + b->len, s->buf + s->off, k);
		b->len += k;
		s->off += k;
		n -= k;
	}
	return DMU_OK;
}

static int
read_sized(struct dmu_src *s, struct body *b, size_t cl, char *err)
{
	int rc;

	if (cl > DMU_HTTP_BODY_MAX) {
		dmu_seterr(err, "body too large");
		return DMU_EDATA;
	}
	/* Growing up to cl + 1 only: the NUL fits without another copy. */
	rc = read_data(s, b, cl, cl + 1, err);
	if (rc == SRC_EOF || rc == SRC_ERR) {
		dmu_seterr(err, "%s after %zu of %zu body bytes",
		    rc == SRC_EOF ? "connection closed" : "read error",
		    b->len, cl);
		return DMU_ENET;
	}
	return rc;
}

/* Reads a chunked body and its trailer, which is checked and dropped. */
static int
read_chunked(struct dmu_src *s, struct body *b, char *line, char *err)
{
	char field[DMU_HTTP_LINE_MAX + 1];
	const char *p;
	size_t n, size, budget;
	int rc, c, d;

	for (;;) {
		budget = DMU_HTTP_LINE_MAX + 2;
		if ((rc = read_line(s, line, &n, &budget, "chunked body",
		    err)) != DMU_OK)
			return rc;
		if (dmu_hexval((unsigned char)line[0]) < 0)
			goto badsize;
		size = 0;
		for (p = line; (d = dmu_hexval((unsigned char)*p)) >= 0; p++) {
			size = size * 16 + (size_t)d;
			/* Checked per digit, so size cannot overflow. */
			if (size > DMU_HTTP_BODY_MAX - b->len) {
				dmu_seterr(err, "body too large");
				return DMU_EDATA;
			}
		}
		while (is_ows((unsigned char)*p))
			p++;
		/* Chunk extensions carry nothing for us. */
		if (*p != '\0' && *p != ';')
			goto badsize;
		if (size == 0)
			break;
		rc = read_data(s, b, size, DMU_HTTP_BODY_MAX + 1, err);
		if (rc == SRC_EOF || rc == SRC_ERR)
			goto cut;
		if (rc != DMU_OK)
			return rc;
		if ((c = src_getc(s)) == '\r')
			c = src_getc(s);
		if (c == SRC_EOF || c == SRC_ERR) {
			rc = c;
			goto cut;
		}
		if (c != '\n') {
			dmu_seterr(err, "missing line end after chunk data");
			return DMU_EDATA;
		}
	}
	budget = DMU_HTTP_HEAD_MAX;
	return read_fields(s, NULL, line, field, &budget, "trailer", err);
badsize:
	dmu_seterr(err, "malformed chunk size");
	return DMU_EDATA;
cut:
	dmu_seterr(err, "%s inside a chunk after %zu body bytes",
	    rc == SRC_EOF ? "connection closed" : "read error", b->len);
	return DMU_ENET;
}

/* Reads a body delimited by the end of the stream (HTTP/1.0 style). */
static int
read_to_eof(struct dmu_src *s, struct body *b, char *err)
{
	size_t k;
	int rc;

	for (;;) {
		if ((rc = src_fill(s)) == 0)
			return DMU_OK;
		if (rc < 0) {
			dmu_seterr(err, "read error after %zu body bytes", b->len);
			return DMU_ENET;
		}
		k = s->len - s->off;
		if (k > DMU_HTTP_BODY_MAX - b->len) {
			dmu_seterr(err, "body too large");
			return DMU_EDATA;
		}
		if ((rc = body_reserve(b, b->len + k + 1,
		    DMU_HTTP_BODY_MAX + 1, err)) != DMU_OK)
			return rc;
		memcpy(b->p + b->len, s->buf + s->off, k);
		b->len += k;
		s->off += k;
	}
}

/*
 * Reads the head of the final answer: interim 1xx answers are skipped
 * within the one header budget, and 101 is refused.
 */
static int
read_final_head(struct dmu_src *s, struct head *h, char *line, char *err)
{
	size_t budget = DMU_HTTP_HEAD_MAX;
	int rc;

	for (;;) {
		if ((rc = read_head(s, h, line, &budget, err)) != DMU_OK)
			return rc;
		if (h->status >= 200)
			return DMU_OK;
		if (h->status == 101) {
			/* We asked for no upgrade: what follows is not HTTP. */
			dmu_seterr(err, "unexpected 101 switching protocols");
			return DMU_EDATA;
		}
	}
}

/*
 * Reads the body as the head frames it into b, NUL-terminated; *framed
 * says whether its end was marked (a length or chunks) rather than the end
 * of the stream.
 */
static int
read_body(struct dmu_src *s, const struct head *h, struct body *b,
    char *line, int *framed, char *err)
{
	int rc;

	*framed = 1;
	if (h->status == 204 || h->status == 304)
		rc = DMU_OK;
	else if (h->chunked)
		rc = read_chunked(s, b, line, err);
	else if (h->have_cl)
		rc = read_sized(s, b, h->cl, err);
	else {
		rc = read_to_eof(s, b, err);
		*framed = 0;
	}
	if (rc != DMU_OK)
		return rc;
	if ((rc = body_reserve(b, b->len + 1, b->len + 1, err)) != DMU_OK)
		return rc;
	b->p[b->len] = '\0';
	return DMU_OK;
}

/* Whether the connection may carry another request after this answer. */
static int
keeps_alive(const struct head *h, int framed)
{
	/* Both lengths: a smuggling hint, do not reuse the stream. */
	if (!framed || (h->chunked && h->have_cl))
		return 0;
	/* Chunked in HTTP/1.0 is faulty framing (RFC 9112 6.1). */
	if (h->minor == 0)
		return h->conn_keepalive && !h->conn_close && !h->chunked;
	return !h->conn_close;
}

/* see dmu.h */
int
dmu_http_read(struct dmu_src *s, struct dmu_resp *r, char *err)
{
	char line[DMU_HTTP_LINE_MAX + 1];
	struct head h;
	struct body b = { NULL, 0, 0 };
	int rc, framed;

	memset(r, 0, sizeof(*r));
	r->retry_after = -1;
	if (err != NULL)
		err[0] = '\0';
	/* Said apart: a kept-alive connection the device closed meanwhile. */
	if ((rc = src_fill(s)) <= 0) {
		dmu_seterr(err, rc == 0 ? "connection closed before the answer" :
		    "read error before the answer");
		return DMU_ENET;
	}
	if ((rc = read_final_head(s, &h, line, err)) != DMU_OK ||
	    (rc = read_body(s, &h, &b, line, &framed, err)) != DMU_OK) {
		free(b.p);
		return rc;
	}
	r->keepalive = keeps_alive(&h, framed);
	r->status = h.status;
	r->retry_after = h.retry_after;
	r->body = b.p;
	r->len = b.len;
	return DMU_OK;
}

/* see dmu.h */
void
dmu_resp_free(struct dmu_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

/* Nothing that could end the request line or a field, or split it. */
static int
is_clean(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

/*
 * The length of a key that is_clean() would pass, read byte by byte
 * through a volatile pointer (no vectorized strlen sees it), or 0.
 */
static size_t
secret_clean_len(const char *s)
{
	const volatile unsigned char *p = (const volatile unsigned char *)s;
	size_t n;
	unsigned char c;

	for (n = 0; (c = p[n]) != '\0'; n++)
		if (c <= 0x20 || c == 0x7f)
			return 0;
	return n;
}

/*
 * Appends n bytes at src to buf (of size sz, *len used) when they fit;
 * secret bytes are copied with dmu_secret_copy().  Returns 0 or -1.
 */
static int
append(char *buf, size_t sz, size_t *len, const char *src, size_t n,
    int secret)
{
	if (n >= sz - *len)
		return -1;
	if (secret)
		dmu_secret_copy(buf + *len, src, n);
	else
		memcpy(buf + *len, src, n);
	*len += n;
	return 0;
}

/* see dmu.h */
long
dmu_http_get(char *buf, size_t sz, const char *host, const char *target,
    const char *keyb64)
{
	static const char tail[] = "Connection: keep-alive\r\n"
	    "Accept: application/json\r\n"
	    "User-Agent: dmu/" DMU_VERSION "\r\n"
	    "\r\n";
	size_t len, klen = 0;
	int n;

	if (buf == NULL || host == NULL || target == NULL ||
	    !is_clean(host) || !is_clean(target) ||
	    (keyb64 != NULL && (klen = secret_clean_len(keyb64)) == 0))
		return -1;
	n = snprintf(buf, sz, "GET %s HTTP/1.1\r\nHost: %s\r\n", target,
	    host);
	len = n < 0 ? sz : (size_t)n;
	/*
	 * The key goes in by our own copy, never through a libc routine
	 * whose vector registers would keep pieces of it for a core.
	 */
	if (len >= sz || (keyb64 != NULL &&
	    (append(buf, sz, &len, "X-Api-Key: ", 11, 0) != 0 ||
	    append(buf, sz, &len, keyb64, klen, 1) != 0 ||
	    append(buf, sz, &len, "\r\n", 2, 0) != 0)) ||
	    append(buf, sz, &len, tail, sizeof(tail) - 1, 0) != 0) {
		/* A cut request may still hold part of the key. */
		explicit_bzero(buf, sz);
		return -1;
	}
	buf[len] = '\0';
	return (long)len;
}
