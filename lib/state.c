/*
 * state.c - the collector's state file: the serial and timestamp of the
 * last report written, so that a new run resumes after it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dmu.h"

/* see dmu.h */
int
dmu_state_read(const char *path, long long *serial, char *ts, size_t tssz,
    char *err)
{
	char line[128], *sp;
	FILE *f;

	*serial = 0;
	ts[0] = '\0';
	if ((f = fopen(path, "r")) == NULL) {
		if (errno == ENOENT)
			return DMU_OK;
		dmu_seterr(err, "cannot read %.200s: %s", path,
		    strerror(errno));
		return DMU_EFAIL;
	}
	if (fgets(line, sizeof(line), f) == NULL)
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	if ((sp = strchr(line, ' ')) != NULL)
		*sp++ = '\0';
	if (sp == NULL || dmu_parse_long(line, 0, 1LL << 53, serial) != 0 ||
	    strlen(sp) >= tssz || strchr(sp, ' ') != NULL) {
		dmu_seterr(err, "%.200s:1: expected 'SERIAL "
		    "TIMESTAMP'", path);
		*serial = 0;
		return DMU_EDATA;
	}
	if (strcmp(sp, "-") != 0)
		memcpy(ts, sp, strlen(sp) + 1);
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
