/* SPDX-License-Identifier: ISC */
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
	/*
	 * One handshake per connection: a server's HelloRequest is refused,
	 * so nothing after the pinned handshake can change who is talking.
	 */
	br_ssl_engine_add_flags(eng, BR_OPT_NO_RENEGOTIATION);
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
		dmu_seterr(c->err, "timed out");
		return -1;
	}
	if (r < 0 && dmu_stop) {
		dmu_seterr(c->err, "interrupted");
		return -1;
	}
	if (r < 0) {
		dmu_seterr(c->err, "poll: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* TLS alert names (RFC 5246, 7.2), for messages. */
static const char *
alert_name(int a)
{
	switch (a) {
	case 10:	return "unexpected_message";
	case 20:	return "bad_record_mac";
	case 40:	return "handshake_failure";
	case 42:	return "bad_certificate";
	case 47:	return "illegal_parameter";
	case 50:	return "decode_error";
	case 51:	return "decrypt_error";
	case 70:	return "protocol_version";
	case 71:	return "insufficient_security";
	case 80:	return "internal_error";
	case 90:	return "user_canceled";
	case 100:	return "no_renegotiation";
	case 110:	return "unsupported_extension";
	default:	return "unknown";
	}
}

/*
 * Why the engine closed, in words, and its class.  What a device could
 * never get past with this build (no TLS 1.2, no common suite, curve or
 * key type) is incompatible; anything else may work on another try.
 */
static void
explain(struct dmu_conn *c, int e)
{
	int alert = e >= BR_ERR_RECV_FATAL_ALERT &&
	    e < BR_ERR_SEND_FATAL_ALERT ? e - BR_ERR_RECV_FATAL_ALERT : -1;

	c->why = DMU_WHY_INCOMPATIBLE;
	switch (e) {
	case BR_ERR_RECV_FATAL_ALERT + 70:	/* protocol_version */
	case BR_ERR_UNSUPPORTED_VERSION:
	case BR_ERR_BAD_VERSION:
		dmu_seterr(c->err, "the device does not speak TLS 1.2 (%s%s): "
		    "dmu speaks TLS 1.2 only (BearSSL has no TLS 1.3) and will "
		    "never reach it", alert >= 0 ? "alert " : "it answered with "
		    "another version or not with TLS", alert >= 0 ?
		    alert_name(alert) : "");
		return;
	case BR_ERR_RECV_FATAL_ALERT + 40:	/* handshake_failure */
	case BR_ERR_RECV_FATAL_ALERT + 71:	/* insufficient_security */
	case BR_ERR_BAD_CIPHER_SUITE:
	case BR_ERR_INVALID_ALGORITHM:
		dmu_seterr(c->err, "no common TLS 1.2 cipher suite, curve or "
		    "key type with the device (%s%s): dmu needs ECDHE and an "
		    "RSA or ECDSA P-256/384/521 device key, and will never "
		    "reach it", alert >= 0 ? "alert " : "", alert >= 0 ?
		    alert_name(alert) : "it chose what dmu did not offer");
		return;
	}
	c->why = DMU_WHY_UNREACHABLE;
	if (c->err[0] != '\0' && e == BR_ERR_IO)
		return;		/* the socket error is said already */
	if (e == BR_ERR_IO)
		dmu_seterr(c->err, "connection closed by the device");
	else if (alert >= 0)
		dmu_seterr(c->err, "TLS alert %d (%s) from the device", alert,
		    alert_name(alert));
	else
		dmu_seterr(c->err, "TLS failure (BearSSL error %d)", e);
}

/*
 * Writes what the engine has to send.  Returns 0 when some went out or
 * the socket is full and became writable, or -1 with the reason in c->err.
 */
static int
send_records(struct dmu_conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned char *buf;
	size_t len;
	ssize_t k;

	buf = br_ssl_engine_sendrec_buf(eng, &len);
	if ((k = write(c->fd, buf, len)) > 0) {
		br_ssl_engine_sendrec_ack(eng, (size_t)k);
		return 0;
	}
	if (k < 0 && (errno == EAGAIN || errno == EINTR))
		return waitfd(c, POLLOUT);
	dmu_seterr(c->err, "write: %s", strerror(errno));
	c->broken = 1;
	return -1;
}

/*
 * Reads records for the engine.  Returns 0 when some came in or the socket
 * became readable, or -1 with the reason in c->err (a TCP close too).
 */
static int
recv_records(struct dmu_conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	unsigned char *buf;
	size_t len;
	ssize_t k;

	buf = br_ssl_engine_recvrec_buf(eng, &len);
	if ((k = read(c->fd, buf, len)) > 0) {
		br_ssl_engine_recvrec_ack(eng, (size_t)k);
		return 0;
	}
	if (k == 0) {
		c->peer_closed = 1;
		dmu_seterr(c->err, "connection closed by the device");
		c->broken = 1;
		return -1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return waitfd(c, POLLIN);
	dmu_seterr(c->err, "read: %s", strerror(errno));
	c->broken = 1;
	return -1;
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
	unsigned st;
	int e;

	for (;;) {
		st = br_ssl_engine_current_state(eng);
		if (st & BR_SSL_CLOSED) {
			if ((e = br_ssl_engine_last_error(eng)) == BR_ERR_OK)
				return 1;
			explain(c, e);
			return -1;
		}
		if (st & BR_SSL_SENDREC) {
			if (send_records(c) != 0)
				return -1;
			continue;
		}
		if (st & target)
			return 0;
		if (st & BR_SSL_RECVAPP) {
			/* Wants to send, but unread data is pending. */
			dmu_seterr(c->err, "unexpected data from the device");
			return -1;
		}
		if (st & BR_SSL_RECVREC) {
			if (recv_records(c) != 0)
				return -1;
			continue;
		}
		/* Nothing to do in any direction: the engine is stuck. */
		c->broken = 1;
		dmu_seterr(c->err, "TLS engine stalled");
		return -1;
	}
}

/* see dmu.h */
void
dmu_conn_deadline(struct dmu_conn *c, long ms)
{
	c->deadline = ms > 0 ? dmu_now_ms() + ms : 0;
}

/*
 * After the certificate passed our class, a failed signature or a key
 * that does not fit the suite means the peer cannot use the certificate's
 * private key: an impostor replaying the public certificate.
 */
static int
key_proof_failed(struct dmu_conn *c)
{
	int e = br_ssl_engine_last_error(&c->sc.eng);

	return c->pin.have_presented && !c->pin.mismatch &&
	    c->pin.err[0] == '\0' &&
	    (e == BR_ERR_BAD_SIGNATURE || e == BR_ERR_WRONG_KEY_USAGE);
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
	c->why = DMU_WHY_NONE;
	c->addr[0] = '\0';
	c->err[0] = '\0';
	c->timeout_ms = timeout_ms;
	dmu_pin_init(&c->pin, pinned ? DMU_PIN_ASSERT : DMU_PIN_CAPTURE,
	    pinned);
	dmu_conn_deadline(c, timeout_ms);
	if ((c->fd = dmu_tcp_connect(d, wait_ms(c), c->addr, c->err)) < 0) {
		c->why = DMU_WHY_UNREACHABLE;
		return DMU_ENET;
	}
	setup(c);
	/* SNI for names only; no session to resume: a fresh handshake. */
	if (!br_ssl_client_reset(&c->sc, d->is_ip ? NULL : d->host, 0)) {
		dmu_seterr(c->err, "TLS setup failed");
		c->why = DMU_WHY_UNREACHABLE;
		goto fail;
	}
	r = run_until(c, BR_SSL_SENDAPP | BR_SSL_RECVAPP);
	c->deadline = 0;
	if (r == 0)
		return DMU_OK;
	if (r == 1) {
		dmu_seterr(c->err, "connection closed during the handshake");
		c->why = DMU_WHY_UNREACHABLE;
	}
fail:
	close(c->fd);
	c->fd = -1;
	if (c->pin.mismatch) {
		c->why = DMU_WHY_CERT;
		dmu_seterr(c->err, "certificate mismatch");
		return DMU_EMISMATCH;
	}
	if (key_proof_failed(c)) {
		c->why = DMU_WHY_KEYPROOF;
		dmu_seterr(c->err, "the device presented %s certificate but "
		    "could not prove it holds its private key",
		    pinned ? "the pinned" : "a");
		return DMU_EMISMATCH;
	}
	if (c->pin.err[0] != '\0') {
		dmu_seterr(c->err, "%s", c->pin.err);
		c->why = DMU_WHY_NONE;
		return DMU_EDATA;
	}
	if (c->why == DMU_WHY_NONE)
		c->why = DMU_WHY_UNREACHABLE;	/* time-out, reset, ... */
	return DMU_ENET;
}

/* see dmu.h */
void
dmu_conn_timeout(struct dmu_conn *c, int ms)
{
	c->timeout_ms = ms;
}

/* see dmu.h */
int
dmu_conn_why(const struct dmu_conn *c)
{
	return c->why;
}

/* see dmu.h */
const uint8_t *
dmu_conn_presented(const struct dmu_conn *c)
{
	return c->pin.have_presented ? c->pin.presented : NULL;
}

/* see dmu.h */
const struct dmu_cert *
dmu_conn_captured(const struct dmu_conn *c)
{
	return c->pin.have_captured ? &c->pin.captured : NULL;
}

/* see dmu.h */
const char *
dmu_why_word(int why)
{
	switch (why) {
	case DMU_WHY_UNREACHABLE:	return "unreachable";
	case DMU_WHY_INCOMPATIBLE:	return "incompatible";
	case DMU_WHY_CERT:		return "certificate";
	case DMU_WHY_KEYPROOF:		return "key-proof-failed";
	default:			return "";
	}
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
		/* Requests hold the API key: see dmu_secret_copy(). */
		dmu_secret_copy(dst, p, k);
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
		dmu_seterr(c->err, "connection closed");
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
			dmu_seterr(c->err, "connection closed "
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
int
dmu_conn_idle(struct dmu_conn *c)
{
	br_ssl_engine_context *eng = &c->sc.eng;
	struct pollfd pfd;
	unsigned char *buf;
	unsigned st;
	size_t len;
	ssize_t k;
	int got = 0;

	for (;;) {
		st = br_ssl_engine_current_state(eng);
		if (c->fd < 0 || c->broken || (st & BR_SSL_CLOSED))
			return DMU_IDLE_GONE;
		if (st & BR_SSL_RECVAPP)
			return DMU_IDLE_DATA;
		/* Our close_notify or an alert to send: it is closing. */
		if (!(st & BR_SSL_RECVREC))
			return DMU_IDLE_GONE;
		pfd.fd = c->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, 0) == 0)
			/* Part of a record came and no more: not an answer. */
			return got ? DMU_IDLE_DATA : DMU_IDLE_CLEAN;
		buf = br_ssl_engine_recvrec_buf(eng, &len);
		if ((k = read(c->fd, buf, len)) > 0) {
			br_ssl_engine_recvrec_ack(eng, (size_t)k);
			got = 1;
			continue;
		}
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			return got ? DMU_IDLE_DATA : DMU_IDLE_CLEAN;
		if (k == 0)
			c->peer_closed = 1;
		c->broken = 1;
		return DMU_IDLE_GONE;
	}
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
