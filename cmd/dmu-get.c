/* SPDX-License-Identifier: ISC */
/* dmu-get - read reports from a pinned device: one, a list, or follow. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* The options that go with some resources only. */
enum {
	O_L = 1 << 0,		/* -l serial */
	O_W = 1 << 1,		/* -w seconds */
	O_SN = 1 << 2,		/* -s statefile, -n count */
	O_R = 1 << 3,		/* -r */
	O_M = 1 << 4,		/* -m file */
	O_X = 1 << 5		/* -x command, -X seconds */
};

/* Which of O_* go with each resource (DMU_RES_*). */
static const unsigned resource_opts[] = {
	[DMU_RES_LATEST] = O_R,
	[DMU_RES_OLDEST] = O_R,
	[DMU_RES_SERIAL] = O_R,
	[DMU_RES_LIST] = O_R,
	[DMU_RES_WAIT] = O_L | O_W | O_R,
	[DMU_RES_FOLLOW] = O_W | O_SN | O_M | O_X,
};

/* What is said when an option does not go with the resource, in order. */
static const struct {
	unsigned opt;
	const char *msg;
} misfits[] = {
	{ O_SN, "-s and -n go with follow" },
	{ O_R, "-r does not go with follow" },
	{ O_L, "-l goes with wait" },
	{ O_W, "-w goes with wait and follow" },
	{ O_M, "-m goes with follow" },
	{ O_X, "-x and -X go with follow" },
};

/* Everything a run needs, from the command line to the connection. */
struct run {
	struct dmu_device dev;
	struct dmu_cert pinned;
	struct dmu_key key;
	struct dmu_client cl;
	int res;		/* DMU_RES_* */
	long long serial;	/* DMU_RES_SERIAL */
	long long last;		/* -l */
	long long count;	/* -n */
	long wait_s;		/* -w, 0 when not given */
	int opt_d, opt_r, opt_a;
	unsigned given;		/* O_* of the options given */
	const char *dbfile, *keyfile, *statefile, *app;
	const char *metrics;	/* -m */
	const char *command;	/* -x */
	long command_s;		/* -X */
	char *evpath;		/* where mismatches are kept */
	/* Serials written by list and wait, to delete with -d. */
	long long *written;
	size_t nwritten, capwritten;
};

static struct run *the_run;	/* for the atexit() wipe of the key */

static const char help[] =
"usage: dmu-get [-dhVr] [-a app] [-f file] [-k keyfile] [-l serial] [-m file]\n"
"               [-n count] [-s statefile] [-t seconds] [-w seconds] [-X seconds]\n"
"               [-x command] device [resource]\n"
"\n"
"Fetches reports from a learned device over a connection only its pinned\n"
"certificate can complete; prints each as one JSON line. resource: latest\n"
"(the default), oldest, a serial, list, wait (after -l) or follow (the\n"
"collector). The API key: -k file, $DMU_API_KEY_FILE or $DMU_API_KEY.\n"
"\n"
"  -a app        the application name in the URL (https_server_1)\n"
"  -d            delete the reports on the device once they are written\n"
"  -f file       the certificate database\n"
"  -k keyfile    read the API key from the first line of keyfile\n"
"  -l serial     wait: the last serial already seen (0)\n"
"  -m file       follow: write node-exporter textfile metrics to file\n"
"  -n count      follow: stop after count reports\n"
"  -r            print the body as received\n"
"  -s statefile  follow: resume after the serial kept in statefile\n"
"  -t seconds    time-out of connect and handshake, and of each wait (10)\n"
"  -w seconds    wait, follow: the long poll's time-out (1 to 75; 75)\n"
"  -X seconds    follow -x: how long command may take for one batch (60)\n"
"  -x command    follow: hand the reports to sh -c command, and move on only\n"
"                when it exits 0\n"
"  -V            print the version\n"
"  -h, --help    print this help\n";

static void
wipe_key(void)
{
	dmu_key_wipe(&the_run->key);
}

/*
 * What the impostor presented is kept, after the mismatch was reported; a
 * failure only draws a warning.
 */
static void
evidence_warning(struct run *u)
{
	dmu_client_keep_evidence(&u->cl);
	if (u->cl.evwarn[0] != '\0')
		dmu_warn("%s: warning: what it presented was not kept: %s",
		    u->dev.canon, u->cl.evwarn);
}

/* Says what a refused handshake saw, and what to do; returns 4. */
static int
mismatch(struct run *u)
{
	const struct dmu_conn *c = u->cl.conn;
	const uint8_t *seen = dmu_conn_presented(c);
	char hex[DMU_FPR_COLON], phex[DMU_FPR_COLON], advice[DMU_ERRLEN];

	dmu_hex_colon(phex, u->pinned.sha256, 32);
	if (dmu_conn_why(c) == DMU_WHY_KEYPROOF)
		dmu_warn("%s: CERTIFICATE MISMATCH: the device presented the "
		    "pinned certificate %s but could not prove it holds its "
		    "private key; nothing was sent (an impostor replaying the "
		    "public certificate, or a broken device)", u->dev.canon,
		    phex);
	else {
		if (seen != NULL)
			dmu_hex_colon(hex, seen, 32);
		else
			snprintf(hex, sizeof(hex), "nothing");
		dmu_warn("%s: certificate mismatch: presented %s, pinned %s; "
		    "nothing was sent (a man in the middle, or a replaced "
		    "device)", u->dev.canon, hex, phex);
	}
	dmu_warn("%s: %s", u->dev.canon, dmu_advice_mismatch(advice,
	    u->dev.canon, u->dbfile));
	evidence_warning(u);
	return DMU_EMISMATCH;
}

/*
 * After a 401: where the key came from, and how dmu sends it, never the
 * key itself.
 */
static void
key_hint(const struct run *u)
{
	dmu_warn("%s: the device refused the API key from %s; dmu sends it "
	    "base64-encoded, so give it as the device shows it (NAME:SECRET), "
	    "not encoded and without 'X-Api-Key:'", u->dev.canon, u->key.from);
}

/* Before any request: a key that the device will probably refuse. */
static void
key_doubts(const struct run *u)
{
	if (u->key.doubts & DMU_KEY_HEADER)
		dmu_warn("warning: the API key from %s holds 'X-Api-Key:'; "
		    "give only the key as the device shows it (NAME:SECRET): "
		    "dmu sends the header itself", u->key.from);
	else if (u->key.doubts & DMU_KEY_ENCODED)
		dmu_warn("warning: the API key from %s looks base64-encoded "
		    "already (it decodes to a NAME:SECRET text); dmu encodes it "
		    "itself: give it as the device shows it", u->key.from);
}

/*
 * Writes a report as one line, in one write: collectors may share a pipe.
 * Returns 0, -1 when a stop signal kept it from being written, or 1 on a
 * write error.
 */
static int
print_report(void *ctx, const struct dmu_report *r)
{
	(void)ctx;
	if (fflush(stdout) != 0 ||
	    dmu_write_line(STDOUT_FILENO, r->line, r->len) != 0)
		return errno == EINTR && dmu_stop ? -1 : 1;
	return 0;
}

/* For list and wait: prints a report (unless -r) and remembers it for -d. */
static int
take_report(void *ctx, const struct dmu_report *r)
{
	struct run *u = ctx;

	if (!u->opt_r && print_report(NULL, r) != 0)
		return 1;
	if (!u->opt_d)
		return 0;
	if (u->nwritten == u->capwritten) {
		u->capwritten = u->capwritten ? u->capwritten * 2 : 64;
		u->written = dmu_xreallocarray(u->written, u->capwritten,
		    sizeof(*u->written));
	}
	u->written[u->nwritten++] = r->serial;
	return 0;
}

static void
print_warning(void *ctx, const char *msg)
{
	(void)ctx;
	dmu_warn("%s", msg);
}

/* Deletes what list or wait wrote (-d), one by one; failures are said. */
static int
delete_written(struct run *u)
{
	size_t i;
	int rc;

	for (i = 0; i < u->nwritten; i++) {
		rc = dmu_client_delete(&u->cl, u->written[i], NULL);
		if (rc == DMU_EMISMATCH)
			return mismatch(u);
		if (rc != DMU_OK)
			dmu_warn("%s: cannot delete serial %lld: %s",
			    u->dev.canon, u->written[i], u->cl.err);
	}
	return DMU_OK;
}

/* Says what an HTTP error answer means; returns DMU_EHTTP. */
static int
http_error(const struct run *u, const struct dmu_resp *r)
{
	char why[DMU_ERRLEN + 16];

	dmu_warn("%s: %s", u->dev.canon, dmu_http_reason(why, sizeof(why),
	    r->status, r->body, r->len));
	if (r->status == 401)
		key_hint(u);
	return DMU_EHTTP;
}

/* One request: a report, the list, or one long poll. */
static int
fetch(struct run *u)
{
	struct dmu_resp r;
	char path[128], err[DMU_ERRLEN];
	long extra;
	int rc;

	extra = dmu_res_path(path, sizeof(path), u->res, u->serial, u->last,
	    u->wait_s, u->opt_d);
	if ((rc = dmu_client_get(&u->cl, path, extra, &r)) != DMU_OK) {
		if (rc == DMU_EMISMATCH)
			return mismatch(u);
		dmu_warn("%s: %s", u->dev.canon, u->cl.err);
		return rc;
	}
	if (r.status == 204) {
		rc = DMU_OK;
	} else if (r.status != 200) {
		rc = http_error(u, &r);
	} else if ((rc = dmu_json_reports(r.body, r.len, u->dev.canon,
	    take_report, u, err)) != 0) {
		/* -r too prints only an answer that parses. */
		if (rc == DMU_EDATA)
			dmu_warn("%s: malformed answer: %s", u->dev.canon, err);
		else
			rc = DMU_EFAIL;
	} else if (u->opt_r) {
		if (fwrite(r.body, 1, r.len, stdout) != r.len ||
		    fflush(stdout) != 0)
			rc = DMU_EFAIL;
	}
	dmu_resp_free(&r);
	if (rc == DMU_OK && u->opt_d && (u->res == DMU_RES_LIST ||
	    u->res == DMU_RES_WAIT))
		rc = delete_written(u);
	return rc;
}

/* The collector, in lib/collect.c; here only what it says at the end. */
static int
follow(struct run *u)
{
	struct dmu_collect c;
	int rc;

	memset(&c, 0, sizeof(c));
	c.cl = &u->cl;
	c.statefile = u->statefile;
	c.limit = u->count;
	c.wait_s = u->wait_s > 0 ? u->wait_s : 75;
	c.delete = u->opt_d;
	c.metrics = u->metrics;
	c.command = u->command;
	c.command_ms = (u->command_s > 0 ? u->command_s : 60) * 1000;
	c.warn = print_warning;
	rc = dmu_collect_run(&c);
	if (rc == DMU_EMISMATCH)
		mismatch(u);
	else if (rc != DMU_OK)
		dmu_warn("%s: %s", u->dev.canon, c.err);
	if (rc == DMU_EHTTP && c.f.http == 401)
		key_hint(u);
	dmu_collect_free(&c);
	return rc;
}

/* Loads the pinned certificate of the device; exits when there is none. */
static void
load_pin(struct run *u)
{
	struct dmu_rec rec;
	char *path, err[DMU_ERRLEN], warning[DMU_ERRLEN], advice[DMU_ERRLEN];
	char msg[512];
	int rc;

	path = dmu_db_path(u->dbfile);
	rc = dmu_db_lookup(path, u->dev.canon, &rec, warning, err);
	if (warning[0] != '\0')
		dmu_warn("%s", warning);
	if (rc == DMU_EUNKNOWN) {
		dmu_warn("%s", err);
		dmu_die(rc, "%s: %s", u->dev.canon, dmu_advice_learn(advice,
		    u->dev.canon, u->dbfile));
	}
	if (rc != DMU_OK)
		dmu_die(rc, "%s", err);
	if (dmu_db_cert(path, &rec, &u->pinned, err) != 0)
		dmu_die(DMU_EDATA, "%s", err);
	/* An audit must find every pin that no person compared: say so. */
	if (dmu_rec_unverified(&rec, msg, sizeof(msg)))
		dmu_warn("%s", msg);
	dmu_rec_free(&rec);
	u->cl.evpath = u->evpath = dmu_ev_path(path);
	free(path);
}

/*
 * The resource from the operand word (or NULL) and the URL, and the
 * application from -a or $DMU_APP, where the URL's wins over $DMU_APP;
 * a resource or -a that says otherwise than the URL exits 2.
 */
static void
url_resource(struct run *u, const char *word)
{
	char err[DMU_ERRLEN];

	if (u->dev.app[0] != '\0') {
		if (u->opt_a && strcmp(u->app, u->dev.app) != 0)
			dmu_die(DMU_EUSAGE, "the URL names application '%s' but "
			    "-a says '%.64s'", u->dev.app, u->app);
		u->app = u->dev.app;
	}
	if (dmu_res_choose(&u->dev, word, &u->res, &u->serial, err) != DMU_OK)
		dmu_die(DMU_EUSAGE, "%s", err);
}

/* Exits 2 when an option given does not go with the resource. */
static void
check_options(const struct run *u)
{
	size_t i;

	for (i = 0; i < sizeof(misfits) / sizeof(misfits[0]); i++)
		if ((u->given & misfits[i].opt) &&
		    !(resource_opts[u->res] & misfits[i].opt))
			dmu_die(DMU_EUSAGE, "%s", misfits[i].msg);
	if (u->command_s > 0 && u->command == NULL)
		dmu_die(DMU_EUSAGE, "-X goes with -x");
}

/* Reads the options into u; returns the index of the first operand. */
static int
parse_options(struct run *u, int argc, char **argv, int *timeout_ms)
{
	long long v;
	int c;

	while ((c = dmu_getopt(argc, argv, "a:df:k:l:m:n:rs:t:Vw:X:x:", help)) !=
	    -1) {
		switch (c) {
		case 'a':
			u->app = optarg;
			u->opt_a = 1;
			break;
		case 'd':
			u->opt_d = 1;
			break;
		case 'f':
			u->dbfile = optarg;
			break;
		case 'k':
			u->keyfile = optarg;
			break;
		case 'l':
			if (dmu_parse_long(optarg, 0, 1LL << 53, &u->last) != 0)
				dmu_die(DMU_EUSAGE, "invalid serial '%s'",
				    dmu_echo(optarg));
			/* -l 0 is the default, and goes with anything. */
			if (u->last > 0)
				u->given |= O_L;
			break;
		case 'm':
			u->metrics = optarg;
			u->given |= O_M;
			break;
		case 'n':
			if (dmu_parse_long(optarg, 1, 1LL << 53, &u->count) !=
			    0)
				dmu_die(DMU_EUSAGE, "invalid count '%s'",
				    dmu_echo(optarg));
			u->given |= O_SN;
			break;
		case 'r':
			u->opt_r = 1;
			u->given |= O_R;
			break;
		case 's':
			u->statefile = optarg;
			u->given |= O_SN;
			break;
		case 't':
			*timeout_ms = dmu_opt_timeout(optarg);
			break;
		case 'V':
			exit(dmu_print_version());
		case 'w':
			if (dmu_parse_long(optarg, 1, 75, &v) != 0)
				dmu_die(DMU_EUSAGE, "invalid wait '%s' (1 to "
				    "75 seconds)", dmu_echo(optarg));
			u->wait_s = (long)v;
			u->given |= O_W;
			break;
		case 'X':
			if (dmu_parse_long(optarg, 1, 86400, &v) != 0)
				dmu_die(DMU_EUSAGE, "invalid time-out '%s' "
				    "(1 to 86400 seconds)", optarg);
			u->command_s = (long)v;
			u->given |= O_X;
			break;
		case 'x':
			if (optarg[0] == '\0')
				dmu_die(DMU_EUSAGE, "empty command for -x");
			u->command = optarg;
			u->given |= O_X;
			break;
		default:
			dmu_usage(help, NULL);
		}
	}
	return optind;
}

int
main(int argc, char **argv)
{
	static struct run u;
	char err[DMU_ERRLEN], warning[DMU_ERRLEN];
	int rc, timeout_ms = 10000;

	dmu_setprogname(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	u.app = getenv("DMU_APP");
	argc -= parse_options(&u, argc, argv, &timeout_ms);
	argv += optind;
	if (argc < 1)
		dmu_usage(help, "no device given");
	if (argc > 2)
		dmu_usage(help, "too many operands: '%.40s' after the resource",
		    argv[2]);
	if (dmu_device_parse(&u.dev, argv[0], err) != 0)
		dmu_die(DMU_EUSAGE, "%s", err);
	url_resource(&u, argc == 2 ? argv[1] : NULL);
	if (dmu_client_init(&u.cl, &u.dev, u.app, timeout_ms, err) != DMU_OK)
		dmu_die(DMU_EUSAGE, "%s", err);
	check_options(&u);
	/* No key, no connection: a usage error before anything else. */
	if ((rc = dmu_key_load(&u.key, u.keyfile, warning, err)) != DMU_OK)
		dmu_die(rc, "%s", err);
	the_run = &u;
	atexit(wipe_key);
	if (warning[0] != '\0')
		dmu_warn("%s", warning);
	key_doubts(&u);
	if (dmu_client_key(&u.cl, &u.key, err) != DMU_OK)
		dmu_die(DMU_EUSAGE, "%s", err);
	load_pin(&u);
	u.cl.pinned = &u.pinned;
	u.cl.warn = print_warning;
	rc = u.res == DMU_RES_FOLLOW ? follow(&u) : fetch(&u);
	dmu_client_free(&u.cl);
	dmu_cert_free(&u.pinned);
	free(u.written);
	free(u.evpath);
	if (dmu_fshut() != 0)
		rc = dmu_worse(rc, DMU_EFAIL);
	return rc;
}
