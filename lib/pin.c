/* SPDX-License-Identifier: ISC */
/*
 * pin.c - our br_x509_class.  The handshake uses the key that this class
 * hands out, so in assert mode it can only complete with the private key of
 * the stored certificate, and only when the server presented exactly that
 * certificate (BearSSL's known-key idea, with the certificate pinned too).
 */
#include <stdlib.h>
#include <string.h>

#include "dmu.h"

#define PIN(ctx)	((struct dmu_pin *)(void *)(ctx))

static void
pin_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct dmu_pin *p = PIN(ctx);

	(void)server_name;	/* the certificate names no host: ignored */
	p->ncert = 0;
	p->len = 0;
	p->toolarge = 0;
	p->chainlen = 0;
	p->nchain = 0;
	p->have_presented = 0;
	p->mismatch = 0;
	p->err[0] = '\0';
	if (p->have_captured) {
		dmu_cert_free(&p->captured);
		p->have_captured = 0;
	}
}

static void
pin_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct dmu_pin *p = PIN(ctx);

	if (p->ncert != 0) {
		/* Evidence only, bounded: the rest is dropped. */
		p->chaindrop = p->nchain >= DMU_CHAIN_MAX ||
		    length > DMU_CHAIN_BYTES - p->chainlen;
		if (!p->chaindrop)
			p->chainsz[p->nchain] = 0;
		return;
	}
	br_sha256_init(&p->sha);
	if (length > DMU_CERT_MAX)
		p->toolarge = 1;
}

static void
pin_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct dmu_pin *p = PIN(ctx);

	/* Only the end-entity certificate counts; the chain is kept only. */
	if (p->ncert != 0) {
		if (p->chaindrop || len > DMU_CHAIN_BYTES - p->chainlen -
		    p->chainsz[p->nchain]) {
			p->chaindrop = 1;
			return;
		}
		memcpy(p->chain + p->chainlen + p->chainsz[p->nchain], buf,
		    len);
		p->chainsz[p->nchain] += len;
		return;
	}
	br_sha256_update(&p->sha, buf, len);
	if (p->toolarge || len > DMU_CERT_MAX - p->len) {
		p->toolarge = 1;
		return;
	}
	memcpy(p->buf + p->len, buf, len);
	p->len += len;
}

static void
pin_end_cert(const br_x509_class **ctx)
{
	struct dmu_pin *p = PIN(ctx);

	if (p->ncert++ != 0) {
		if (!p->chaindrop) {
			p->chainlen += p->chainsz[p->nchain];
			p->nchain++;
		}
		p->chaindrop = 1;
		return;
	}
	br_sha256_out(&p->sha, p->presented);
	p->have_presented = 1;
}

static unsigned
pin_end_chain(const br_x509_class **ctx)
{
	struct dmu_pin *p = PIN(ctx);

	if (!p->have_presented) {
		dmu_seterr(p->err, "the device sent no "
		    "certificate");
		return BR_ERR_X509_EMPTY_CHAIN;
	}
	if (p->mode == DMU_PIN_ASSERT) {
		if (!dmu_ct_equal(p->presented, p->pinned->sha256, 32)) {
			p->mismatch = 1;
			dmu_seterr(p->err, "certificate "
			    "mismatch");
			return BR_ERR_X509_NOT_TRUSTED;
		}
		return 0;
	}
	if (p->toolarge) {
		dmu_seterr(p->err, "the device's certificate is "
		    "larger than %d bytes", DMU_CERT_MAX);
		return BR_ERR_X509_LIMIT_EXCEEDED;
	}
	if (dmu_cert_decode(&p->captured, p->buf, p->len, p->err) != 0)
		return BR_ERR_X509_UNSUPPORTED;
	p->have_captured = 1;
	return 0;
}

static const br_x509_pkey *
pin_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct dmu_pin *p = (const struct dmu_pin *)(const void *)ctx;

	if (usages != NULL)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	if (p->mode == DMU_PIN_ASSERT)
		return p->mismatch || !p->have_presented ? NULL :
		    &p->pinned->pkey;
	return p->have_captured ? &p->captured.pkey : NULL;
}

static const br_x509_class pin_vtable = {
	sizeof(struct dmu_pin),
	pin_start_chain,
	pin_start_cert,
	pin_append,
	pin_end_cert,
	pin_end_chain,
	pin_get_pkey
};

/* see dmu.h */
void
dmu_pin_init(struct dmu_pin *p, int mode, const struct dmu_cert *pinned)
{
	memset(p, 0, sizeof(*p));
	p->vtable = &pin_vtable;
	p->mode = mode;
	p->pinned = pinned;
	p->buf = dmu_xmalloc(DMU_CERT_MAX);
	p->chain = dmu_xmalloc(DMU_CHAIN_BYTES);
}

/* see dmu.h */
void
dmu_pin_free(struct dmu_pin *p)
{
	if (p->have_captured)
		dmu_cert_free(&p->captured);
	p->have_captured = 0;
	free(p->buf);
	p->buf = NULL;
	free(p->chain);
	p->chain = NULL;
}
