/* SPDX-License-Identifier: ISC */
/*
 * history.c - fuzzes the history parser: dmu_hist_parse() on every line of
 * the input, then the input as a whole FILE.history through
 * dmu_hist_scan().
 *
 * A line that parses is its fields joined by single spaces, 7 of them, or
 * 10 for a replace; the fields are printable.  The scan returns DMU_OK or
 * DMU_EDATA, in line order, and takes no more entries than lines.  The
 * file is one fixed path per process in $TMPDIR (else /dev/shm, else
 * /tmp), removed at exit.
 */
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"

static const char *path;

static void
check_entry(const char *line, const struct dmu_hist *h)
{
	char *s;
	size_t n = strlen(line) + 1;

	CHECK(fz_printable(h->time) && fz_printable(h->device) &&
	    fz_printable(h->user) && fz_printable(h->certb64),
	    "unprintable field");
	CHECK((h->oldsha256hex != NULL) == (strcmp(h->action, "replace") ==
	    0), "replace without its old pin, or the other way");
	if ((s = malloc(n)) == NULL)
		abort();
	if (h->oldsha256hex != NULL)
		snprintf(s, n, "%s %s %s %s %s %s %s %s %s %s", h->time,
		    h->action, h->device, h->sha256hex, h->prov, h->user,
		    h->certb64, h->oldsha256hex, h->oldprov, h->oldcertb64);
	else
		snprintf(s, n, "%s %s %s %s %s %s %s", h->time, h->action,
		    h->device, h->sha256hex, h->prov, h->user, h->certb64);
	CHECK(strcmp(s, line) == 0, "fields do not make the line again");
	free(s);
}

static long scanned;

static int
count(void *ctx, const struct dmu_hist *h)
{
	(void)ctx;
	CHECK(h->lineno == scanned + 2, "entry %ld out of order", h->lineno);
	scanned++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strdup(data, size), *line, *next, err[DMU_ERRLEN];
	struct dmu_hist h;
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
		if (dmu_hist_parse(line, &h, err) == 0) {
			check_entry(line, &h);
			dmu_hist_free(&h);
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
	path = fz_put_file("hist", data, size);
	scanned = 0;
	rc = dmu_hist_scan(path, count, NULL, err);
	CHECK(rc == DMU_OK || rc == DMU_EDATA, "scan returned %d", rc);
	CHECK(scanned <= lineno, "the scan took %ld entries from %ld lines",
	    scanned, lineno);
	(void)good;
	return 0;
}
