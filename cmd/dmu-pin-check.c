/* SPDX-License-Identifier: ISC */
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
	char *next;		/* what to do about it, a line after it, or NULL */
	struct dmu_rec *rec;	/* its record in db, or NULL */
	char *evline;		/* a mismatch's evidence, kept after its line */
	char *evwarn;		/* the evidence was not kept: why, or NULL */
	int status;
	int done;
	/* For -m: */
	char *label;		/* the device label: canonical or escaped */
	const char *word;	/* ok, mismatch, unknown, unreachable, ... */
	double secs;		/* the handshake's duration, or -1 */
	double not_after;	/* the pinned certificate's, or -1 */
	int dup;		/* the device was named before: no samples */
};

static struct dmu_db db;
static const char *opt_f;	/* -f, for the commands suggested */
static char *evpath;		/* where mismatches are kept */
static struct job *jobs;
static size_t njobs, next;
static int timeout_ms = 10000;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static const char help[] =
"usage: dmu-pin-check [-hV] [-f file] [-j jobs] [-m file] [-t seconds]\n"
"                     [device ...]\n"
"\n"
"Checks with a TLS handshake, and no request, that each device presents\n"
"its pinned certificate; prints one line a device: DEVICE ok, mismatch,\n"
"unknown or error CLASS ... With no device, reads one per line from stdin\n"
"(dmu-certdb list | dmu-pin-check).\n"
"\n"
"  -f file     the certificate database\n"
"  -j jobs     check this many devices at once (1 to 256; 1)\n"
"  -m file     write node-exporter textfile metrics to file\n"
"  -t seconds  time-out of connect and handshake (10)\n"
"  -V          print the version\n"
"  -h, --help  print this help\n";

/*
 * The line and the talk of a mismatch, by its class: the line keeps the
 * lower-case hex that scripts parse, the talk the colon form people
 * compare with the device, and the safe step.
 */
static void
mismatch(struct job *j, const struct dmu_conn *c, const char *dev,
    const char *pinned)
{
	char hex[65], human[DMU_FPR_COLON], phuman[DMU_FPR_COLON];
	char advice[DMU_ERRLEN];

	dmu_hex(hex, dmu_conn_presented(c), 32);
	dmu_hex_colon(human, dmu_conn_presented(c), 32);
	dmu_fpr_colon(phuman, pinned);
	dmu_advice_mismatch(advice, dev, opt_f);
	if (dmu_conn_why(c) == DMU_WHY_KEYPROOF) {
		j->line = dmu_xasprintf("%s mismatch key-proof-failed %s", dev,
		    pinned);
		j->talk = dmu_xasprintf("%s: CERTIFICATE MISMATCH: the device "
		    "presented the pinned certificate %s but could not prove "
		    "it holds its private key; nothing was sent. This is an "
		    "impostor replaying the public certificate (or a broken "
		    "device), never a network failure.", dev, phuman);
		j->next = dmu_xasprintf("%s: %s", dev, advice);
		return;
	}
	j->line = dmu_xasprintf("%s mismatch presented=%s expected=%s", dev, hex,
	    pinned);
	j->talk = dmu_xasprintf("%s: CERTIFICATE MISMATCH: the device presented "
	    "%s, but %s is pinned; nothing was sent. This may be a man in the "
	    "middle, or a replaced device.", dev, human, phuman);
	j->next = dmu_xasprintf("%s: %s", dev, advice);
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
	int64_t t0;
	int rc;

	j->word = "error";
	j->secs = j->not_after = -1;
	if (dmu_device_parse(&d, j->arg, err) != 0) {
		j->line = dmu_xasprintf("%s error invalid device",
		    dmu_escape(esc, sizeof(esc), j->arg));
		j->label = dmu_xstrdup(esc);
		j->talk = dmu_xasprintf("%s", err);
		j->status = DMU_EDATA;
		return;
	}
	j->label = dmu_xstrdup(d.canon);
	if ((r = dmu_db_find(&db, d.canon)) == NULL) {
		char advice[DMU_ERRLEN];

		j->word = "unknown";
		j->line = dmu_xasprintf("%s unknown", d.canon);
		j->talk = dmu_db_unknown(&db, d.canon);
		j->next = dmu_xasprintf("%s: %s", d.canon,
		    dmu_advice_learn(advice, d.canon, opt_f));
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
	if (dmu_time_parse(cert.not_after, &j->not_after) != 0)
		j->not_after = -1;
	t0 = dmu_now_ms();
	rc = dmu_conn_open(c, &d, &cert, timeout_ms);
	j->secs = (double)(dmu_now_ms() - t0) / 1000;
	if (rc == DMU_OK) {
		j->word = "ok";
		j->line = dmu_xasprintf("%s ok %s", d.canon, r->sha256hex);
	} else if (rc == DMU_EMISMATCH) {
		j->word = "mismatch";
		mismatch(j, c, d.canon, r->sha256hex);
		/* Taken now, kept after the line is out (keep_evidence()). */
		if ((j->evline = dmu_ev_line(d.canon, c, err)) == NULL)
			j->evwarn = dmu_xasprintf("%s: warning: what it presented "
			    "was not kept: %s", d.canon, err);
	} else if (rc == DMU_ENET) {
		j->word = dmu_conn_why(c) == DMU_WHY_INCOMPATIBLE ?
		    "incompatible" : "unreachable";
		j->line = dmu_xasprintf("%s error %s %s", d.canon,
		    dmu_why_word(dmu_conn_why(c)), c->err);
	} else
		j->line = dmu_xasprintf("%s error data %s", d.canon, c->err);
	j->status = rc;
	dmu_conn_close(c);
	dmu_cert_free(&cert);
}

/* An audit must find every pin that no person compared: say so. */
static void
warn_unverified(const struct dmu_rec *r)
{
	char msg[512];

	if (dmu_rec_unverified(r, msg, sizeof(msg)))
		dmu_warn("%s", msg);
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

/* The words of dmu_pin_status: each device has one of them at 1. */
static const char *const words[] = { "ok", "mismatch", "unknown",
    "unreachable", "incompatible", "error" };

static int
by_label(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a;
	const struct job *y = *(struct job *const *)b;
	int d = strcmp(x->label, y->label);

	return d != 0 ? d : x < y ? -1 : x > y;
}

/*
 * Marks every job but the first of each device: a series may appear only
 * once in a metrics file, or the exporter rejects all of it.
 */
static void
mark_dups(void)
{
	struct job **v = dmu_xcalloc(njobs + 1, sizeof(*v));
	size_t i;

	for (i = 0; i < njobs; i++)
		v[i] = &jobs[i];
	qsort(v, njobs, sizeof(*v), by_label);
	for (i = 1; i < njobs; i++)
		v[i]->dup = strcmp(v[i - 1]->label, v[i]->label) == 0;
	free(v);
}

/* Writes the textfile-collector file of -m: one family after the other. */
static int
fill_metrics(void *ctx, FILE *f)
{
	const char *l[4] = { "device", NULL, "status", NULL };
	size_t i, k;

	(void)ctx;
	dmu_metric_head(f, "dmu_pin_ok", "gauge", "1 when the device "
	    "presented its pinned certificate and proved its key, else 0.");
	for (i = 0; i < njobs; i++) {
		if (jobs[i].dup)
			continue;
		l[1] = jobs[i].label;
		dmu_metric(f, "dmu_pin_ok", l, 1,
		    strcmp(jobs[i].word, "ok") == 0);
	}
	dmu_metric_head(f, "dmu_pin_status", "gauge", "The outcome of the "
	    "pin check, 1 for the status that applies: ok, mismatch, unknown "
	    "(not in the database), unreachable, incompatible (TLS), error.");
	for (i = 0; i < njobs; i++)
		for (k = 0; k < sizeof(words) / sizeof(words[0]); k++) {
			if (jobs[i].dup)
				break;
			l[1] = jobs[i].label;
			l[3] = words[k];
			dmu_metric(f, "dmu_pin_status", l, 2,
			    strcmp(jobs[i].word, words[k]) == 0);
		}
	dmu_metric_head(f, "dmu_pin_check_duration_seconds", "gauge",
	    "Time taken to connect and complete (or fail) the handshake.");
	for (i = 0; i < njobs; i++)
		if (jobs[i].secs >= 0 && !jobs[i].dup) {
			l[1] = jobs[i].label;
			dmu_metric(f, "dmu_pin_check_duration_seconds", l, 1,
			    jobs[i].secs);
		}
	dmu_metric_head(f, "dmu_cert_not_after_timestamp_seconds", "gauge",
	    "The end of the pinned certificate's validity (an expired "
	    "certificate still pins its device).");
	for (i = 0; i < njobs; i++)
		if (jobs[i].not_after >= 0 && !jobs[i].dup) {
			l[1] = jobs[i].label;
			dmu_metric(f, "dmu_cert_not_after_timestamp_seconds",
			    l, 1, jobs[i].not_after);
		}
	return ferror(f) ? -1 : 0;
}

/*
 * Keeps what a mismatch presented, for a person to look at, once its line
 * and its talk are out: nothing about the evidence can delay or change
 * them, and a failure is one warning.
 */
static void
keep_evidence(struct job *j)
{
	char err[DMU_ERRLEN];

	if (j->evline != NULL && dmu_ev_keep(evpath, j->evline, err) != DMU_OK)
		j->evwarn = dmu_xasprintf("%s: warning: what it presented was "
		    "not kept: %s", j->label, err);
	if (j->evwarn != NULL)
		dmu_warn("%s", j->evwarn);
}

/* The options; returns the index of the first operand. */
static int
options(int argc, char **argv, const char **opt_m, long long *nthreads)
{
	int c;

	while ((c = dmu_getopt(argc, argv, "f:j:m:t:V", help)) != -1) {
		switch (c) {
		case 'f':
			opt_f = optarg;
			break;
		case 'j':
			if (dmu_parse_long(optarg, 1, 256, nthreads) != 0)
				dmu_die(DMU_EUSAGE, "invalid job count '%s' "
				    "(1 to 256)", dmu_echo(optarg));
			break;
		case 'm':
			*opt_m = optarg;
			break;
		case 't':
			timeout_ms = dmu_opt_timeout(optarg);
			break;
		case 'V':
			exit(dmu_print_version());
		default:
			dmu_usage(help, NULL);
		}
	}
	return optind;
}

/*
 * One job per device of stdin, one a line; more fields (dmu-certdb list)
 * are ignored.  Returns the exit status so far.
 */
static int
read_devices(void)
{
	struct dmu_lines in;
	char *line, *dev;
	long n, lineno = 0;
	int status = 0;

	dmu_lines_init(&in, STDIN_FILENO, 4096);
	while ((n = dmu_lines_next(&in, &line)) != -1) {
		lineno++;
		if (n == -2) {
			dmu_warn("stdin:%ld: line too long", lineno);
			status = DMU_EDATA;
			continue;
		}
		if ((dev = strtok(line, " \t")) == NULL || dev[0] == '#')
			continue;
		add_job(dmu_xstrdup(dev));
	}
	if (in.error != 0) {
		dmu_warn("stdin: %s", strerror(in.error));
		status = dmu_worse(status, DMU_EFAIL);
	}
	dmu_lines_free(&in);
	return status;
}

/* Starts nthreads workers (no more than jobs); returns them. */
static pthread_t *
start_workers(long long *nthreads)
{
	pthread_t *th;
	size_t i;

	if ((size_t)*nthreads > njobs)
		*nthreads = njobs > 0 ? (long long)njobs : 1;
	th = dmu_xcalloc((size_t)*nthreads, sizeof(*th));
	for (i = 0; i < (size_t)*nthreads; i++)
		if (pthread_create(&th[i], NULL, worker, NULL) != 0)
			dmu_die(DMU_EFAIL, "cannot start a thread");
	return th;
}

/*
 * Prints the results in input order, each as soon as it and those before
 * are in: warnings, the talk, the line, then the evidence is kept.
 * Returns the worst status.
 */
static int
report_all(void)
{
	char *warned = dmu_xcalloc(db.n + 1, 1);
	struct job *j;
	size_t i;
	int status = 0;

	for (i = 0; i < njobs; i++) {
		j = &jobs[i];
		pthread_mutex_lock(&mu);
		while (!j->done)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		if (j->rec != NULL && !warned[j->rec - db.rec]) {
			warned[j->rec - db.rec] = 1;
			warn_unverified(j->rec);
		}
		if (j->talk != NULL)
			dmu_warn("%s", j->talk);
		if (j->next != NULL)
			dmu_warn("%s", j->next);
		printf("%s\n", j->line);
		fflush(stdout);
		keep_evidence(j);
		status = dmu_worse(status, j->status);
		free(j->line);
		free(j->talk);
		free(j->next);
		free(j->evline);
		free(j->evwarn);
		free(j->arg);
	}
	free(warned);
	return status;
}

/* Writes the -m file; returns the exit status it adds. */
static int
write_metrics(const char *path)
{
	char err[DMU_ERRLEN];

	mark_dups();
	if (dmu_metrics_write(path, fill_metrics, NULL, err) != DMU_OK) {
		dmu_warn("%s", err);
		return DMU_EFAIL;
	}
	return DMU_OK;
}

int
main(int argc, char **argv)
{
	const char *opt_m = NULL;
	pthread_t *th;
	char *path;
	size_t i;
	long long nthreads = 1;
	int k, rc, status = 0;

	dmu_setprogname(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	k = options(argc, argv, &opt_m, &nthreads);
	for (i = (size_t)k; i < (size_t)argc; i++)
		add_job(dmu_xstrdup(argv[i]));
	if (k == argc)
		status = read_devices();
	path = dmu_db_path(opt_f);
	evpath = dmu_ev_path(path);
	rc = dmu_db_open(&db, path, 0);
	if (db.warning[0] != '\0')
		dmu_warn("%s", db.warning);
	if (rc != DMU_OK)
		dmu_die(rc, "%s", db.err);
	/* Nothing checked is no success: an upstream list came out empty. */
	if (njobs == 0 && status == 0)
		dmu_die(DMU_EUSAGE, "no device to check: name devices as "
		    "arguments or one per line on stdin (dmu-certdb list | "
		    "dmu-pin-check)");
	th = start_workers(&nthreads);
	status = dmu_worse(status, report_all());
	for (i = 0; i < (size_t)nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (opt_m != NULL)
		status = dmu_worse(status, write_metrics(opt_m));
	for (i = 0; i < njobs; i++)
		free(jobs[i].label);
	free(jobs);
	dmu_db_close(&db);
	free(path);
	free(evpath);
	if (dmu_fshut() != 0)
		status = dmu_worse(status, DMU_EFAIL);
	return status;
}
