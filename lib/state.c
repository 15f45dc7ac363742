/* SPDX-License-Identifier: ISC */
/*
 * state.c - the collector's state file: the serial and timestamp of the
 * last report written, so that a new run resumes after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* see dmu.h */
int
dmu_state_read(const char *path, long long *serial, char *ts, size_t tssz,
    char *err)
{
	struct dmu_lines l;
	char *line = NULL, *sp;
	int fd;

	*serial = 0;
	ts[0] = '\0';
	if ((fd = dmu_open_file(path, O_RDONLY, 0, "read", err)) < 0)
		return errno == ENOENT ? DMU_OK : DMU_EFAIL;
	/* One line, short: a longer one is no state (the check below). */
	dmu_lines_init(&l, fd, 127);
	if (dmu_lines_next(&l, &line) < 0)
		line = NULL;
	sp = NULL;
	if (line != NULL && (sp = strchr(line, ' ')) != NULL)
		*sp++ = '\0';
	if (sp == NULL || dmu_parse_long(line, 0, 1LL << 53, serial) != 0 ||
	    strlen(sp) >= tssz || strchr(sp, ' ') != NULL) {
		dmu_seterr(err, "%.200s:1: expected 'SERIAL "
		    "TIMESTAMP'", path);
		*serial = 0;
		dmu_lines_free(&l);
		close(fd);
		return DMU_EDATA;
	}
	if (strcmp(sp, "-") != 0)
		memcpy(ts, sp, strlen(sp) + 1);
	dmu_lines_free(&l);
	close(fd);
	return DMU_OK;
}

struct state {
	long long serial;
	const char *ts;
};

static int
fill_state(void *ctx, FILE *f)
{
	const struct state *st = ctx;

	/* A timestamp that the format cannot hold is not kept. */
	fprintf(f, "%lld %s\n", st->serial, st->ts[0] != '\0' &&
	    strcspn(st->ts, " \t\r\n") == strlen(st->ts) ? st->ts : "-");
	return ferror(f) ? -1 : 0;
}

/* see dmu.h */
int
dmu_state_write(const char *path, long long serial, const char *ts,
    char *err)
{
	struct state st = { serial, ts };

	return dmu_replace_file(path, 0644, fill_state, &st, err);
}
