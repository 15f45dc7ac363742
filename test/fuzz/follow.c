/* SPDX-License-Identifier: ISC */
/*
 * follow.c - fuzzes the collector's logic: dmu_follow_init(), then a
 * sequence of answers to /wait (dmu_follow_answer), continuity checks
 * after a reconnection (dmu_follow_continuity) and network errors
 * (dmu_follow_neterr), decoded from the input.
 *
 * Input: byte 0 picks the starting serial (bits 0-2), its timestamp (bits
 * 3-4) and the limit (bits 5-7); byte 1 after how many writes the output
 * fails (bits 0-3, 0: never), the device name (bits 4-6) and whether
 * warnings are taken (bit 7).  Then
 * operations: one byte, whose bits 0-2 pick the status (200, 204, 400 with
 * the device's restart message, 400, 401, 404, 500, 503), bits 3-4 the
 * call (answer, answer, continuity, network error) and bits 5-7 the
 * Retry-After; then, except for the restart message and network errors, a
 * 16-bit little-endian body length and the body.
 *
 * Invariants: serials written strictly increase except right after a
 * restart (which is warned about), f->count is the number written, the
 * limit holds, DONE comes exactly at the limit, FAIL carries a status in
 * 1..7 and a reason, a back-off lies within 0..3600 s, SAVED means
 * something was written and AGAIN that nothing was.
 */
#include <limits.h>

#include "fuzz.h"

#define MAXOPS	64

static const long long lasts[8] = { 0, 0, 1, 5, 42, 1000,
    (1LL << 53) - 1, 1LL << 53 };
static const char *const stamps[4] = { NULL, "", "2024-01-01T00:00:00Z",
    "\\u00e9t\xc3\xa9" };
static const long long limits[8] = { 0, 0, 0, 1, 2, 3, 5, 100 };
static const int statuses[8] = { 200, 204, 400, 400, 401, 404, 500, 503 };
static const long retries[8] = { -1, -1, 0, 1, 30, 3600, 3601, LONG_MAX };

/* Canonical device names, the longest ones that dmu_device_parse() gives. */
#define L63 "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk"
static const char *const devices[8] = {
	"dev.example:443", "127.0.0.1:443", "[2001:db8::1]:8443",
	L63 "." L63 "." L63 "." L63 ":65535",
	"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535",
	L63 "." L63 "." L63 ".abc:443", "x:1", "dev.example:443",
};

struct model {
	struct dmu_follow *f;
	long long last;		/* what f->last must be */
	char last_ts[64];
	long long emitted;	/* serial of the last write, -1: none yet */
	int reset;		/* a restart since that write */
	long long writes;	/* writes that went through */
	int calls, fail_at;	/* emit() calls; the one that fails */
	int restarted;		/* a restart warning during this operation */
	long long *want;	/* serials emit() is to get, in order */
	size_t nwant, got;
};

/* The serials of a body, as the JSON scanner reads them. */
struct serials {
	long long *v;
	size_t n;
	char ts[64];		/* the first report's timestamp */
};

static int
collect(void *ctx, const struct dmu_report *r)
{
	struct serials *s = ctx;

	if (s->n == 0)
		memcpy(s->ts, r->timestamp, sizeof(s->ts));
	if ((s->v = realloc(s->v, (s->n + 1) * sizeof(*s->v))) == NULL)
		abort();
	s->v[s->n++] = r->serial;
	return 0;
}

/* Returns the JSON scanner's verdict on body, with its serials in s. */
static int
scan(const char *device, const char *body, size_t len, struct serials *s)
{
	char err[DMU_ERRLEN];
	int rc;

	memset(s, 0, sizeof(*s));
	rc = dmu_json_reports(body, len, device, collect, s, err);
	if (rc != 0) {
		free(s->v);
		memset(s, 0, sizeof(*s));
	}
	return rc;
}

/*
 * What a 200 answer must write: each serial above the last one written,
 * in order, up to the limit, up to and including a write that fails.
 */
static void
expect(struct model *m, const struct serials *s)
{
	struct dmu_follow *f = m->f;
	long long cur = f->last, cnt = f->count;
	int calls = m->calls;
	size_t i;

	free(m->want);
	if ((m->want = malloc((s->n + 1) * sizeof(*m->want))) == NULL)
		abort();
	m->nwant = m->got = 0;
	for (i = 0; i < s->n; i++) {
		if (s->v[i] <= cur)
			continue;
		m->want[m->nwant++] = s->v[i];
		if (++calls == m->fail_at)
			break;
		cur = s->v[i];
		if (f->limit > 0 && ++cnt >= f->limit)
			break;
	}
}

static int
emit(void *ctx, const struct dmu_report *r)
{
	struct model *m = ctx;
	struct dmu_follow *f = m->f;

	CHECK(f->last == m->last, "last %lld, expected %lld", f->last,
	    m->last);
	CHECK(r->serial > f->last, "serial %lld written after %lld",
	    r->serial, f->last);
	CHECK(m->emitted < 0 || m->reset || r->serial > m->emitted,
	    "serial %lld written after %lld, no restart between", r->serial,
	    m->emitted);
	CHECK(f->limit == 0 || f->count < f->limit, "write past the limit");
	CHECK(r->line != NULL && strncmp(r->line, "{\"device\":", 10) == 0,
	    "line %.60s", r->line ? r->line : "(null)");
	CHECK(m->got < m->nwant && m->want[m->got] == r->serial,
	    "wrote serial %lld, expected %s%lld", r->serial,
	    m->got < m->nwant ? "" : "nothing, not ",
	    m->got < m->nwant ? m->want[m->got] : 0);
	m->got++;
	if (++m->calls == m->fail_at)
		return 1;
	m->emitted = r->serial;
	m->reset = 0;
	m->last = r->serial;
	memcpy(m->last_ts, r->timestamp, sizeof(m->last_ts));
	m->writes++;
	return 0;
}

static void
warn(void *ctx, const char *msg)
{
	struct model *m = ctx;

	CHECK(fz_terminated(msg, DMU_DEVICE_MAX + 2 + DMU_ERRLEN),
	    "warning not terminated");
	/* no C0, DEL or C1 control from the device reaches a terminal */
	CHECK(fz_utf8_clean(msg), "control character or bad UTF-8 in "
	    "warning: %s", msg);
	if (strstr(msg, "restarted") != NULL)
		m->restarted = 1;
}

/* Checks f after one operation that returned act. */
static int
after(struct model *m, int act, long long before)
{
	struct dmu_follow *f = m->f;

	CHECK(f->count == m->writes, "count %lld, %lld written", f->count,
	    m->writes);
	CHECK(f->limit == 0 || f->count <= f->limit, "count %lld over "
	    "limit %lld", f->count, f->limit);
	if (f->last != m->last || strcmp(f->last_ts, m->last_ts) != 0) {
		/* only a restart sets them back, to 0 and "", warning */
		CHECK(f->last == 0 && f->last_ts[0] == '\0',
		    "last %lld '%s', expected %lld '%s'", f->last,
		    f->last_ts, m->last, m->last_ts);
		CHECK(f->warn == NULL || m->restarted,
		    "restart without a warning");
		m->last = 0;
		m->last_ts[0] = '\0';
		m->reset = 1;
	}
	CHECK(f->backoff_ms >= 1000 && f->backoff_ms <= 60000,
	    "backoff %ld", f->backoff_ms);
	switch (act) {
	case DMU_FOLLOW_AGAIN:
		CHECK(f->count == before, "AGAIN after a write");
		return 0;
	case DMU_FOLLOW_SAVED:
		CHECK(f->count > before, "SAVED without a write");
		return 0;
	case DMU_FOLLOW_DONE:
		CHECK(f->limit > 0 && f->count == f->limit, "DONE at %lld "
		    "of %lld", f->count, f->limit);
		return 1;
	case DMU_FOLLOW_RETRY:
		CHECK(f->delay_ms >= 0 && f->delay_ms <= 3600000L,
		    "delay %ld ms", f->delay_ms);
		return 0;
	case DMU_FOLLOW_FAIL:
		CHECK(f->status >= 1 && f->status <= 7, "status %d",
		    f->status);
		CHECK(fz_terminated(f->err, sizeof(f->err)) &&
		    f->err[0] != '\0', "FAIL without a reason");
		return 1;
	default:
		CHECK(0, "action %d", act);
		return 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmu_follow *f;
	struct model m;
	const uint8_t *p = data, *end = data + size;
	char restart[160], *body;
	size_t len;
	long long before;
	int op, kind, status, act, nops = 0;
	long ra;

	if (size < 2)
		return 0;
	srandom(1);
	if ((f = malloc(sizeof(*f))) == NULL)
		abort();
	memset(&m, 0, sizeof(m));
	dmu_follow_init(f, devices[(p[1] >> 4) & 7], lasts[p[0] & 7],
	    stamps[(p[0] >> 3) & 3]);
	CHECK(f->count == 0 && f->backoff_ms > 0 && f->emit == NULL,
	    "init");
	f->limit = limits[p[0] >> 5];
	f->emit = emit;
	f->warn = (p[1] & 0x80) ? warn : NULL;
	f->ctx = &m;
	m.f = f;
	m.last = f->last;
	snprintf(m.last_ts, sizeof(m.last_ts), "%s", f->last_ts);
	m.emitted = -1;
	m.fail_at = p[1] & 15;
	p += 2;

	while (p < end && nops++ < MAXOPS) {
		op = *p++;
		status = statuses[op & 7];
		kind = (op >> 3) & 3;
		ra = retries[op >> 5];
		body = NULL;
		len = 0;
		if (kind == 3) {
			/* a network error: no answer at all */
		} else if ((op & 7) == 2) {
			snprintf(restart, sizeof(restart), "{\"code\":400,"
			    "\"message\":\"lastSerial (%lld) is greater than "
			    "current max serial (0)\"}", f->last);
			len = strlen(restart);
			if ((body = malloc(len + 1)) == NULL)
				abort();
			memcpy(body, restart, len + 1);
		} else {
			len = end - p >= 2 ? (size_t)(p[0] | p[1] << 8) : 0;
			p += end - p >= 2 ? 2 : end - p;
			if (len > (size_t)(end - p))
				len = (size_t)(end - p);
			/* exact size and NUL-terminated, as dmu_http_read
			 * gives it */
			if ((body = malloc(len + 1)) == NULL)
				abort();
			memcpy(body, p, len);
			body[len] = '\0';
			p += len;
		}
		before = f->count;
		m.restarted = 0;
		m.nwant = m.got = 0;
		if (kind == 3) {
			act = dmu_follow_neterr(f, ra);
			CHECK(act == DMU_FOLLOW_RETRY, "neterr gave %d", act);
		} else if (kind == 2) {
			long long was = f->last;
			struct serials sv;
			int reset;

			/* a restart: the serial is there, with another time */
			reset = scan(f->device, body, len, &sv) == 0 &&
			    status == 200 && was > 0 && f->last_ts[0] != '\0' &&
			    sv.n == 1 && sv.v[0] == was &&
			    strcmp(sv.ts, f->last_ts) != 0;
			free(sv.v);
			dmu_follow_continuity(f, status, body, len);
			CHECK(f->count == before, "continuity wrote");
			CHECK(reset ? f->last == 0 && f->last_ts[0] == '\0' :
			    f->last == was, "continuity: last %lld to %lld, "
			    "%sexpected", was, f->last, reset ? "restart " :
			    "no restart ");
			act = DMU_FOLLOW_AGAIN;
		} else {
			struct serials sv;
			char msg[DMU_ERRLEN];
			int jrc = -1, isrestart = 0;

			if (status == 200) {
				jrc = scan(f->device, body, len, &sv);
				if (jrc == 0)
					expect(&m, &sv);
				free(sv.v);
			} else if (status == 400) {
				isrestart = dmu_json_message(body, len, msg,
				    sizeof(msg)) == 0 && strstr(msg, "is greater "
				    "than current max serial") != NULL;
			}
			act = dmu_follow_answer(f, status, body, len, ra);
			CHECK(m.got == m.nwant, "%zu of %zu reports written",
			    m.got, m.nwant);
			if (status == 200)
				CHECK((jrc == 0) == (act != DMU_FOLLOW_FAIL ||
				    f->status == DMU_EFAIL), "JSON verdict %d, "
				    "action %d", jrc, act);
			if (status == 400)
				CHECK((act == DMU_FOLLOW_AGAIN) == isrestart &&
				    (!isrestart || f->last == 0),
				    "400: action %d, restart message %d", act,
				    isrestart);
			if (status == 204)
				CHECK(act == DMU_FOLLOW_AGAIN, "204 gave %d",
				    act);
			if (status == 401 || status == 404)
				CHECK(act == DMU_FOLLOW_FAIL &&
				    f->status == DMU_EHTTP, "%d gave %d",
				    status, act);
			if (status >= 500)
				CHECK(act == DMU_FOLLOW_RETRY, "%d gave %d",
				    status, act);
			if ((op & 7) == 2)
				CHECK(act == DMU_FOLLOW_AGAIN && f->last == 0,
				    "restart message gave %d", act);
			if (act == DMU_FOLLOW_FAIL && status == 200)
				CHECK(f->count == before ||
				    f->status == DMU_EFAIL,
				    "refused answer wrote reports");
		}
		free(body);
		if (after(&m, act, before))
			break;
	}
	free(m.want);
	free(f);
	return 0;
}
