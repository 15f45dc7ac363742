/* SPDX-License-Identifier: ISC */
/*
 * db.c - the certificate database: a header line, then one record per
 * line, "DEVICE SHA256HEX LEARNED CERTB64" (format 1) or "DEVICE SHA256HEX
 * LEARNED PROVENANCE USER CERTB64" (format 2).  Every change is made under
 * a lock and lands through a temporary file, fsync and rename.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* see dmu.h */
char *
dmu_db_path(const char *opt)
{
	const char *e, *home;
	char *p;
	size_t n;

	if (opt != NULL && *opt != '\0')
		return dmu_xstrdup(opt);
	if ((e = getenv("DMU_CERTDB")) != NULL && *e != '\0')
		return dmu_xstrdup(e);
	if ((e = getenv("XDG_CONFIG_HOME")) != NULL && *e == '/') {
		n = strlen(e) + sizeof("/dmu/certdb");
		p = dmu_xmalloc(n);
		snprintf(p, n, "%s/dmu/certdb", e);
		return p;
	}
	home = getenv("HOME");
	if (home == NULL || *home == '\0')
		home = ".";
	n = strlen(home) + sizeof("/.config/dmu/certdb");
	p = dmu_xmalloc(n);
	snprintf(p, n, "%s/.config/dmu/certdb", home);
	return p;
}

/* see dmu.h */
int
dmu_prov_valid(const char *s)
{
	return strcmp(s, "terminal") == 0 || strcmp(s, "fingerprint") == 0 ||
	    strcmp(s, "manifest") == 0 || strcmp(s, "unverified") == 0 ||
	    strcmp(s, "unknown") == 0;
}

/* see dmu.h */
int
dmu_user_valid(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= DMU_USER_MAX && s[0] != '.' && s[0] != '-' &&
	    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789._-") == n;
}

/* see dmu.h */
void
dmu_user_name(char *out)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && dmu_user_valid(pw->pw_name))
		snprintf(out, DMU_USER_MAX + 1, "%s", pw->pw_name);
	else
		snprintf(out, DMU_USER_MAX + 1, "%lu",
		    (unsigned long)getuid());
}

/* see dmu.h */
const char *
dmu_rec_prov(const struct dmu_rec *r)
{
	return r->prov[0] != '\0' ? r->prov : "unknown";
}

/* see dmu.h */
int
dmu_rec_unverified(const struct dmu_rec *r, char *out, size_t outsz)
{
	char fpr[DMU_FPR_COLON];

	if (strcmp(r->prov, "unverified") != 0)
		return 0;
	snprintf(out, outsz, "%s: warning: pin %s is unverified: %s pinned "
	    "it on %s and nobody compared its fingerprint (dmu-learn -y, or "
	    "dmu-certdb import without -F)", r->device, dmu_fpr_colon(fpr,
	    r->sha256hex), r->user, r->learned);
	return 1;
}

/* Checks the provenance and user fields of a six-field record into r. */
static int
take_provenance(struct dmu_rec *r, const char *prov, const char *user,
    char *err)
{
	if (!dmu_prov_valid(prov)) {
		dmu_seterr(err, "provenance is not terminal, fingerprint, "
		    "manifest, unverified or unknown");
		return -1;
	}
	if (!dmu_user_valid(user)) {
		dmu_seterr(err, "user is not 1 to %d letters, digits, '.', '_' "
		    "or '-'", DMU_USER_MAX);
		return -1;
	}
	memcpy(r->prov, prov, strlen(prov) + 1);
	memcpy(r->user, user, strlen(user) + 1);
	return 0;
}

/*
 * Checks the four fields every record has: a canonical device, the
 * fingerprint, the learned time and the base64 certificate.
 */
static int
check_fields(char *const *f, char *err)
{
	struct dmu_device d;
	char derr[DMU_ERRLEN], safe[81];

	if (dmu_device_parse(&d, f[0], derr) != 0) {
		dmu_seterr(err, "%s", derr);
		return -1;
	}
	if (strcmp(d.canon, f[0]) != 0) {
		/* Shown with no control character: no terminal escapes. */
		dmu_seterr(err, "device '%s' is not in canonical form (%.80s)",
		    dmu_scrub(safe, sizeof(safe), f[0], strlen(f[0])),
		    d.canon);
		return -1;
	}
	if (!dmu_is_hex64(f[1])) {
		dmu_seterr(err, "fingerprint is not 64 lower-case hex digits");
		return -1;
	}
	if (!dmu_is_timestamp(f[2])) {
		dmu_seterr(err, "learned time is not YYYY-MM-DDTHH:MM:SSZ");
		return -1;
	}
	if (!dmu_is_cert_b64(f[3], strlen(f[3]))) {
		dmu_seterr(err, "certificate is not base64");
		return -1;
	}
	return 0;
}

/* see dmu.h */
int
dmu_rec_parse(const char *line, struct dmu_rec *r, int verify, char *err)
{
	struct dmu_cert c;
	char *f[6];
	int nf;

	memset(r, 0, sizeof(*r));
	r->mem = dmu_xstrdup(line);
	if (line[0] == '\0' || line[0] == '#')
		return 0;
	/* Exactly four or six fields, one space apart: a strict format. */
	nf = dmu_split_fields(r->mem, f, 6);
	if (nf != 4 && nf != 6) {
		dmu_seterr(err, "expected 4 or 6 fields separated by single "
		    "spaces");
		goto bad;
	}
	if (nf == 6) {
		if (take_provenance(r, f[3], f[4], err) != 0)
			goto bad;
		f[3] = f[5];
	}
	if (check_fields(f, err) != 0)
		goto bad;
	r->device = f[0];
	memcpy(r->sha256hex, f[1], 65);
	memcpy(r->learned, f[2], 21);
	r->certb64 = f[3];
	if (verify) {
		if (dmu_rec_cert(r, &c, err) != 0)
			goto bad;
		dmu_cert_free(&c);
	}
	return 0;
bad:
	dmu_rec_free(r);
	return DMU_EDATA;
}

/* see dmu.h */
int
dmu_rec_cert(const struct dmu_rec *r, struct dmu_cert *c, char *err)
{
	unsigned char *der;
	char hex[65];
	long n;
	int rc;

	der = dmu_xmalloc(DMU_CERT_MAX);
	n = dmu_b64_decode(der, DMU_CERT_MAX, r->certb64, strlen(r->certb64));
	if (n <= 0) {
		dmu_seterr(err, "certificate is not valid base64");
		free(der);
		return DMU_EDATA;
	}
	rc = dmu_cert_decode(c, der, (size_t)n, err);
	free(der);
	if (rc != 0)
		return rc;
	dmu_hex(hex, c->sha256, 32);
	if (strcmp(hex, r->sha256hex) != 0) {
		dmu_seterr(err, "fingerprint does not match the "
		    "certificate (its SHA-256 is %s)", hex);
		dmu_cert_free(c);
		return DMU_EDATA;
	}
	return 0;
}

/* see dmu.h */
int
dmu_db_cert(const char *path, const struct dmu_rec *r, struct dmu_cert *c,
    char *err)
{
	char why[DMU_ERRLEN];
	int rc;

	if ((rc = dmu_rec_cert(r, c, why)) != 0)
		dmu_seterr(err, "%.100s:%ld: %.140s", path, r->lineno,
		    why);
	return rc;
}

/* see dmu.h */
int
dmu_rec_write(FILE *f, const struct dmu_rec *r)
{
	if (r->device == NULL)
		fprintf(f, "%s\n", r->mem);
	else if (r->prov[0] == '\0')
		fprintf(f, "%s %s %s %s\n", r->device, r->sha256hex,
		    r->learned, r->certb64);
	else
		fprintf(f, "%s %s %s %s %s %s\n", r->device, r->sha256hex,
		    r->learned, r->prov, r->user, r->certb64);
	return ferror(f) ? -1 : 0;
}

/* see dmu.h */
void
dmu_rec_make(struct dmu_rec *r, const char *device, const struct dmu_cert *c,
    const char *prov)
{
	size_t dl = strlen(device) + 1;

	memset(r, 0, sizeof(*r));
	r->mem = dmu_xmalloc(dl + DMU_B64_LEN(c->len) + 1);
	r->device = memcpy(r->mem, device, dl);
	r->certb64 = r->mem + dl;
	dmu_b64_encode(r->certb64, c->der, c->len);
	dmu_hex(r->sha256hex, c->sha256, 32);
	dmu_utc_now(r->learned);
	snprintf(r->prov, sizeof(r->prov), "%s", prov);
	dmu_user_name(r->user);
}

/* see dmu.h */
void
dmu_rec_free(struct dmu_rec *r)
{
	free(r->mem);
	memset(r, 0, sizeof(*r));
}

/* A copy of r whose strings db owns. */
static void
rec_copy(struct dmu_rec *dst, const struct dmu_rec *src)
{
	size_t dl, cl;

	memset(dst, 0, sizeof(*dst));
	if (src->device == NULL) {
		dst->mem = dmu_xstrdup(src->mem ? src->mem : "");
		return;
	}
	dl = strlen(src->device) + 1;
	cl = strlen(src->certb64) + 1;
	dst->mem = dmu_xmalloc(dl + cl);
	dst->device = memcpy(dst->mem, src->device, dl);
	dst->certb64 = memcpy(dst->mem + dl, src->certb64, cl);
	memcpy(dst->sha256hex, src->sha256hex, sizeof(dst->sha256hex));
	memcpy(dst->learned, src->learned, sizeof(dst->learned));
	memcpy(dst->prov, src->prov, sizeof(dst->prov));
	memcpy(dst->user, src->user, sizeof(dst->user));
}

/*
 * The index: open addressing with linear probing, at most half full, so
 * that finding a device costs the same in a database of any size.
 */

/* The slot that holds device, or the empty one where it belongs. */
static size_t
slot_of(const struct dmu_db *db, const char *device)
{
	const unsigned char *p = (const unsigned char *)device;
	size_t h = 2166136261u, i;	/* FNV-1a */

	while (*p != '\0')
		h = (h ^ *p++) * 16777619u;
	for (h &= db->nslot - 1; (i = db->slot[h]) != 0;
	    h = (h + 1) & (db->nslot - 1))
		if (strcmp(db->rec[i - 1].device, device) == 0)
			break;
	return h;
}

/* Indexes the records anew, with room for twice as many. */
static void
index_rebuild(struct dmu_db *db)
{
	size_t i;

	free(db->slot);
	for (db->nslot = 64; db->nslot < 4 * db->n; db->nslot *= 2)
		;
	db->slot = dmu_xcalloc(db->nslot, sizeof(*db->slot));
	for (i = 0; i < db->n; i++)
		if (db->rec[i].device != NULL)
			db->slot[slot_of(db, db->rec[i].device)] = i + 1;
}

static void
db_append(struct dmu_db *db, struct dmu_rec *r)
{
	if (db->n == db->cap) {
		db->cap = db->cap ? db->cap * 2 : 16;
		db->rec = dmu_xreallocarray(db->rec, db->cap, sizeof(*db->rec));
	}
	db->rec[db->n++] = *r;
	if (2 * db->n > db->nslot)
		index_rebuild(db);
	else if (r->device != NULL)
		db->slot[slot_of(db, r->device)] = db->n;
}

/* Notes a symlinked database or one that others may write. */
/* Whether others may rename a file over path: its directory is o+w, not +t. */
static int
dir_open_to_all(const char *path)
{
	char *dir = dmu_dirname(path);
	struct stat st;
	int others;

	others = stat(dir, &st) == 0 && (st.st_mode & S_IWOTH) &&
	    !(st.st_mode & S_ISVTX);
	free(dir);
	return others;
}

static void
check_mode(const char *path, char *warning)
{
	struct stat st;
	int link;

	warning[0] = '\0';
	if (lstat(path, &st) != 0)
		return;
	link = S_ISLNK(st.st_mode);
	/* What counts is the file that the link leads to. */
	if (link && stat(path, &st) != 0)
		st.st_mode = 0;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		dmu_seterr(warning, "warning: %.160s %sis writable "
		    "by group or others", path, link ? "is a symbolic link "
		    "and its target " : "");
	else if (link)
		dmu_seterr(warning, "warning: %.200s is a symbolic "
		    "link", path);
	else if (dir_open_to_all(path))
		dmu_seterr(warning, "warning: the directory of "
		    "%.160s is writable by others", path);
}

/*
 * Says that there is no database at path, and how to start one: a reader
 * that took a missing file for an empty one would report a healthy, empty
 * fleet (a misspelt -f or $DMU_CERTDB, a job run with the wrong HOME).
 */
static int
missing(const char *path, char *err)
{
	dmu_seterr(err, "%.80s: no certificate database (a missing one is "
	    "not an empty one); start one with: dmu-learn -F FINGERPRINT "
	    "DEVICE | dmu-certdb -f %.80s add", path, path);
	return DMU_EFAIL;
}

/* see dmu.h */
int
dmu_db_exists(const char *path, char *err)
{
	struct stat st;

	if (stat(path, &st) == 0 || (errno != ENOENT && errno != ENOTDIR))
		return DMU_OK;	/* a reader says what else is wrong */
	return missing(path, err);
}

/*
 * Reads path line by line.  fn(ctx, lineno, rec, reason) gets every line:
 * rec parsed, or NULL with reason.  A non-zero return from fn stops.
 * Returns fn's value, 0 at the end, or DMU_EFAIL with the reason in err.
 */
static int
db_scan(const char *path, int verify, int (*fn)(void *, long,
    struct dmu_rec *, const char *), void *ctx, int *exists, char *err)
{
	struct dmu_lines l;
	char *line, why[DMU_ERRLEN];
	struct dmu_rec r;
	long n, lineno = 0;
	int fd, rc = 0, format = 1;

	*exists = 0;
	if ((fd = dmu_open_file(path, O_RDONLY, 0, "read", err)) < 0)
		return errno == ENOENT || errno == ENOTDIR ? 0 : DMU_EFAIL;
	*exists = 1;
	dmu_lines_init(&l, fd, DMU_DB_LINE_MAX);
	while (rc == 0 && (n = dmu_lines_next(&l, &line)) != -1) {
		lineno++;
		if (n == -2) {
			rc = fn(ctx, lineno, NULL, "line too long");
		} else if (lineno == 1) {
			if (strcmp(line, DMU_DB_HEADER2) == 0)
				format = 2;
			else if (strcmp(line, DMU_DB_HEADER) != 0)
				rc = fn(ctx, lineno, NULL, "not a dmu "
				    "certificate database (the first line "
				    "must be '" DMU_DB_HEADER2 "' or '"
				    DMU_DB_HEADER "')");
		} else if (strlen(line) != (size_t)n) {
			rc = fn(ctx, lineno, NULL, "NUL byte in line");
		} else if (dmu_rec_parse(line, &r, verify, why) != 0) {
			rc = fn(ctx, lineno, NULL, why);
		} else if (format == 1 && r.prov[0] != '\0') {
			dmu_rec_free(&r);
			rc = fn(ctx, lineno, NULL, "a record with provenance "
			    "in a format-1 file (the header must be '"
			    DMU_DB_HEADER2 "')");
		} else {
			r.lineno = lineno;
			rc = fn(ctx, lineno, &r, NULL);
		}
	}
	if (rc == 0 && l.error != 0) {
		dmu_seterr(err, "cannot read %.200s: %s", path,
		    strerror(l.error));
		rc = DMU_EFAIL;
	}
	dmu_lines_free(&l);
	close(fd);
	return rc;
}

static int
open_line(void *ctx, long lineno, struct dmu_rec *r, const char *why)
{
	struct dmu_db *db = ctx;

	if (r == NULL) {
		dmu_seterr(db->err, "%.180s:%ld: %s", db->path,
		    lineno, why);
		return DMU_EDATA;
	}
	if (lineno == 1)
		return 0;
	if (r->device != NULL && dmu_db_find(db, r->device) != NULL) {
		dmu_seterr(db->err, "%.180s:%ld: device %s "
		    "appears twice", db->path, lineno, r->device);
		dmu_rec_free(r);
		return DMU_EDATA;
	}
	db_append(db, r);
	return 0;
}

/*
 * The file that path names after its symbolic links, also when that file
 * does not exist yet (a dangling link): newly allocated.
 */
static char *
follow_links(const char *path)
{
	char *p = dmu_xstrdup(path), *q, *slash, buf[PATH_MAX];
	ssize_t n;
	size_t dl;
	int hops;

	for (hops = 0; hops < 16; hops++) {
		if ((n = readlink(p, buf, sizeof(buf) - 1)) < 0)
			break;
		buf[n] = '\0';
		if (buf[0] == '/' || (slash = strrchr(p, '/')) == NULL) {
			q = dmu_xstrdup(buf);
		} else {
			/* Relative to the directory of the link. */
			dl = (size_t)(slash - p) + 1;
			q = dmu_xmalloc(dl + (size_t)n + 1);
			memcpy(q, p, dl);
			memcpy(q + dl, buf, (size_t)n + 1);
		}
		free(p);
		p = q;
	}
	return p;
}

/*
 * Removes temporary files that a writer killed before its rename left
 * beside path.  Only the lock holder calls it, so none is in use.
 */
static void
remove_stale(const char *path)
{
	const char *base = strrchr(path, '/');
	char *dir, *p;
	struct dirent *e;
	size_t bl, dl;
	DIR *d;

	base = base != NULL ? base + 1 : path;
	bl = strlen(base);
	dl = (size_t)(base - path);
	dir = dmu_xmalloc(dl + 2);
	if (dl == 0)
		snprintf(dir, 2, ".");
	else {
		memcpy(dir, path, dl);
		dir[dl] = '\0';
	}
	if ((d = opendir(dir)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			/* NAME.tmp.XXXXXX, as dmu_replace_file() makes them. */
			if (strncmp(e->d_name, base, bl) != 0 ||
			    strncmp(e->d_name + bl, ".tmp.", 5) != 0 ||
			    strlen(e->d_name + bl + 5) != 6)
				continue;
			p = dmu_xmalloc(dl + strlen(e->d_name) + 1);
			memcpy(p, path, dl);
			strcpy(p + dl, e->d_name);
			unlink(p);
			free(p);
		}
		closedir(d);
	}
	free(dir);
}

/* see dmu.h */
int
dmu_db_open(struct dmu_db *db, const char *path, int lock)
{
	char *real, *lockpath;
	size_t n;
	int rc;

	memset(db, 0, sizeof(*db));
	db->lockfd = -1;
	check_mode(path, db->warning);
	/* A symlink is followed: the file it names is the one replaced. */
	real = realpath(path, NULL);
	db->path = real != NULL ? real : follow_links(path);
	if (lock) {
		if (dmu_mkparents(db->path, 0755) != 0) {
			dmu_seterr(db->err, "cannot create the "
			    "directory of %.200s: %s", db->path,
			    strerror(errno));
			return DMU_EFAIL;
		}
		n = strlen(db->path) + sizeof(".lock");
		lockpath = dmu_xmalloc(n);
		snprintf(lockpath, n, "%s.lock", db->path);
		db->lockfd = dmu_lock(lockpath, dmu_lock_timeout_ms(),
		    db->err);
		if (db->lockfd < 0) {
			free(lockpath);
			return DMU_EFAIL;
		}
		free(lockpath);
		remove_stale(db->path);
	}
	rc = db_scan(db->path, 0, open_line, db, &db->exists, db->err);
	if (rc == 0 && !db->exists && !lock)
		return missing(db->path, db->err);
	return rc;
}

struct lookup_ctx {
	const char *path, *device;
	struct dmu_rec *out;
	int found;
	char *err;
	char *near;	/* a device one edit away, or NULL */
};

static int
lookup_line(void *ctx, long lineno, struct dmu_rec *r, const char *why)
{
	struct lookup_ctx *l = ctx;

	if (r == NULL) {
		dmu_seterr(l->err, "%.180s:%ld: %s", l->path, lineno,
		    why);
		return DMU_EDATA;
	}
	if (r->device != NULL && strcmp(r->device, l->device) == 0) {
		if (l->found) {
			dmu_rec_free(r);
			dmu_seterr(l->err, "%.180s:%ld: device %s "
			    "appears twice", l->path, lineno, l->device);
			return DMU_EDATA;
		}
		*l->out = *r;
		l->found = 1;
		return 0;
	}
	if (r->device != NULL && l->near == NULL &&
	    dmu_one_edit(r->device, l->device))
		l->near = dmu_xstrdup(r->device);
	dmu_rec_free(r);
	return 0;
}

/* see dmu.h */
int
dmu_db_lookup(const char *path, const char *device, struct dmu_rec *out,
    char *warning, char *err)
{
	struct lookup_ctx l = { path, device, out, 0, err, NULL };
	int exists, rc;

	memset(out, 0, sizeof(*out));
	check_mode(path, warning);
	rc = db_scan(path, 0, lookup_line, &l, &exists, err);
	if (rc != 0) {
		if (l.found)
			dmu_rec_free(out);
		free(l.near);
		return rc;
	}
	if (!exists)
		return missing(path, err);
	if (!l.found) {
		dmu_seterr(err, "%s: unknown device (not in %.160s%s%s%s)",
		    device, path, l.near != NULL ? "; did you mean " : "",
		    l.near != NULL ? l.near : "", l.near != NULL ? "?" : "");
		free(l.near);
		return DMU_EUNKNOWN;
	}
	free(l.near);
	return DMU_OK;
}

struct check_ctx {
	void (*report)(void *, long, const char *);
	void *ctx;
	struct dmu_db seen;	/* the devices so far, names only */
	int bad;
};

static int
check_line(void *ctx, long lineno, struct dmu_rec *r, const char *why)
{
	struct check_ctx *k = ctx;
	struct dmu_rec name;
	char msg[DMU_ERRLEN];

	if (r == NULL) {
		k->report(k->ctx, lineno, why);
		k->bad = 1;
		return 0;
	}
	if (r->device != NULL) {
		if (dmu_db_find(&k->seen, r->device) != NULL) {
			snprintf(msg, sizeof(msg), "device %s appears twice",
			    r->device);
			k->report(k->ctx, lineno, msg);
			k->bad = 1;
		} else {
			memset(&name, 0, sizeof(name));
			name.device = name.mem = dmu_xstrdup(r->device);
			db_append(&k->seen, &name);
		}
	}
	dmu_rec_free(r);
	return 0;
}

/* see dmu.h */
int
dmu_db_check(const char *path, void (*report)(void *, long, const char *),
    void *ctx, char *err)
{
	struct check_ctx k;
	int exists, rc;

	memset(&k, 0, sizeof(k));
	k.report = report;
	k.ctx = ctx;
	k.seen.lockfd = -1;
	rc = db_scan(path, 1, check_line, &k, &exists, err);
	dmu_db_close(&k.seen);
	if (rc == 0 && !exists)
		return missing(path, err);
	return rc != 0 ? rc : k.bad ? DMU_EDATA : DMU_OK;
}

/* see dmu.h */
struct dmu_rec *
dmu_db_find(struct dmu_db *db, const char *device)
{
	size_t i;

	if (db->nslot == 0 || (i = db->slot[slot_of(db, device)]) == 0)
		return NULL;
	return &db->rec[i - 1];
}

/* see dmu.h */
char *
dmu_advice_mismatch(char *out, const char *device, const char *dbopt)
{
	dmu_seterr(out, "look first: dmu-certdb%s%.80s seen %s; only if the "
	    "device itself was replaced, re-learn it with the fingerprint "
	    "read off the device: dmu-learn -F FINGERPRINT %s | dmu-certdb"
	    "%s%.80s add -r", dbopt ? " -f " : "", dbopt ? dbopt : "",
	    device, device, dbopt ? " -f " : "", dbopt ? dbopt : "");
	return out;
}

/* see dmu.h */
char *
dmu_advice_learn(char *out, const char *device, const char *dbopt)
{
	dmu_seterr(out, "learn it first, with the fingerprint read off the "
	    "device: dmu-learn -F FINGERPRINT %s | dmu-certdb%s%.80s add",
	    device, dbopt ? " -f " : "", dbopt ? dbopt : "");
	return out;
}

/* see dmu.h */
const char *
dmu_db_near(const struct dmu_db *db, const char *device)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		if (db->rec[i].device != NULL &&
		    dmu_one_edit(db->rec[i].device, device))
			return db->rec[i].device;
	return NULL;
}

/* see dmu.h */
char *
dmu_db_unknown(const struct dmu_db *db, const char *device)
{
	const char *near = dmu_db_near(db, device);

	return dmu_xasprintf("%s: unknown device (not in %s%s%s%s)", device,
	    db->path, near ? "; did you mean " : "", near ? near : "",
	    near ? "?" : "");
}

/* see dmu.h */
void
dmu_db_put(struct dmu_db *db, const struct dmu_rec *r)
{
	struct dmu_rec *old = dmu_db_find(db, r->device), copy;

	if (db->hook != NULL)
		db->hook->change(db->hook->ctx, old != NULL ? "replace" :
		    "add", r, old);
	rec_copy(&copy, r);
	if (old != NULL) {
		dmu_rec_free(old);
		*old = copy;
	} else
		db_append(db, &copy);
}

/* see dmu.h */
int
dmu_db_pin(struct dmu_db *db, const struct dmu_rec *r, int replace,
    int *what, char *oldhex)
{
	struct dmu_rec *old = dmu_db_find(db, r->device);

	snprintf(oldhex, 65, "%s", old != NULL ? old->sha256hex : "");
	if (old != NULL && strcmp(old->sha256hex, r->sha256hex) == 0) {
		*what = DMU_PIN_SAME;
		return DMU_OK;
	}
	if (old != NULL && !replace)
		return DMU_EMISMATCH;
	*what = old != NULL ? DMU_PIN_REPLACED : DMU_PIN_NEW;
	dmu_db_put(db, r);
	return DMU_OK;
}

/* see dmu.h */
int
dmu_recs_read(int fd, struct dmu_rec **recs, size_t *nrec,
    void (*report)(void *, long, const char *), void *ctx, char *err)
{
	struct dmu_lines in;
	struct dmu_rec r;
	char *line, why[DMU_ERRLEN];
	size_t cap = 0;
	long n, lineno = 0;
	int status = DMU_OK;

	*recs = NULL;
	*nrec = 0;
	err[0] = '\0';
	dmu_lines_init(&in, fd, DMU_DB_LINE_MAX);
	while ((n = dmu_lines_next(&in, &line)) != -1) {
		lineno++;
		if (n == -2 || dmu_rec_parse(dmu_trim(line), &r, 1, why) != 0) {
			report(ctx, lineno, n == -2 ? "line too long" : why);
			status = DMU_EDATA;
		} else if (r.device == NULL)
			dmu_rec_free(&r);
		else {
			if (*nrec == cap) {
				cap = cap ? cap * 2 : 16;
				*recs = dmu_xreallocarray(*recs, cap,
				    sizeof(**recs));
			}
			(*recs)[(*nrec)++] = r;
		}
	}
	if (in.error != 0) {
		dmu_seterr(err, "%s", strerror(in.error));
		status = dmu_worse(status, DMU_EFAIL);
	}
	dmu_lines_free(&in);
	return status;
}

/* see dmu.h */
void
dmu_recs_free(struct dmu_rec *recs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		dmu_rec_free(&recs[i]);
	free(recs);
}

/* see dmu.h */
int
dmu_db_remove(struct dmu_db *db, const char *device)
{
	struct dmu_rec *r = dmu_db_find(db, device);
	size_t i;

	if (r == NULL)
		return -1;
	if (db->hook != NULL)
		db->hook->change(db->hook->ctx, "remove", r, NULL);
	i = (size_t)(r - db->rec);
	dmu_rec_free(r);
	memmove(r, r + 1, (db->n - i - 1) * sizeof(*r));
	db->n--;
	index_rebuild(db);	/* the records after it moved */
	return 0;
}

static int
fill_db(void *ctx, FILE *f)
{
	struct dmu_db *db = ctx;
	size_t i;
	int format = 1;

	/* Format 1 while it suffices: older readers keep working. */
	for (i = 0; i < db->n; i++)
		if (db->rec[i].device != NULL && db->rec[i].prov[0] != '\0')
			format = 2;
	fprintf(f, "%s\n", format == 2 ? DMU_DB_HEADER2 : DMU_DB_HEADER);
	for (i = 0; i < db->n; i++)
		if (dmu_rec_write(f, &db->rec[i]) != 0)
			return -1;
	return 0;
}

/* see dmu.h */
int
dmu_db_commit(struct dmu_db *db)
{
	int rc;

	/* The history first: no change is made that it does not keep. */
	if (db->hook != NULL && db->hook->before(db->hook->ctx, db->err) !=
	    DMU_OK)
		return DMU_EFAIL;
	/*
	 * The file keeps its mode, a 0600 database stays 0600, except for
	 * the write permission of group and others (a warning): whoever may
	 * write the database decides which devices are trusted.
	 */
	rc = dmu_replace_file(db->path, dmu_mode_of(db->path, 0644) & 0644,
	    fill_db, db, db->err);
	if (db->hook != NULL)
		db->hook->after(db->hook->ctx, rc == DMU_OK);
	if (rc == DMU_OK)
		db->exists = 1;
	return rc;
}

/* see dmu.h */
void
dmu_db_close(struct dmu_db *db)
{
	size_t i;

	for (i = 0; i < db->n; i++)
		dmu_rec_free(&db->rec[i]);
	free(db->rec);
	free(db->slot);
	free(db->path);
	if (db->lockfd >= 0)
		close(db->lockfd);
	memset(db, 0, sizeof(*db));
	db->lockfd = -1;
}
