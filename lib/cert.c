/* SPDX-License-Identifier: ISC */
/*
 * cert.c - decoding the end-entity certificate: key, names, dates, SPKI,
 * serial number and signature algorithm; its inventory line.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dmu.h"

/* A DER input: the bytes still to read. */
struct der {
	const unsigned char *p;
	size_t n;
};

/*
 * Reads one TLV (definite length, tag number < 31) from in into *tag and
 * *val; *all covers the whole TLV.  Returns 0, or -1 on malformed input.
 */
static int
der_next(struct der *in, int *tag, struct der *val, struct der *all)
{
	size_t len, hl = 2, i, k;

	if (in->n < 2 || (in->p[0] & 0x1f) == 0x1f)
		return -1;
	*tag = in->p[0];
	len = in->p[1];
	if (len & 0x80) {
		k = len & 0x7f;
		if (k == 0 || k > 3 || in->n < 2 + k)
			return -1;
		for (len = 0, i = 0; i < k; i++)
			len = len << 8 | in->p[2 + i];
		hl += k;
	}
	if (len > in->n - hl)
		return -1;
	if (all != NULL) {
		all->p = in->p;
		all->n = hl + len;
	}
	val->p = in->p + hl;
	val->n = len;
	in->p += hl + len;
	in->n -= hl + len;
	return 0;
}

/* Reads a TLV that must carry tag. */
static int
der_expect(struct der *in, int tag, struct der *val, struct der *all)
{
	int t;

	return der_next(in, &t, val, all) == 0 && t == tag ? 0 : -1;
}

static const struct {
	const char *oid;	/* content octets */
	size_t len;
	const char *name;
} attrs[] = {
	{ "\x55\x04\x03", 3, "CN" },
	{ "\x55\x04\x05", 3, "serialNumber" },
	{ "\x55\x04\x06", 3, "C" },
	{ "\x55\x04\x07", 3, "L" },
	{ "\x55\x04\x08", 3, "ST" },
	{ "\x55\x04\x0a", 3, "O" },
	{ "\x55\x04\x0b", 3, "OU" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01", 9, "emailAddress" },
};

/* Appends s (n bytes) to out (size sz), as dmu_scrub() writes it. */
static void
append(char *out, size_t sz, const unsigned char *s, size_t n)
{
	size_t o = strlen(out);

	dmu_scrub(out + o, sz - o, (const char *)s, n);
}

/* Formats an X.501 Name as "CN=...,O=..." (in the order it is encoded). */
static int
format_name(struct der name, char *out, size_t sz)
{
	struct der set, atv, oid, val;
	int tag, first = 1;
	size_t i;
	char num[8];

	out[0] = '\0';
	while (name.n > 0) {
		if (der_expect(&name, 0x31, &set, NULL) != 0)
			return -1;
		while (set.n > 0) {
			if (der_expect(&set, 0x30, &atv, NULL) != 0 ||
			    der_expect(&atv, 0x06, &oid, NULL) != 0 ||
			    der_next(&atv, &tag, &val, NULL) != 0)
				return -1;
			if (!first)
				append(out, sz, (const unsigned char *)",", 1);
			first = 0;
			for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
				if (attrs[i].len == oid.n &&
				    memcmp(attrs[i].oid, oid.p, oid.n) == 0)
					break;
			if (i < sizeof(attrs) / sizeof(attrs[0])) {
				append(out, sz, (const unsigned char *)
				    attrs[i].name, strlen(attrs[i].name));
			} else {
				/* Unknown attribute: its OID in hex. */
				append(out, sz, (const unsigned char *)"OID.", 4);
				for (i = 0; i < oid.n && i < 16; i++) {
					snprintf(num, sizeof(num), "%02x",
					    oid.p[i]);
					append(out, sz,
					    (const unsigned char *)num, 2);
				}
			}
			append(out, sz, (const unsigned char *)"=", 1);
			append(out, sz, val.p, val.n);
		}
	}
	return 0;
}

/* Formats UTCTime or GeneralizedTime as "YYYY-MM-DDTHH:MM:SSZ". */
static int
format_time(int tag, struct der t, char out[21])
{
	const unsigned char *p = t.p;
	char y[5];
	size_t i;

	if (tag == 0x17 && t.n == 13) {
		y[0] = p[0] < '5' ? '2' : '1';
		y[1] = p[0] < '5' ? '0' : '9';
		y[2] = (char)p[0];
		y[3] = (char)p[1];
		p += 2;
	} else if (tag == 0x18 && t.n == 15) {
		memcpy(y, p, 4);
		p += 4;
	} else
		return -1;
	y[4] = '\0';
	for (i = 0; i < 10; i++)
		if (p[i] < '0' || p[i] > '9')
			return -1;
	if (p[10] != 'Z')
		return -1;
	snprintf(out, 21, "%s-%.2s-%.2sT%.2s:%.2s:%.2sZ", y, p, p + 2,
	    p + 4, p + 6, p + 8);
	return 0;
}

/*
 * Formats the content octets of the serial number INTEGER as lower-case
 * hex, without the zero octet that DER puts before a high bit; a serial
 * longer than fits ends in "...".
 */
static void
format_serial(struct der v, char *out, size_t sz)
{
	size_t o = 0;

	if (v.n > 1 && v.p[0] == 0 && (v.p[1] & 0x80)) {
		v.p++;
		v.n--;
	}
	for (; v.n > 0 && o + 2 < sz - 3; v.p++, v.n--, o += 2)
		snprintf(out + o, 3, "%02x", v.p[0]);
	out[o] = '\0';
	if (v.n > 0)
		snprintf(out + o, sz - o, "...");
}

static const struct {
	const char *oid;	/* content octets */
	size_t len;
	const char *name;	/* as RFC 3279, 4055, 5758 and 8410 name them */
} sigalgs[] = {
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x02", 9, "md2WithRSAEncryption" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04", 9, "md5WithRSAEncryption" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05", 9, "sha1WithRSAEncryption" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a", 9, "rsassa-pss" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0b", 9, "sha256WithRSAEncryption" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0c", 9, "sha384WithRSAEncryption" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0d", 9, "sha512WithRSAEncryption" },
	{ "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0e", 9, "sha224WithRSAEncryption" },
	{ "\x2a\x86\x48\xce\x3d\x04\x01", 7, "ecdsa-with-SHA1" },
	{ "\x2a\x86\x48\xce\x3d\x04\x03\x01", 8, "ecdsa-with-SHA224" },
	{ "\x2a\x86\x48\xce\x3d\x04\x03\x02", 8, "ecdsa-with-SHA256" },
	{ "\x2a\x86\x48\xce\x3d\x04\x03\x03", 8, "ecdsa-with-SHA384" },
	{ "\x2a\x86\x48\xce\x3d\x04\x03\x04", 8, "ecdsa-with-SHA512" },
	{ "\x2a\x86\x48\xce\x38\x04\x03", 7, "dsa-with-sha1" },
	{ "\x2b\x65\x70", 3, "Ed25519" },
	{ "\x2b\x65\x71", 3, "Ed448" },
};

/*
 * Names a signature algorithm OID, or writes it in dotted decimal
 * ("1.2.3"), cut at sz; arcs too large for 64 bits give "unknown".
 */
static void
format_sigalg(struct der oid, char *out, size_t sz)
{
	uint64_t arc = 0;
	size_t i, o;

	for (i = 0; i < sizeof(sigalgs) / sizeof(sigalgs[0]); i++)
		if (sigalgs[i].len == oid.n &&
		    memcmp(sigalgs[i].oid, oid.p, oid.n) == 0) {
			snprintf(out, sz, "%s", sigalgs[i].name);
			return;
		}
	out[0] = '\0';
	for (i = 0, o = 0; i < oid.n; i++) {
		if (arc >> 56)
			goto unknown;
		arc = arc << 7 | (oid.p[i] & 0x7f);
		if (oid.p[i] & 0x80)
			continue;
		if (o == 0)	/* the first octets hold two arcs */
			o = (size_t)snprintf(out, sz, "%u.%llu",
			    arc < 80 ? (unsigned)(arc / 40) : 2U,
			    (unsigned long long)(arc < 80 ? arc % 40 :
			    arc - 80));
		else if (o < sz)
			o += (size_t)snprintf(out + o, sz - o, ".%llu",
			    (unsigned long long)arc);
		arc = 0;
	}
	if (o > 0 && (oid.n == 0 || !(oid.p[oid.n - 1] & 0x80)))
		return;
unknown:
	snprintf(out, sz, "unknown");
}

/* Walks the TBSCertificate for names, validity and the SPKI. */
/*
 * Says whether the SubjectPublicKeyInfo whose content is spki holds an EC
 * key whose curve is given by explicit parameters (RFC 3279's
 * ecParameters) rather than named by an OID (RFC 5480 allows only the
 * name): a form BearSSL does not decode.
 */
static int
explicit_ec(struct der spki)
{
	static const unsigned char ec_oid[] = {
		0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01	/* 1.2.840.10045.2.1 */
	};
	struct der alg, oid;

	return der_expect(&spki, 0x30, &alg, NULL) == 0 &&
	    der_expect(&alg, 0x06, &oid, NULL) == 0 &&
	    oid.n == sizeof(ec_oid) && memcmp(oid.p, ec_oid, oid.n) == 0 &&
	    alg.n > 0 && alg.p[0] == 0x30;
}

/*
 * Reads what BearSSL's decoder does not give: serial, names, dates, the
 * SPKI's hash, the signature algorithm; *explicit says whether the key is
 * EC with explicit curve parameters.
 */
static int
walk(struct dmu_cert *c, int *explicit, char *err)
{
	struct der in = { c->der, c->len }, cert, tbs, v, val, spki, alg;
	int tag;

	if (der_expect(&in, 0x30, &cert, NULL) != 0 || in.n != 0 ||
	    der_expect(&cert, 0x30, &tbs, NULL) != 0)
		goto bad;
	if (tbs.n > 0 && tbs.p[0] == 0xa0 &&
	    der_next(&tbs, &tag, &val, NULL) != 0)		/* version */
		goto bad;
	if (der_expect(&tbs, 0x02, &val, NULL) != 0)		/* serial */
		goto bad;
	format_serial(val, c->serial, sizeof(c->serial));
	if (der_expect(&tbs, 0x30, &val, NULL) != 0 ||		/* sig alg */
	    der_expect(&tbs, 0x30, &val, NULL) != 0 ||		/* issuer */
	    format_name(val, c->issuer, sizeof(c->issuer)) != 0 ||
	    der_expect(&tbs, 0x30, &v, NULL) != 0 ||		/* validity */
	    der_next(&v, &tag, &val, NULL) != 0 ||
	    format_time(tag, val, c->not_before) != 0 ||
	    der_next(&v, &tag, &val, NULL) != 0 ||
	    format_time(tag, val, c->not_after) != 0 ||
	    der_expect(&tbs, 0x30, &val, NULL) != 0 ||		/* subject */
	    format_name(val, c->subject, sizeof(c->subject)) != 0 ||
	    der_expect(&tbs, 0x30, &val, &spki) != 0)
		goto bad;
	dmu_sha256(c->spki_sha256, spki.p, spki.n);
	*explicit = explicit_ec(val);
	/*
	 * The outer signatureAlgorithm only names the algorithm for the
	 * inventory: a certificate whose name for it we cannot read still
	 * pins its device, so it is "unknown" rather than refused.
	 */
	if (der_expect(&cert, 0x30, &alg, NULL) != 0 ||
	    der_expect(&alg, 0x06, &val, NULL) != 0)
		snprintf(c->sigalg, sizeof(c->sigalg), "unknown");
	else
		format_sigalg(val, c->sigalg, sizeof(c->sigalg));
	return 0;
bad:
	dmu_seterr(err, "malformed certificate");
	return DMU_EDATA;
}

static const char *
curve_name(int curve)
{
	switch (curve) {
	case BR_EC_secp256r1:	return "P-256";
	case BR_EC_secp384r1:	return "P-384";
	case BR_EC_secp521r1:	return "P-521";
	default:		return NULL;
	}
}

/* Copies the key decoded by BearSSL into c->keybuf. */
static int
copy_key(struct dmu_cert *c, const br_x509_pkey *pk, char *err)
{
	const char *cv;
	size_t bits, i;

	c->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_public_key *k = &pk->key.rsa;

		if (k->nlen + k->elen > sizeof(c->keybuf))
			goto unsupported;
		memcpy(c->keybuf, k->n, k->nlen);
		memcpy(c->keybuf + k->nlen, k->e, k->elen);
		c->pkey.key.rsa.n = c->keybuf;
		c->pkey.key.rsa.nlen = k->nlen;
		c->pkey.key.rsa.e = c->keybuf + k->nlen;
		c->pkey.key.rsa.elen = k->elen;
		for (i = 0; i < k->nlen && k->n[i] == 0; i++)
			;
		bits = (k->nlen - i) * 8;
		if (i < k->nlen) {
			unsigned char top = k->n[i];

			while (!(top & 0x80)) {
				top = (unsigned char)(top << 1);
				bits--;
			}
		}
		c->keybits = bits;
		snprintf(c->keytype, sizeof(c->keytype), "RSA %zu", bits);
		return 0;
	}
	if (pk->key_type == BR_KEYTYPE_EC) {
		const br_ec_public_key *k = &pk->key.ec;

		if ((cv = curve_name(k->curve)) == NULL ||
		    k->qlen > sizeof(c->keybuf))
			goto unsupported;
		memcpy(c->keybuf, k->q, k->qlen);
		c->pkey.key.ec.curve = k->curve;
		c->pkey.key.ec.q = c->keybuf;
		c->pkey.key.ec.qlen = k->qlen;
		c->keybits = k->curve == BR_EC_secp521r1 ? 521 :
		    k->curve == BR_EC_secp384r1 ? 384 : 256;
		snprintf(c->keytype, sizeof(c->keytype), "EC %s", cv);
		return 0;
	}
unsupported:
	dmu_seterr(err, "unsupported public key in certificate "
	    "(RSA and EC P-256/P-384/P-521 are supported)");
	return DMU_EDATA;
}

/* see dmu.h */
int
dmu_cert_decode(struct dmu_cert *c, const void *der, size_t len, char *err)
{
	br_x509_decoder_context dc;
	const br_x509_pkey *pk;
	int e, rc, explicit = 0;

	memset(c, 0, sizeof(*c));
	if (len == 0 || len > DMU_CERT_MAX) {
		dmu_seterr(err, "certificate of %zu bytes (at most "
		    "%d supported)", len, DMU_CERT_MAX);
		return DMU_EDATA;
	}
	c->der = dmu_xmalloc(len);
	memcpy(c->der, der, len);
	c->len = len;
	dmu_sha256(c->sha256, der, len);
	if ((rc = walk(c, &explicit, err)) != 0)
		goto fail;
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (pk == NULL) {
		e = br_x509_decoder_last_error(&dc);
		if (explicit)
			dmu_seterr(err, "the certificate's EC key gives its "
			    "curve by explicit parameters, which dmu (and "
			    "BearSSL) do not support: it takes EC keys on a "
			    "named curve (P-256, P-384, P-521) and RSA keys");
		else if (e == BR_ERR_X509_UNSUPPORTED)
			dmu_seterr(err, "unsupported public key in "
			    "certificate (RSA and EC P-256/P-384/P-521 are "
			    "supported)");
		else
			dmu_seterr(err, "malformed certificate "
			    "(BearSSL error %d)", e);
		rc = DMU_EDATA;
		goto fail;
	}
	if ((rc = copy_key(c, pk, err)) != 0)
		goto fail;
	return 0;
fail:
	dmu_cert_free(c);
	return rc;
}

/* see dmu.h */
void
dmu_cert_free(struct dmu_cert *c)
{
	free(c->der);
	memset(c, 0, sizeof(*c));
}

struct pembuf {
	unsigned char *p;
	size_t n;
	int toolarge;
};

static void
pem_append(void *ctx, const void *data, size_t len)
{
	struct pembuf *b = ctx;

	if (b->toolarge || len > DMU_CERT_MAX - b->n) {
		b->toolarge = 1;
		return;
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

/* see dmu.h */
int
dmu_pem_cert(const char *text, size_t n, unsigned char **der, size_t *len,
    char *err)
{
	br_pem_decoder_context pc;
	struct pembuf b = { NULL, 0, 0 };
	int incert = 0, pass;
	const char *p;
	size_t left, k;

	b.p = dmu_xmalloc(DMU_CERT_MAX);
	br_pem_decoder_init(&pc);
	/* A final newline lets BearSSL see the end line even without one. */
	for (pass = 0; pass < 2; pass++) {
		p = pass == 0 ? text : "\n";
		left = pass == 0 ? n : 1;
		while (left > 0) {
			k = br_pem_decoder_push(&pc, p, left);
			p += k;
			left -= k;
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ:
				incert = strcmp(br_pem_decoder_name(&pc),
				    "CERTIFICATE") == 0 ||
				    strcmp(br_pem_decoder_name(&pc),
				    "X509 CERTIFICATE") == 0;
				br_pem_decoder_setdest(&pc,
				    incert ? pem_append : NULL, &b);
				break;
			case BR_PEM_END_OBJ:
				if (incert)
					goto done;
				break;
			case BR_PEM_ERROR:
				dmu_seterr(err, "malformed PEM");
				goto fail;
			}
		}
	}
	dmu_seterr(err, "no CERTIFICATE block in PEM input");
	goto fail;
done:
	if (b.toolarge) {
		dmu_seterr(err, "certificate larger than %d bytes",
		    DMU_CERT_MAX);
		goto fail;
	}
	if (b.n == 0) {
		dmu_seterr(err, "empty CERTIFICATE block");
		goto fail;
	}
	*der = b.p;
	*len = b.n;
	return 0;
fail:
	free(b.p);
	return DMU_EDATA;
}

/* see dmu.h */
int
dmu_cert_read_pem(FILE *f, struct dmu_cert *c, char *err)
{
	/* A PEM certificate is small; 1 MiB is plenty and bounds memory. */
	const size_t max = 1 << 20;
	char *text = dmu_xmalloc(max);
	unsigned char *der;
	size_t len = 0, derlen, k;
	int rc;

	while (len < max && (k = fread(text + len, 1, max - len, f)) > 0)
		len += k;
	if (ferror(f)) {
		dmu_seterr(err, "%s", strerror(errno));
		free(text);
		return DMU_EFAIL;
	}
	rc = dmu_pem_cert(text, len, &der, &derlen, err);
	free(text);
	if (rc != 0)
		return DMU_EDATA;
	rc = dmu_cert_decode(c, der, derlen, err);
	free(der);
	return rc != 0 ? DMU_EDATA : DMU_OK;
}

/* see dmu.h */
int
dmu_pem_write(FILE *f, const char *label, const void *der, size_t len)
{
	size_t n = br_pem_encode(NULL, der, len, label, BR_PEM_LINE64);
	char *pem = dmu_xmalloc(n + 1);

	br_pem_encode(pem, der, len, label, BR_PEM_LINE64);
	fwrite(pem, 1, n, f);
	free(pem);
	return ferror(f) ? -1 : 0;
}

/* see dmu.h */
void
dmu_cert_pin(char *out, const struct dmu_cert *c)
{
	memcpy(out, "sha256//", 8);
	dmu_b64_encode(out + 8, c->spki_sha256, 32);
}

/* see dmu.h */
void
dmu_cert_show(FILE *f, const char *device, const struct dmu_cert *c,
    const char *learned)
{
	char fp[3 * 32], pin[64], name[DMU_NAME_WIDTH + 1];

	dmu_hex_colon(fp, c->sha256, 32);
	dmu_cert_pin(pin, c);
	fprintf(f, "device:   %s\n", device);
	fprintf(f, "sha256:   %s\n", fp);
	fprintf(f, "pin:      %s\n", pin);
	/* A name is the peer's text: it must not draw a line of its own. */
	fprintf(f, "subject:  %s\n", dmu_scrub_line(name, sizeof(name),
	    c->subject, strlen(c->subject)));
	fprintf(f, "issuer:   %s\n", dmu_scrub_line(name, sizeof(name),
	    c->issuer, strlen(c->issuer)));
	fprintf(f, "valid:    %s to %s\n", c->not_before, c->not_after);
	fprintf(f, "key:      %s\n", c->keytype);
	if (learned != NULL)
		fprintf(f, "learned:  %s\n", learned);
}

/* see dmu.h */
unsigned
dmu_cert_warnings(const struct dmu_cert *c, const char *now)
{
	unsigned w = 0;

	if (c->pkey.key_type == BR_KEYTYPE_RSA && c->keybits < 2048)
		w |= DMU_CW_RSA_WEAK;
	if (strcmp(c->sigalg, "sha1WithRSAEncryption") == 0 ||
	    strcmp(c->sigalg, "ecdsa-with-SHA1") == 0 ||
	    strcmp(c->sigalg, "dsa-with-sha1") == 0)
		w |= DMU_CW_SHA1;
	if (strcmp(c->sigalg, "md5WithRSAEncryption") == 0)
		w |= DMU_CW_MD5;
	/* The dates are fixed-width UTC: they compare as strings. */
	if (now != NULL && strcmp(c->not_after, now) < 0)
		w |= DMU_CW_EXPIRED;
	if (now != NULL && strcmp(c->not_before, now) > 0)
		w |= DMU_CW_NOTYET;
	return w;
}

/*
 * Writes s as a JSON string.  Control characters and the DEL are escaped,
 * and bytes above 0x7f, which cannot be trusted to be UTF-8, become
 * U+FFFD, so that the line is valid JSON whatever a certificate holds.
 */
static void
json_str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putc('"', f);
	for (; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else if (*p > 0x7f)
			fputs("\\ufffd", f);
		else
			putc(*p, f);
	}
	putc('"', f);
}

/* see dmu.h */
int
dmu_cert_inventory(FILE *f, const char *device, const struct dmu_cert *c,
    const char *learned, const char *authorized, const char *now)
{
	static const char *const words[] = { "rsa-under-2048",
	    "sha1-signature", "md5-signature", "expired", "not-yet-valid" };
	char hex[65], pin[64];
	unsigned w = dmu_cert_warnings(c, now);
	size_t i;
	int first = 1;

	dmu_hex(hex, c->sha256, 32);
	dmu_cert_pin(pin, c);
	fputs("{\"device\":", f);
	json_str(f, device);
	fprintf(f, ",\"sha256\":\"%s\",\"pin\":\"%s\",\"learned\":", hex, pin);
	json_str(f, learned);
	fputs(",\"authorized\":", f);
	json_str(f, authorized);
	fputs(",\"subject\":", f);
	json_str(f, c->subject);
	fputs(",\"issuer\":", f);
	json_str(f, c->issuer);
	fputs(",\"serial\":", f);
	json_str(f, c->serial);
	fprintf(f, ",\"not_before\":\"%s\",\"not_after\":\"%s\",\"key\":",
	    c->not_before, c->not_after);
	json_str(f, c->keytype);
	fprintf(f, ",\"key_bits\":%zu,\"signature\":", c->keybits);
	json_str(f, c->sigalg);
	fputs(",\"warnings\":[", f);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (w & 1U << i) {
			fprintf(f, "%s\"%s\"", first ? "" : ",", words[i]);
			first = 0;
		}
	if (strcmp(authorized, "unverified") == 0)
		fprintf(f, "%s\"unverified\"", first ? "" : ",");
	fputs("]}\n", f);
	return ferror(f) ? -1 : 0;
}
