/* SPDX-License-Identifier: ISC */
/* dmu-learn - capture a device's certificate once a person authorizes it. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "dmu.h"

static const char *dbpath;
static const char *dbopt;	/* -f, for the commands suggested */
static int timeout_ms = 10000;
static int opt_y;

static const char help[] =
"usage: dmu-learn [-hVy] [-F fingerprint] [-f file] [-t seconds] [device ...]\n"
"\n"
"Connects to each device, shows its certificate, asks for yes on the\n"
"terminal, and prints the accepted record for dmu-certdb add. With no\n"
"device, reads DEVICE [FINGERPRINT] lines (a manifest) from stdin.\n"
"\n"
"  -F fingerprint  accept only the certificate with this SHA-256 fingerprint,\n"
"                  without asking: SHA256:base64, hex with or without colons,\n"
"                  or openssl's \"sha256 Fingerprint=...\" line\n"
"  -f file         the certificate database to compare with\n"
"  -t seconds      time-out of connect and handshake (10)\n"
"  -V              print the version\n"
"  -y              accept without asking (a trusted network only)\n"
"  -h, --help      print this help\n"
"\n"
"  dmu-learn -F SHA256:... st1.example.net | dmu-certdb add\n";

/*
 * Asks on the terminal; returns 1 for "yes", 0 for anything else, -1
 * without a terminal.
 */
static int
ask(const char *device, const struct dmu_cert *c)
{
	struct termios tio;
	FILE *tty;
	char line[64], fp[3 * 32];
	int yes;

	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return -1;
	fprintf(tty, "\nThe device presented this certificate:\n\n");
	dmu_cert_show(tty, device, c, NULL);
	fprintf(tty, "\nCompare the SHA-256 fingerprint with the one shown "
	    "on the device.\n");
	fflush(tty);
	/*
	 * Only an answer typed after the prompt appeared counts: what was
	 * typed ahead (while this or an earlier device was contacted) is
	 * thrown away just before the prompt is shown, as getpass(3) does.
	 */
	if (tcgetattr(fileno(tty), &tio) == 0)
		tcsetattr(fileno(tty), TCSAFLUSH, &tio);
	else
		tcflush(fileno(tty), TCIFLUSH);
	/*
	 * The question names the fingerprint itself: nothing the certificate
	 * holds is written after it, so no subject can draw a fake one.
	 */
	dmu_hex_colon(fp, c->sha256, 32);
	fprintf(tty, "Trust certificate %s for %s? Type yes to accept: ", fp,
	    device);
	fflush(tty);
	yes = fgets(line, sizeof(line), tty) != NULL &&
	    strcmp(dmu_trim(line), "yes") == 0;
	fclose(tty);
	return yes;
}

/* Says what the database already holds for device. */
static void
compare_db(const char *device, const struct dmu_cert *c)
{
	struct dmu_rec r;
	char err[DMU_ERRLEN], warning[DMU_ERRLEN], hex[65];
	char old[DMU_FPR_COLON], now[DMU_FPR_COLON], advice[DMU_ERRLEN];
	int rc;

	/* Learning is how a database starts: none yet is no error here. */
	if (dmu_db_exists(dbpath, err) != DMU_OK)
		return;
	rc = dmu_db_lookup(dbpath, device, &r, warning, err);
	if (rc == DMU_EUNKNOWN)
		return;
	if (rc != DMU_OK) {
		dmu_warn("%s", err);
		return;
	}
	dmu_hex(hex, c->sha256, 32);
	dmu_hex_colon(now, c->sha256, 32);
	if (strcmp(hex, r.sha256hex) == 0) {
		dmu_warn("%s: this certificate is already in %s", device,
		    dbpath);
	} else {
		dmu_warn("%s: WARNING: %s pins ANOTHER certificate for this "
		    "device (%s); the device now presents %s. If the device "
		    "was not replaced, this may be a man in the middle. "
		    "'dmu-certdb add' will refuse the new record unless "
		    "given -r.", device, dbpath, dmu_fpr_colon(old,
		    r.sha256hex), now);
		dmu_warn("%s: %s", device, dmu_advice_mismatch(advice, device,
		    dbopt));
	}
	dmu_rec_free(&r);
}

/*
 * Learns one device; fpr is the expected fingerprint or NULL, given with
 * -F or, with manifest set, on a manifest line.
 */
static int
learn(const char *arg, const char *fpr, int manifest)
{
	const struct dmu_cert *cert;
	const char *prov;
	struct dmu_device d;
	struct dmu_conn *c;
	struct dmu_rec r;
	uint8_t want[32];
	char err[DMU_ERRLEN], hex[DMU_FPR_COLON], whex[DMU_FPR_COLON];
	char advice[DMU_ERRLEN], safe[DMU_ECHO_MAX + 1];
	int rc, ok;

	if (dmu_device_parse(&d, arg, err) != 0) {
		dmu_warn("%s", err);
		return DMU_EUSAGE;
	}
	if (fpr != NULL && dmu_fpr_parse(fpr, want) != 0) {
		/* Echoed: a manifest's field or -F may hold anything. */
		dmu_warn("%s: invalid fingerprint '%s' (" DMU_FPR_FORMS ")",
		    d.canon, dmu_scrub(safe, sizeof(safe), fpr, strlen(fpr)));
		return DMU_EUSAGE;
	}
	c = dmu_xcalloc(1, sizeof(*c));
	rc = dmu_conn_open(c, &d, NULL, timeout_ms);
	if (rc == DMU_EMISMATCH) {
		dmu_hex_colon(hex, dmu_conn_presented(c), 32);
		dmu_warn("%s: the device presented certificate %s but could "
		    "not prove it holds its private key: an impostor replaying "
		    "a public certificate (or a broken device); not learned",
		    d.canon, hex);
		dmu_warn("%s: %s", d.canon, dmu_advice_mismatch(advice,
		    d.canon, dbopt));
		goto done;
	}
	if (rc != DMU_OK) {
		dmu_warn("%s: %s", d.canon, c->err);
		goto done;
	}
	/* The handshake completed: the device holds the certificate's key. */
	cert = dmu_conn_captured(c);
	dmu_hex_colon(hex, cert->sha256, 32);
	if (fpr != NULL && !dmu_ct_equal(want, cert->sha256, 32)) {
		dmu_hex_colon(whex, want, 32);
		dmu_warn("%s: certificate mismatch: presented %s, expected %s; "
		    "not learned (compare the fingerprint given with the one "
		    "the device shows: if they agree, this is not the device)",
		    d.canon, hex, whex);
		dmu_warn("%s: %s", d.canon, dmu_advice_mismatch(advice,
		    d.canon, dbopt));
		rc = DMU_EMISMATCH;
		goto done;
	}
	compare_db(d.canon, cert);
	/* The record says how a person authorized it. */
	prov = fpr != NULL ? (manifest ? "manifest" : "fingerprint") :
	    opt_y ? "unverified" : "terminal";
	if (fpr != NULL || opt_y) {
		ok = 1;
		dmu_warn("%s: accepted certificate %s (%s)", d.canon, hex,
		    fpr != NULL ? "fingerprint matches" : "-y");
	} else if ((ok = ask(d.canon, cert)) < 0) {
		dmu_warn("%s: no terminal to ask for authorization; refusing "
		    "(give -F fingerprint, or -y on a trusted network)",
		    d.canon);
		rc = DMU_EFAIL;
		goto done;
	} else if (!ok) {
		dmu_warn("%s: not authorized; not learned", d.canon);
		rc = DMU_EFAIL;
		goto done;
	}
	dmu_rec_make(&r, d.canon, cert, prov);
	dmu_rec_write(stdout, &r);
	fflush(stdout);
	dmu_rec_free(&r);
	/* Forgetting the pipe must not look like success. */
	if (isatty(STDOUT_FILENO))
		dmu_warn("%s: the record above went to the terminal: nothing "
		    "was stored; pipe it into the database: dmu-learn %s%s | "
		    "dmu-certdb%s%s add", d.canon, manifest ? "< MANIFEST" :
		    "-F FINGERPRINT ", manifest ? "" : d.canon, dbopt ? " -f " :
		    "", dbopt ? dbopt : "");
	rc = DMU_OK;
done:
	dmu_conn_close(c);
	free(c);
	return rc;
}

/*
 * The fingerprint of a manifest line: the rest of the line after the
 * device, blanks around it dropped (openssl's "sha256 Fingerprint=..." has
 * one inside), or NULL when there is none.
 */
static char *
manifest_fpr(char *rest)
{
	if (rest == NULL)
		return NULL;
	rest = dmu_trim(rest);
	return rest[0] != '\0' ? rest : NULL;
}

int
main(int argc, char **argv)
{
	const char *opt_f = NULL, *opt_F = NULL;
	struct dmu_lines in;
	char *line, *dev, *fpr;
	uint8_t want[32];
	long n;
	int c, i, status = 0;

	dmu_setprogname(argv[0]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = dmu_getopt(argc, argv, "F:f:t:Vy", help)) != -1) {
		switch (c) {
		case 'F':
			opt_F = optarg;
			break;
		case 'f':
			opt_f = optarg;
			break;
		case 't':
			timeout_ms = dmu_opt_timeout(optarg);
			break;
		case 'V':
			return dmu_print_version();
		case 'y':
			opt_y = 1;
			break;
		default:
			dmu_usage(help, NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (opt_F != NULL && argc != 1)
		dmu_usage(help, "-F takes exactly one device");
	dbpath = dmu_db_path(opt_f);
	dbopt = opt_f;
	for (i = 0; i < argc; i++)
		status = dmu_worse(status, learn(argv[i], opt_F, 0));
	if (argc == 0) {
		/* A commissioning manifest: "DEVICE [FINGERPRINT]" lines. */
		long lineno = 0;

		dmu_lines_init(&in, STDIN_FILENO, 1024);
		while ((n = dmu_lines_next(&in, &line)) != -1) {
			lineno++;
			if (n == -2) {
				dmu_warn("stdin:%ld: line too long", lineno);
				status = dmu_worse(status, DMU_EDATA);
				continue;
			}
			line[strcspn(line, "#")] = '\0';	/* a comment */
			dev = strtok(line, " \t");
			if (dev == NULL)
				continue;
			fpr = manifest_fpr(strtok(NULL, ""));
			if (fpr != NULL && strpbrk(fpr, " \t") != NULL &&
			    dmu_fpr_parse(fpr, want) != 0) {
				dmu_warn("stdin:%ld: expected DEVICE "
				    "[FINGERPRINT]", lineno);
				status = dmu_worse(status, DMU_EDATA);
				continue;
			}
			status = dmu_worse(status, learn(dev, fpr, 1));
		}
		if (in.error != 0) {
			dmu_warn("stdin: %s", strerror(in.error));
			status = dmu_worse(status, DMU_EFAIL);
		}
		dmu_lines_free(&in);
	}
	if (dmu_fshut() != 0)
		status = dmu_worse(status, DMU_EFAIL);
	return status;
}
