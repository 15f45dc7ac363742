/* SPDX-License-Identifier: ISC */
/*
 * metrics.c - the Prometheus text exposition format, as the node
 * exporter's textfile collector reads it, and RFC 3339 times as Unix time.
 */
#include <string.h>

#include "dmu.h"

/* see dmu.h */
void
dmu_metric_head(FILE *f, const char *name, const char *type,
    const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/*
 * Writes a label value: backslash, double quote and line feed escaped as
 * the format says; other control characters and bytes above 0x7f, which
 * need not be UTF-8 (the format wants UTF-8), become '?'.
 */
static void
label_value(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(f, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p < 0x20 || *p >= 0x7f)
			putc('?', f);
		else
			putc(*p, f);
	}
}

/* see dmu.h */
void
dmu_metric(FILE *f, const char *name, const char *const *labels,
    size_t nlabels, double value)
{
	size_t i;

	fputs(name, f);
	for (i = 0; i < nlabels; i++) {
		fprintf(f, "%s%s=\"", i == 0 ? "{" : ",", labels[2 * i]);
		label_value(f, labels[2 * i + 1]);
		putc('"', f);
	}
	if (nlabels > 0)
		putc('}', f);
	/* Integers (counts, serials, times) exactly, up to 2^53. */
	if (value == (double)(long long)value && value < 9007199254740992.0 &&
	    value > -9007199254740992.0)
		fprintf(f, " %lld\n", (long long)value);
	else
		fprintf(f, " %.9g\n", value);
}

/* see dmu.h */
int
dmu_metrics_write(const char *path, int (*fill)(void *, FILE *), void *ctx,
    char *err)
{
	/* Readable by the exporter, which runs as another user. */
	return dmu_replace_file(path, 0644, fill, ctx, err);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static long long
days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/* Reads n digits at s; returns the number, or -1. */
static long
digits(const char *s, int n)
{
	long v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* see dmu.h */
int
dmu_time_parse(const char *s, double *out)
{
	long y, mo, d, h, mi, sec, oh = 0, om = 0;
	double frac = 0, scale = 0.1;
	const char *p;
	int sign = 0;

	if (strlen(s) < 20 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	p = s + 19;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
			frac += (*p - '0') * scale;
		if (p[-1] == '.')
			return -1;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0')
		sign = 0;
	else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
	    (oh = digits(p + 1, 2)) >= 0 && oh <= 23 &&
	    (om = digits(p + 4, 2)) >= 0 && om <= 59)
		sign = *p == '+' ? 1 : -1;
	else
		return -1;
	*out = (double)(days_from_civil(y, (unsigned)mo, (unsigned)d) *
	    86400 + h * 3600 + mi * 60 + sec - sign * (oh * 3600 + om * 60)) +
	    frac;
	return 0;
}

struct collector {
	const struct dmu_follow *f;
	long long reconnects;
	int up;
	const struct dmu_sink *sink;
};

/* The hand-off to a sink command (-x). */
static void
fill_sink(FILE *f, const struct dmu_sink *s, const char *const *l)
{
	dmu_metric_head(f, "dmu_sink_failures_total", "counter",
	    "Batches the sink command did not acknowledge (non-zero exit, "
	    "signal or time-out).");
	dmu_metric(f, "dmu_sink_failures_total", l, 1, (double)s->failures);
	dmu_metric_head(f, "dmu_sink_waiting_reports", "gauge",
	    "Reports of the last batch the sink did not acknowledge, to be "
	    "handed again (0 once one is acknowledged).");
	dmu_metric(f, "dmu_sink_waiting_reports", l, 1, (double)s->waiting);
	if (s->last_ok > 0) {
		dmu_metric_head(f, "dmu_sink_last_success_timestamp_seconds",
		    "gauge", "When the sink command last acknowledged a "
		    "batch, in seconds since the epoch.");
		dmu_metric(f, "dmu_sink_last_success_timestamp_seconds", l, 1,
		    s->last_ok);
	}
}

static int
fill_collector(void *ctx, FILE *f)
{
	const struct collector *c = ctx;
	const char *l[2] = { "device", c->f->device };
	double ts;

	dmu_metric_head(f, "dmu_reports_total", "counter",
	    "Reports written by this collector since it started.");
	dmu_metric(f, "dmu_reports_total", l, 1, (double)c->f->count);
	dmu_metric_head(f, "dmu_report_last_serial", "gauge",
	    "Serial of the last report written (0: none yet).");
	dmu_metric(f, "dmu_report_last_serial", l, 1, (double)c->f->last);
	if (dmu_time_parse(c->f->last_ts, &ts) == 0) {
		dmu_metric_head(f, "dmu_report_last_timestamp_seconds",
		    "gauge", "Timestamp of the last report written, by the "
		    "device's clock.");
		dmu_metric(f, "dmu_report_last_timestamp_seconds", l, 1, ts);
	}
	dmu_metric_head(f, "dmu_restarts_total", "counter",
	    "Device restarts noticed by this collector.");
	dmu_metric(f, "dmu_restarts_total", l, 1, (double)c->f->restarts);
	dmu_metric_head(f, "dmu_lost_reports_total", "counter",
	    "Serials lost between reports (device buffer overflow).");
	dmu_metric(f, "dmu_lost_reports_total", l, 1, (double)c->f->lost);
	dmu_metric_head(f, "dmu_reconnects_total", "counter",
	    "Connections made again after a network failure or a close.");
	dmu_metric(f, "dmu_reconnects_total", l, 1, (double)c->reconnects);
	dmu_metric_head(f, "dmu_up", "gauge",
	    "1 while the collector is connected to the device, else 0.");
	dmu_metric(f, "dmu_up", l, 1, c->up);
	if (c->sink != NULL)
		fill_sink(f, c->sink, l);
	return ferror(f) ? -1 : 0;
}

/* see dmu.h */
int
dmu_follow_metrics(const char *path, const struct dmu_follow *f,
    long long reconnects, int up, const struct dmu_sink *sink, char *err)
{
	struct collector c = { f, reconnects, up, sink };

	return dmu_metrics_write(path, fill_collector, &c, err);
}
