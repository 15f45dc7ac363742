/* SPDX-License-Identifier: ISC */
/*
 * evidence.c - what a server presented on a mismatch, kept for a person
 * to look at: a header line, then one line per (device, presented
 * certificate),
 *	DEVICE SHA256 FIRST LAST COUNT ADDRESS REASON CHAIN
 * CHAIN being the end-entity certificate and the rest of the chain, base64
 * DER joined by ',', or '-' when the certificate was too large to keep.
 * A mismatch appends one line under a lock of its own; readers merge the
 * lines of one (device, certificate).  The bounds live here alone: at
 * most DMU_EV_PER_DEVICE entries a device and DMU_EV_ENTRIES_MAX in all,
 * and a file of at most DMU_EV_BYTES_MAX, compacted (replaced atomically)
 * when an append would pass it.
 */
#include <sys/stat.h>
#include <fcntl.h>
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
	char *real, *cwd, *p;

	/*
	 * Beside the file that the database path really names, whoever runs
	 * the program: one place per database, never a relative one.
	 */
	if ((real = realpath(dbpath, NULL)) != NULL) {
		p = cat(real, ".evidence");
		free(real);
		return p;
	}
	if (dbpath[0] == '/' || (cwd = getcwd(NULL, 0)) == NULL)
		return cat(dbpath, ".evidence");
	p = dmu_xasprintf("%s/%s.evidence", cwd, dbpath);
	free(cwd);
	return p;
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

/*
 * The entries of a file in memory: every line as read, then merged by
 * (device, certificate) and cut to the bounds.  The file is bounded
 * (DMU_EV_BYTES_MAX), so this is too.
 */
struct evset {
	struct dmu_ev *e;
	size_t n, cap;
	size_t bytes;			/* of the lines read */
};

static int
collect(void *ctx, char *line, long lineno, char *why)
{
	struct evset *s = ctx;

	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->e = dmu_xreallocarray(s->e, s->cap, sizeof(*s->e));
	}
	if (dmu_ev_parse(line, &s->e[s->n], why) != 0)
		return DMU_EDATA;
	s->e[s->n].lineno = lineno;
	s->bytes += strlen(line) + 1;
	s->n++;
	return DMU_OK;
}

static void
evset_free(struct evset *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		dmu_ev_free(&s->e[i]);
	free(s->e);
	memset(s, 0, sizeof(*s));
}

/* Sorts the entries of s; qsort(3) wants a pointer even for none. */
static void
sort_ev(struct evset *s, int (*cmp)(const void *, const void *))
{
	if (s->n > 1)
		qsort(s->e, s->n, sizeof(*s->e), cmp);
}

/* Same device and certificate, then file order. */
static int
by_key(const void *a, const void *b)
{
	const struct dmu_ev *x = a, *y = b;
	int d;

	if ((d = strcmp(x->device, y->device)) != 0)
		return d;
	if ((d = strcmp(x->sha256hex, y->sha256hex)) != 0)
		return d;
	return (x->lineno > y->lineno) - (x->lineno < y->lineno);
}

/* Seen last first: what the bounds keep. */
static int
by_last(const void *a, const void *b)
{
	const struct dmu_ev *x = a, *y = b;
	int d = strcmp(y->last, x->last);

	return d != 0 ? d : (y->lineno > x->lineno) - (y->lineno < x->lineno);
}

/* Where an entry first stood in the file: the order readers see. */
static int
by_line(const void *a, const void *b)
{
	const struct dmu_ev *x = a, *y = b;

	return (x->lineno > y->lineno) - (x->lineno < y->lineno);
}

/*
 * Merges the lines of one (device, certificate) into one entry: counts
 * added, the first FIRST and the last LAST, the rest from the latest line;
 * it stands where the first of them stood.
 */
static void
merge(struct evset *s)
{
	size_t i, j, k, out = 0;

	sort_ev(s, by_key);
	for (i = 0; i < s->n; i = j) {
		struct dmu_ev m = s->e[i];

		for (j = i + 1; j < s->n && strcmp(s->e[j].device,
		    m.device) == 0 && strcmp(s->e[j].sha256hex,
		    m.sha256hex) == 0; j++)
			;
		if (j - i > 1) {
			struct dmu_ev *last = &s->e[j - 1];
			long long count = 0;
			const char *first = m.first, *lastseen = m.last;

			for (k = i; k < j; k++) {
				count += s->e[k].count;
				if (count > (1LL << 53))
					count = 1LL << 53;
				if (strcmp(s->e[k].first, first) < 0)
					first = s->e[k].first;
				if (strcmp(s->e[k].last, lastseen) > 0)
					lastseen = s->e[k].last;
			}
			/* The rest from the latest line; all of them go. */
			m = *last;
			m.lineno = s->e[i].lineno;
			m.count = count;
			m.first = first;
			m.last = lastseen;
			/* first and last may point into lines freed below. */
			m.mem = dmu_xasprintf("%s %s %s %s %lld %s %s %s",
			    m.device, m.sha256hex, first, lastseen, count,
			    m.addr, m.reason, m.chain);
			for (k = i; k < j; k++)
				dmu_ev_free(&s->e[k]);
			if (dmu_ev_parse(m.mem, &s->e[out], NULL) != 0) {
				/* Cannot happen: every part was valid. */
				free(m.mem);
				continue;
			}
			free(m.mem);
			s->e[out++].lineno = m.lineno;
			continue;
		}
		if (out != i)
			s->e[out] = s->e[i];
		out++;
	}
	s->n = out;
}

/* By device, then seen last first: the per-device bound. */
static int
by_device_last(const void *a, const void *b)
{
	const struct dmu_ev *x = a, *y = b;
	int d = strcmp(x->device, y->device);

	return d != 0 ? d : by_last(a, b);
}

/*
 * Cuts the merged entries to the bounds, the ones seen longest ago going
 * first: DMU_EV_PER_DEVICE a device, DMU_EV_ENTRIES_MAX in all, and lines
 * of at most maxbytes together.  Leaves them in file order.  Three sorts:
 * the time grows as n log n with the entries.
 */
static void
bound(struct evset *s, size_t maxbytes)
{
	char prev[DMU_DEVICE_MAX + 1] = "";
	size_t i, k = 0, out = 0, bytes = 0, len;

	sort_ev(s, by_device_last);
	for (i = 0; i < s->n; i++) {
		if (strcmp(s->e[i].device, prev) != 0) {
			snprintf(prev, sizeof(prev), "%s", s->e[i].device);
			k = 0;
		}
		if (k++ >= DMU_EV_PER_DEVICE) {
			dmu_ev_free(&s->e[i]);
			continue;
		}
		s->e[out++] = s->e[i];
	}
	s->n = out;
	sort_ev(s, by_last);
	for (i = 0, out = 0; i < s->n; i++) {
		len = strlen(s->e[i].device) + strlen(s->e[i].chain) + 120;
		if (out >= DMU_EV_ENTRIES_MAX || bytes + len > maxbytes) {
			dmu_ev_free(&s->e[i]);
			continue;
		}
		bytes += len;
		s->e[out++] = s->e[i];
	}
	s->n = out;
	sort_ev(s, by_line);
}

/* Reads, merges and bounds the evidence at path into s. */
static int
ev_load(const char *path, struct evset *s, char *err)
{
	int rc;

	memset(s, 0, sizeof(*s));
	rc = dmu_read_file(path, DMU_EV_HEADER, "dmu evidence",
	    DMU_EV_LINE_MAX, collect, s, err);
	if (rc != DMU_OK) {
		evset_free(s);
		return rc;
	}
	merge(s);
	bound(s, DMU_EV_BYTES_MAX);
	return DMU_OK;
}

/* see dmu.h */
int
dmu_ev_scan(const char *path, int (*fn)(void *, const struct dmu_ev *),
    void *ctx, char *err)
{
	struct evset s;
	size_t i;
	int rc;

	if ((rc = ev_load(path, &s, err)) != DMU_OK)
		return rc;
	for (i = 0; i < s.n && rc == DMU_OK; i++)
		rc = fn(ctx, &s.e[i]);
	evset_free(&s);
	return rc;
}

static int
fill_ev(void *ctx, FILE *f)
{
	struct evset *s = ctx;
	size_t i;

	fprintf(f, "%s\n", DMU_EV_HEADER);
	for (i = 0; i < s->n; i++)
		fprintf(f, "%s %s %s %s %lld %s %s %s\n", s->e[i].device,
		    s->e[i].sha256hex, s->e[i].first, s->e[i].last,
		    s->e[i].count, s->e[i].addr, s->e[i].reason,
		    s->e[i].chain);
	return ferror(f) ? -1 : 0;
}

/* The database whose evidence is at path, newly allocated. */
static char *
ev_db(const char *path)
{
	size_t n = strlen(path), k = sizeof(".evidence") - 1;
	char *db = dmu_xstrdup(path);

	if (n > k && strcmp(path + n - k, ".evidence") == 0)
		db[n - k] = '\0';
	return db;
}

/*
 * The mode of the evidence: never more open than its database, whose mode
 * FILE.evidence takes (dmu_ev_path()).
 */
static unsigned
ev_mode(const char *path)
{
	char *db = ev_db(path);
	unsigned mode = dmu_mode_of(db, 0600) & 0644;

	free(db);
	return mode;
}

/* Takes the lock of the evidence at path: at most 5 s, never longer. */
static int
ev_lock(const char *path, char *err)
{
	char *lockpath = cat(path, ".lock");
	long wait = dmu_lock_timeout_ms();
	int fd;

	/* A program that found a mismatch must not hang on its evidence. */
	fd = dmu_lock(lockpath, wait < 5000 ? wait : 5000, err);
	free(lockpath);
	return fd;
}

/*
 * Rewrites the evidence at path (the lock held): merged, without the
 * entries of device and sha256hex when device is not NULL, with line
 * added when not NULL, and cut to half of DMU_EV_BYTES_MAX so that many
 * appends follow before the next compaction.
 */
static int
ev_compact(const char *path, const char *line, const char *device,
    const char *sha256hex, char *err)
{
	struct evset s;
	size_t i, out = 0;
	char why[DMU_ERRLEN];
	int rc;

	memset(&s, 0, sizeof(s));
	rc = dmu_read_file(path, DMU_EV_HEADER, "dmu evidence",
	    DMU_EV_LINE_MAX, collect, &s, err);
	if (rc == DMU_OK && line != NULL && collect(&s, (char *)line,
	    s.n > 0 ? s.e[s.n - 1].lineno + 1 : 2, why) != DMU_OK) {
		dmu_seterr(err, "cannot keep the entry: %s", why);
		rc = DMU_EFAIL;
	}
	if (rc != DMU_OK) {
		evset_free(&s);
		return rc;
	}
	for (i = 0; i < s.n; i++) {
		if (device != NULL && strcmp(s.e[i].device, device) == 0 &&
		    strcmp(s.e[i].sha256hex, sha256hex) == 0) {
			dmu_ev_free(&s.e[i]);
			continue;
		}
		s.e[out++] = s.e[i];
	}
	s.n = out;
	merge(&s);
	bound(&s, DMU_EV_BYTES_MAX / 2);
	rc = dmu_replace_file(path, ev_mode(path), fill_ev, &s, err);
	evset_free(&s);
	return rc;
}

/*
 * Appends line to the evidence at path (the lock held), after cutting a
 * piece of a line that a killed writer left; compacts instead when the
 * file would grow past DMU_EV_BYTES_MAX.  Nothing else is read: the cost
 * does not grow with the file.
 */
static int
ev_append(const char *path, const char *line, char *err)
{
	struct stat st;
	size_t n = strlen(line);
	char *buf, *db;
	unsigned mode;
	off_t end;
	int fd, rc = DMU_OK;

	mode = ev_mode(path);
	fd = dmu_open_file(path, O_RDWR | O_CREAT | O_APPEND | O_NOFOLLOW,
	    mode, "write", err);
	if (fd < 0)
		return DMU_EFAIL;
	/* Never more open than the database, and its owner's where we may. */
	db = ev_db(path);
	(void)dmu_file_like(fd, db, mode);
	free(db);
	if (fstat(fd, &st) != 0 || (end = dmu_whole_end(fd, st.st_size)) < 0 ||
	    (end != st.st_size && ftruncate(fd, end) != 0)) {
		dmu_seterr(err, "cannot write %.200s: %s", path,
		    strerror(errno));
		close(fd);
		return DMU_EFAIL;
	}
	if ((size_t)end + n + sizeof(DMU_EV_HEADER) + 1 > DMU_EV_BYTES_MAX) {
		close(fd);
		return ev_compact(path, line, NULL, NULL, err);
	}
	/* One write: a reader sees the whole line or none of it. */
	buf = end == 0 ? dmu_xasprintf("%s\n%s\n", DMU_EV_HEADER, line) :
	    dmu_xasprintf("%s\n", line);
	if (dmu_write_all(fd, buf, strlen(buf)) != 0 || fsync(fd) != 0) {
		dmu_seterr(err, "cannot write %.200s: %s", path,
		    strerror(errno));
		if (ftruncate(fd, end) == 0)
			fsync(fd);
		rc = DMU_EFAIL;
	}
	free(buf);
	close(fd);
	if (rc == DMU_OK && end == 0)
		dmu_fsync_dir(path);
	return rc;
}

/*
 * The CHAIN field of what pin holds, newly allocated: the end-entity
 * certificate and the chain certificates kept, each in base64, joined by
 * ','; empty ones (a peer may send a 0-byte certificate) are left out, and
 * '-' stands for an end-entity certificate too large or empty to keep.
 */
static char *
chain_field(const struct dmu_pin *pin)
{
	size_t n, off;
	char *chain, *p;
	int k;

	if (pin->toolarge || pin->len == 0 || pin->len > DMU_CERT_MAX)
		return dmu_xstrdup("-");
	n = DMU_B64_LEN(pin->len) + 1;
	for (k = 0; k < pin->nchain && k < DMU_CHAIN_MAX; k++)
		n += DMU_B64_LEN(pin->chainsz[k]) + 1;
	chain = p = dmu_xmalloc(n);
	dmu_b64_encode(p, pin->buf, pin->len);
	p += strlen(p);
	for (k = 0, off = 0; k < pin->nchain && k < DMU_CHAIN_MAX; k++) {
		if (pin->chainsz[k] > 0 && pin->chainsz[k] <= DMU_CERT_MAX &&
		    off + pin->chainsz[k] <= DMU_CHAIN_BYTES) {
			*p++ = ',';
			dmu_b64_encode(p, pin->chain + off, pin->chainsz[k]);
			p += strlen(p);
		}
		off += pin->chainsz[k];
	}
	return chain;
}

/* see dmu.h */
char *
dmu_ev_line(const char *device, const struct dmu_conn *c, char *err)
{
	const struct dmu_pin *pin = &c->pin;
	struct dmu_ev e;
	char now[21], hex[65], *chain, *line;

	if (!pin->have_presented) {
		dmu_seterr(err, "no certificate was presented");
		return NULL;
	}
	dmu_utc_now(now);
	dmu_hex(hex, pin->presented, 32);
	chain = chain_field(pin);
	line = dmu_xasprintf("%s %s %s %s 1 %s %s %s", device, hex, now, now,
	    c->addr[0] != '\0' ? c->addr : "-", dmu_why_word(c->why), chain);
	free(chain);
	/* What the store cannot read again is not written: a warning. */
	if (dmu_ev_parse(line, &e, err) != 0) {
		free(line);
		return NULL;
	}
	dmu_ev_free(&e);
	return line;
}

/*
 * Creates the evidence at path, empty, where there is none: owned like its
 * database before its lock is made, since the lock takes the owner of the
 * file it guards (one root made first would shut the owner out).
 */
static int
ev_create(const char *path, char *err)
{
	unsigned mode = ev_mode(path);
	char *db;
	int fd;

	fd = dmu_open_file(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode,
	    "write", err);
	if (fd < 0)
		return DMU_EFAIL;
	db = ev_db(path);
	(void)dmu_file_like(fd, db, mode);
	free(db);
	close(fd);
	return DMU_OK;
}

/* see dmu.h */
int
dmu_ev_keep(const char *path, const char *line, char *err)
{
	int fd, rc;

	if (ev_create(path, err) != DMU_OK ||
	    (fd = ev_lock(path, err)) < 0)
		return DMU_EFAIL;
	rc = ev_append(path, line, err);
	close(fd);
	return rc;
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
	char *line;
	int rc;

	if ((line = dmu_ev_line(device, c, err)) == NULL)
		return DMU_EFAIL;
	rc = dmu_ev_keep(path, line, err);
	free(line);
	return rc;
}

/* see dmu.h */
int
dmu_ev_clear(const char *path, const char *device, const char *sha256hex,
    char *err)
{
	int fd, rc;

	if (access(path, F_OK) != 0)
		return DMU_OK;	/* nothing kept, nothing to lock */
	if ((fd = ev_lock(path, err)) < 0)
		return DMU_EFAIL;
	rc = ev_compact(path, NULL, device, sha256hex, err);
	close(fd);
	return rc;
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
