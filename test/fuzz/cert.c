/* SPDX-License-Identifier: ISC */
/*
 * cert.c - fuzzes certificate decoding.  The input is taken three ways:
 * as DER (dmu_cert_decode), as PEM text (dmu_pem_cert, then the DER found;
 * over 512 bytes only when it holds "-----"), and as base64
 * (dmu_b64_decode, then the DER it gives, as a database record holds it).
 *
 * A decoded certificate has printable names, well-formed dates, a key of a
 * supported kind inside keybuf and the SHA-256 of exactly its DER; it goes
 * through PEM, and through a database record, back to the same.
 */
#define _GNU_SOURCE		/* memmem */

#include "fuzz.h"

static void
check_cert(const struct dmu_cert *c, const void *der, size_t len)
{
	uint8_t h[32];
	char pin[64], err[DMU_ERRLEN], *line = NULL;
	unsigned char *pemder;
	size_t n = 0, pemlen;
	struct dmu_rec r, r2;
	struct dmu_cert c2;
	FILE *f;

	CHECK(c->der != NULL && c->len == len &&
	    memcmp(c->der, der, len) == 0, "DER not kept");
	dmu_sha256(h, der, len);
	CHECK(memcmp(h, c->sha256, 32) == 0, "wrong SHA-256");
	CHECK(fz_terminated(c->subject, sizeof(c->subject)) &&
	    fz_printable(c->subject), "subject");
	CHECK(fz_terminated(c->issuer, sizeof(c->issuer)) &&
	    fz_printable(c->issuer), "issuer");
	CHECK(fz_timestamp(c->not_before) && fz_timestamp(c->not_after),
	    "dates '%s' '%s'", c->not_before, c->not_after);
	if (c->pkey.key_type == BR_KEYTYPE_RSA) {
		const br_rsa_public_key *k = &c->pkey.key.rsa;

		CHECK(strncmp(c->keytype, "RSA ", 4) == 0, "keytype %s",
		    c->keytype);
		CHECK(k->n == c->keybuf && k->e == c->keybuf + k->nlen &&
		    k->nlen + k->elen <= sizeof(c->keybuf), "RSA key");
	} else {
		const br_ec_public_key *k = &c->pkey.key.ec;

		CHECK(c->pkey.key_type == BR_KEYTYPE_EC, "key type %d",
		    c->pkey.key_type);
		CHECK(strcmp(c->keytype, "EC P-256") == 0 ||
		    strcmp(c->keytype, "EC P-384") == 0 ||
		    strcmp(c->keytype, "EC P-521") == 0, "keytype %s",
		    c->keytype);
		CHECK(k->q == c->keybuf && k->qlen <= sizeof(c->keybuf),
		    "EC key");
	}
	dmu_cert_pin(pin, c);
	CHECK(strlen(pin) == 52 && strncmp(pin, "sha256//", 8) == 0,
	    "pin '%s'", pin);

	/* the summary an operator sees */
	CHECK((f = open_memstream(&line, &n)) != NULL, "open_memstream");
	dmu_cert_show(f, "dev:443", c, "2024-01-01T00:00:00Z");
	fclose(f);
	free(line);

	/* the inventory line: one line, no raw control byte, ASCII only */
	CHECK(fz_terminated(c->serial, sizeof(c->serial)) &&
	    strspn(c->serial, "0123456789abcdef.") == strlen(c->serial),
	    "serial '%s'", c->serial);
	CHECK(fz_terminated(c->sigalg, sizeof(c->sigalg)) && c->sigalg[0] &&
	    fz_printable(c->sigalg), "sigalg");
	line = NULL;
	CHECK((f = open_memstream(&line, &n)) != NULL, "open_memstream");
	CHECK(dmu_cert_inventory(f, "dev:443", c, "2024-01-01T00:00:00Z",
	    "unknown", "2025-01-01T00:00:00Z") == 0, "inventory");
	fclose(f);
	CHECK(n > 2 && line[0] == '{' && line[n - 1] == '\n' &&
	    memchr(line, '\n', n - 1) == NULL, "inventory line");
	for (size_t i = 0; i + 1 < n; i++)
		CHECK((unsigned char)line[i] >= 0x20 &&
		    (unsigned char)line[i] < 0x7f, "inventory byte %zu", i);
	free(line);

	/* PEM: written, then read back */
	line = NULL;
	CHECK((f = open_memstream(&line, &n)) != NULL, "open_memstream");
	CHECK(dmu_pem_write(f, "CERTIFICATE", c->der, c->len) == 0,
	    "pem_write");
	fclose(f);
	CHECK(dmu_pem_cert(line, n, &pemder, &pemlen, err) == 0,
	    "own PEM refused: %s", err);
	CHECK(pemlen == len && memcmp(pemder, der, len) == 0,
	    "PEM round trip");
	free(pemder);
	free(line);

	/* a database record of it parses, verifies, and holds it */
	dmu_rec_make(&r, "dev.example:443", c, "unknown");
	line = NULL;
	CHECK((f = open_memstream(&line, &n)) != NULL, "open_memstream");
	CHECK(dmu_rec_write(f, &r) == 0, "rec_write");
	fclose(f);
	CHECK(n > 0 && line[n - 1] == '\n', "record line");
	line[n - 1] = '\0';
	CHECK(dmu_rec_parse(line, &r2, 1, err) == 0, "own record refused: %s",
	    err);
	CHECK(dmu_rec_cert(&r2, &c2, err) == 0, "own record's certificate: "
	    "%s", err);
	CHECK(c2.len == len && memcmp(c2.der, der, len) == 0 &&
	    memcmp(c2.spki_sha256, c->spki_sha256, 32) == 0 &&
	    strcmp(c2.subject, c->subject) == 0 &&
	    strcmp(c2.keytype, c->keytype) == 0, "record round trip");
	dmu_cert_free(&c2);
	dmu_rec_free(&r2);
	dmu_rec_free(&r);
	free(line);
}

static void
decode(const void *der, size_t len)
{
	struct dmu_cert c;
	char err[DMU_ERRLEN];
	unsigned char *copy;

	/* an exact-size copy: the decoder must not read past it */
	if ((copy = malloc(len ? len : 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(copy, der, len);
	memset(&c, 0xa5, sizeof(c));
	memset(err, 'x', sizeof(err));
	if (dmu_cert_decode(&c, copy, len, err) == 0) {
		check_cert(&c, copy, len);
		dmu_cert_free(&c);
		CHECK(c.der == NULL && c.len == 0, "not freed");
	} else {
		CHECK(fz_errmsg(err), "bad error message");
		CHECK(c.der == NULL, "DER kept on failure");
	}
	free(copy);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der, *out;
	char err[DMU_ERRLEN];
	size_t len;
	long k;

	decode(data, size);

	/*
	 * BearSSL's PEM decoder takes about a microsecond a byte: large
	 * inputs go to it only when they have something like a PEM line.
	 */
	if (size > 512 && memmem(data, size, "-----", 5) == NULL)
		goto b64;
	memset(err, 'x', sizeof(err));
	der = (unsigned char *)0x1;
	len = 12345;
	if (dmu_pem_cert((const char *)data, size, &der, &len, err) == 0) {
		CHECK(len > 0 && len <= DMU_CERT_MAX, "PEM gave %zu bytes",
		    len);
		decode(der, len);
		free(der);
	} else {
		CHECK(fz_errmsg(err), "bad PEM error message");
		CHECK(der == (unsigned char *)0x1 && len == 12345,
		    "outputs set on failure");
	}

b64:
	/* base64 as in a database line: exact-size output buffer */
	len = size / 4 * 3;
	if ((out = malloc(len ? len : 1)) == NULL)
		abort();
	k = dmu_b64_decode(out, len, (const char *)data, size);
	CHECK(k >= -1 && k <= (long)len, "b64 gave %ld of %zu", k, len);
	if (k >= 0) {
		char *re = malloc(DMU_B64_LEN((size_t)k) + 1);

		if (re == NULL)
			abort();
		/* only the canonical form is accepted: it encodes back */
		dmu_b64_encode(re, out, (size_t)k);
		CHECK(strlen(re) == size && memcmp(re, data, size) == 0,
		    "base64 not canonical");
		free(re);
		if (k > 0 && k <= DMU_CERT_MAX)
			decode(out, (size_t)k);
	}
	free(out);
	return 0;
}
