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
	const char *near = dmu_db_near(db, device);

	dmu_warn("%s: unknown device (not in %s%s%s%s)", device, db->path,
	    near ? "; did you mean " : "", near ? near : "", near ? "?" : "");
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

/*
 * Adds one verified record; what it did goes to *said (newly allocated,
 * for stderr once committed).  Returns 0, or DMU_EMISMATCH when the
 * device is known with another certificate and replace is not set.
 */
static int
add_one(struct dmu_db *db, const struct dmu_rec *r, const char *cmd,
    int replace, int *changed, char **said)
{
	struct dmu_rec *old = dmu_db_find(db, r->device);
	char ofpr[DMU_FPR_COLON], nfpr[DMU_FPR_COLON], advice[DMU_ERRLEN];

	dmu_fpr_colon(nfpr, r->sha256hex);
	if (old != NULL && strcmp(old->sha256hex, r->sha256hex) == 0) {
		*said = dmu_xasprintf("%s: same certificate %s, already "
		    "pinned: nothing changed", r->device, nfpr);
		return 0;
	}
	dmu_fpr_colon(ofpr, old != NULL ? old->sha256hex : "");
	if (old != NULL && !replace) {
		dmu_warn("%s: refused: the database pins another certificate "
		    "(%s) than the one offered (%s)", r->device, ofpr, nfpr);
		dmu_warn("%s: %s%s", r->device, dmu_advice_mismatch(advice,
		    r->device, dbopt), strcmp(cmd, "import") == 0 ?
		    " (a PEM: dmu-certdb import -r)" : "");
		return DMU_EMISMATCH;
	}
	*said = old != NULL ? dmu_xasprintf("%s: replaced certificate %s "
	    "with %s", r->device, ofpr, nfpr) : dmu_xasprintf("%s: new "
	    "certificate %s stored", r->device, nfpr);
	dmu_db_put(db, r);
	*changed = 1;
	return 0;
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

/*
 * A certificate pinned on purpose is no longer evidence of an impostor:
 * its entry goes.  A failure only draws a warning.
 */
static void
forget_seen(const struct dmu_rec *recs, size_t n)
{
	char *path = dmu_ev_path(dbpath), err[DMU_ERRLEN];
	size_t i;

	for (i = 0; i < n; i++)
		if (dmu_ev_clear(path, recs[i].device, recs[i].sha256hex,
		    err) != DMU_OK)
			dmu_warn("warning: %s", err);
	free(path);
}

static int
cmd_add(int argc, char **argv)
{
	struct dmu_db db;
	struct dmu_lines in;
	struct dmu_rec *recs = NULL;
	char *line, err[DMU_ERRLEN];
	char **said;
	size_t nrec = 0, caprec = 0, i;
	long n, lineno = 0;
	int changed = 0, status = 0;

	(void)argc;
	(void)argv;
	say_reading("records");
	/*
	 * All of stdin first, verified, and only then the lock: the writer
	 * of the pipe may be a person reading a prompt, and no other writer
	 * must wait for that.
	 */
	dmu_lines_init(&in, STDIN_FILENO, DMU_DB_LINE_MAX);
	while ((n = dmu_lines_next(&in, &line)) != -1) {
		lineno++;
		if (n == -2) {
			dmu_warn("stdin:%ld: line too long", lineno);
			status = dmu_worse(status, DMU_EDATA);
			continue;
		}
		if (nrec == caprec) {
			caprec = caprec ? caprec * 2 : 16;
			recs = dmu_xreallocarray(recs, caprec, sizeof(*recs));
		}
		if (dmu_rec_parse(dmu_trim(line), &recs[nrec], 1, err) != 0) {
			dmu_warn("stdin:%ld: %s", lineno, err);
			status = dmu_worse(status, DMU_EDATA);
			continue;
		}
		if (recs[nrec].device == NULL)
			dmu_rec_free(&recs[nrec]);
		else
			nrec++;
	}
	if (in.error != 0) {
		dmu_warn("stdin: %s", strerror(in.error));
		status = dmu_worse(status, DMU_EFAIL);
	}
	dmu_lines_free(&in);
	if (ferror(stdin))
		dmu_die(DMU_EFAIL, "stdin:");
	if (nrec > 0) {
		said = dmu_xcalloc(nrec, sizeof(*said));
		open_db(&db, 1);
		for (i = 0; i < nrec; i++)
			status = dmu_worse(status, add_one(&db, &recs[i],
			    "add", opt_r, &changed, &said[i]));
		if (changed)
			commit(&db);
		close_db(&db);
		tell(said, nrec, opt_q);
		free(said);
		if (changed)
			forget_seen(recs, nrec);
	} else if (status == 0 && !opt_q)
		dmu_warn("no records on stdin: nothing stored");
	for (i = 0; i < nrec; i++)
		dmu_rec_free(&recs[i]);
	free(recs);
	return status;
}

/*
 * A certificate the device presented in a mismatch is evidence of an
 * impostor until a person checks it: import without -F refuses it, so
 * that "pem DEVICE SHA256 | import -r DEVICE" makes no pin.  Exits when
 * it is evidence, or when the evidence cannot be read (fail closed).
 */
static void
refuse_evidence(const char *device, const struct dmu_cert *cert)
{
	struct dmu_cert seen;
	char *path = dmu_ev_path(dbpath), hex[65], err[DMU_ERRLEN];
	char human[DMU_FPR_COLON];
	int rc;

	dmu_hex(hex, cert->sha256, 32);
	dmu_hex_colon(human, cert->sha256, 32);
	rc = dmu_ev_cert(path, device, hex, &seen, err);
	free(path);
	if (rc == DMU_OK) {
		dmu_cert_free(&seen);
		dmu_die(DMU_EMISMATCH, "%s: refused: certificate %s was "
		    "presented in a mismatch (dmu-certdb seen); after checking "
		    "the device, import it with -F and its fingerprint",
		    device, human);
	}
	if (rc != DMU_EUNKNOWN)
		dmu_die(rc, "%s (without -F, import must know the certificate "
		    "was not presented in a mismatch)", err);
}

static int
cmd_import(int argc, char **argv)
{
	struct dmu_device d;
	struct dmu_db db;
	struct dmu_cert cert;
	struct dmu_rec r;
	unsigned char *der;
	uint8_t want[32];
	char *text, *fpr = NULL, err[DMU_ERRLEN], hex[DMU_FPR_COLON];
	char *said = NULL;
	size_t len = 0, derlen, k;
	int changed = 0, status;

	(void)argc;
	fpr = opt_F;
	canon(&d, argv[1]);
	if (fpr != NULL && dmu_fpr_parse(fpr, want) != 0)
		dmu_die(DMU_EUSAGE, "invalid fingerprint '%s' (" DMU_FPR_FORMS
		    ")", dmu_echo(fpr));
	say_reading("a PEM certificate");
	/* A PEM certificate is small; 1 MiB is plenty and bounds memory. */
	text = dmu_xmalloc(1 << 20);
	while (len < (1 << 20) && (k = fread(text + len, 1, (1 << 20) - len,
	    stdin)) > 0)
		len += k;
	if (ferror(stdin))
		dmu_die(DMU_EFAIL, "stdin:");
	if (dmu_pem_cert(text, len, &der, &derlen, err) != 0)
		dmu_die(DMU_EDATA, "stdin: %s", err);
	free(text);
	if (dmu_cert_decode(&cert, der, derlen, err) != 0)
		dmu_die(DMU_EDATA, "stdin: %s", err);
	free(der);
	dmu_hex_colon(hex, cert.sha256, 32);
	if (fpr != NULL && !dmu_ct_equal(want, cert.sha256, 32))
		dmu_die(DMU_EMISMATCH, "%s: the certificate on stdin has "
		    "fingerprint %s, not the one given with -F; nothing was "
		    "stored", d.canon, hex);
	if (fpr == NULL)
		refuse_evidence(d.canon, &cert);
	/*
	 * Without -F dmu cannot say how whoever ran import checked the PEM:
	 * the pin is unverified, and draws the warning of dmu-learn -y.
	 */
	dmu_rec_make(&r, d.canon, &cert, fpr != NULL ? "fingerprint" :
	    "unverified");
	open_db(&db, 1);
	status = add_one(&db, &r, "import", opt_r, &changed, &said);
	if (changed)
		commit(&db);
	close_db(&db);
	tell(&said, 1, opt_q);
	if (changed)
		forget_seen(&r, 1);
	dmu_rec_free(&r);
	dmu_cert_free(&cert);
	return status;
}

static int
cmd_list(int argc, char **argv)
{
	struct dmu_db db;
	struct dmu_cert cert;
	char err[DMU_ERRLEN];
	size_t i;
	int status = 0;

	(void)argc;
	(void)argv;
	open_db(&db, 0);
	for (i = 0; i < db.n; i++) {
		struct dmu_rec *r = &db.rec[i];

		if (r->device == NULL)
			continue;
		if (dmu_db_cert(db.path, r, &cert, err) != 0) {
			dmu_warn("%s", err);
			status = dmu_worse(status, DMU_EDATA);
			continue;
		}
		printf("%s %s %s %s %s %s\n", r->device, r->sha256hex,
		    r->learned, dmu_rec_prov(r), r->user[0] ? r->user : "-",
		    cert.subject[0] ? cert.subject : "-");
		dmu_cert_free(&cert);
	}
	close_db(&db);
	return status;
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

/* One JSON line per pin, of the devices named or of all. */
static int
cmd_inventory(int argc, char **argv)
{
	struct dmu_device d;
	struct dmu_db db;
	struct dmu_rec *r;
	struct dmu_cert cert;
	char err[DMU_ERRLEN], now[21];
	size_t i, n;
	int status = 0;

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
		dmu_cert_inventory(stdout, r->device, &cert, r->learned,
		    dmu_rec_prov(r), now);
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

/* The devices named on the command line, canonical; NULL for all. */
static char **
devices(int argc, char **argv)
{
	struct dmu_device d;
	char **v;
	int i;

	if (argc < 2)
		return NULL;
	v = dmu_xcalloc((size_t)argc, sizeof(*v));
	for (i = 1; i < argc; i++) {
		canon(&d, argv[i]);
		v[i - 1] = dmu_xstrdup(d.canon);
	}
	return v;
}

/*
 * What history and seen print: the lines go to a buffer first, so that a
 * bad line anywhere in the file leaves stdout empty.
 */
struct listing {
	char **want;		/* devices(), or NULL for all */
	FILE *out;		/* writes to buf */
	char *buf;
	size_t len;
};

static int
wanted(char **v, const char *device)
{
	if (v == NULL)
		return 1;
	for (; *v != NULL; v++)
		if (strcmp(*v, device) == 0)
			return 1;
	return 0;
}

static void
devices_free(char **v)
{
	char **p;

	if (v == NULL)
		return;
	for (p = v; *p != NULL; p++)
		free(*p);
	free(v);
}

static void
listing_open(struct listing *ls, int argc, char **argv)
{
	ls->want = devices(argc, argv);
	if ((ls->out = open_memstream(&ls->buf, &ls->len)) == NULL)
		dmu_die(DMU_EFAIL, "open_memstream:");
}

/*
 * Ends a listing: the buffer goes to stdout only when the whole file was
 * read (rc DMU_OK); else err is the one line said.  Returns rc.
 */
static int
listing_close(struct listing *ls, int rc, const char *err)
{
	if (fclose(ls->out) != 0)
		dmu_die(DMU_EFAIL, "open_memstream:");
	if (rc == DMU_OK)
		fwrite(ls->buf, 1, ls->len, stdout);
	else
		dmu_warn("%s", err);
	free(ls->buf);
	devices_free(ls->want);
	return rc;
}

static int
print_hist(void *ctx, const struct dmu_hist *h)
{
	struct listing *ls = ctx;

	if (!wanted(ls->want, h->device))
		return 0;
	if (h->oldsha256hex != NULL)
		fprintf(ls->out, "%s %s %s %s %s %s %s %s\n", h->time,
		    h->action, h->device, h->sha256hex, h->prov, h->user,
		    h->oldsha256hex, h->oldprov);
	else
		fprintf(ls->out, "%s %s %s %s %s %s\n", h->time, h->action,
		    h->device, h->sha256hex, h->prov, h->user);
	return 0;
}

static int
cmd_history(int argc, char **argv)
{
	struct listing ls;
	char *path, err[DMU_ERRLEN];
	int rc;

	if ((rc = dmu_db_exists(dbpath, err)) != DMU_OK)
		dmu_die(rc, "%s", err);
	listing_open(&ls, argc, argv);
	path = dmu_hist_path(dbpath);
	rc = dmu_hist_scan(path, print_hist, &ls, err);
	free(path);
	return listing_close(&ls, rc, err);
}

static int
print_seen(void *ctx, const struct dmu_ev *e)
{
	struct listing *ls = ctx;

	if (wanted(ls->want, e->device))
		fprintf(ls->out, "%s %s %s %s %lld %s %s\n", e->device,
		    e->sha256hex, e->first, e->last, e->count, e->addr,
		    e->reason);
	return 0;
}

static int
cmd_seen(int argc, char **argv)
{
	struct listing ls;
	char *path, err[DMU_ERRLEN];
	int rc;

	if ((rc = dmu_db_exists(dbpath, err)) != DMU_OK)
		dmu_die(rc, "%s", err);
	listing_open(&ls, argc, argv);
	path = dmu_ev_path(dbpath);
	rc = dmu_ev_scan(path, print_seen, &ls, err);
	free(path);
	return listing_close(&ls, rc, err);
}

static void
report(void *ctx, long lineno, const char *why)
{
	dmu_warn("%s:%ld: %s", (const char *)ctx, lineno, why);
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
	    "", 0, -1, cmd_history },
	{ "import", "[-F fingerprint] [-qr] device",
	    "add the PEM on stdin; -F: check it; -q, -r as add",
	    "F:qr", 1, 1, cmd_import },
	{ "inventory", "[device ...]",
	    "print one JSON line per pin: key, dates, warnings",
	    "", 0, -1, cmd_inventory },
	{ "list", "",
	    "print DEVICE SHA256 LEARNED PROVENANCE USER SUBJECT",
	    "", 0, 0, cmd_list },
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
	    "", 0, -1, cmd_seen },
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
