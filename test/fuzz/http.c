/* SPDX-License-Identifier: ISC */
/*
 * http.c - fuzzes dmu_http_read(): several answers in a row on one source.
 *
 * Input: a control byte, eight split sizes, then the byte stream.  The
 * source's read() hands the stream out in pieces whose sizes cycle through
 * the split table (0 stands for a whole buffer); with bit 2 of the control
 * byte the stream ends in a read error instead of the end of the stream.
 * Bits 0-1: how many answers are read (1 to 4); bit 3: err is NULL.
 * The stream's first three lines also go to dmu_http_get() (bit 4: no
 * key), into a buffer whose size the first two split bytes give.
 *
 * The same stream is read again in one piece per read(): the results must
 * not depend on how the bytes were cut, nor must what is left over after
 * each answer (in the source's buffer and not yet read), which is what a
 * client looks at before it reuses a connection (RFC 9112 6.3).  For the
 * first answer, an independent reading of its head says where it ends,
 * so what is left over must be exactly the bytes after it, and whether an
 * HTTP/1.0 answer with "Connection: keep-alive" keeps the connection.
 */
#include <strings.h>

#include "fuzz.h"

#define NANS	4
#define HDR	9

struct feed {
	const uint8_t *p;
	size_t len, off;
	const uint8_t *split;	/* 8 sizes, or NULL: whole buffers */
	unsigned nread;
	int fail_at_end;
};

static long
feed_read(void *ctx, void *buf, size_t len)
{
	struct feed *f = ctx;
	size_t k = f->len - f->off;
	unsigned s;

	if (k == 0)
		return f->fail_at_end ? -1 : 0;
	if (f->split != NULL) {
		s = f->split[f->nread++ % 8];
		if (s != 0 && k > s)
			k = s;
	}
	if (k > len)
		k = len;
	memcpy(buf, f->p + f->off, k);
	f->off += k;
	return (long)k;
}

struct result {
	int rc;
	int status, keepalive;
	long retry_after;
	size_t len;
	size_t left;		/* bytes of the stream after the answer */
	char *body;
	char err[DMU_ERRLEN];
};

static void
read_all(struct feed *fd, int nans, int noerr, struct result *res)
{
	struct dmu_src *src;
	struct dmu_resp r;
	int i;

	/* on the heap, so that the buffer's bounds are checked */
	if ((src = malloc(sizeof(*src))) == NULL)
		abort();
	dmu_src_init(src, feed_read, fd);
	for (i = 0; i < nans; i++) {
		memset(&r, 0xa5, sizeof(r));
		memset(res[i].err, 'x', sizeof(res[i].err));
		res[i].rc = dmu_http_read(src, &r, noerr ? NULL : res[i].err);
		CHECK(src->off <= src->len && src->len <= sizeof(src->buf),
		    "source state off=%zu len=%zu", src->off, src->len);
		res[i].left = dmu_src_left(src) + (fd->len - fd->off);
		if (noerr)
			res[i].err[0] = '\0';
		res[i].status = r.status;
		res[i].keepalive = r.keepalive;
		res[i].retry_after = r.retry_after;
		res[i].len = r.len;
		res[i].body = r.body;
		if (res[i].rc == DMU_OK) {
			CHECK(r.status >= 200 && r.status <= 599,
			    "status %d", r.status);
			CHECK(r.body != NULL, "no body");
			CHECK(r.len <= (size_t)DMU_HTTP_BODY_MAX,
			    "len %zu", r.len);
			CHECK(r.len <= fd->len, "body of %zu bytes from a "
			    "stream of %zu", r.len, fd->len);
			CHECK(r.body[r.len] == '\0', "body not terminated");
			CHECK(r.keepalive == 0 || r.keepalive == 1,
			    "keepalive %d", r.keepalive);
			CHECK(r.retry_after >= -1 && r.retry_after <= 3600,
			    "retry_after %ld", r.retry_after);
			CHECK((r.status != 204 && r.status != 304) ||
			    r.len == 0, "%d with a body", r.status);
			CHECK(noerr || res[i].err[0] == '\0',
			    "err set on success: %.80s", res[i].err);
		} else {
			CHECK(res[i].rc == DMU_ENET || res[i].rc == DMU_EDATA ||
			    res[i].rc == DMU_EFAIL, "rc %d", res[i].rc);
			CHECK(noerr || fz_errmsg(res[i].err),
			    "bad error message");
			CHECK(r.body == NULL, "body left on failure");
			CHECK(r.status == 0 && r.keepalive == 0 &&
			    r.retry_after == -1, "fields left on failure");
		}
	}
	free(src);
}

/* What first_head() reads of the first answer's head. */
struct fhead {
	size_t body;		/* where the body starts */
	int te;			/* a Transfer-Encoding field */
	long cl;		/* the first Content-Length, or -1 */
	int conn;		/* Connection fields */
	int ka_only;		/* one, and it says exactly "keep-alive" */
};

/* Whether the n bytes at p are "keep-alive" with optional white space. */
static int
just_keepalive(const uint8_t *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return n == 10 && strncasecmp((const char *)p, "keep-alive", 10) == 0;
}

/*
 * The head of the first answer, read independently and simply into *h.
 * Returns 0 when the first answer is not a final one, its head is not
 * complete, or it has a folded line (which this reading does not unfold).
 */
static int
first_head(const uint8_t *p, size_t n, struct fhead *h)
{
	static const char tename[] = "transfer-encoding:";
	static const char clname[] = "content-length:";
	static const char coname[] = "connection:";
	size_t i = 0, ls, len, k;
	size_t *body = &h->body;
	int *te = &h->te;
	long *cl = &h->cl;

	memset(h, 0, sizeof(*h));
	*te = 0;
	*cl = -1;
	if (n < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[9] < '2')
		return 0;
	for (;;) {
		ls = i;
		while (i < n && p[i] != '\n')
			i++;
		if (i >= n)
			return 0;
		len = i - ls;
		if (len > 0 && p[i - 1] == '\r')
			len--;
		i++;
		if (ls == 0)
			continue;
		if (len == 0) {
			*body = i;
			return 1;
		}
		if (p[ls] == ' ' || p[ls] == '\t')
			return 0;
		if (len >= sizeof(coname) - 1 &&
		    strncasecmp((const char *)p + ls, coname,
		    sizeof(coname) - 1) == 0) {
			h->conn++;
			h->ka_only = h->conn == 1 && just_keepalive(p + ls +
			    sizeof(coname) - 1, len - (sizeof(coname) - 1));
		}
		if (len >= sizeof(tename) - 1 &&
		    strncasecmp((const char *)p + ls, tename,
		    sizeof(tename) - 1) == 0)
			*te = 1;
		if (*cl < 0 && len >= sizeof(clname) - 1 &&
		    strncasecmp((const char *)p + ls, clname,
		    sizeof(clname) - 1) == 0) {
			k = ls + sizeof(clname) - 1;
			while (k < ls + len && (p[k] == ' ' || p[k] == '\t'))
				k++;
			for (*cl = 0; k < ls + len && p[k] >= '0' &&
			    p[k] <= '9' && *cl < 100000000; k++)
				*cl = *cl * 10 + (p[k] - '0');
		}
	}
}

static int
clean(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

/*
 * dmu_http_get() on the first three lines of the stream as host, target
 * and key, into sz bytes: what it formats is one request whose lines are
 * the ones it means, never a line more (no CR/LF injection).
 */
static void
request(const uint8_t *p, size_t n, size_t sz, int nokey)
{
	char *text = fz_strdup(p, n), *part[3] = { "", "", "" }, *s, *buf;
	const char *key;
	size_t i, crlf = 0, lf = 0, want;
	long k;

	for (s = text, i = 0; i < 3 && s != NULL; i++) {
		part[i] = s;
		if ((s = strchr(s, '\n')) != NULL)
			*s++ = '\0';
	}
	key = nokey ? NULL : part[2];
	if ((buf = malloc(sz)) == NULL)
		abort();
	memset(buf, 'x', sz);
	k = dmu_http_get(buf, sz, part[0], part[1], key);
	if (k >= 0) {
		CHECK(clean(part[0]) && clean(part[1]) &&
		    (key == NULL || clean(key)), "formatted unclean fields");
		CHECK((size_t)k < sz && strlen(buf) == (size_t)k,
		    "length %ld of %zu", k, sz);
		for (i = 0; i < (size_t)k; i++) {
			if (buf[i] == '\n')
				lf++;
			if (buf[i] == '\r')
				CHECK(buf[i + 1] == '\n' && ++crlf > 0,
				    "bare CR in the request");
		}
		want = key != NULL ? 7 : 6;
		CHECK(crlf == want && lf == want, "%zu lines, not %zu", lf,
		    want);
		CHECK(strncmp(buf, "GET ", 4) == 0 &&
		    strncmp(buf + 4, part[1], strlen(part[1])) == 0 &&
		    strstr(buf, "\r\n\r\n") == buf + k - 4,
		    "request shape");
	} else {
		CHECK(k == -1, "rc %ld", k);
		if (clean(part[0]) && clean(part[1]) &&
		    (key == NULL || clean(key)))
			for (i = 0; i < sz; i++)
				CHECK(buf[i] == 0, "cut request not wiped");
	}
	free(buf);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t none[8];
	struct result a[NANS], b[NANS];
	struct feed fa, fb;
	struct fhead h;
	int ctl = size > 0 ? data[0] : 0, nans, noerr, i;

	nans = (ctl & 3) + 1;
	noerr = (ctl & 8) != 0;
	memset(&fa, 0, sizeof(fa));
	fa.split = size >= HDR ? data + 1 : none;
	fa.p = size >= HDR ? data + HDR : data + size;
	fa.len = size >= HDR ? size - HDR : 0;
	fa.fail_at_end = (ctl & 4) != 0;
	fb = fa;
	fb.split = NULL;

	read_all(&fa, nans, noerr, a);
	read_all(&fb, nans, noerr, b);
	for (i = 0; i < nans; i++) {
		CHECK(a[i].rc == b[i].rc && a[i].status == b[i].status &&
		    a[i].keepalive == b[i].keepalive &&
		    a[i].retry_after == b[i].retry_after &&
		    a[i].len == b[i].len,
		    "answer %d depends on the split: rc %d/%d status %d/%d "
		    "len %zu/%zu", i, a[i].rc, b[i].rc, a[i].status,
		    b[i].status, a[i].len, b[i].len);
		CHECK(strcmp(a[i].err, b[i].err) == 0,
		    "answer %d: errors differ: '%s' / '%s'", i, a[i].err,
		    b[i].err);
		CHECK(a[i].rc != DMU_OK ||
		    memcmp(a[i].body, b[i].body, a[i].len) == 0,
		    "answer %d: bodies differ", i);
		CHECK(a[i].rc != DMU_OK || a[i].left == b[i].left,
		    "answer %d: %zu / %zu bytes left over", i, a[i].left,
		    b[i].left);
	}

	/* the first answer's framing, against the independent reading */
	if (a[0].rc == DMU_OK && first_head(fa.p, fa.len, &h)) {
		int nobody = a[0].status == 204 || a[0].status == 304;

		if (nobody)
			CHECK(a[0].left == fa.len - h.body, "%d: %zu bytes "
			    "left over of %zu after the head", a[0].status,
			    a[0].left, fa.len - h.body);
		/* HTTP/1.0: kept with keep-alive, a length or no body. */
		if (fa.p[7] == '0' && h.ka_only)
			CHECK(a[0].keepalive == (!h.te && (h.cl >= 0 ||
			    nobody)), "HTTP/1.0 keep-alive %d%s%s: kept %d",
			    a[0].status, h.te ? " chunked" : "",
			    h.cl >= 0 ? " with a length" : "",
			    a[0].keepalive);
	}
	if (a[0].rc == DMU_OK && a[0].status != 204 && a[0].status != 304 &&
	    first_head(fa.p, fa.len, &h)) {
		if (h.te && h.cl >= 0)
			CHECK(a[0].keepalive == 0, "keep-alive with both "
			    "Transfer-Encoding and Content-Length");
		if (!h.te && h.cl >= 0)
			CHECK(a[0].len == (size_t)h.cl &&
			    h.body + a[0].len <= fa.len &&
			    memcmp(a[0].body, fa.p + h.body, a[0].len) == 0 &&
			    a[0].left == fa.len - h.body - a[0].len,
			    "Content-Length %ld: body of %zu bytes is not the "
			    "bytes after the head, or %zu bytes left over",
			    h.cl, a[0].len, a[0].left);
		if (!h.te && h.cl < 0)
			CHECK(a[0].keepalive == 0 &&
			    a[0].len == fa.len - h.body && a[0].left == 0 &&
			    memcmp(a[0].body, fa.p + h.body, a[0].len) == 0,
			    "body to the end of the stream");
	}
	for (i = 0; i < nans; i++) {
		free(a[i].body);
		free(b[i].body);
	}
	request(fa.p, fa.len, 1 + fa.split[0] + 256 * (fa.split[1] & 3u),
	    (ctl & 16) != 0);
	return 0;
}
