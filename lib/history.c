/* SPDX-License-Identifier: ISC */
/*
 * history.c - the append-only history beside the database, FILE.history:
 * a header line, then one line per change,
 *	TIME ACTION DEVICE SHA256 PROVENANCE USER CERTB64
 * and for a replace three more fields, the pin it replaced:
 *	... OLDSHA256 OLDPROVENANCE OLDCERTB64
 * Writers append under the database lock, before the database itself is
 * replaced, and take the lines back when that fails: through the hook of
 * the database (struct dmu_db_hook), so that history.c depends on db.c and
 * db.c on nothing here.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* see dmu.h */
char *
dmu_hist_path(const char *dbpath)
{
	size_t n = strlen(dbpath) + sizeof(".history");
	char *p = dmu_xmalloc(n);

	snprintf(p, n, "%s.history", dbpath);
	return p;
}

/* see dmu.h */
int
dmu_hist_parse(const char *line, struct dmu_hist *h, char *err)
{
	struct dmu_device d;
	char *f[10], derr[DMU_ERRLEN];
	int nf;

	memset(h, 0, sizeof(*h));
	h->mem = dmu_xstrdup(line);
	nf = dmu_split_fields(h->mem, f, 10);
	if (nf != 7 && nf != 10) {
		dmu_seterr(err, "expected 7 or 10 fields separated by single "
		    "spaces");
		goto bad;
	}
	if (!dmu_is_timestamp(f[0])) {
		dmu_seterr(err, "time is not YYYY-MM-DDTHH:MM:SSZ");
		goto bad;
	}
	if (strcmp(f[1], nf == 10 ? "replace" : "add") != 0 &&
	    (nf == 10 || strcmp(f[1], "remove") != 0)) {
		dmu_seterr(err, "action is not add or remove (7 fields) or "
		    "replace (10 fields)");
		goto bad;
	}
	if (dmu_device_parse(&d, f[2], derr) != 0 ||
	    strcmp(d.canon, f[2]) != 0) {
		dmu_seterr(err, "device is not in canonical form");
		goto bad;
	}
	if (!dmu_is_hex64(f[3]) || (nf == 10 && !dmu_is_hex64(f[7]))) {
		dmu_seterr(err, "fingerprint is not 64 lower-case hex digits");
		goto bad;
	}
	if (!dmu_prov_valid(f[4]) || (nf == 10 && !dmu_prov_valid(f[8]))) {
		dmu_seterr(err, "provenance is not terminal, fingerprint, "
		    "manifest, unverified or unknown");
		goto bad;
	}
	if (!dmu_user_valid(f[5])) {
		dmu_seterr(err, "user is not 1 to %d letters, digits, '.', "
		    "'_' or '-'", DMU_USER_MAX);
		goto bad;
	}
	if (!dmu_is_cert_b64(f[6], strlen(f[6])) ||
	    (nf == 10 && !dmu_is_cert_b64(f[9], strlen(f[9])))) {
		dmu_seterr(err, "certificate is not base64");
		goto bad;
	}
	h->time = f[0];
	h->action = f[1];
	h->device = f[2];
	h->sha256hex = f[3];
	h->prov = f[4];
	h->user = f[5];
	h->certb64 = f[6];
	if (nf == 10) {
		h->oldsha256hex = f[7];
		h->oldprov = f[8];
		h->oldcertb64 = f[9];
	}
	return 0;
bad:
	dmu_hist_free(h);
	return DMU_EDATA;
}

/* see dmu.h */
void
dmu_hist_free(struct dmu_hist *h)
{
	free(h->mem);
	memset(h, 0, sizeof(*h));
}

struct hist_scanner {
	int (*fn)(void *, const struct dmu_hist *);
	void *ctx;
};

/* One line for dmu_hist_scan(): parsed, then handed on. */
static int
hist_scan_line(void *ctx, char *line, long lineno, char *why)
{
	struct hist_scanner *sc = ctx;
	struct dmu_hist h;
	int rc;

	if (dmu_hist_parse(line, &h, why) != 0)
		return DMU_EDATA;
	h.lineno = lineno;
	rc = sc->fn(sc->ctx, &h);
	dmu_hist_free(&h);
	return rc;
}

/* see dmu.h */
int
dmu_hist_scan(const char *path, int (*fn)(void *, const struct dmu_hist *),
    void *ctx, char *err)
{
	struct hist_scanner sc = { fn, ctx };

	return dmu_read_file(path, DMU_HIST_HEADER, "a dmu history",
	    DMU_HIST_LINE_MAX, hist_scan_line, &sc, err);
}

/* The hook's change(): the line of one change, noted now. */
static void
hist_note(void *ctx, const char *action, const struct dmu_rec *rec,
    const struct dmu_rec *old)
{
	struct dmu_hist_log *h = ctx;
	char now[21], user[DMU_USER_MAX + 1];
	size_t need;
	int n;

	dmu_utc_now(now);
	dmu_user_name(user);
	need = 200 + strlen(rec->device) + strlen(rec->certb64) +
	    (old != NULL ? strlen(old->certb64) : 0);
	if (h->len + need > h->cap) {
		char *p = dmu_xmalloc(2 * (h->len + need));

		if (h->len > 0)
			memcpy(p, h->buf, h->len);
		free(h->buf);
		h->buf = p;
		h->cap = 2 * (h->len + need);
	}
	if (old != NULL)
		n = snprintf(h->buf + h->len, h->cap - h->len,
		    "%s %s %s %s %s %s %s %s %s %s\n", now, action,
		    rec->device, rec->sha256hex, dmu_rec_prov(rec), user,
		    rec->certb64, old->sha256hex, dmu_rec_prov(old),
		    old->certb64);
	else
		n = snprintf(h->buf + h->len, h->cap - h->len,
		    "%s %s %s %s %s %s %s\n", now, action, rec->device,
		    rec->sha256hex, dmu_rec_prov(rec), user, rec->certb64);
	if (n > 0)
		h->len += (size_t)n;
}

/*
 * The hook's before(): appends what was noted (the database lock held)
 * and fsyncs it.  Returns DMU_OK or DMU_EFAIL (reason in err, nothing
 * appended).
 */
static int
hist_append(void *ctx, char *err)
{
	struct dmu_hist_log *h = ctx;
	struct stat st;
	char *path;
	unsigned mode;
	off_t end;
	int fd, rc = DMU_EFAIL;

	h->fd = -1;
	if (h->len == 0)
		return DMU_OK;
	path = dmu_hist_path(h->dbpath);
	/* Never more open than the database: it holds the same pins. */
	mode = dmu_mode_of(h->dbpath, 0644) & 0644;
	fd = dmu_open_file(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode, "write",
	    err);
	if (fd < 0) {
		free(path);
		return DMU_EFAIL;
	}
	(void)dmu_file_like(fd, h->dbpath, mode);
	if (fstat(fd, &st) != 0)
		goto fail;
	if (st.st_mode & 0777 & ~mode) {
		/* Another user's file that we may not change. */
		dmu_seterr(err, "cannot write %.200s: it is more open (%04o) "
		    "than the database (%04o)", path,
		    (unsigned)(st.st_mode & 0777), mode);
		close(fd);
		free(path);
		return DMU_EFAIL;
	}
	if ((end = dmu_whole_end(fd, st.st_size)) < 0 ||
	    (end != st.st_size && ftruncate(fd, end) != 0))
		goto fail;
	if (lseek(fd, end, SEEK_SET) < 0)
		goto fail;
	h->end = end;
	if ((end == 0 && dmu_write_all(fd, DMU_HIST_HEADER "\n",
	    sizeof(DMU_HIST_HEADER)) != 0) ||
	    dmu_write_all(fd, h->buf, h->len) != 0 || fsync(fd) != 0) {
		if (ftruncate(fd, end) == 0)
			fsync(fd);
		goto fail;
	}
	h->fd = fd;
	fd = -1;
	rc = DMU_OK;
	if (end == 0) {
		/* A new file: its name must reach the disk too. */
		dmu_fsync_dir(path);
	}
fail:
	if (rc != DMU_OK)
		dmu_seterr(err, "cannot write %.200s: %s", path,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
	free(path);
	return rc;
}

/*
 * The hook's after(): keeps the append when the database was committed,
 * else cuts the history back to where it ended before.
 */
static void
hist_done(void *ctx, int committed)
{
	struct dmu_hist_log *h = ctx;

	if (h->fd < 0)
		return;
	/* The database was not replaced: its history did not happen. */
	if (!committed && ftruncate(h->fd, h->end) == 0)
		fsync(h->fd);
	close(h->fd);
	h->fd = -1;
	h->len = 0;
}

/* see dmu.h */
void
dmu_hist_attach(struct dmu_hist_log *h, struct dmu_db *db)
{
	memset(h, 0, sizeof(*h));
	h->hook.change = hist_note;
	h->hook.before = hist_append;
	h->hook.after = hist_done;
	h->hook.ctx = h;
	h->dbpath = dmu_xstrdup(db->path);
	h->fd = -1;
	db->hook = &h->hook;
}

/* see dmu.h */
void
dmu_hist_log_free(struct dmu_hist_log *h)
{
	if (h->fd >= 0)
		close(h->fd);
	free(h->buf);
	free(h->dbpath);
	memset(h, 0, sizeof(*h));
	h->fd = -1;
}

struct find_ctx {
	const char *device, *sha;
	char *certb64;
};

static int
find_line(void *ctx, const struct dmu_hist *h)
{
	struct find_ctx *k = ctx;

	if (strcmp(h->device, k->device) != 0 || k->certb64 != NULL)
		return 0;
	if (strcmp(h->sha256hex, k->sha) == 0)
		k->certb64 = dmu_xstrdup(h->certb64);
	else if (h->oldsha256hex != NULL && strcmp(h->oldsha256hex,
	    k->sha) == 0)
		k->certb64 = dmu_xstrdup(h->oldcertb64);
	return 0;
}

/* see dmu.h */
int
dmu_hist_cert(const char *path, const char *device, const char *sha256hex,
    struct dmu_cert *c, char *err)
{
	struct find_ctx k = { device, sha256hex, NULL };
	struct dmu_rec r;
	int rc;

	if ((rc = dmu_hist_scan(path, find_line, &k, err)) != DMU_OK) {
		/* A bad line after the one found: the copy goes too. */
		free(k.certb64);
		return rc;
	}
	if (k.certb64 == NULL)
		return DMU_EUNKNOWN;
	memset(&r, 0, sizeof(r));
	r.certb64 = k.certb64;
	memcpy(r.sha256hex, sha256hex, 65);
	rc = dmu_rec_cert(&r, c, err);
	free(k.certb64);
	return rc;
}
