/* dmu-pin-check - assert pinned certificates with a handshake, no request. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

struct job {
	char *arg;		/* the device as given */
	char *line;		/* the output line, once done */
	char *talk;		/* a message for stderr, or NULL */
	struct dmu_rec *rec;	/* its record in db, or NULL */
	char *evwarn;		/* the evidence was not kept: why, or NULL */
	int status;
	int done;
};

static struct dmu_db db;
static char *evpath;		/* where mismatches are kept */
static struct job *jobs;
static size_t njobs, next;
static int timeout_ms = 10000;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void
usage(void)
{
	fprintf(stderr, "usage: dmu-pin-check [-V] [-f file] [-j jobs] "
	    "[-t seconds] [device ...]\n");
	exit(DMU_EUSAGE);
}

/* The line and the talk of a mismatch, by its class. */
static void
mismatch(struct job *j, const struct dmu_conn *c, const char *dev,
    const char *pinned)
{
	char hex[65];

	dmu_hex(hex, dmu_conn_presented(c), 32);
	if (dmu_conn_why(c) == DMU_WHY_KEYPROOF) {
		j->line = dmu_xasprintf("%s mismatch key-proof-failed %s", dev,
		    pinned);
		j->talk = dmu_xasprintf("%s: CERTIFICATE MISMATCH: the device "
		    "presented the pinned certificate %s but could not prove "
		    "it holds its private key; nothing was sent. This is an "
		    "impostor replaying the public certificate (or a broken "
		    "device), never a network failure.", dev, pinned);
		return;
	}
	j->line = dmu_xasprintf("%s mismatch presented=%s expected=%s", dev, hex,
	    pinned);
	j->talk = dmu_xasprintf("%s: CERTIFICATE MISMATCH: the device presented "
	    "%s, but %s is pinned; nothing was sent. This may be a man in the "
	    "middle. Only if the device itself was replaced, re-learn it: "
	    "dmu-learn %s | dmu-certdb add -r", dev, hex, pinned, dev);
}

/*
 * Checks one device; fills j (its line, its talk, its status).  Lines are
 * "DEVICE ok SHA256", "DEVICE mismatch ...", "DEVICE unknown" or "DEVICE
 * error CLASS MESSAGE"; a device that does not parse is shown escaped, so
 * no argument can forge a line.
 */
static void
check(struct job *j, struct dmu_conn *c)
{
	struct dmu_device d;
	struct dmu_cert cert;
	struct dmu_rec *r;
	char err[DMU_ERRLEN], esc[4 * DMU_DEVICE_MAX];
	int rc;

	if (dmu_device_parse(&d, j->arg, err) != 0) {
		j->line = dmu_xasprintf("%s error invalid device",
		    dmu_escape(esc, sizeof(esc), j->arg));
		j->talk = dmu_xasprintf("%s", err);
		j->status = DMU_EDATA;
		return;
	}
	if ((r = dmu_db_find(&db, d.canon)) == NULL) {
		j->line = dmu_xasprintf("%s unknown", d.canon);
		j->talk = dmu_xasprintf("%s: unknown device (not in %s); learn it "
		    "first: dmu-learn %s | dmu-certdb add", d.canon, db.path,
		    d.canon);
		j->status = DMU_EUNKNOWN;
		return;
	}
	j->rec = r;
	if (dmu_db_cert(db.path, r, &cert, err) != 0) {
		j->line = dmu_xasprintf("%s error database bad record", d.canon);
		j->talk = dmu_xasprintf("%s", err);
		j->status = DMU_EDATA;
		return;
	}
	rc = dmu_conn_open(c, &d, &cert, timeout_ms);
	if (rc == DMU_OK)
		j->line = dmu_xasprintf("%s ok %s", d.canon, r->sha256hex);
	else if (rc == DMU_EMISMATCH) {
		mismatch(j, c, d.canon, r->sha256hex);
		/* Kept for a person to look at; a failure changes nothing. */
		if (dmu_ev_record(evpath, d.canon, &c->pin, c->addr,
		    dmu_conn_why(c), err) != DMU_OK)
			j->evwarn = dmu_xasprintf("%s: warning: what it presented "
			    "was not kept: %s", d.canon, err);
	}
	else if (rc == DMU_ENET)
		j->line = dmu_xasprintf("%s error %s %s", d.canon,
		    dmu_why_word(dmu_conn_why(c)), c->err);
	else
		j->line = dmu_xasprintf("%s error data %s", d.canon, c->err);
	j->status = rc;
	dmu_conn_close(c);
	dmu_cert_free(&cert);
}

/* An audit must find every pin that no person compared: say so. */
static void
warn_unverified(const struct dmu_rec *r)
{
	if (strcmp(r->prov, "unverified") == 0)
		dmu_warn("%s: warning: pin %s is unverified: %s accepted it "
		    "with dmu-learn -y on %s and nobody compared its "
		    "fingerprint", r->device, r->sha256hex, r->user,
		    r->learned);
}

static void *
worker(void *arg)
{
	struct dmu_conn *c = dmu_xcalloc(1, sizeof(*c));
	size_t i;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		i = next++;
		pthread_mutex_unlock(&mu);
		if (i >= njobs)
			break;
		check(&jobs[i], c);
		pthread_mutex_lock(&mu);
		jobs[i].done = 1;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
	free(c);
	return NULL;
}

static void
add_job(char *arg)
{
	static size_t cap;

	if (njobs == cap) {
		cap = cap ? cap * 2 : 64;
		jobs = dmu_xreallocarray(jobs, cap, sizeof(*jobs));
	}
	memset(&jobs[njobs], 0, sizeof(*jobs));
	jobs[njobs++].arg = arg;
}

int
main(int argc, char **argv)
{
	const char *opt_f = NULL;
	pthread_t *th;
	char *line = NULL, *dev, *path, *warned;
	size_t cap = 0, i;
	long long nthreads = 1;
	long n;
	int c, rc, status = 0;

	dmu_setprogname(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "f:j:t:V")) != -1) {
		switch (c) {
		case 'f':
			opt_f = optarg;
			break;
		case 'j':
			if (dmu_parse_long(optarg, 1, 256, &nthreads) != 0)
				dmu_die(DMU_EUSAGE, "invalid job count '%s' "
				    "(1 to 256)", optarg);
			break;
		case 't':
			timeout_ms = dmu_opt_timeout(optarg);
			break;
		case 'V':
			return dmu_print_version();
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	for (c = 0; c < argc; c++)
		add_job(dmu_xstrdup(argv[c]));
	if (argc == 0) {
		/* One device per line; more fields (dmu-certdb list) ignored. */
		long lineno = 0;

		while ((n = dmu_getline(&line, &cap, 4096, stdin)) != -1) {
			lineno++;
			if (n == -2) {
				dmu_warn("stdin:%ld: line too long", lineno);
				status = DMU_EDATA;
				continue;
			}
			if ((dev = strtok(line, " \t")) == NULL ||
			    dev[0] == '#')
				continue;
			add_job(dmu_xstrdup(dev));
		}
		free(line);
	}
	path = dmu_db_path(opt_f);
	evpath = dmu_ev_path(path);
	rc = dmu_db_open(&db, path, 0);
	if (db.warning[0] != '\0')
		dmu_warn("%s", db.warning);
	if (rc != DMU_OK)
		dmu_die(rc, "%s", db.err);
	if ((size_t)nthreads > njobs)
		nthreads = njobs > 0 ? (long long)njobs : 1;
	th = dmu_xcalloc((size_t)nthreads, sizeof(*th));
	for (i = 0; i < (size_t)nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			dmu_die(DMU_EFAIL, "cannot start a thread");
	warned = dmu_xcalloc(db.n + 1, 1);
	/* Results in input order, each as soon as it and those before are in. */
	for (i = 0; i < njobs; i++) {
		pthread_mutex_lock(&mu);
		while (!jobs[i].done)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		if (jobs[i].rec != NULL && !warned[jobs[i].rec - db.rec]) {
			warned[jobs[i].rec - db.rec] = 1;
			warn_unverified(jobs[i].rec);
		}
		if (jobs[i].talk != NULL)
			dmu_warn("%s", jobs[i].talk);
		if (jobs[i].evwarn != NULL)
			dmu_warn("%s", jobs[i].evwarn);
		printf("%s\n", jobs[i].line);
		status = dmu_worse(status, jobs[i].status);
		free(jobs[i].line);
		free(jobs[i].talk);
		free(jobs[i].evwarn);
		free(jobs[i].arg);
	}
	for (i = 0; i < (size_t)nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
	free(jobs);
	free(warned);
	dmu_db_close(&db);
	free(path);
	free(evpath);
	if (dmu_fshut() != 0)
		status = dmu_worse(status, DMU_EFAIL);
	return status;
}
