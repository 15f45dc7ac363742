/* SPDX-License-Identifier: ISC */
/*
 * evidence.c - fuzzes the evidence parser: dmu_ev_parse() on every line
 * of the input, then the input as a whole evidence file through
 * dmu_ev_scan().
 *
 * A line that parses is its 8 fields joined by single spaces, the count
 * written in decimal; the fields are printable.  The scan returns DMU_OK
 * with entries in line order (lines of one device and certificate merged
 * into one, so no more entries than good lines), or DMU_EDATA with no
 * entry at all.  The
 * file is one fixed path per process in $TMPDIR (else /dev/shm, else
 * /tmp), removed at exit.
 */
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"

static const char *path;

static void
check_entry(const char *line, const struct dmu_ev *v)
{
	char *s;
	size_t n = strlen(line) + 1;

	CHECK(fz_printable(v->device) && fz_printable(v->addr) &&
	    fz_printable(v->chain), "unprintable field");
	CHECK(v->count >= 1 && v->count <= (1LL << 53), "count %lld",
	    v->count);
	CHECK(strcmp(v->first, v->last) <= 0, "last seen before first");
	if ((s = malloc(n)) == NULL)
		abort();
	snprintf(s, n, "%s %s %s %s %lld %s %s %s", v->device, v->sha256hex,
	    v->first, v->last, v->count, v->addr, v->reason, v->chain);
	CHECK(strcmp(s, line) == 0, "fields do not make the line again");
	free(s);
}

static long scanned, lastline;

static int
count(void *ctx, const struct dmu_ev *h)
{
	(void)ctx;
	CHECK(h->lineno > lastline, "entry %ld out of order", h->lineno);
	lastline = h->lineno;
	scanned++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strdup(data, size), *line, *next, err[DMU_ERRLEN];
	struct dmu_ev h;
	long good = 0, lineno = 0, firstbad = 0;
	int rc;

	for (line = s; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		if (lineno == 1)
			continue;
		if (next == NULL && *line == '\0')
			break;
		err[0] = '\0';
		if (dmu_ev_parse(line, &h, err) == 0) {
			check_entry(line, &h);
			dmu_ev_free(&h);
			if (firstbad == 0)
				good++;
		} else {
			CHECK(err[0] != '\0' && fz_printable(err), "reason");
			CHECK(h.mem == NULL, "a refused line owns memory");
			if (firstbad == 0)
				firstbad = lineno;
		}
	}
	free(s);
	path = fz_put_file("ev", data, size);
	scanned = lastline = 0;
	rc = dmu_ev_scan(path, count, NULL, err);
	CHECK(rc == DMU_OK || rc == DMU_EDATA, "scan returned %d", rc);
	CHECK(rc == DMU_OK || scanned == 0, "%ld entries from a bad file",
	    scanned);
	CHECK(scanned <= good, "the scan took %ld entries from %ld lines",
	    scanned, good);
	return 0;
}
