/* SPDX-License-Identifier: ISC */
/*
 * db.c - fuzzes the certificate database: dmu_rec_parse() on every line of
 * the input (verify 0 and 1), then the input as a whole database file
 * through dmu_db_check(), dmu_db_open() and dmu_db_lookup().
 *
 * A parsed line must write back (dmu_rec_write) to exactly itself; what
 * dmu_db_open() read must write back to a file that reads the same; the
 * checks must agree (verify 1 accepts less than verify 0, dmu_db_check
 * less than dmu_db_open).  The file is one fixed path per process in
 * $TMPDIR (else /dev/shm, else /tmp), rewritten for every input and
 * removed at exit.
 */
#include <sys/types.h>
#include <ctype.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"

static const char *path;

/* Writes r with dmu_rec_write() into a string (the caller frees it). */
static char *
written(const struct dmu_rec *r, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&buf, &n);

	CHECK(f != NULL, "open_memstream");
	CHECK(dmu_rec_write(f, r) == 0, "dmu_rec_write failed");
	fclose(f);
	*len = n;
	return buf;
}

static void
one_line(const char *line)
{
	struct dmu_rec r0, r1;
	struct dmu_device d;
	char err[DMU_ERRLEN], derr[DMU_ERRLEN], *w;
	size_t wl, i;
	int rc0, rc1;

	memset(err, 'x', sizeof(err));
	rc0 = dmu_rec_parse(line, &r0, 0, err);
	if (rc0 != 0) {
		CHECK(rc0 == DMU_EDATA, "rc %d", rc0);
		CHECK(fz_errmsg(err), "bad error message for '%.60s'", line);
		CHECK(r0.mem == NULL && r0.device == NULL &&
		    r0.certb64 == NULL, "record left on failure");
	} else if (r0.device == NULL) {
		CHECK(line[0] == '\0' || line[0] == '#', "comment '%.60s'",
		    line);
	} else {
		CHECK(dmu_device_parse(&d, r0.device, derr) == 0 &&
		    strcmp(d.canon, r0.device) == 0, "device '%s'",
		    r0.device);
		for (i = 0; i < 64; i++)
			CHECK(isdigit((unsigned char)r0.sha256hex[i]) ||
			    (r0.sha256hex[i] >= 'a' && r0.sha256hex[i] <= 'f'),
			    "fingerprint");
		CHECK(r0.sha256hex[64] == '\0', "fingerprint length");
		CHECK(fz_timestamp(r0.learned), "learned '%s'", r0.learned);
		CHECK(r0.certb64 != NULL && r0.certb64[0] != '\0',
		    "no certificate");
	}
	if (rc0 == 0) {
		/* the format is strict: a record writes back to its line */
		w = written(&r0, &wl);
		CHECK(wl == strlen(line) + 1 && memcmp(w, line, wl - 1) == 0 &&
		    w[wl - 1] == '\n', "line does not write back:\n  %.200s\n"
		    "  %.200s", line, w);
		free(w);
	}

	memset(err, 'x', sizeof(err));
	rc1 = dmu_rec_parse(line, &r1, 1, err);
	if (rc1 == 0) {
		CHECK(rc0 == 0, "verify 1 accepts what verify 0 refuses");
		CHECK((r0.device == NULL) == (r1.device == NULL) &&
		    (r1.device == NULL || (strcmp(r0.device, r1.device) == 0 &&
		    strcmp(r0.certb64, r1.certb64) == 0 &&
		    strcmp(r0.sha256hex, r1.sha256hex) == 0 &&
		    strcmp(r0.learned, r1.learned) == 0)),
		    "verify 0 and 1 give other records");
		if (r1.device != NULL) {
			struct dmu_cert c;

			CHECK(dmu_rec_cert(&r1, &c, err) == 0,
			    "verified record's certificate: %s", err);
			dmu_cert_free(&c);
		}
	} else {
		CHECK(rc1 == DMU_EDATA, "rc %d", rc1);
		CHECK(fz_errmsg(err), "bad error message (verify) for "
		    "'%.60s'", line);
		CHECK(r1.mem == NULL, "record left on failure");
	}
	dmu_rec_free(&r0);
	dmu_rec_free(&r1);
}

struct check_seen {
	long last;
	int n;
};

static void
on_bad(void *ctx, long lineno, const char *why)
{
	struct check_seen *k = ctx;

	CHECK(lineno > k->last, "line %ld after %ld", lineno, k->last);
	CHECK(why != NULL && strlen(why) < DMU_ERRLEN && why[0] != '\0' &&
	    fz_printable(why), "bad reason for line %ld", lineno);
	k->last = lineno;
	k->n++;
}

/*
 * Comments are kept as read, but a line read ends at CR LF or LF, so one
 * ending in CR loses that CR when read again (cosmetic, and allowed here).
 */
static int
same_comment(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	while (la > 0 && a[la - 1] == '\r')
		la--;
	while (lb > 0 && b[lb - 1] == '\r')
		lb--;
	return la == lb && memcmp(a, b, la) == 0;
}

/* Writes what db holds to the file, as dmu_db_commit() would. */
static void
rewrite(const struct dmu_db *db)
{
	char *buf = NULL;
	size_t n = 0, i;
	FILE *f = open_memstream(&buf, &n);

	CHECK(f != NULL, "open_memstream");
	/* Format 2 as soon as one record has a provenance, as in db.c. */
	for (i = 0; i < db->n; i++)
		if (db->rec[i].device != NULL && db->rec[i].prov[0] != '\0')
			break;
	fprintf(f, "%s\n", i < db->n ? DMU_DB_HEADER2 : DMU_DB_HEADER);
	for (i = 0; i < db->n; i++)
		CHECK(dmu_rec_write(f, &db->rec[i]) == 0, "dmu_rec_write");
	fclose(f);
	path = fz_put_file("db", buf, n);
	free(buf);
}

static void
whole_file(const uint8_t *data, size_t size)
{
	struct check_seen k = { 0, 0 };
	struct dmu_db db, db2;
	struct dmu_rec rec;
	char err[DMU_ERRLEN], warn[DMU_ERRLEN];
	size_t i;
	int crc, orc, lrc;

	path = fz_put_file("db", data, size);
	memset(err, 'x', sizeof(err));
	crc = dmu_db_check(path, on_bad, &k, err);
	CHECK(crc == DMU_OK || crc == DMU_EDATA, "check rc %d: %.100s", crc,
	    err);
	CHECK((crc == DMU_OK) == (k.n == 0), "check rc %d with %d bad lines",
	    crc, k.n);

	orc = dmu_db_open(&db, path, 0);
	CHECK(orc == DMU_OK || orc == DMU_EDATA, "open rc %d", orc);
	CHECK(crc != DMU_OK || orc == DMU_OK, "check accepts, open refuses: "
	    "%s", db.err);
	CHECK(orc == DMU_OK || crc == DMU_EDATA, "open refuses, check "
	    "accepts");
	if (orc != DMU_OK) {
		CHECK(fz_terminated(db.err, sizeof(db.err)) && db.err[0] &&
		    fz_printable(db.err), "bad error message");
		dmu_db_close(&db);
		return;
	}
	CHECK(db.exists, "file not seen");
	for (i = 0; i < db.n; i++) {
		if (db.rec[i].device == NULL)
			continue;
		CHECK(dmu_db_find(&db, db.rec[i].device) == &db.rec[i],
		    "device %s twice", db.rec[i].device);
	}
	/* the first record is found by lookup, the same */
	for (i = 0; i < db.n && db.rec[i].device == NULL; i++)
		;
	if (i < db.n) {
		lrc = dmu_db_lookup(path, db.rec[i].device, &rec, warn, err);
		CHECK(lrc == DMU_OK, "lookup of %s: rc %d", db.rec[i].device,
		    lrc);
		CHECK(strcmp(rec.certb64, db.rec[i].certb64) == 0 &&
		    strcmp(rec.sha256hex, db.rec[i].sha256hex) == 0,
		    "lookup found another record");
		dmu_rec_free(&rec);
	}
	if (dmu_db_find(&db, "not-there.invalid:1") == NULL) {
		lrc = dmu_db_lookup(path, "not-there.invalid:1", &rec, warn,
		    err);
		CHECK(lrc == DMU_EUNKNOWN, "lookup of a missing device: rc %d",
		    lrc);
		CHECK(fz_errmsg(err), "bad error message");
	}

	/* what was read writes back to a file that reads the same */
	rewrite(&db);
	CHECK(dmu_db_open(&db2, path, 0) == DMU_OK, "rewritten database "
	    "refused: %s", db2.err);
	CHECK(db2.n == db.n, "%zu records, then %zu", db.n, db2.n);
	for (i = 0; i < db.n; i++) {
		struct dmu_rec *a = &db.rec[i], *b = &db2.rec[i];

		CHECK((a->device == NULL) == (b->device == NULL), "kind");
		if (a->device == NULL)
			CHECK(same_comment(a->mem, b->mem), "comment changed");
		else
			CHECK(strcmp(a->device, b->device) == 0 &&
			    strcmp(a->certb64, b->certb64) == 0 &&
			    strcmp(a->sha256hex, b->sha256hex) == 0 &&
			    strcmp(a->learned, b->learned) == 0,
			    "record changed");
	}
	dmu_db_close(&db2);
	dmu_db_close(&db);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_strdup(data, size), *line, *nl;

	/* each line alone, as a record (NUL bytes end the text) */
	for (line = text; ; line = nl + 1) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if (nl != NULL && nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		one_line(line);
		if (nl == NULL)
			break;
	}
	free(text);
	whole_file(data, size);
	return 0;
}
