/* dmu-get - read reports from a pinned device: one, a list, or follow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

static struct dmu_device dev;
static struct dmu_cert pinned;
static struct dmu_conn *conn;
static struct dmu_src src;
static int connected;
static struct dmu_key key;
static char base[128];
static int timeout_ms = 10000;
static int opt_d, opt_r;
static char *evpath;		/* where mismatches are kept */

/* Serials written in the current batch, to delete with -d. */
static long long *written;
static size_t nwritten, capwritten;

static void
usage(void)
{
	fprintf(stderr, "usage: dmu-get [-dVr] [-a app] [-f file] [-k keyfile] "
	    "[-l serial] [-n count]\n"
	    "               [-s statefile] [-t seconds] [-w seconds] device "
	    "[resource]\n");
	exit(DMU_EUSAGE);
}

static void
wipe_key(void)
{
	dmu_key_wipe(&key);
}

static long
conn_read(void *ctx, void *buf, size_t len)
{
	return dmu_conn_read(ctx, buf, len);
}

static void
disconnect(void)
{
	if (connected)
		dmu_conn_close(conn);
	connected = 0;
}

/* Keeps what an impostor presented; a failure only draws a warning. */
static void
keep_evidence(void)
{
	char err[DMU_ERRLEN];

	if (dmu_ev_record(evpath, dev.canon, &conn->pin, conn->addr,
	    conn->why, err) != DMU_OK)
		dmu_warn("%s: warning: what it presented was not kept: %s",
		    dev.canon, err);
}

/* Opens the pinned connection; a mismatch ends the program at once. */
static int
connect_dev(void)
{
	char hex[65], phex[65];
	int rc;

	rc = dmu_conn_open(conn, &dev, &pinned, timeout_ms);
	if (rc == DMU_EMISMATCH && conn->why == DMU_WHY_KEYPROOF) {
		dmu_hex(phex, pinned.sha256, 32);
		dmu_warn("%s: CERTIFICATE MISMATCH: the device presented the "
		    "pinned certificate %s but could not prove it holds its "
		    "private key; nothing was sent (an impostor replaying the "
		    "public certificate, or a broken device)", dev.canon, phex);
		keep_evidence();
		exit(DMU_EMISMATCH);
	}
	if (rc == DMU_EMISMATCH) {
		dmu_hex(hex, conn->pin.presented, 32);
		dmu_hex(phex, pinned.sha256, 32);
		dmu_warn("%s: certificate mismatch: presented %s, pinned %s; "
		    "nothing was sent (a man in the middle, or a replaced "
		    "device: check it, then 'dmu-learn %s | dmu-certdb add "
		    "-r')", dev.canon, hex, phex, dev.canon);
		keep_evidence();
		exit(DMU_EMISMATCH);
	}
	if (rc != DMU_OK) {
		dmu_conn_close(conn);
		return rc;
	}
	dmu_src_init(&src, conn_read, conn);
	connected = 1;
	return DMU_OK;
}

/*
 * Sends GET target on the connection and reads the answer into r, within
 * the time-out plus extra_ms.  Returns DMU_OK, DMU_ENET or DMU_EDATA, with
 * the reason in err.
 */
static int
request(const char *target, long extra_ms, struct dmu_resp *r, char *err)
{
	char req[1024], b64[DMU_KEY_B64MAX];
	long n;
	int rc;

	dmu_key_reveal(&key, b64);
	n = dmu_http_get(req, sizeof(req), dev.canon, target, b64);
	dmu_wipe(b64, sizeof(b64));
	if (n < 0) {
		dmu_wipe(req, sizeof(req));
		snprintf(err, DMU_ERRLEN, "request too long");
		return DMU_EUSAGE;
	}
	/* A long poll may be silent for its whole time: wait that long. */
	conn->timeout_ms = timeout_ms + (int)extra_ms;
	dmu_conn_deadline(conn, timeout_ms + extra_ms);
	rc = dmu_conn_write(conn, req, (size_t)n);
	dmu_wipe(req, sizeof(req));
	if (rc != 0) {
		snprintf(err, DMU_ERRLEN, "%s", conn->err);
		disconnect();
		return DMU_ENET;
	}
	rc = dmu_http_read(&src, r, err);
	/* The connection knows why reading failed: time-out, cut, ... */
	if (rc == DMU_ENET && conn->err[0] != '\0') {
		size_t used = strlen(err);

		snprintf(err + used, DMU_ERRLEN - used, ": %s", conn->err);
	}
	if (rc != DMU_OK || !r->keepalive)
		disconnect();
	return rc;
}

/* Remembers a report's serial; with print set, writes it as a line. */
static int
take_report(const struct dmu_report *r, int print)
{
	/* One line, one write: collectors may share a pipe. */
	if (print && (fflush(stdout) != 0 ||
	    dmu_write_line(STDOUT_FILENO, r->line, r->len) != 0))
		return 1;
	if (nwritten == capwritten) {
		capwritten = capwritten ? capwritten * 2 : 64;
		written = dmu_xreallocarray(written, capwritten,
		    sizeof(*written));
	}
	written[nwritten++] = r->serial;
	return 0;
}

static int
print_report(void *ctx, const struct dmu_report *r)
{
	(void)ctx;
	return take_report(r, 1);
}

static int
note_report(void *ctx, const struct dmu_report *r)
{
	(void)ctx;
	return take_report(r, 0);
}

static void
print_warning(void *ctx, const char *msg)
{
	(void)ctx;
	dmu_warn("%s", msg);
}

/* Deletes the reports written in this batch (-d), one by one. */
static void
delete_written(void)
{
	struct dmu_resp r;
	char target[256], err[DMU_ERRLEN];
	size_t i;

	for (i = 0; i < nwritten; i++) {
		if (!connected && connect_dev() != DMU_OK) {
			dmu_warn("%s: cannot delete serial %lld: %s",
			    dev.canon, written[i], conn->err);
			continue;
		}
		snprintf(target, sizeof(target), "%s/reports/%lld?delete=true",
		    base, written[i]);
		if (request(target, 0, &r, err) != DMU_OK) {
			dmu_warn("%s: cannot delete serial %lld: %s",
			    dev.canon, written[i], err);
			continue;
		}
		if (r.status != 200 && r.status != 404)
			dmu_warn("%s: cannot delete serial %lld: HTTP %d",
			    dev.canon, written[i], r.status);
		dmu_resp_free(&r);
	}
	nwritten = 0;
}

/* Says what an HTTP error answer means; returns DMU_EHTTP. */
static int
http_error(const struct dmu_resp *r)
{
	char msg[DMU_ERRLEN];

	if (dmu_json_message(r->body, r->len, msg, sizeof(msg)) != 0)
		msg[0] = '\0';
	dmu_warn("%s: HTTP %d%s%s", dev.canon, r->status, msg[0] ? ": " : "",
	    msg);
	return DMU_EHTTP;
}

/* One request: a report, the list, or one long poll. */
static int
fetch(const char *target, long extra_ms)
{
	struct dmu_resp r;
	char err[DMU_ERRLEN];
	int rc;

	if ((rc = connect_dev()) != DMU_OK) {
		dmu_warn("%s: %s", dev.canon, conn->err);
		return rc;
	}
	if ((rc = request(target, extra_ms, &r, err)) != DMU_OK) {
		dmu_warn("%s: %s", dev.canon, err);
		return rc;
	}
	if (r.status == 204) {
		rc = DMU_OK;
	} else if (r.status != 200) {
		rc = http_error(&r);
	} else if ((rc = dmu_json_reports(r.body, r.len, dev.canon,
	    opt_r ? note_report : print_report, NULL, err)) != 0) {
		/* -r too prints only an answer that parses. */
		if (rc == DMU_EDATA)
			dmu_warn("%s: malformed answer: %s", dev.canon, err);
		else
			rc = DMU_EFAIL;
	} else if (opt_r) {
		if (fwrite(r.body, 1, r.len, stdout) != r.len ||
		    fflush(stdout) != 0)
			rc = DMU_EFAIL;
	}
	dmu_resp_free(&r);
	return rc;
}

/* A network failure in follow: say so, wait, and let the loop go on. */
static void
back_off(struct dmu_follow *f, const char *why)
{
	dmu_follow_neterr(f, -1);
	dmu_warn("%s: %s; trying again in %.1f s", dev.canon, why,
	    (double)f->delay_ms / 1000);
	dmu_sleep_ms(f->delay_ms);
}

/* The collector: long polls on one kept-alive connection, forever. */
static int
follow(const char *statefile, long long limit, long wait_s)
{
	struct dmu_follow f;
	struct dmu_resp r;
	char target[256], err[DMU_ERRLEN], ts[64];
	long long last = 0;
	int rc, act, check = 0;

	if (statefile != NULL) {
		if ((rc = dmu_state_read(statefile, &last, ts, sizeof(ts),
		    err)) != DMU_OK)
			dmu_die(rc, "%s", err);
		check = last > 0;
	} else
		ts[0] = '\0';
	dmu_follow_init(&f, dev.canon, last, ts);
	f.limit = limit;
	f.emit = print_report;
	f.warn = print_warning;
	srandom((unsigned)getpid() ^ (unsigned)dmu_now_ms());
	dmu_catch_signals();
	while (!dmu_stop) {
		if (!connected) {
			if ((rc = connect_dev()) != DMU_OK) {
				back_off(&f, conn->err);
				check = 1;
				continue;
			}
			/* Did the device restart while we were away? */
			if (check && f.last > 0 && f.last_ts[0] != '\0') {
				snprintf(target, sizeof(target),
				    "%s/reports/%lld", base, f.last);
				if (request(target, 0, &r, err) != DMU_OK) {
					back_off(&f, err);
					continue;
				}
				dmu_follow_continuity(&f, r.status, r.body,
				    r.len);
				dmu_resp_free(&r);
			}
			check = 0;
			if (!connected)
				continue;
		}
		snprintf(target, sizeof(target), "%s/wait?lastSerial=%lld&"
		    "timeout=%ld", base, f.last, wait_s);
		rc = request(target, wait_s * 1000, &r, err);
		if (dmu_stop)
			break;
		if (rc == DMU_EDATA)
			dmu_die(DMU_EDATA, "%s: malformed answer: %s",
			    dev.canon, err);
		if (rc != DMU_OK) {
			back_off(&f, err);
			check = 1;
			continue;
		}
		nwritten = 0;
		act = dmu_follow_answer(&f, r.status, r.body, r.len,
		    r.retry_after);
		if (act == DMU_FOLLOW_RETRY)
			dmu_warn("%s: HTTP %d; trying again in %.1f s",
			    dev.canon, r.status, (double)f.delay_ms / 1000);
		dmu_resp_free(&r);
		switch (act) {
		case DMU_FOLLOW_AGAIN:
			break;
		case DMU_FOLLOW_SAVED:
		case DMU_FOLLOW_DONE:
			/*
			 * Only what is on stdout moves the state on; when
			 * stdout is a file, it must be on the disk first.
			 */
			if (statefile != NULL && fsync(STDOUT_FILENO) != 0 &&
			    errno != EINVAL && errno != EROFS)
				dmu_die(DMU_EFAIL, "stdout:");
			if (statefile != NULL && dmu_state_write(statefile,
			    f.last, f.last_ts, err) != DMU_OK)
				dmu_die(DMU_EFAIL, "%s", err);
			if (opt_d)
				delete_written();
			if (act == DMU_FOLLOW_DONE)
				return DMU_OK;
			break;
		case DMU_FOLLOW_RETRY:
			dmu_sleep_ms(f.delay_ms);
			break;
		default:
			dmu_die(f.status, "%s: %s", dev.canon, f.err);
		}
	}
	return DMU_OK;
}

/* Loads the pinned certificate of the device; exits when there is none. */
static void
load_pin(const char *opt_f)
{
	struct dmu_rec rec;
	char *path, err[DMU_ERRLEN], warning[DMU_ERRLEN];
	int rc;

	path = dmu_db_path(opt_f);
	rc = dmu_db_lookup(path, dev.canon, &rec, warning, err);
	if (warning[0] != '\0')
		dmu_warn("%s", warning);
	if (rc == DMU_EUNKNOWN)
		dmu_die(rc, "%s; learn it first: dmu-learn %s | dmu-certdb "
		    "add", err, dev.canon);
	if (rc != DMU_OK)
		dmu_die(rc, "%s", err);
	if (dmu_db_cert(path, &rec, &pinned, err) != 0)
		dmu_die(DMU_EDATA, "%s", err);
	/* An audit must find every pin that no person compared: say so. */
	if (strcmp(rec.prov, "unverified") == 0)
		dmu_warn("%s: warning: pin %s is unverified: %s accepted it "
		    "with dmu-learn -y on %s and nobody compared its "
		    "fingerprint", rec.device, rec.sha256hex, rec.user,
		    rec.learned);
	dmu_rec_free(&rec);
	evpath = dmu_ev_path(path);
	free(path);
}

int
main(int argc, char **argv)
{
	const char *opt_f = NULL, *opt_k = NULL, *opt_s = NULL, *res;
	const char *app = getenv("DMU_APP");
	char err[DMU_ERRLEN], warning[DMU_ERRLEN], target[256];
	long long serial = 0, last = 0, count = 0, wait_s = -1;
	int c, rc;

	dmu_setprogname(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "a:df:k:l:n:rs:t:Vw:")) != -1) {
		switch (c) {
		case 'a':
			app = optarg;
			break;
		case 'd':
			opt_d = 1;
			break;
		case 'f':
			opt_f = optarg;
			break;
		case 'k':
			opt_k = optarg;
			break;
		case 'l':
			if (dmu_parse_long(optarg, 0, 1LL << 53, &last) != 0)
				dmu_die(DMU_EUSAGE, "invalid serial '%s'",
				    optarg);
			break;
		case 'n':
			if (dmu_parse_long(optarg, 1, 1LL << 53, &count) != 0)
				dmu_die(DMU_EUSAGE, "invalid count '%s'",
				    optarg);
			break;
		case 'r':
			opt_r = 1;
			break;
		case 's':
			opt_s = optarg;
			break;
		case 't':
			timeout_ms = dmu_opt_timeout(optarg);
			break;
		case 'V':
			return dmu_print_version();
		case 'w':
			if (dmu_parse_long(optarg, 1, 75, &wait_s) != 0)
				dmu_die(DMU_EUSAGE, "invalid wait '%s' (1 to "
				    "75 seconds)", optarg);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || argc > 2)
		usage();
	res = argc == 2 ? argv[1] : "latest";
	if (dmu_device_parse(&dev, argv[0], err) != 0)
		dmu_die(DMU_EUSAGE, "%s", err);
	if (app == NULL || *app == '\0')
		app = "https_server_1";
	if (strlen(app) > 64 || strspn(app, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(app))
		dmu_die(DMU_EUSAGE, "invalid application name '%.64s'", app);
	snprintf(base, sizeof(base), "/api/application/%s/reports/v1", app);
	if (strcmp(res, "latest") == 0 || strcmp(res, "oldest") == 0) {
		snprintf(target, sizeof(target), "%s/reports/%s%s", base, res,
		    opt_d ? "?delete=true" : "");
	} else if (strcmp(res, "list") == 0) {
		snprintf(target, sizeof(target), "%s/reports", base);
	} else if (strcmp(res, "wait") == 0) {
		snprintf(target, sizeof(target), "%s/wait?lastSerial=%lld",
		    base, last);
		if (wait_s > 0)
			snprintf(target + strlen(target), sizeof(target) -
			    strlen(target), "&timeout=%lld", wait_s);
	} else if (strcmp(res, "follow") == 0) {
		target[0] = '\0';
	} else if (dmu_parse_long(res, 1, 1LL << 53, &serial) == 0) {
		snprintf(target, sizeof(target), "%s/reports/%lld%s", base,
		    serial, opt_d ? "?delete=true" : "");
	} else {
		dmu_die(DMU_EUSAGE, "unknown resource '%s' (latest, oldest, "
		    "a serial, list, wait or follow)", res);
	}
	if (strcmp(res, "follow") != 0 && (opt_s != NULL || count > 0))
		dmu_die(DMU_EUSAGE, "-s and -n go with follow");
	if (strcmp(res, "follow") == 0 && opt_r)
		dmu_die(DMU_EUSAGE, "-r does not go with follow");
	if (strcmp(res, "wait") != 0 && last > 0)
		dmu_die(DMU_EUSAGE, "-l goes with wait");
	if (strcmp(res, "wait") != 0 && strcmp(res, "follow") != 0 &&
	    wait_s > 0)
		dmu_die(DMU_EUSAGE, "-w goes with wait and follow");
	/* No key, no connection: a usage error before anything else. */
	if ((rc = dmu_key_load(&key, opt_k, warning, err)) != DMU_OK)
		dmu_die(rc, "%s", err);
	atexit(wipe_key);
	if (warning[0] != '\0')
		dmu_warn("%s", warning);
	load_pin(opt_f);
	conn = dmu_xcalloc(1, sizeof(*conn));
	if (strcmp(res, "follow") == 0)
		rc = follow(opt_s, count, wait_s > 0 ? (long)wait_s : 75);
	else {
		rc = fetch(target, strcmp(res, "wait") == 0 ?
		    (wait_s > 0 ? wait_s : 75) * 1000 : 0);
		/* list and wait delete what they wrote only with -d. */
		if (rc == DMU_OK && opt_d && (strcmp(res, "list") == 0 ||
		    strcmp(res, "wait") == 0))
			delete_written();
	}
	disconnect();
	free(conn);
	dmu_cert_free(&pinned);
	if (dmu_fshut() != 0)
		rc = dmu_worse(rc, DMU_EFAIL);
	return rc;
}
