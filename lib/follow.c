/* SPDX-License-Identifier: ISC */
/*
 * follow.c - the collector's logic, apart from its I/O: what to do with
 * each answer of the long poll, so that no report is lost or written twice.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmu.h"

#define BACKOFF_FIRST	1000	/* ms */
#define BACKOFF_MAX	60000	/* ms */

/* see dmu.h */
void
dmu_follow_init(struct dmu_follow *f, const char *device, long long last,
    const char *last_ts)
{
	memset(f, 0, sizeof(*f));
	f->device = device;
	f->last = last;
	snprintf(f->last_ts, sizeof(f->last_ts), "%s", last_ts ? last_ts : "");
	f->backoff_ms = BACKOFF_FIRST;
}

static void
warnf(struct dmu_follow *f, const char *fmt, ...)
{
	char text[DMU_ERRLEN], msg[DMU_DEVICE_MAX + 2 + DMU_ERRLEN];
	char safe[sizeof(msg)];
	va_list ap;

	if (f->warn == NULL)
		return;
	/* A device name can be longer than DMU_ERRLEN: no offset by it. */
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s: %s", f->device, text);
	/* Timestamps come from the device: no control reaches a terminal. */
	f->warn(f->ctx, dmu_scrub(safe, sizeof(safe), msg, strlen(msg)));
}

/* see dmu.h */
int
dmu_follow_neterr(struct dmu_follow *f, long retry_after)
{
	long d = f->backoff_ms;

	/* Jitter of +-25 %, so that a fleet does not reconnect in step. */
	d = d - d / 4 + (long)(random() % (d / 2 + 1));
	if (retry_after >= 0) {
		if (retry_after > DMU_RETRY_AFTER_MAX)
			retry_after = DMU_RETRY_AFTER_MAX;
		if (retry_after * 1000 > d)
			d = retry_after * 1000;
	}
	f->delay_ms = d;
	f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX ? BACKOFF_MAX :
	    f->backoff_ms * 2;
	return DMU_FOLLOW_RETRY;
}

/*
 * What take() returns to stop the batch: the count is reached (TAKE_DONE),
 * or a stop signal kept a report from being written (TAKE_STOPPED).
 */
#define TAKE_DONE	2
#define TAKE_STOPPED	3

struct batch {
	struct dmu_follow *f;
	int werr;
};

static int
take(void *ctx, const struct dmu_report *r)
{
	struct batch *b = ctx;
	struct dmu_follow *f = b->f;
	long long gap;

	if (r->serial <= f->last)
		return 0;	/* written already: the device sent it again */
	gap = f->last > 0 && r->serial > f->last + 1 ?
	    r->serial - f->last - 1 : 0;
	if (gap > 0)
		warnf(f, "serials %lld to %lld were lost before they "
		    "could be read (device buffer overflow?)", f->last + 1,
		    r->serial - 1);
	switch (f->emit(f->ctx, r)) {
	case 0:
		break;
	case -1:
		return TAKE_STOPPED;	/* not written: the state stays before it */
	default:
		b->werr = 1;
		return 1;
	}
	f->lost += gap;		/* counted once the report is written */
	f->last = r->serial;
	snprintf(f->last_ts, sizeof(f->last_ts), "%s", r->timestamp);
	f->count++;
	return f->limit > 0 && f->count >= f->limit ? TAKE_DONE : 0;
}

static int
fail(struct dmu_follow *f, int status, const char *why)
{
	f->status = status;
	dmu_seterr(f->err, "%s", why);
	return DMU_FOLLOW_FAIL;
}

/* see dmu.h */
int
dmu_follow_answer(struct dmu_follow *f, int status, const char *body,
    size_t len, long retry_after)
{
	struct batch b = { f, 0 };
	char msg[DMU_ERRLEN], why[DMU_ERRLEN];
	long long before = f->count;
	int rc;

	if (status == 200) {
		rc = dmu_json_reports(body, len, f->device, take, &b, why);
		if (b.werr)
			return fail(f, DMU_EFAIL, "write error on stdout");
		if (rc == TAKE_STOPPED)
			return f->count > before ? DMU_FOLLOW_SAVED :
			    DMU_FOLLOW_AGAIN;
		if (rc != 0 && rc != TAKE_DONE)
			return fail(f, DMU_EDATA, why);
		f->backoff_ms = BACKOFF_FIRST;
		if (rc == TAKE_DONE)
			return DMU_FOLLOW_DONE;
		return f->count > before ? DMU_FOLLOW_SAVED : DMU_FOLLOW_AGAIN;
	}
	if (status == 204) {
		f->backoff_ms = BACKOFF_FIRST;
		return DMU_FOLLOW_AGAIN;
	}
	if (dmu_json_message(body, len, msg, sizeof(msg)) != 0)
		msg[0] = '\0';
	if (status == 400 && strstr(msg, "is greater than current max serial")
	    != NULL) {
		f->restarts++;
		warnf(f, "the device restarted and lost its buffer; "
		    "reading again from its first report (last written: "
		    "serial %lld)", f->last);
		f->last = 0;
		f->last_ts[0] = '\0';
		return DMU_FOLLOW_AGAIN;
	}
	/* Server trouble, or too many requests: wait and ask again. */
	if (status >= 500 || status == 429)
		return dmu_follow_neterr(f, retry_after);
	snprintf(why, sizeof(why), "HTTP %d%s%.200s", status, msg[0] ? ": " :
	    "", msg);
	f->http = status;
	return fail(f, DMU_EHTTP, why);
}

struct seen {
	long long serial;
	char ts[64];
	int n;
};

static int
see(void *ctx, const struct dmu_report *r)
{
	struct seen *s = ctx;

	s->serial = r->serial;
	memcpy(s->ts, r->timestamp, sizeof(s->ts));
	s->n++;
	return 0;
}

/* see dmu.h */
void
dmu_follow_continuity(struct dmu_follow *f, int status, const char *body,
    size_t len)
{
	struct seen s = { 0, "", 0 };
	char why[DMU_ERRLEN];

	if (status != 200 || f->last == 0 || f->last_ts[0] == '\0')
		return;
	if (dmu_json_reports(body, len, f->device, see, &s, why) != 0 ||
	    s.n != 1 || s.serial != f->last)
		return;
	if (strcmp(s.ts, f->last_ts) != 0) {
		f->restarts++;
		warnf(f, "the device restarted: its serial %lld now has "
		    "timestamp %s, not %s; reading again from its first "
		    "report", f->last, s.ts, f->last_ts);
		f->last = 0;
		f->last_ts[0] = '\0';
	}
}
