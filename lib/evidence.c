/* SPDX-License-Identifier: ISC */
/*
 * evidence.c - what a server presented on a mismatch, kept for a person
 * to look at: a header line, then one line per (device, presented
 * certificate),
 *	DEVICE SHA256 FIRST LAST COUNT ADDRESS REASON CHAIN
 * CHAIN being the end-entity certificate and the rest of the chain, base64
 * DER joined by ',', or '-' when the certificate was too large to keep.
 * Bounded per device, replaced atomically under a lock of its own.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

static char *
cat(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 1;
	char *p = dmu_xmalloc(n);

	snprintf(p, n, "%s%s", a, b);
	return p;
}

/* see dmu.h */
char *
dmu_ev_path(const char *dbpath)
{
	const char *e;
	char *real, *dir, *p;
	int ok;

	/* Beside the file that the database path really names. */
	real = realpath(dbpath, NULL);
	dir = dmu_dirname(real != NULL ? real : dbpath);
	ok = access(dir, W_OK | X_OK) == 0;
	free(dir);
	if (ok) {
		p = cat(real != NULL ? real : dbpath, ".evidence");
		free(real);
		return p;
	}
	free(real);
	if ((e = getenv("XDG_STATE_HOME")) != NULL && *e == '/')
		return cat(e, "/dmu/evidence");
	if ((e = getenv("HOME")) == NULL || *e == '\0')
		e = ".";
	return cat(e, "/.local/state/dmu/evidence");
}

/* A CHAIN field: '-', or 1 to 1 + DMU_CHAIN_MAX base64 blocks and ','. */
static int
is_chain(const char *s)
{
	const char *p = s, *q;
	size_t n;
	int k = 0;

	if (strcmp(s, "-") == 0)
		return 1;
	for (;;) {
		q = strchr(p, ',');
		n = q != NULL ? (size_t)(q - p) : strlen(p);
		if (!dmu_is_cert_b64(p, n) || ++k > 1 + DMU_CHAIN_MAX)
			return 0;
		if (q == NULL)
			return 1;
		p = q + 1;
	}
}

/* see dmu.h */
int
dmu_ev_parse(const char *line, struct dmu_ev *e, char *err)
{
	struct dmu_device d;
	char *f[8], derr[DMU_ERRLEN];
	int nf;

	memset(e, 0, sizeof(*e));
	e->mem = dmu_xstrdup(line);
	nf = dmu_split_fields(e->mem, f, 8);
	if (nf != 8) {
		dmu_seterr(err, "expected 8 fields separated by single spaces");
		goto bad;
	}
	if (dmu_device_parse(&d, f[0], derr) != 0 ||
	    strcmp(d.canon, f[0]) != 0) {
		dmu_seterr(err, "device is not in canonical form");
		goto bad;
	}
	if (!dmu_is_hex64(f[1])) {
		dmu_seterr(err, "fingerprint is not 64 lower-case hex digits");
		goto bad;
	}
	if (!dmu_is_timestamp(f[2]) || !dmu_is_timestamp(f[3]) ||
	    strcmp(f[2], f[3]) > 0) {
		dmu_seterr(err, "first and last seen are not two times "
		    "YYYY-MM-DDTHH:MM:SSZ in order");
		goto bad;
	}
	if (f[4][0] == '0' || strspn(f[4], "0123456789") != strlen(f[4]) ||
	    dmu_parse_long(f[4], 1, 1LL << 53,
	    &e->count) != 0) {
		dmu_seterr(err, "count is not a number from 1 to 2^53");
		goto bad;
	}
	if (strlen(f[5]) >= DMU_ADDR_MAX || strspn(f[5], "0123456789abcdef"
	    "ghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.:[]%_-") !=
	    strlen(f[5]) || f[5][0] == '\0') {
		dmu_seterr(err, "address is not an IP address and port or '-'");
		goto bad;
	}
	if (strcmp(f[6], "certificate") != 0 &&
	    strcmp(f[6], "key-proof-failed") != 0) {
		dmu_seterr(err, "reason is not certificate or key-proof-failed");
		goto bad;
	}
	if (!is_chain(f[7])) {
		dmu_seterr(err, "chain is not '-' or 1 to %d base64 "
		    "certificates joined by ','", 1 + DMU_CHAIN_MAX);
		goto bad;
	}
	e->device = f[0];
	e->sha256hex = f[1];
	e->first = f[2];
	e->last = f[3];
	e->addr = f[5];
	e->reason = f[6];
	e->chain = f[7];
	return 0;
bad:
	dmu_ev_free(e);
	return DMU_EDATA;
}

/* see dmu.h */
void
dmu_ev_free(struct dmu_ev *e)
{
	free(e->mem);
	memset(e, 0, sizeof(*e));
}

struct ev_scanner {
	int (*fn)(void *, const struct dmu_ev *);
	void *ctx;
};

/* One line for dmu_ev_scan(): parsed, then handed on. */
static int
ev_scan_line(void *ctx, char *line, long lineno, char *why)
{
	struct ev_scanner *sc = ctx;
	struct dmu_ev e;
	int rc;

	if (dmu_ev_parse(line, &e, why) != 0)
		return DMU_EDATA;
	e.lineno = lineno;
	rc = sc->fn(sc->ctx, &e);
	dmu_ev_free(&e);
	return rc;
}

/* see dmu.h */
int
dmu_ev_scan(const char *path, int (*fn)(void *, const struct dmu_ev *),
    void *ctx, char *err)
{
	struct ev_scanner sc = { fn, ctx };

	return dmu_read_file(path, DMU_EV_HEADER, "dmu evidence",
	    DMU_EV_LINE_MAX, ev_scan_line, &sc, err);
}

/* The entries of a file in memory, as lines, while it is rewritten. */
struct evset {
	struct dmu_ev *e;
	char **line;		/* a replacement line, or NULL: e as read */
	size_t n, cap;
};

static char *
ev_line(const struct dmu_ev *e)
{
	size_t n = strlen(e->device) + strlen(e->chain) + 200;
	char *s = dmu_xmalloc(n);

	snprintf(s, n, "%s %s %s %s %lld %s %s %s", e->device, e->sha256hex,
	    e->first, e->last, e->count, e->addr, e->reason, e->chain);
	return s;
}

static int
keep(void *ctx, const struct dmu_ev *e)
{
	struct evset *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->e = dmu_xreallocarray(s->e, s->cap, sizeof(*s->e));
		s->line = dmu_xreallocarray(s->line, s->cap,
		    sizeof(*s->line));
	}
	/* The fields point into mem: the copy keeps its own. */
	s->line[s->n] = ev_line(e);
	if (dmu_ev_parse(s->line[s->n], &s->e[s->n], NULL) != 0)
		abort();
	s->n++;
	return 0;
}

static void
evset_free(struct evset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		dmu_ev_free(&s->e[i]);
		free(s->line[i]);
	}
	free(s->e);
	free(s->line);
}

static int
fill_ev(void *ctx, FILE *f)
{
	struct evset *s = ctx;
	size_t i;

	fprintf(f, "%s\n", DMU_EV_HEADER);
	for (i = 0; i < s->n; i++)
		if (s->line[i] != NULL)
			fprintf(f, "%s\n", s->line[i]);
	return ferror(f) ? -1 : 0;
}

/*
 * The mode of the evidence: never more open than its database, whose mode
 * FILE.evidence takes (dmu_ev_path()); elsewhere, in the user's state
 * directory, 0600.
 */
static unsigned
ev_mode(const char *path)
{
	size_t n = strlen(path), k = sizeof(".evidence") - 1;
	unsigned mode = 0600;
	char *db;

	if (n > k && strcmp(path + n - k, ".evidence") == 0) {
		db = dmu_xstrdup(path);
		db[n - k] = '\0';
		mode = dmu_mode_of(db, 0600) & 0644;
		free(db);
	}
	return mode;
}

/*
 * Locks path.lock, reads path into s, lets change(s, arg) edit it and, when
 * it returns 1, replaces the file.  Returns DMU_OK, or another code with
 * the reason in err.
 */
static int
ev_update(const char *path, int (*change)(struct evset *, const void *),
    const void *arg, char *err)
{
	struct evset s;
	char *lockpath;
	long wait;
	int fd, rc;

	memset(&s, 0, sizeof(s));
	/* Private directories: the evidence is the user's own state. */
	if (dmu_mkparents(path, 0700) != 0) {
		dmu_seterr(err, "cannot create the directory of %.200s: %s",
		    path, strerror(errno));
		return DMU_EFAIL;
	}
	lockpath = cat(path, ".lock");
	/* A program that found a mismatch must not hang on its evidence. */
	wait = dmu_lock_timeout_ms();
	fd = dmu_lock(lockpath, wait < 5000 ? wait : 5000, err);
	free(lockpath);
	if (fd < 0)
		return DMU_EFAIL;
	rc = dmu_ev_scan(path, keep, &s, err);
	if (rc == DMU_OK && change(&s, arg))
		rc = dmu_replace_file(path, ev_mode(path), fill_ev, &s, err);
	close(fd);
	evset_free(&s);
	return rc;
}

struct seen {
	const char *device;
	const struct dmu_pin *pin;
	const char *addr;
	int why;
};

static int
add_seen(struct evset *s, const void *arg)
{
	const struct seen *w = arg;
	struct dmu_ev e;
	char now[21], hex[65], *chain, *p;
	size_t i, n, old = 0, oldest = 0;
	int k;

	dmu_utc_now(now);
	dmu_hex(hex, w->pin->presented, 32);
	for (i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].device, w->device) != 0)
			continue;
		if (strcmp(s->e[i].sha256hex, hex) == 0) {
			/* Seen before: the count and the last time move. */
			e = s->e[i];
			e.last = now;
			if (strcmp(e.first, now) > 0)
				e.first = now;
			if (e.count < (1LL << 53))
				e.count++;
			e.addr = w->addr[0] != '\0' ? w->addr : "-";
			e.reason = dmu_why_word(w->why);
			free(s->line[i]);
			s->line[i] = ev_line(&e);
			return 1;
		}
		if (old++ == 0 || strcmp(s->e[i].last, s->e[oldest].last) < 0)
			oldest = i;
	}
	/* Bounded: a new one beyond the limit pushes out the oldest. */
	if (old >= DMU_EV_PER_DEVICE) {
		free(s->line[oldest]);
		s->line[oldest] = NULL;
	}
	if (w->pin->toolarge || w->pin->len == 0) {
		chain = dmu_xstrdup("-");
	} else {
		n = DMU_B64_LEN(w->pin->len) + 1;
		for (k = 0; k < w->pin->nchain; k++)
			n += DMU_B64_LEN(w->pin->chainsz[k]) + 1;
		chain = p = dmu_xmalloc(n);
		dmu_b64_encode(p, w->pin->buf, w->pin->len);
		p += strlen(p);
		for (k = 0, i = 0; k < w->pin->nchain; k++) {
			*p++ = ',';
			dmu_b64_encode(p, w->pin->chain + i,
			    w->pin->chainsz[k]);
			p += strlen(p);
			i += w->pin->chainsz[k];
		}
	}
	memset(&e, 0, sizeof(e));
	e.device = w->device;
	e.sha256hex = hex;
	e.first = e.last = now;
	e.count = 1;
	e.addr = w->addr[0] != '\0' ? w->addr : "-";
	e.reason = dmu_why_word(w->why);
	e.chain = chain;
	keep(s, &e);
	free(chain);
	return 1;
}

/* see dmu.h */
int
dmu_known_cert(const char *dbpath, const char *device, const char *sha256hex,
    struct dmu_cert *c, const char **where, char *err)
{
	struct dmu_rec r;
	char warning[DMU_ERRLEN], *path;
	int rc;

	*where = "pinned";
	rc = dmu_db_lookup(dbpath, device, &r, warning, err);
	if (rc == DMU_OK && strcmp(r.sha256hex, sha256hex) == 0) {
		rc = dmu_db_cert(dbpath, &r, c, err);
		dmu_rec_free(&r);
		return rc;
	}
	if (rc != DMU_OK && rc != DMU_EUNKNOWN)
		return rc;
	if (rc == DMU_OK)
		dmu_rec_free(&r);
	*where = "in the history";
	path = dmu_hist_path(dbpath);
	rc = dmu_hist_cert(path, device, sha256hex, c, err);
	free(path);
	if (rc == DMU_EUNKNOWN) {
		*where = "seen";
		path = dmu_ev_path(dbpath);
		rc = dmu_ev_cert(path, device, sha256hex, c, err);
		free(path);
	}
	if (rc == DMU_EUNKNOWN)
		dmu_seterr(err, "%.100s: no certificate %s pinned, in the "
		    "history or seen", device, sha256hex);
	return rc;
}

/* see dmu.h */
int
dmu_ev_record(const char *path, const char *device,
    const struct dmu_conn *c, char *err)
{
	const struct dmu_pin *pin = &c->pin;
	struct seen w = { device, pin, c->addr, c->why };

	if (!pin->have_presented) {
		dmu_seterr(err, "no certificate was presented");
		return DMU_EFAIL;
	}
	return ev_update(path, add_seen, &w, err);
}

struct forget {
	const char *device, *sha256hex;
};

static int
drop_seen(struct evset *s, const void *arg)
{
	const struct forget *w = arg;
	size_t i;
	int changed = 0;

	for (i = 0; i < s->n; i++)
		if (s->line[i] != NULL && strcmp(s->e[i].device,
		    w->device) == 0 && strcmp(s->e[i].sha256hex,
		    w->sha256hex) == 0) {
			free(s->line[i]);
			s->line[i] = NULL;
			changed = 1;
		}
	return changed;
}

/* see dmu.h */
int
dmu_ev_clear(const char *path, const char *device, const char *sha256hex,
    char *err)
{
	struct forget w = { device, sha256hex };

	if (access(path, F_OK) != 0)
		return DMU_OK;	/* nothing kept, nothing to lock */
	return ev_update(path, drop_seen, &w, err);
}

struct find {
	const char *device, *sha;
	char *certb64;
};

static int
find_ev(void *ctx, const struct dmu_ev *e)
{
	struct find *k = ctx;

	if (k->certb64 == NULL && strcmp(e->device, k->device) == 0 &&
	    strcmp(e->sha256hex, k->sha) == 0 && strcmp(e->chain, "-") != 0)
	{
		size_t n = strcspn(e->chain, ",");

		k->certb64 = dmu_xmalloc(n + 1);
		memcpy(k->certb64, e->chain, n);
		k->certb64[n] = '\0';
	}
	return 0;
}

/* see dmu.h */
int
dmu_ev_cert(const char *path, const char *device, const char *sha256hex,
    struct dmu_cert *c, char *err)
{
	struct find k = { device, sha256hex, NULL };
	struct dmu_rec r;
	int rc;

	if ((rc = dmu_ev_scan(path, find_ev, &k, err)) != DMU_OK) {
		free(k.certb64);	/* found before a bad line */
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
