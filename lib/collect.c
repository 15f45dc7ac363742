/* SPDX-License-Identifier: ISC */
/*
 * collect.c - the collector: long polls on one kept-alive connection, the
 * continuity check on each new connection, deletions (and the restart
 * their answers can show), back-off and the stop signals.  What to make
 * of each answer is follow.c's; this file does the I/O around it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* A deletion that fails is tried again after each answer, so many times. */
#define DELETE_TRIES	10

/* Says "DEVICE: message" through the caller's warn(). */
static void
say(struct dmu_collect *c, const char *fmt, ...)
{
	char text[DMU_ERRLEN], msg[DMU_DEVICE_MAX + 2 + DMU_ERRLEN];
	char safe[sizeof(msg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(msg, sizeof(msg), "%s: %s", c->cl->dev->canon, text);
	/* Timestamps come from the device: no control reaches a terminal. */
	c->warn(c->ctx, dmu_scrub(safe, sizeof(safe), msg, strlen(msg)));
}

/* Ends the run with status and a reason; returns status. */
static int
stop(struct dmu_collect *c, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	return status;
}

/*
 * follow.c's emit(): hands the report to the sink, then remembers it for
 * -d.
 */
static int
emit(void *ctx, const struct dmu_report *r)
{
	struct dmu_collect *c = ctx;
	int rc;

	if ((rc = dmu_sink_put(&c->sink, r)) != 0 || !c->delete)
		return rc;
	if (c->npending == c->cappending) {
		c->cappending = c->cappending ? c->cappending * 2 : 64;
		c->pending = dmu_xreallocarray(c->pending, c->cappending,
		    sizeof(*c->pending));
	}
	c->pending[c->npending].serial = r->serial;
	snprintf(c->pending[c->npending].ts, sizeof(c->pending[0].ts), "%s",
	    r->timestamp);
	c->pending[c->npending++].tries = 0;
	return 0;
}

static void
warn_cb(void *ctx, const char *msg)
{
	struct dmu_collect *c = ctx;

	c->warn(c->ctx, msg);
}

/*
 * A deletion took a report of the device's new epoch, never handed on:
 * hands it to the sink at once, as a batch of its own.  Returns 0, or -1
 * after saying that it is lost.
 */
static int
rescue(struct dmu_collect *c, const struct dmu_report *r)
{
	int rc;

	if ((rc = dmu_sink_put(&c->sink, r)) == 0 &&
	    (rc = dmu_sink_ack(&c->sink)) == DMU_OK) {
		c->f.count++;
		return 0;
	}
	say(c, "serial %lld of timestamp %s, deleted after the restart, is "
	    "lost: %s", r->serial, r->timestamp, rc == -1 ? "stopped" :
	    rc == 1 ? "write error" : c->sink.err);
	return -1;
}

/* What a deletion's answer is compared with. */
struct gone {
	struct dmu_collect *c;
	const struct dmu_pending *p;
	int restarted;
};

/*
 * dmu_json_reports()'s fn for the answer to a deletion: a report of that
 * serial with another timestamp than the one handed on means the device
 * restarted and the deletion took a report of its new epoch.
 */
static int
gone_cb(void *ctx, const struct dmu_report *r)
{
	struct gone *g = ctx;

	if (r->serial != g->p->serial || g->p->ts[0] == '\0' ||
	    strcmp(r->timestamp, g->p->ts) == 0)
		return 0;
	g->restarted = 1;
	g->c->f.restarts++;
	say(g->c, "the device restarted: deleting serial %lld took a report "
	    "of timestamp %s, not %s; handing it on, dropping the other "
	    "deletions and reading again from its first report", r->serial,
	    r->timestamp, g->p->ts);
	rescue(g->c, r);
	return 0;
}

/*
 * Deletes report p; with the device restarted meanwhile (the answer holds
 * another report than the one handed on) sets *restarted.  Returns what
 * dmu_client_delete() returns.
 */
static int
delete_one(struct dmu_collect *c, const struct dmu_pending *p,
    int *restarted)
{
	struct dmu_resp r;
	struct gone g = { c, p, 0 };
	char why[DMU_ERRLEN];
	int rc;

	if ((rc = dmu_client_delete(c->cl, p->serial, &r)) != DMU_OK ||
	    r.body == NULL)
		return rc;
	/* A malformed answer: deleted all the same, nothing to compare. */
	(void)dmu_json_reports(r.body, r.len, c->f.device, gone_cb, &g, why);
	dmu_resp_free(&r);
	*restarted = g.restarted;
	return rc;
}

/*
 * After a restart seen in a deletion: the deletions left would take more
 * reports of the new epoch, so they are dropped, and the collector reads
 * from the device's first report, which the state file says at once.
 */
static int
restarted(struct dmu_collect *c)
{
	c->npending = 0;
	c->f.last = 0;
	c->f.last_ts[0] = '\0';
	if (c->statefile == NULL)
		return DMU_OK;
	return dmu_state_write(c->statefile, 0, "", c->err);
}

/*
 * Deletes the reports written and not yet deleted, one by one; one that
 * fails stays for the next call, DELETE_TRIES times in all.  A mismatch
 * returns DMU_EMISMATCH at once; a restart seen in a deletion's answer
 * ends the deletions (restarted()); anything else DMU_OK.
 */
static int
delete_pending(struct dmu_collect *c)
{
	struct dmu_pending *p;
	size_t i, keep = 0;
	int rc = DMU_OK, again = 0;

	for (i = 0; i < c->npending; i++) {
		p = &c->pending[i];
		if (rc == DMU_OK && !dmu_stop) {
			rc = delete_one(c, p, &again);
			if (again)
				return restarted(c);
			if (rc == DMU_OK)
				continue;
			if (rc == DMU_EMISMATCH)
				break;
			if (++p->tries >= DELETE_TRIES) {
				say(c, "cannot delete serial %lld: %s; giving "
				    "up after %d tries (it stays on the device "
				    "until its buffer overwrites it)",
				    p->serial, c->cl->err, DELETE_TRIES);
				rc = DMU_OK;
				continue;
			}
			say(c, "cannot delete serial %lld: %s; trying again "
			    "after the next answer", p->serial, c->cl->err);
			rc = DMU_OK;
		}
		c->pending[keep++] = *p;
	}
	for (; i < c->npending; i++)
		c->pending[keep++] = c->pending[i];
	c->npending = keep;
	return rc;
}

/*
 * Writes the -m file: with force, or when dmu_up changed, at once;
 * otherwise at most once a second, a write put off being made after the
 * next answer, which poll_once() asks within a second.  up is dmu_up: 1
 * after an answer or a connection, 0 after a failure (not after a
 * device's clean close, which is followed by a new connection at once).
 */
static void
metrics(struct dmu_collect *c, int force, int up)
{
	char err[DMU_ERRLEN];
	int64_t now;

	if (c->metrics == NULL || c->f.device == NULL)
		return;		/* none asked for, or the run never began */
	now = dmu_now_ms();
	if (!force && up == c->metrics_up && now - c->metrics_ms < 1000) {
		c->metrics_dirty = 1;
		return;
	}
	c->metrics_dirty = 0;
	c->metrics_ms = now;
	c->metrics_up = up;
	if (dmu_follow_metrics(c->metrics, &c->f, c->connects > 1 ?
	    c->connects - 1 : 0, up, c->command != NULL ? &c->sink : NULL,
	    err) != DMU_OK) {
		if (!c->metrics_failed)
			say(c, "%s", err);
		c->metrics_failed = 1;
	} else
		c->metrics_failed = 0;
}

/* A network failure: say so and wait, shorter when a stop signal comes. */
static void
back_off(struct dmu_collect *c, const char *why)
{
	metrics(c, 0, 0);
	dmu_follow_neterr(&c->f, -1);
	say(c, "%s; trying again in %.1f s", why, (double)c->f.delay_ms / 1000);
	dmu_sleep_ms(c->f.delay_ms);
}

/*
 * Connects again when not connected, and on each new connection (this
 * one, or one a deletion made) asks for the last report written, when
 * there is one, to compare its timestamp: the device may have restarted
 * meanwhile.  Returns DMU_OK, DMU_EMISMATCH, or DMU_ENET after backing
 * off.
 */
static int
reconnect(struct dmu_collect *c)
{
	struct dmu_resp r;
	char path[64];
	int rc;

	if (!c->cl->connected) {
		if ((rc = dmu_client_connect(c->cl)) != DMU_OK) {
			if (rc == DMU_EMISMATCH)
				return rc;
			back_off(c, c->cl->err);
			return DMU_ENET;
		}
		c->connects++;
		metrics(c, 0, 1);
	}
	c->checked = c->cl->opened;
	if (c->f.last > 0 && c->f.last_ts[0] != '\0') {
		snprintf(path, sizeof(path), "/reports/%lld", c->f.last);
		if ((rc = dmu_client_get(c->cl, path, 0, &r)) != DMU_OK) {
			if (rc == DMU_EMISMATCH)
				return rc;
			back_off(c, c->cl->err);
			return DMU_ENET;
		}
		dmu_follow_continuity(&c->f, r.status, r.body, r.len);
		dmu_resp_free(&r);
	}
	/* One the device closed after that answer: the poll connects. */
	return DMU_OK;
}

/* Where an answer found the collector, to go back to when it is refused. */
struct mark {
	long long last, count, lost;
	char last_ts[64];
	long backoff_ms;
	size_t npending;
};

static void
mark(const struct dmu_collect *c, struct mark *m)
{
	m->last = c->f.last;
	m->count = c->f.count;
	m->lost = c->f.lost;
	memcpy(m->last_ts, c->f.last_ts, sizeof(m->last_ts));
	m->backoff_ms = c->f.backoff_ms;
	m->npending = c->npending;
}

/*
 * The sink did not acknowledge the batch: back to where the answer found
 * the collector, so that the same reports are asked for and handed again,
 * after a back-off that grows with each refusal in a row (a stop signal
 * cuts it short, the state staying before the batch).
 */
static void
refused(struct dmu_collect *c, const struct mark *m)
{
	long long n = c->f.count - m->count;

	c->f.last = m->last;
	c->f.count = m->count;
	c->f.lost = m->lost;
	memcpy(c->f.last_ts, m->last_ts, sizeof(c->f.last_ts));
	c->f.backoff_ms = m->backoff_ms;
	c->npending = m->npending;
	dmu_follow_neterr(&c->f, -1);
	metrics(c, 1, 1);
	if (dmu_stop) {
		say(c, "sink: %s; %lld report%s not acknowledged, left for "
		    "the next run", c->sink.err, n, n == 1 ? "" : "s");
		return;
	}
	say(c, "sink: %s; handing %lld report%s again in %.1f s",
	    c->sink.err, n, n == 1 ? "" : "s", (double)c->f.delay_ms / 1000);
	dmu_sleep_ms(c->f.delay_ms);
}

/*
 * Ends the batch of an answer: once the sink acknowledged it (stdout: on
 * the disk when it is a file and there is a state file; -x: the command
 * exited 0), the state moves on.  Returns DMU_OK, DMU_SINK_NACK after
 * refused(), or the status that ends the run.
 */
static int
hand_over(struct dmu_collect *c, const struct mark *m)
{
	int rc;

	if ((rc = dmu_sink_ack(&c->sink)) == DMU_SINK_NACK) {
		refused(c, m);
		return rc;
	}
	if (rc != DMU_OK)
		return stop(c, rc, "%s", c->sink.err);
	if (c->statefile == NULL)
		return DMU_OK;
	return dmu_state_write(c->statefile, c->f.last, c->f.last_ts, c->err);
}

/*
 * One long poll and what follows from its answer.  Returns DMU_OK to go
 * on, DMU_ENET after a network failure (backed off), or the exit status
 * of the run with c->done set.
 */
static int
poll_once(struct dmu_collect *c)
{
	struct dmu_resp r;
	struct mark m;
	char path[96];
	long wait_s = c->wait_s;
	int rc, act;

	/* A write of the metrics put off: the next answer within a second. */
	if (c->metrics_dirty)
		wait_s = 1;
	snprintf(path, sizeof(path), "/wait?lastSerial=%lld&timeout=%ld",
	    c->f.last, wait_s);
	rc = dmu_client_get(c->cl, path, wait_s * 1000, &r);
	if (dmu_stop) {
		if (rc == DMU_OK)
			dmu_resp_free(&r);
		return DMU_OK;
	}
	if (rc == DMU_EMISMATCH)
		return c->done = 1, rc;
	if (rc == DMU_EUSAGE)
		return c->done = 1, stop(c, rc, "%s", c->cl->err);
	if (rc == DMU_EDATA)
		return c->done = 1, stop(c, rc, "malformed answer: %s",
		    c->cl->err);
	if (rc != DMU_OK) {
		back_off(c, c->cl->err);
		return DMU_ENET;
	}
	mark(c, &m);
	act = dmu_follow_answer(&c->f, r.status, r.body, r.len,
	    r.retry_after);
	if (act == DMU_FOLLOW_RETRY)
		say(c, "HTTP %d; trying again in %.1f s", r.status,
		    (double)c->f.delay_ms / 1000);
	dmu_resp_free(&r);
	metrics(c, 0, 1);
	switch (act) {
	case DMU_FOLLOW_RETRY:
		dmu_sleep_ms(c->f.delay_ms);
		return DMU_OK;
	case DMU_FOLLOW_FAIL:
		return c->done = 1, stop(c, c->f.status, "%s", c->f.err);
	case DMU_FOLLOW_SAVED:
	case DMU_FOLLOW_DONE:
		if ((rc = hand_over(c, &m)) == DMU_SINK_NACK)
			return DMU_OK;
		if (rc != DMU_OK)
			return c->done = 1, rc;
		break;
	}
	/* Deletions come after the state, and failed ones again now. */
	if (c->delete && c->npending > 0 &&
	    (rc = delete_pending(c)) != DMU_OK)
		return c->done = 1, rc;
	/* A report a deletion took after a restart counts too. */
	if (act == DMU_FOLLOW_DONE || (c->f.limit > 0 &&
	    c->f.count >= c->f.limit))
		c->done = 1;
	return DMU_OK;
}

static int run(struct dmu_collect *);

/* see dmu.h */
int
dmu_collect_run(struct dmu_collect *c)
{
	int rc;

	c->metrics_up = -1;
	rc = run(c);
	metrics(c, 1, 0);	/* the end: not connected any more */
	return rc;
}

/* dmu_collect_run() but the last write of the metrics. */
static int
run(struct dmu_collect *c)
{
	char ts[64];
	long long last = 0;
	int rc = DMU_OK;

	ts[0] = '\0';
	if (c->statefile != NULL && (rc = dmu_state_read(c->statefile, &last,
	    ts, sizeof(ts), c->err)) != DMU_OK)
		return rc;
	dmu_follow_init(&c->f, c->cl->dev->canon, last, ts);
	dmu_sink_init(&c->sink, c->command, c->cl->dev->canon, c->command_ms);
	c->sink.sync = c->statefile != NULL;
	c->f.limit = c->limit;
	c->f.emit = emit;
	c->f.warn = warn_cb;
	c->f.ctx = c;
	metrics(c, 1, 0);
	srandom((unsigned)getpid() ^ (unsigned)dmu_now_ms());
	dmu_catch_signals();
	while (!dmu_stop && !c->done) {
		/* A connection the device closed is seen before the poll. */
		dmu_client_settle(c->cl);
		if ((!c->cl->connected || c->cl->opened != c->checked) &&
		    (rc = reconnect(c)) != DMU_OK) {
			if (rc == DMU_EMISMATCH)
				return rc;
			continue;
		}
		rc = poll_once(c);
		if (c->done)
			return rc;
	}
	return DMU_OK;
}

/* see dmu.h */
void
dmu_collect_free(struct dmu_collect *c)
{
	dmu_sink_free(&c->sink);
	free(c->pending);
	c->pending = NULL;
	c->npending = c->cappending = 0;
}
