/* SPDX-License-Identifier: ISC */
/* dmu-certdb - the certificate database. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

static const char *dbpath;
static const char *dbopt;	/* -f, for the commands suggested */
/* The history of the changes of a writer: every change is kept in it. */
static struct dmu_hist_log hlog;

static char *help;		/* the program's, or the command's */
static int opt_q;		/* -q of add and import */
static int opt_r;		/* -r of add and import */
static char *opt_F;		/* -F of import */

/*
 * Opens the database, locked for writing with lock set, its history then
 * attached; exits on failure.
 */
static void
open_db(struct dmu_db *db, int lock)
{
	int rc = dmu_db_open(db, dbpath, lock);

	if (db->warning[0] != '\0')
		dmu_warn("%s", db->warning);
	if (rc != DMU_OK)
		dmu_die(rc, "%s", db->err);
	if (lock)
		dmu_hist_attach(&hlog, db);
}

/* Closes what open_db() opened. */
static void
close_db(struct dmu_db *db)
{
	int lock = db->lockfd >= 0;

	dmu_db_close(db);
	if (lock)
		dmu_hist_log_free(&hlog);
}

/* Says that device is not in db, naming a known one a typo away. */
static void
unknown(const struct dmu_db *db, const char *device)
{
	char *why = dmu_db_unknown(db, device);

	dmu_warn("%s", why);
	free(why);
}

static void
commit(struct dmu_db *db)
{
	if (dmu_db_commit(db) != DMU_OK)
		dmu_die(DMU_EFAIL, "%s", db->err);
}

/* The canonical form of a device operand; exits on a bad one. */
static void
canon(struct dmu_device *d, const char *arg)
{
	char err[DMU_ERRLEN];

	if (dmu_device_parse(d, arg, err) != 0)
		dmu_die(DMU_EUSAGE, "%s", err);
}

/* Says what add or import stored, and where, unless quiet; frees it. */
static void
tell(char **said, size_t n, int quiet)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (said[i] != NULL && !quiet)
			dmu_warn("%s (%s)", said[i], dbpath);
		free(said[i]);
	}
}

/* A person who started add or import at a terminal learns what it waits for. */
static void
say_reading(const char *what)
{
	if (isatty(STDIN_FILENO))
		dmu_warn("reading %s from stdin (end with Ctrl-D), as in: "
		    "dmu-learn -F FINGERPRINT DEVICE | dmu-certdb add", what);
}

static void
warn_evidence(void *ctx, const char *msg)
{
	(void)ctx;
	dmu_warn("warning: %s", msg);
}

static void
report(void *ctx, long lineno, const char *why)
{
	dmu_warn("%s:%ld: %s", (const char *)ctx, lineno, why);
}

/*
 * Pins verified records under the lock: a refusal is said at once, what
 * was stored once it is committed.  A certificate pinned on purpose is no
 * longer evidence of an impostor: its entry goes.  Returns 0, or
 * DMU_EMISMATCH when a device is pinned to another certificate (no -r).
 */
static int
store(const struct dmu_rec *recs, size_t n, const char *cmd)
{
	struct dmu_db db;
	char old[65], ofpr[DMU_FPR_COLON], nfpr[DMU_FPR_COLON];
	char advice[DMU_ERRLEN], **said = dmu_xcalloc(n, sizeof(*said));
	const char *dev;
	size_t i;
	int what, changed = 0, status = 0;

	open_db(&db, 1);
	for (i = 0; i < n; i++) {
		dev = recs[i].device;
		dmu_fpr_colon(nfpr, recs[i].sha256hex);
		if (dmu_db_pin(&db, &recs[i], opt_r, &what, old) != DMU_OK) {
			dmu_warn("%s: refused: the database pins another "
			    "certificate (%s) than the one offered (%s)", dev,
			    dmu_fpr_colon(ofpr, old), nfpr);
			dmu_warn("%s: %s%s", dev, dmu_advice_mismatch(advice,
			    dev, dbopt), strcmp(cmd, "import") == 0 ?
			    " (a PEM: dmu-certdb import -r)" : "");
			status = DMU_EMISMATCH;
			continue;
		}
		dmu_fpr_colon(ofpr, old);
		said[i] = what == DMU_PIN_SAME ? dmu_xasprintf("%s: same "
		    "certificate %s, already pinned: nothing changed", dev,
		    nfpr) : what == DMU_PIN_REPLACED ? dmu_xasprintf("%s: "
		    "replaced certificate %s with %s", dev, ofpr, nfpr) :
		    dmu_xasprintf("%s: new certificate %s stored", dev, nfpr);
		changed |= what != DMU_PIN_SAME;
	}
	if (changed)
		commit(&db);
	close_db(&db);
	tell(said, n, opt_q);
	free(said);
	if (changed)
		dmu_ev_forget(dbpath, recs, n, warn_evidence, NULL);
	return status;
}

static int
cmd_add(int argc, char **argv)
{
	struct dmu_rec *recs;
	char err[DMU_ERRLEN];
	size_t n;
	int status;

	(void)argc;
	(void)argv;
	say_reading("records");
	/*
	 * All of stdin first, verified, and only then the lock: the writer
	 * of the pipe may be a person reading a prompt, and no other writer
	 * must wait for that.
	 */
	status = dmu_recs_read(STDIN_FILENO, &recs, &n, report, "stdin", err);
	if (err[0] != '\0')
		dmu_warn("stdin: %s", err);
	if (ferror(stdin))
		dmu_die(DMU_EFAIL, "stdin:");
	if (n > 0)
		status = dmu_worse(status, store(recs, n, "add"));
	else if (status == 0 && !opt_q)
		dmu_warn("no records on stdin: nothing stored");
	dmu_recs_free(recs, n);
	return status;
}

static int
cmd_import(int argc, char **argv)
{
	struct dmu_device d;
	struct dmu_cert cert;
	struct dmu_rec r;
	uint8_t want[32];
	char err[DMU_ERRLEN], hex[DMU_FPR_COLON];
	int rc;

	(void)argc;
	canon(&d, argv[1]);
	if (opt_F != NULL && dmu_fpr_parse(opt_F, want) != 0)
		dmu_die(DMU_EUSAGE, "invalid fingerprint '%s' (" DMU_FPR_FORMS
		    ")", dmu_echo(opt_F));
	say_reading("a PEM certificate");
	if ((rc = dmu_cert_read_pem(stdin, &cert, err)) != DMU_OK)
		dmu_die(rc, "stdin: %s", err);
	dmu_hex_colon(hex, cert.sha256, 32);
	if (opt_F != NULL && !dmu_ct_equal(want, cert.sha256, 32))
		dmu_die(DMU_EMISMATCH, "%s: the certificate on stdin has "
		    "fingerprint %s, not the one given with -F; nothing was "
		    "stored", d.canon, hex);
	/*
	 * A certificate the device presented in a mismatch is evidence of an
	 * impostor until a person checks it: without -F import refuses it,
	 * so that "pem DEVICE SHA256 | import -r DEVICE" makes no pin, and
	 * fails closed when the evidence cannot be read.
	 */
	rc = opt_F != NULL ? DMU_OK : dmu_ev_presented(dbpath, d.canon,
	    cert.sha256, err);
	if (rc == DMU_EMISMATCH)
		dmu_die(rc, "%s: refused: certificate %s was presented in a "
		    "mismatch (dmu-certdb seen); after checking the device, "
		    "import it with -F and its fingerprint", d.canon, hex);
	if (rc != DMU_OK)
		dmu_die(rc, "%s (without -F, import must know the certificate "
		    "was not presented in a mismatch)", err);
	/*
	 * Without -F dmu cannot say how whoever ran import checked the PEM:
	 * the pin is unverified, and draws the warning of dmu-learn -y.
	 */
	dmu_rec_make(&r, d.canon, &cert, opt_F != NULL ? "fingerprint" :
	    "unverified");
	rc = store(&r, 1, "import");
	dmu_rec_free(&r);
	dmu_cert_free(&cert);
	return rc;
}

/*
 * show or pem of the certificate with fingerprint fpr that device has,
 * had (the history) or was seen with (the evidence).
 */
static int
cmd_past(const char *cmd, const char *arg, const char *fpr)
{
	struct dmu_device d;
	struct dmu_cert cert;
	uint8_t sha[32];
	char hex[65], err[DMU_ERRLEN];
	const char *where;
	int rc;

	canon(&d, arg);
	if (dmu_fpr_parse(fpr, sha) != 0)
		dmu_die(DMU_EUSAGE, "invalid fingerprint '%s' (" DMU_FPR_FORMS
		    ")", dmu_echo(fpr));
	dmu_hex(hex, sha, 32);
	if ((rc = dmu_known_cert(dbpath, d.canon, hex, &cert, &where, err)) !=
	    DMU_OK)
		dmu_die(rc, "%s", err);
	if (strcmp(cmd, "show") == 0) {
		dmu_cert_show(stdout, d.canon, &cert, NULL);
		printf("status:   %s\n", where);
	} else
		dmu_pem_write(stdout, "CERTIFICATE", cert.der, cert.len);
	dmu_cert_free(&cert);
	return DMU_OK;
}

/* The lines of show that say how a pin was authorized. */
static void
show_prov(const struct dmu_rec *r)
{
	printf("provenance: %s\n", dmu_rec_prov(r));
	if (r->user[0] != '\0')
		printf("user:     %s\n", r->user);
}

/*
 * list and inventory: a line per pin (inventory's in JSON), of the
 * devices named or of all.
 */
static int
cmd_pins(int argc, char **argv)
{
	struct dmu_device d;
	struct dmu_db db;
	struct dmu_rec *r;
	struct dmu_cert cert;
	char err[DMU_ERRLEN], now[21];
	size_t i, n;
	int status = 0, json = strcmp(argv[0], "inventory") == 0;

	open_db(&db, 0);
	dmu_utc_now(now);
	n = argc > 1 ? (size_t)argc - 1 : db.n;
	for (i = 0; i < n; i++) {
		if (argc > 1) {
			canon(&d, argv[i + 1]);
			if ((r = dmu_db_find(&db, d.canon)) == NULL) {
				unknown(&db, d.canon);
				status = dmu_worse(status, DMU_EUNKNOWN);
				continue;
			}
		} else if ((r = &db.rec[i])->device == NULL)
			continue;
		if (dmu_db_cert(db.path, r, &cert, err) != 0) {
			dmu_warn("%s", err);
			status = dmu_worse(status, DMU_EDATA);
			continue;
		}
		if (json)
			dmu_cert_inventory(stdout, r->device, &cert,
			    r->learned, dmu_rec_prov(r), now);
		else
			printf("%s %s %s %s %s %s\n", r->device, r->sha256hex,
			    r->learned, dmu_rec_prov(r), r->user[0] ? r->user :
			    "-", cert.subject[0] ? cert.subject : "-");
		dmu_cert_free(&cert);
	}
	close_db(&db);
	return status;
}

/* Commands on named devices: get, show, pem, pin. */
static int
cmd_each(int argc, char **argv)
{
	struct dmu_device d;
	struct dmu_rec r;
	struct dmu_cert cert;
	char err[DMU_ERRLEN], warning[DMU_ERRLEN], pin[64];
	const char *cmd = argv[0];
	int i, rc, status = 0;

	if (strcmp(cmd, "get") != 0 && argc == 3)
		return cmd_past(cmd, argv[1], argv[2]);
	for (i = 1; i < argc; i++) {
		canon(&d, argv[i]);
		rc = dmu_db_lookup(dbpath, d.canon, &r, warning, err);
		if (i == 1 && warning[0] != '\0')
			dmu_warn("%s", warning);
		if (rc != DMU_OK) {
			dmu_warn("%s", err);
			status = dmu_worse(status, rc);
			if (rc != DMU_EUNKNOWN)
				break;
			continue;
		}
		if (dmu_db_cert(dbpath, &r, &cert, err) != 0) {
			dmu_warn("%s", err);
			status = dmu_worse(status, DMU_EDATA);
		} else {
			if (strcmp(cmd, "get") == 0) {
				dmu_rec_write(stdout, &r);
			} else if (strcmp(cmd, "show") == 0) {
				dmu_cert_show(stdout, r.device, &cert,
				    r.learned);
				show_prov(&r);
			} else if (strcmp(cmd, "pem") == 0) {
				dmu_pem_write(stdout, "CERTIFICATE", cert.der,
				    cert.len);
			} else {
				dmu_cert_pin(pin, &cert);
				printf("%s\n", pin);
			}
			dmu_cert_free(&cert);
		}
		dmu_rec_free(&r);
	}
	return status;
}

static int
cmd_remove(int argc, char **argv)
{
	struct dmu_device d;
	struct dmu_db db;
	int i, changed = 0, status = 0;

	open_db(&db, 1);
	for (i = 1; i < argc; i++) {
		canon(&d, argv[i]);
		if (dmu_db_remove(&db, d.canon) != 0) {
			unknown(&db, d.canon);
			status = dmu_worse(status, DMU_EUNKNOWN);
		} else
			changed = 1;
	}
	if (changed)
		commit(&db);
	close_db(&db);
	return status;
}

/* What history and seen print: the lines of the devices wanted. */
struct listing {
	char **want;		/* dmu_devs_parse(), or NULL for all */
	struct dmu_held held;
};

static int
print_hist(void *ctx, const struct dmu_hist *h)
{
	struct listing *ls = ctx;

	if (!dmu_devs_has(ls->want, h->device))
		return 0;
	if (h->oldsha256hex != NULL)
		fprintf(ls->held.f, "%s %s %s %s %s %s %s %s\n", h->time,
		    h->action, h->device, h->sha256hex, h->prov, h->user,
		    h->oldsha256hex, h->oldprov);
	else
		fprintf(ls->held.f, "%s %s %s %s %s %s\n", h->time, h->action,
		    h->device, h->sha256hex, h->prov, h->user);
	return 0;
}

static int
print_seen(void *ctx, const struct dmu_ev *e)
{
	struct listing *ls = ctx;

	if (dmu_devs_has(ls->want, e->device))
		fprintf(ls->held.f, "%s %s %s %s %lld %s %s\n", e->device,
		    e->sha256hex, e->first, e->last, e->count, e->addr,
		    e->reason);
	return 0;
}

/*
 * history and seen: the lines are held back until the whole file was
 * read, so that a bad line anywhere in it leaves stdout empty.
 */
static int
cmd_listing(int argc, char **argv)
{
	struct listing ls;
	char *path, err[DMU_ERRLEN];
	int rc, hist = strcmp(argv[0], "history") == 0;

	if ((rc = dmu_db_exists(dbpath, err)) != DMU_OK)
		dmu_die(rc, "%s", err);
	if (dmu_devs_parse(&ls.want, argc - 1, argv + 1, err) != 0)
		dmu_die(DMU_EUSAGE, "%s", err);
	if (dmu_held_open(&ls.held) != 0)
		dmu_die(DMU_EFAIL, "open_memstream:");
	path = hist ? dmu_hist_path(dbpath) : dmu_ev_path(dbpath);
	rc = hist ? dmu_hist_scan(path, print_hist, &ls, err) :
	    dmu_ev_scan(path, print_seen, &ls, err);
	free(path);
	if (dmu_held_close(&ls.held, rc == DMU_OK ? stdout : NULL) != 0)
		dmu_die(DMU_EFAIL, "open_memstream:");
	if (rc != DMU_OK)
		dmu_warn("%s", err);
	dmu_devs_free(ls.want);
	return rc;
}

static int
cmd_check(int argc, char **argv)
{
	char err[DMU_ERRLEN];
	int rc;

	(void)argc;
	(void)argv;
	rc = dmu_db_check(dbpath, report, (void *)dbpath, err);
	if (rc == DMU_EFAIL)
		dmu_warn("%s", err);
	return rc;
}

/*
 * The commands, in the order of the manual: the one place their help
 * lives.  args is their synopsis after the name, what the line of help
 * that says what they do.
 */
static const struct command {
	const char *name, *args, *what;
	const char *opts;		/* for getopt */
	int min, max;			/* operands; -1: any number */
	int (*fn)(int, char **);	/* argv[0] is the name */
} commands[] = {
	{ "add", "[-qr]",
	    "add the records on stdin; -q: silent, -r: replace",
	    "qr", 0, 0, cmd_add },
	{ "check", "",
	    "check every line of the database",
	    "", 0, 0, cmd_check },
	{ "get", "device ...",
	    "print the records, for dmu-certdb add elsewhere",
	    "", 1, -1, cmd_each },
	{ "history", "[device ...]",
	    "print every change made to the database",
	    "", 0, -1, cmd_listing },
	{ "import", "[-F fingerprint] [-qr] device",
	    "add the PEM on stdin; -F: check it; -q, -r as add",
	    "F:qr", 1, 1, cmd_import },
	{ "inventory", "[device ...]",
	    "print one JSON line per pin: key, dates, warnings",
	    "", 0, -1, cmd_pins },
	{ "list", "",
	    "print DEVICE SHA256 LEARNED PROVENANCE USER SUBJECT",
	    "", 0, 0, cmd_pins },
	{ "pem", "device [sha256]",
	    "print the certificate (or a past one) as PEM",
	    "", 1, 2, cmd_each },
	{ "pin", "device",
	    "print the value for curl's --pinnedpubkey",
	    "", 1, 1, cmd_each },
	{ "remove", "device ...",
	    "remove the records of the devices",
	    "", 1, -1, cmd_remove },
	{ "seen", "[device ...]",
	    "print what devices presented instead of their pins",
	    "", 0, -1, cmd_listing },
	{ "show", "device [sha256]",
	    "print the certificate (or a past one) for people",
	    "", 1, 2, cmd_each },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The program's help: the usage, then one line per command. */
static char *
program_help(void)
{
	char *h, *t, *syn;
	size_t i;

	h = dmu_xstrdup("usage: dmu-certdb [-hV] [-f file] command "
	    "[argument ...]\n"
	    "\n"
	    "The certificate database of dmu: -f file, else $DMU_CERTDB, else\n"
	    "~/.config/dmu/certdb. dmu-certdb command -h says more of one.\n"
	    "\n"
	    "  -f file     the certificate database\n"
	    "  -V          print the version\n"
	    "  -h, --help  print this help\n"
	    "\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++) {
		syn = dmu_xasprintf("%s %s", commands[i].name,
		    commands[i].args);
		/* A long synopsis gets a line of its own. */
		t = dmu_xasprintf(strlen(syn) > 22 ? "%s  %s\n  %22s %s\n" :
		    "%s  %-22s%s %s\n", h, syn, "", commands[i].what);
		free(syn);
		free(h);
		h = t;
	}
	return h;
}

/* A command's help: its usage, then what it does. */
static char *
command_help(const struct command *c)
{
	return dmu_xasprintf("usage: dmu-certdb [-f file] %s%s%s\n\n%s.\n",
	    c->name, c->args[0] != '\0' ? " " : "", c->args, c->what);
}

/*
 * Reads the command's options and checks the count of its operands; a
 * usage error says which is wrong.  Returns the index of the first operand.
 */
static int
command_args(const struct command *c, int argc, char **argv)
{
	int ch, n;

	while ((ch = dmu_getopt(argc, argv, c->opts, help)) != -1)
		if (ch == 'q')
			opt_q = 1;
		else if (ch == 'r')
			opt_r = 1;
		else if (ch == 'F')
			opt_F = optarg;
	n = argc - optind;
	if (n < c->min)
		dmu_usage(help, "%s needs a device", c->name);
	if (c->max >= 0 && n > c->max) {
		if (c->max == 0)
			dmu_usage(help, "%s takes no operand", c->name);
		dmu_usage(help, "%s takes at most %d operand%s: '%s' is "
		    "one too many", c->name, c->max, c->max > 1 ? "s" : "",
		    dmu_echo(argv[optind + c->max]));
	}
	return optind;
}

int
main(int argc, char **argv)
{
	const struct command *cmd = NULL;
	const char *opt_f = NULL;
	size_t i;
	int c, rc;

	dmu_setprogname(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	help = program_help();
	while ((c = dmu_getopt(argc, argv, "+f:V", help)) != -1) {
		switch (c) {
		case 'f':
			opt_f = optarg;
			break;
		case 'V':
			return dmu_print_version();
		default:
			dmu_usage(help, NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		dmu_usage(help, "no command given");
	for (i = 0; i < NCOMMANDS && cmd == NULL; i++)
		if (strcmp(argv[0], commands[i].name) == 0)
			cmd = &commands[i];
	if (cmd == NULL)
		dmu_usage(help, "unknown command '%s'", dmu_echo(argv[0]));
	free(help);
	help = command_help(cmd);
	dbpath = dmu_db_path(opt_f);
	dbopt = opt_f;
	optind = 1;
	c = command_args(cmd, argc, argv);
	/* The command sees its name and its operands. */
	argv[c - 1] = argv[0];
	rc = cmd->fn(argc - c + 1, argv + c - 1);
	free(help);
	if (dmu_fshut() != 0)
		rc = dmu_worse(rc, DMU_EFAIL);
	return rc;
}
