/* SPDX-License-Identifier: ISC */
/*
 * json.c - fuzzes dmu_json_reports() and dmu_json_message().
 *
 * Input: a control byte, then the body.  Bits 0-2 of the control byte pick
 * the device name, bits 3-5 the size of the message buffer, bits 6-7 after
 * how many reports the callback says stop (0: never).
 *
 * Every line emitted must parse again, with the same device, to exactly
 * one report with the same line, serial and timestamp; nothing may be
 * emitted when the body is refused.
 */
#define _GNU_SOURCE		/* memmem */
#include "fuzz.h"

static const char *const devices[8] = {
	"127.0.0.1:443", "[::1]:8443", "dmu801.example:443", "",
	"a\"b\\c\x01\x7f:1", "x:1", NULL, "h\xc3\xa9te:443",
};

static const size_t outsizes[8] = { 1, 2, 3, 4, 5, 8, 64, DMU_ERRLEN };

struct seen {
	const char *device;
	const char *mini;	/* the body without white space, or NULL */
	int stop_after;		/* return 42 on this report; 0: never */
	int n;
	int reparse;		/* checking a re-emitted line */
	long long serial;
	char ts[64];
	char *line;
};

static int
one_back(void *ctx, const struct dmu_report *r)
{
	struct seen *s = ctx;

	s->n++;
	s->serial = r->serial;
	memcpy(s->ts, r->timestamp, sizeof(s->ts));
	free(s->line);
	s->line = malloc(r->len + 1);
	if (s->line == NULL)
		abort();
	memcpy(s->line, r->line, r->len + 1);
	return 0;
}

static int
on_report(void *ctx, const struct dmu_report *r)
{
	struct seen *s = ctx, back;
	char err[DMU_ERRLEN], *copy, *wrapped;
	const char *dev = s->device != NULL ? s->device : "";
	size_t dl;
	int rc;

	s->n++;
	CHECK(r->line != NULL && strlen(r->line) == r->len,
	    "line length %zu", r->len);
	CHECK(r->serial >= 0 && r->serial <= (1LL << 53), "serial %lld",
	    r->serial);
	CHECK(fz_terminated(r->timestamp, sizeof(r->timestamp)),
	    "timestamp not terminated");
	dl = strlen("{\"device\":");
	CHECK(r->len > dl && memcmp(r->line, "{\"device\":\"", dl + 1) == 0 &&
	    r->line[r->len - 1] == '}', "line shape: %.100s", r->line);

	/* The timestamp is still valid JSON string content. */
	wrapped = malloc(strlen(r->timestamp) + 16);
	if (wrapped == NULL)
		abort();
	sprintf(wrapped, "{\"message\":\"%s\"}", r->timestamp);
	{
		char m[64];

		CHECK(dmu_json_message(wrapped, strlen(wrapped), m,
		    sizeof(m)) == 0, "timestamp is no JSON string: %s",
		    r->timestamp);
	}
	free(wrapped);

	/* The line parses again to itself, from an exact-size copy. */
	copy = malloc(r->len ? r->len : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, r->line, r->len);
	memset(&back, 0, sizeof(back));
	rc = dmu_json_reports(copy, r->len, dev, one_back, &back, err);
	CHECK(rc == 0, "re-emitted line refused (%s): %s", err, r->line);
	CHECK(back.n == 1, "re-emitted line gave %d reports", back.n);
	CHECK(strcmp(back.line, r->line) == 0, "re-emitted line changed:\n"
	    "  %s\n  %s", r->line, back.line);
	CHECK(back.serial == r->serial, "serial changed");
	CHECK(strcmp(back.ts, r->timestamp) == 0, "timestamp changed");
	free(back.line);
	free(copy);

	/*
	 * Past the device, the line is the report as received, white space
	 * aside: found in the minified body (unless names are escaped or a
	 * device member was dropped, which the check cannot follow).
	 */
	if (s->mini != NULL) {
		const char *rest = r->line + dl + 1;
		char *want;

		for (; *rest != '"'; rest++)
			if (*rest == '\\')
				rest++;
		rest++;
		if (*rest == ',')
			rest++;
		if ((want = malloc(strlen(rest) + 2)) == NULL)
			abort();
		sprintf(want, "{%s", rest);
		CHECK(strstr(s->mini, want) != NULL, "line is not the report "
		    "received: %s", r->line);
		free(want);
		if (r->timestamp[0] != '\0') {
			if ((want = malloc(strlen(r->timestamp) + 16)) == NULL)
				abort();
			sprintf(want, "\"timestamp\":\"%s", r->timestamp);
			CHECK(strstr(r->line, want) != NULL, "timestamp '%s' "
			    "not in the line", r->timestamp);
			free(want);
		}
	}

	return s->stop_after > 0 && s->n == s->stop_after ? 42 : 0;
}

/*
 * The text without white space outside strings, when it holds no NUL, no
 * \u escape and no "device" (else NULL).
 */
static char *
minify(const char *p, size_t n)
{
	char *out, *o;
	size_t i;
	int instr = 0;

	if (memchr(p, '\0', n) != NULL || memmem(p, n, "\\u", 2) != NULL ||
	    memmem(p, n, "device", 6) != NULL)
		return NULL;
	if ((out = o = malloc(n + 1)) == NULL)
		abort();
	for (i = 0; i < n; i++) {
		if (instr) {
			*o++ = p[i];
			if (p[i] == '\\' && i + 1 < n)
				*o++ = p[++i];
			else if (p[i] == '"')
				instr = 0;
		} else if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' &&
		    p[i] != '\r') {
			*o++ = p[i];
			instr = p[i] == '"';
		}
	}
	*o = '\0';
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s;
	char err[DMU_ERRLEN], *out;
	const char *body;
	size_t len, outsz;
	int ctl, rc, mrc;

	if (size == 0)
		return 0;
	ctl = data[0];
	body = (const char *)data + 1;
	len = size - 1;
	memset(&s, 0, sizeof(s));
	s.device = devices[ctl & 7];
	s.stop_after = ctl >> 6;
	s.mini = minify(body, len);

	memset(err, 'x', sizeof(err));
	rc = dmu_json_reports(body, len, s.device, on_report, &s, err);
	if (rc == 0) {
		CHECK(err[0] == '\0', "err set on success");
		CHECK(s.stop_after == 0 || s.n < s.stop_after,
		    "went on after the callback said stop");
	} else if (rc == 42) {
		CHECK(s.n == s.stop_after, "stopped after %d, not %d", s.n,
		    s.stop_after);
	} else {
		CHECK(rc == DMU_EDATA || rc == DMU_EFAIL, "rc %d", rc);
		CHECK(s.n == 0, "%d reports emitted, then refused", s.n);
		CHECK(fz_errmsg(err), "bad error message");
	}

	outsz = outsizes[(ctl >> 3) & 7];
	if ((out = malloc(outsz)) == NULL)
		abort();
	memset(out, 'x', outsz);
	mrc = dmu_json_message(body, len, out, outsz);
	CHECK(mrc == 0 || mrc == -1, "rc %d", mrc);
	CHECK(fz_terminated(out, outsz), "message not terminated");
	CHECK(mrc == 0 || out[0] == '\0', "message left on failure");
	CHECK(fz_utf8_clean(out), "message not clean UTF-8");
	/* a body the scanner refuses has no message either */
	CHECK(mrc != 0 || rc != DMU_EDATA ||
	    strncmp(err, "malformed JSON", 14) != 0,
	    "message from malformed JSON");
	free(out);
	free((char *)s.mini);
	return 0;
}
