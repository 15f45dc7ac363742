/*
 * tls.c - the one BearSSL client setup, and I/O with time-outs.  TLS 1.2
 * only, forward-secret ECDHE suites with AEAD first, no resumption, our
 * pinning X.509 class instead of BearSSL's validator.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

static const uint16_t suites[] = {
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA,
	BR_TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA,
};

static void
setup(struct dmu_conn *c)
{
	br_ssl_client_context *sc = &c->sc;
	br_ssl_engine_context *eng = &sc->eng;

	br_ssl_client_zero(sc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, sizeof(suites) /
	    sizeof(suites[0]));
	/*
	 * One implementation per primitive where BearSSL's defaults link
	 * several and pick at run time: the constant-time portable ones
	 * (i31, ct64, ctmul) work on every CPU and keep the programs small.
	 * AES-GCM, which carries the reports, keeps the choice: AES-NI and
	 * PCLMUL make follow twice as fast.  No suite uses RSA key
	 * exchange: no rsapub.
	 */
	br_ssl_engine_set_rsavrfy(eng, br_rsa_i31_pkcs1_vrfy);
	br_ssl_engine_set_ec(eng, &br_ec_all_m31);
	br_ssl_engine_set_ecdsa(eng, br_ecdsa_i31_vrfy_asn1);
	br_ssl_engine_set_hash(eng, br_sha1_ID, &br_sha1_vtable);
	br_ssl_engine_set_hash(eng, br_sha224_ID, &br_sha224_vtable);
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_chapol(eng, &br_sslrec_in_chapol_vtable,
	    &br_sslrec_out_chapol_vtable);
	br_ssl_engine_set_chacha20(eng, br_chacha20_ct_run);
	br_ssl_engine_set_poly1305(eng, br_poly1305_ctmul_run);
	br_ssl_engine_set_cbc(eng, &br_sslrec_in_cbc_vtable,
	    &br_sslrec_out_cbc_vtable);
	br_ssl_engine_set_aes_cbc(eng, &br_aes_ct64_cbcenc_vtable,
	    &br_aes_ct64_cbcdec_vtable);
	br_ssl_engine_set_x509(eng, &c->pin.vtable);
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof(c->iobuf), 1);
}

/* Milliseconds to wait now: the per-wait time-out, capped by the deadline. */
static int
wait_ms(const struct dmu_conn *c)
{
	int64_t left;

	if (c->deadline == 0)
		return c->timeout_ms;
	left = c->deadline - dmu_now_ms();
	if (left < 0)
		left = 0;
	return left < c->timeout_ms ? (int)left : c->timeout_ms;
}

static int
waitfd(struct dmu_conn *c, short ev)
{
	struct pollfd pfd = { c->fd, ev, 0 };
	int r;

	r = dmu_poll(&pfd, 1, wait_ms(c));
	if (r == 0) {
		snprintf(c->err, sizeof(c->err), "timed out");
		return -1;
	}
	if (r < 0 && dmu_stop) {
		snprintf(c->err, sizeof(c->err), "interrupted");
		return -1;
	}
	if (r < 0) {
		snprintf(c->err, sizeof(c->err), "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Why the engine closed, in words. */
static void
explain(struct dmu_conn *c, int e)
{
	const char *m;

	if (c->err[0] != '\0' && e == BR_ERR_IO)
		return;		/* the socket error is said already */
	switch (e) {
	case BR_ERR_RECV_FATAL_ALERT + 70:	/* protocol_version */
		m = "the device does not speak TLS 1.2 (dmu supports TLS "
		    "1.2 only; BearSSL has no TLS 1.3)";
		break;
	case BR_ERR_UNSUPPORTED_VERSION:
		m = "the device answered with another TLS version than 1.2, "
		    "or not with TLS at all (dmu supports TLS 1.2 only)";
		break;
	case BR_ERR_RECV_FATAL_ALERT + 40:	/* handshake_failure */
	case BR_ERR_RECV_FATAL_ALERT + 71:	/* insufficient_security */
	case BR_ERR_BAD_CIPHER_SUITE:
		m = "no common cipher suite or key type: dmu needs TLS 1.2 "
		    "with ECDHE, and an RSA or ECDSA (P-256/384/521) device "
		    "key";
		break;
	case BR_ERR_IO:
		m = "connection closed by the device";
		break;
	case BR_ERR_BAD_SIGNATURE:
		m = "the device does not hold the private key of its "
		    "certificate";
		break;
	default:
		if (e >= BR_ERR_RECV_FATAL_ALERT &&
		    e < BR_ERR_SEND_FATAL_ALERT) {
			snprintf(c->err, sizeof(c->err), "TLS alert %d from "
			    "the device", e - BR_ERR_RECV_FATAL_ALERT);
			return;
		}
		snprintf(c->err, sizeof(c->err), "TLS failure (BearSSL "
		    "error %d)", e);
		return;
	}
	snprintf(c->err, sizeof(c->err), "%s", m);
}

/*
 * Drives the engine until one of the states in target is reached, like
 * BearSSL's br_sslio but with poll() and our time-outs.  Returns 0, 1 when
 * the engine closed cleanly, or -1 with the reason in c->err.
 */
static int
run_until(struct dmu_conn *c, unsigned target)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned char *buf;
	unsigned st;
	size_t len;
	ssize_t k;

	for (;;) {
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			int e = br_ssl_engine_last_error(eng);

			if (e == BR_ERR_OK)
				return 1;
			explain(c, e);
			return -1;
		}
		if (st & BR_SSL_SENDREC) {
			buf = br_ssl_engine_sendrec_buf(eng, &len);
			k = write(c->fd, buf, len);
			if (k > 0) {
				br_ssl_engine_sendrec_ack(eng, (size_t)k);
				continue;
			}
			if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
				if (waitfd(c, POLLOUT) != 0)
					return -1;
				continue;
			}
			snprintf(c->err, sizeof(c->err), "write: %s",
			    strerror(errno));
			c->broken = 1;
			return -1;
		}
		if (st & target)
			return 0;
		if (st & BR_SSL_RECVAPP) {
			/* Wants to send, but unread data is pending. */
			snprintf(c->err, sizeof(c->err), "unexpected data "
			    "from the device");
			return -1;
		}
		if (st & BR_SSL_RECVREC) {
			buf = br_ssl_engine_recvrec_buf(eng, &len);
			k = read(c->fd, buf, len);
			if (k > 0) {
				br_ssl_engine_recvrec_ack(eng, (size_t)k);
				continue;
			}
			if (k == 0) {
				c->peer_closed = 1;
				snprintf(c->err, sizeof(c->err), "connection "
				    "closed by the device");
				c->broken = 1;
				return -1;
			}
			if (errno == EAGAIN || errno == EINTR) {
				if (waitfd(c, POLLIN) != 0)
					return -1;
				continue;
			}
			snprintf(c->err, sizeof(c->err), "read: %s",
			    strerror(errno));
			c->broken = 1;
			return -1;
		}
		/* Nothing to do in any direction: the engine is stuck. */
		c->broken = 1;
		snprintf(c->err, sizeof(c->err), "TLS engine stalled");
		return -1;
	}
}

/* see dmu.h */
void
dmu_conn_deadline(struct dmu_conn *c, long ms)
{
	c->deadline = ms > 0 ? dmu_now_ms() + ms : 0;
}

/* see dmu.h */
int
dmu_conn_open(struct dmu_conn *c, const struct dmu_device *d,
    const struct dmu_cert *pinned, int timeout_ms)
{
	int r;

	/* A device that hangs up must not kill us in the middle of a write. */
	signal(SIGPIPE, SIG_IGN);
	c->fd = -1;
	c->peer_closed = 0;
	c->broken = 0;
	c->err[0] = '\0';
	c->timeout_ms = timeout_ms;
	dmu_pin_init(&c->pin, pinned ? DMU_PIN_ASSERT : DMU_PIN_CAPTURE,
	    pinned);
	dmu_conn_deadline(c, timeout_ms);
	if ((c->fd = dmu_tcp_connect(d, wait_ms(c), c->err)) < 0)
		return DMU_ENET;
	setup(c);
	/* SNI for names only; no session to resume: a fresh handshake. */
	if (!br_ssl_client_reset(&c->sc, d->is_ip ? NULL : d->host, 0)) {
		snprintf(c->err, sizeof(c->err), "TLS setup failed");
		goto fail;
	}
	r = run_until(c, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
	c->deadline = 0;
	if (r == 0)
		return DMU_OK;
	if (r == 1)
		snprintf(c->err, sizeof(c->err), "connection closed during "
		    "the handshake");
fail:
	close(c->fd);
	c->fd = -1;
	if (c->pin.mismatch)
		return DMU_EMISMATCH;
	if (c->pin.err[0] != '\0') {
		snprintf(c->err, sizeof(c->err), "%s", c->pin.err);
		return DMU_EDATA;
	}
	return DMU_ENET;
}

/* see dmu.h */
int
dmu_conn_write(struct dmu_conn *c, const void *buf, size_t len)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	const unsigned char *p = buf;
	unsigned char *dst;
	size_t k;

	c->err[0] = '\0';
	while (len > 0) {
		if (run_until(c, BR_SSL_SENDAPP) != 0)
			goto fail;
		dst = br_ssl_engine_sendapp_buf(eng, &k);
		if (k > len)
			k = len;
		memcpy(dst, p, k);
		br_ssl_engine_sendapp_ack(eng, k);
		p += k;
		len -= k;
	}
	br_ssl_engine_flush(eng, 0);
	if (run_until(c, BR_SSL_SENDAPP | BR_SSL_RECVAPP) != 0)
		goto fail;
	return 0;
fail:
	if (c->err[0] == '\0')
		snprintf(c->err, sizeof(c->err), "connection closed");
	return DMU_ENET;
}

/* see dmu.h */
long
dmu_conn_read(struct dmu_conn *c, void *buf, size_t len)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned char *src;
	size_t k;
	int r;

	c->err[0] = '\0';
	if (len == 0)
		return 0;
	r = run_until(c, BR_SSL_RECVAPP);
	if (r == 1)
		return 0;
	if (r < 0) {
		/*
		 * A TCP close without close_notify could be a cut made by
		 * anyone on the path: an error, never a clean end of stream.
		 */
		if (c->peer_closed)
			snprintf(c->err, sizeof(c->err), "connection closed "
			    "without TLS close_notify");
		return -1;
	}
	src = br_ssl_engine_recvapp_buf(eng, &k);
	if (k > len)
		k = len;
	memcpy(buf, src, k);
	br_ssl_engine_recvapp_ack(eng, k);
	return (long)k;
}

/* see dmu.h */
void
dmu_conn_close(struct dmu_conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;

	if (c->fd >= 0) {
		/* Say close_notify, but do not wait for the device's. */
		if (!c->broken &&
		    !(br_ssl_engine_current_state(eng) & BR_SSL_CLOSED)) {
			br_ssl_engine_close(eng);
			c->timeout_ms = c->timeout_ms > 500 ? 500 :
			    c->timeout_ms;
			c->deadline = 0;
			while (br_ssl_engine_current_state(eng) &
			    BR_SSL_SENDREC) {
				unsigned char *b;
				size_t len;
				ssize_t k;

				b = br_ssl_engine_sendrec_buf(eng, &len);
				k = write(c->fd, b, len);
				if (k <= 0)
					break;
				br_ssl_engine_sendrec_ack(eng, (size_t)k);
			}
		}
		close(c->fd);
		c->fd = -1;
	}
	dmu_pin_free(&c->pin);
}
