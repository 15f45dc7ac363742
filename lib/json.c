/* SPDX-License-Identifier: ISC */
/*
 * json.c - a strict, small JSON scanner (RFC 8259) for the device's
 * answers: the reports, re-emitted as compact lines with the device first,
 * and the "message" of an error answer.  A body is validated as a whole
 * before anything is taken from it, so a malformed body yields nothing.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmu.h"

#define SERIAL_MAX	(1LL << 53)	/* exact in every JSON reader */
#define KEY_MAX		15	/* longest member name we look for */

struct jp {
	const unsigned char *s;
	size_t len;
	size_t pos;
	char *err;
};

/* Where a decoded string goes: truncated, never cut inside a character. */
struct sink {
	char *buf;
	size_t cap;		/* bytes usable, without the NUL */
	size_t len;
	int full;		/* a character did not fit: drop the rest */
	int scrub;		/* control characters become '?' */
};

/* One member of an object, as found by obj_next(). */
struct member {
	size_t kbeg, kend;	/* the name, quotes included, as received */
	char key[KEY_MAX + 1];	/* the name decoded, when it fits */
	int keylong;		/* it did not fit */
	size_t vbeg, vend;	/* the value as received */
};

/* What the walk over the reports needs. */
struct walk {
	const char *device;
	int emit;		/* 0: check only; 1: call fn */
	size_t maxspan;		/* longest report, found by the check */
	char *out;
	int (*fn)(void *, const struct dmu_report *);
	void *ctx;
	char *err;
};


static int
syntax(struct jp *jp, const char *what)
{
	dmu_seterr(jp->err, "malformed JSON at byte %zu: %s", jp->pos, what);
	return -1;
}

static int
is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
skip_ws(struct jp *jp)
{
	while (jp->pos < jp->len && is_ws(jp->s[jp->pos]))
		jp->pos++;
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}


/* Length of the well-formed UTF-8 sequence at p (RFC 3629), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t avail)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	/* The second byte rules out overlongs, surrogates, > U+10FFFF. */
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (avail < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Adds one whole character of n bytes to the sink, or nothing. */
static void
sink_put(struct sink *sk, const unsigned char *c, size_t n)
{
	static const unsigned char q = '?';

	if (sk == NULL || sk->full)
		return;
	/* C0, DEL and C1 controls: nothing a terminal should get raw. */
	if (sk->scrub && dmu_is_control(c, n)) {
		c = &q;
		n = 1;
	}
	if (sk->cap - sk->len < n) {
		sk->full = 1;
		return;
	}
	memcpy(sk->buf + sk->len, c, n);
	sk->len += n;
}

static void
sink_cp(struct sink *sk, unsigned long cp)
{
	unsigned char u[4];

	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		sink_put(sk, u, 1);
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		sink_put(sk, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		sink_put(sk, u, 3);
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		sink_put(sk, u, 4);
	}
}

/* Reads the four hex digits of a \u escape at jp->pos. */
static long
hex4(struct jp *jp)
{
	long v = 0;
	size_t i;
	int d;

	if (jp->len - jp->pos < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((d = dmu_hexval(jp->s[jp->pos + i])) < 0)
			return -1;
		v = v * 16 + d;
	}
	jp->pos += 4;
	return v;
}

/* Scans the string at jp->pos (at its quote), decoding it into sk. */
static int
parse_string(struct jp *jp, struct sink *sk)
{
	unsigned char c;
	long cp, lo;
	size_t n;

	jp->pos++;
	for (;;) {
		if (jp->pos >= jp->len)
			return syntax(jp, "unterminated string");
		c = jp->s[jp->pos];
		if (c == '"') {
			jp->pos++;
			return 0;
		}
		if (c < 0x20)
			return syntax(jp, "control character in string");
		if (c >= 0x80) {
			if ((n = utf8_len(jp->s + jp->pos,
			    jp->len - jp->pos)) == 0)
				return syntax(jp, "invalid UTF-8");
			sink_put(sk, jp->s + jp->pos, n);
			jp->pos += n;
			continue;
		}
		if (c != '\\') {
			sink_put(sk, &c, 1);
			jp->pos++;
			continue;
		}
		if (jp->pos + 1 >= jp->len)
			return syntax(jp, "unterminated string");
		switch (jp->s[jp->pos + 1]) {
		case '"':	cp = '"'; break;
		case '\\':	cp = '\\'; break;
		case '/':	cp = '/'; break;
		case 'b':	cp = '\b'; break;
		case 'f':	cp = '\f'; break;
		case 'n':	cp = '\n'; break;
		case 'r':	cp = '\r'; break;
		case 't':	cp = '\t'; break;
		case 'u':	cp = -1; break;
		default:
			return syntax(jp, "invalid escape");
		}
		if (cp >= 0) {
			jp->pos += 2;
			sink_cp(sk, (unsigned long)cp);
			continue;
		}
		jp->pos += 2;
		if ((cp = hex4(jp)) < 0)
			return syntax(jp, "invalid \\u escape");
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return syntax(jp, "unpaired surrogate");
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (jp->len - jp->pos < 2 || jp->s[jp->pos] != '\\' ||
			    jp->s[jp->pos + 1] != 'u')
				return syntax(jp, "unpaired surrogate");
			jp->pos += 2;
			if ((lo = hex4(jp)) < 0)
				return syntax(jp, "invalid \\u escape");
			if (lo < 0xdc00 || lo > 0xdfff)
				return syntax(jp, "unpaired surrogate");
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		}
		sink_cp(sk, (unsigned long)cp);
	}
}

/* Scans a number exactly as RFC 8259 spells it. */
static int
parse_number(struct jp *jp)
{
	const unsigned char *s = jp->s;
	size_t n = jp->len;

	if (jp->pos < n && s[jp->pos] == '-')
		jp->pos++;
	if (jp->pos < n && s[jp->pos] == '0')
		jp->pos++;
	else if (jp->pos < n && s[jp->pos] >= '1' && s[jp->pos] <= '9')
		while (jp->pos < n && is_digit(s[jp->pos]))
			jp->pos++;
	else
		return syntax(jp, "malformed number");
	if (jp->pos < n && s[jp->pos] == '.') {
		jp->pos++;
		if (jp->pos >= n || !is_digit(s[jp->pos]))
			return syntax(jp, "malformed number");
		while (jp->pos < n && is_digit(s[jp->pos]))
			jp->pos++;
	}
	if (jp->pos < n && (s[jp->pos] == 'e' || s[jp->pos] == 'E')) {
		jp->pos++;
		if (jp->pos < n && (s[jp->pos] == '+' || s[jp->pos] == '-'))
			jp->pos++;
		if (jp->pos >= n || !is_digit(s[jp->pos]))
			return syntax(jp, "malformed number");
		while (jp->pos < n && is_digit(s[jp->pos]))
			jp->pos++;
	}
	/* "01", "1.2.3", "1-2": say so rather than "expected ','" */
	if (jp->pos < n && (is_digit(s[jp->pos]) || s[jp->pos] == '.' ||
	    s[jp->pos] == '-' || s[jp->pos] == '+' || s[jp->pos] == 'e' ||
	    s[jp->pos] == 'E'))
		return syntax(jp, "malformed number");
	return 0;
}

static int
parse_literal(struct jp *jp, const char *word)
{
	size_t n = strlen(word);

	if (jp->len - jp->pos < n || memcmp(jp->s + jp->pos, word, n) != 0)
		return syntax(jp, "expected a value");
	jp->pos += n;
	return 0;
}

static int parse_value(struct jp *, int);

/* Objects and arrays; depth is theirs, so recursion stops at the limit. */
static int
parse_container(struct jp *jp, int depth)
{
	int obj = jp->s[jp->pos] == '{';
	unsigned char close = obj ? '}' : ']';

	if (depth > DMU_JSON_DEPTH)
		return syntax(jp, "nesting too deep");
	jp->pos++;
	skip_ws(jp);
	if (jp->pos < jp->len && jp->s[jp->pos] == close) {
		jp->pos++;
		return 0;
	}
	for (;;) {
		if (obj) {
			skip_ws(jp);
			if (jp->pos >= jp->len || jp->s[jp->pos] != '"')
				return syntax(jp, "expected a member name");
			if (parse_string(jp, NULL) != 0)
				return -1;
			skip_ws(jp);
			if (jp->pos >= jp->len || jp->s[jp->pos] != ':')
				return syntax(jp, "expected ':'");
			jp->pos++;
		}
		if (parse_value(jp, depth) != 0)
			return -1;
		skip_ws(jp);
		if (jp->pos < jp->len && jp->s[jp->pos] == ',') {
			jp->pos++;
			continue;
		}
		if (jp->pos < jp->len && jp->s[jp->pos] == close) {
			jp->pos++;
			return 0;
		}
		return syntax(jp, obj ? "expected ',' or '}'" :
		    "expected ',' or ']'");
	}
}

static int
parse_value(struct jp *jp, int depth)
{
	skip_ws(jp);
	if (jp->pos >= jp->len)
		return syntax(jp, "unexpected end");
	switch (jp->s[jp->pos]) {
	case '{':
	case '[':
		return parse_container(jp, depth + 1);
	case '"':
		return parse_string(jp, NULL);
	case 't':
		return parse_literal(jp, "true");
	case 'f':
		return parse_literal(jp, "false");
	case 'n':
		return parse_literal(jp, "null");
	default:
		if (jp->s[jp->pos] == '-' || is_digit(jp->s[jp->pos]))
			return parse_number(jp);
		return syntax(jp, "expected a value");
	}
}

/* Validates a whole text: one value, white space around it only. */
static int
validate(struct jp *jp)
{
	jp->pos = 0;
	if (parse_value(jp, 0) != 0)
		return -1;
	skip_ws(jp);
	if (jp->pos != jp->len)
		return syntax(jp, "data after the value");
	jp->pos = 0;
	return 0;
}

/*
 * The walkers below run on validated text only; they still check their
 * bounds so that a mistake cannot read outside the body.
 */

/* Returns the end of the string whose quote is at pos. */
static size_t
skip_string(const unsigned char *s, size_t len, size_t pos)
{
	for (pos++; pos < len && s[pos] != '"'; pos++)
		if (s[pos] == '\\')
			pos++;
	return pos < len ? pos + 1 : len;
}

/* Returns the end of the value at pos, without recursion. */
static size_t
skip_value(const unsigned char *s, size_t len, size_t pos)
{
	size_t depth = 0;

	if (pos >= len)
		return len;
	if (s[pos] == '"')
		return skip_string(s, len, pos);
	if (s[pos] != '{' && s[pos] != '[') {
		while (pos < len && !is_ws(s[pos]) && s[pos] != ',' &&
		    s[pos] != '}' && s[pos] != ']')
			pos++;
		return pos;
	}
	while (pos < len) {
		if (s[pos] == '"') {
			pos = skip_string(s, len, pos);
			continue;
		}
		if (s[pos] == '{' || s[pos] == '[')
			depth++;
		else if ((s[pos] == '}' || s[pos] == ']') && --depth == 0)
			return pos + 1;
		pos++;
	}
	return len;
}

/*
 * Steps to the next member of the object being walked (jp->pos just past
 * its '{' or after the previous member).  Returns 1 with m filled, or 0 at
 * the end of the object, past its '}'.
 */
static int
obj_next(struct jp *jp, struct member *m)
{
	struct sink sk;

	skip_ws(jp);
	if (jp->pos < jp->len && jp->s[jp->pos] == ',') {
		jp->pos++;
		skip_ws(jp);
	}
	if (jp->pos >= jp->len || jp->s[jp->pos] != '"') {
		jp->pos = jp->pos < jp->len ? jp->pos + 1 : jp->len;
		return 0;
	}
	memset(&sk, 0, sizeof(sk));
	sk.buf = m->key;
	sk.cap = KEY_MAX;
	m->kbeg = jp->pos;
	(void)parse_string(jp, &sk);
	m->kend = jp->pos;
	m->key[sk.len] = '\0';
	/* A NUL from \u0000 would make a short name look like ours. */
	m->keylong = sk.full || memchr(m->key, '\0', sk.len) != NULL;
	skip_ws(jp);
	if (jp->pos < jp->len)		/* the ':' */
		jp->pos++;
	skip_ws(jp);
	m->vbeg = jp->pos;
	jp->pos = skip_value(jp->s, jp->len, jp->pos);
	m->vend = jp->pos;
	return 1;
}

/* As obj_next() for the elements of an array. */
static int
arr_next(struct jp *jp, size_t *beg, size_t *end)
{
	skip_ws(jp);
	if (jp->pos < jp->len && jp->s[jp->pos] == ',') {
		jp->pos++;
		skip_ws(jp);
	}
	if (jp->pos >= jp->len || jp->s[jp->pos] == ']') {
		jp->pos = jp->pos < jp->len ? jp->pos + 1 : jp->len;
		return 0;
	}
	*beg = jp->pos;
	jp->pos = skip_value(jp->s, jp->len, jp->pos);
	*end = jp->pos;
	return 1;
}

static int
is_key(const struct member *m, const char *name)
{
	return !m->keylong && strcmp(m->key, name) == 0;
}

/* A serial: digits only (no '-', fraction or exponent), at most 2^53. */
static int
parse_serial(const unsigned char *s, size_t beg, size_t end,
    long long *out, char *err)
{
	long long v = 0;
	size_t i;

	if (beg >= end) {
		dmu_seterr(err, "report without an integer serial");
		return -1;
	}
	for (i = beg; i < end; i++)
		if (!is_digit(s[i])) {
			dmu_seterr(err, "report without an integer serial");
			return -1;
		}
	for (i = beg; i < end; i++) {
		v = v * 10 + (s[i] - '0');
		if (v > SERIAL_MAX) {
			dmu_seterr(err, "report serial out of range");
			return -1;
		}
	}
	*out = v;
	return 0;
}

/*
 * Copies the string content between beg and end (quotes excluded) as
 * received into ts (64 bytes), cut only between whole characters and
 * escapes so that the result is still valid JSON string content.
 */
static void
copy_timestamp(char *ts, const unsigned char *s, size_t beg, size_t end)
{
	size_t i = beg, n = 0, k;

	while (i < end) {
		if (s[i] == '\\') {
			k = s[i + 1] == 'u' ? 6 : 2;
			/* A surrogate pair is one character. */
			if (k == 6 && i + 12 <= end && s[i + 6] == '\\' &&
			    s[i + 7] == 'u' && (s[i + 2] == 'd' ||
			    s[i + 2] == 'D') && dmu_hexval(s[i + 3]) >= 8 &&
			    dmu_hexval(s[i + 3]) <= 0xb)
				k = 12;
		} else
			k = utf8_len(s + i, end - i);
		if (k == 0 || k > end - i || n + k > 63)
			break;
		memcpy(ts + n, s + i, k);
		n += k;
		i += k;
	}
	ts[n] = '\0';
}

/* Writes s as a JSON string at o; returns the end.  Room: 6 per byte + 2. */
static char *
put_jstring(char *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;

	*o++ = '"';
	for (; (c = (unsigned char)*s) != '\0'; s++) {
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			*o++ = '\\';
			*o++ = 'u';
			*o++ = '0';
			*o++ = '0';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		} else
			*o++ = (char)c;
	}
	*o++ = '"';
	return o;
}

/* Copies the value between beg and end without insignificant white space. */
static char *
put_compact(char *o, const unsigned char *s, size_t beg, size_t end)
{
	size_t i;
	int instr = 0;

	for (i = beg; i < end; i++) {
		if (instr) {
			*o++ = (char)s[i];
			if (s[i] == '\\' && i + 1 < end)
				*o++ = (char)s[++i];
			else if (s[i] == '"')
				instr = 0;
		} else if (!is_ws(s[i])) {
			*o++ = (char)s[i];
			if (s[i] == '"')
				instr = 1;
		}
	}
	return o;
}

/*
 * Checks the report between beg and end and, when w->emit is set, hands it
 * to w->fn re-emitted.  Returns 0, DMU_EDATA or what fn returned.
 */
static int
one_report(struct walk *w, struct jp *body, size_t beg, size_t end)
{
	struct jp jp = *body;
	struct member m;
	struct dmu_report rep;
	char *o = w->out;
	int have_serial = 0, have_ts = 0;

	if (beg >= end || jp.s[beg] != '{') {
		dmu_seterr(w->err, "report is not an object");
		return DMU_EDATA;
	}
	if (end - beg > w->maxspan)
		w->maxspan = end - beg;
	memset(&rep, 0, sizeof(rep));
	if (w->emit) {
		memcpy(o, "{\"device\":", 10);
		o = put_jstring(o + 10, w->device);
	}
	jp.pos = beg + 1;
	while (obj_next(&jp, &m)) {
		if (is_key(&m, "serial")) {
			if (have_serial) {
				dmu_seterr(w->err, "duplicate serial in a report");
				return DMU_EDATA;
			}
			have_serial = 1;
			if (parse_serial(jp.s, m.vbeg, m.vend, &rep.serial,
			    w->err) != 0)
				return DMU_EDATA;
		} else if (is_key(&m, "timestamp")) {
			/* Two would leave the state file guessing. */
			if (have_ts) {
				dmu_seterr(w->err,
				    "duplicate timestamp in a report");
				return DMU_EDATA;
			}
			have_ts = 1;
			if (jp.s[m.vbeg] != '"') {
				dmu_seterr(w->err,
				    "report timestamp is not a string");
				return DMU_EDATA;
			}
			copy_timestamp(rep.timestamp, jp.s, m.vbeg + 1,
			    m.vend - 1);
		} else if (is_key(&m, "device"))
			continue;	/* ours is authoritative */
		if (w->emit) {
			*o++ = ',';
			memcpy(o, jp.s + m.kbeg, m.kend - m.kbeg);
			o += m.kend - m.kbeg;
			*o++ = ':';
			o = put_compact(o, jp.s, m.vbeg, m.vend);
		}
	}
	if (!have_serial) {
		dmu_seterr(w->err, "report without an integer serial");
		return DMU_EDATA;
	}
	if (!w->emit)
		return 0;
	*o++ = '}';
	*o = '\0';
	rep.line = w->out;
	rep.len = (size_t)(o - w->out);
	return w->fn != NULL ? w->fn(w->ctx, &rep) : 0;
}

/* Walks every report of a validated body, in order. */
static int
walk_reports(struct walk *w, struct jp *body)
{
	struct jp jp = *body;
	struct member m;
	size_t beg, end, top, rbeg = 0;
	int rc, nreports = 0, serial = 0;

	jp.pos = 0;
	skip_ws(&jp);
	top = jp.pos;
	if (jp.s[jp.pos] == '{') {
		jp.pos++;
		while (obj_next(&jp, &m)) {
			if (is_key(&m, "serial"))
				serial = 1;
			else if (is_key(&m, "reports")) {
				nreports++;
				rbeg = m.vbeg;
			}
		}
		if (serial || nreports == 0)
			return one_report(w, &jp, top,
			    skip_value(jp.s, jp.len, top));
		if (nreports > 1) {
			dmu_seterr(w->err, "duplicate reports member");
			return DMU_EDATA;
		}
		if (jp.s[rbeg] != '[') {
			dmu_seterr(w->err, "reports member is not an array");
			return DMU_EDATA;
		}
		jp.pos = rbeg;
	} else if (jp.s[jp.pos] != '[') {
		dmu_seterr(w->err, "body is neither a report nor a list");
		return DMU_EDATA;
	}
	jp.pos++;
	while (arr_next(&jp, &beg, &end))
		if ((rc = one_report(w, &jp, beg, end)) != 0)
			return rc;
	return 0;
}

/* see dmu.h */
int
dmu_json_reports(const char *body, size_t len, const char *device,
    int (*fn)(void *, const struct dmu_report *), void *ctx, char *err)
{
	struct jp jp;
	struct walk w;
	size_t devlen, need;
	int rc;

	if (err != NULL)
		err[0] = '\0';
	if (body == NULL) {
		dmu_seterr(err, "no body");
		return DMU_EDATA;
	}
	jp.s = (const unsigned char *)body;
	jp.len = len;
	jp.pos = 0;
	jp.err = err;
	if (validate(&jp) != 0)
		return DMU_EDATA;

	memset(&w, 0, sizeof(w));
	w.device = device != NULL ? device : "";
	w.err = err;
	if ((rc = walk_reports(&w, &jp)) != 0)
		return rc;

	/* Re-emitted members take no more room than they had. */
	devlen = strlen(w.device);
	if (devlen > (SIZE_MAX - 64) / 6 ||
	    w.maxspan > SIZE_MAX - 64 - 6 * devlen) {
		dmu_seterr(err, "report too large");
		return DMU_EDATA;
	}
	need = w.maxspan + 6 * devlen + 64;
	if ((w.out = malloc(need)) == NULL) {
		dmu_seterr(err, "out of memory");
		return DMU_EFAIL;
	}
	w.emit = 1;
	w.fn = fn;
	w.ctx = ctx;
	rc = walk_reports(&w, &jp);
	free(w.out);
	return rc;
}

/* see dmu.h */
int
dmu_json_message(const char *body, size_t len, char *out, size_t outsz)
{
	struct jp jp;
	struct member m;
	struct sink sk;

	if (body == NULL || out == NULL || outsz == 0)
		return -1;
	out[0] = '\0';
	jp.s = (const unsigned char *)body;
	jp.len = len;
	jp.pos = 0;
	jp.err = NULL;
	if (validate(&jp) != 0)
		return -1;
	skip_ws(&jp);
	if (jp.s[jp.pos] != '{')
		return -1;
	jp.pos++;
	while (obj_next(&jp, &m)) {
		if (!is_key(&m, "message"))
			continue;
		if (jp.s[m.vbeg] != '"')
			return -1;
		memset(&sk, 0, sizeof(sk));
		sk.buf = out;
		sk.cap = outsz - 1;
		sk.scrub = 1;
		jp.pos = m.vbeg;
		(void)parse_string(&jp, &sk);
		out[sk.len] = '\0';
		return 0;
	}
	return -1;
}

/* see dmu.h */
char *
dmu_http_reason(char *out, size_t outsz, int status, const char *body,
    size_t len)
{
	char msg[DMU_ERRLEN];

	if (dmu_json_message(body, len, msg, sizeof(msg)) != 0)
		msg[0] = '\0';
	snprintf(out, outsz, "HTTP %d%s%s", status, msg[0] ? ": " : "", msg);
	return out;
}
