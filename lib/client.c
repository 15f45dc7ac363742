/* SPDX-License-Identifier: ISC */
/*
 * client.c - requests to one pinned device: the connection, the API key,
 * and the base path of the reports API, for dmu-get and its collector.
 */
#include <stdlib.h>
#include <string.h>

#include "dmu.h"

static long
conn_read(void *ctx, void *buf, size_t len)
{
	return dmu_conn_read(ctx, buf, len);
}

/*
 * Formats GET base+path with the key into req (DMU_REQ_MAX bytes).
 * Returns the length, or -1 when it does not fit.
 */
static long
format_get(const struct dmu_client *cl, const char *path, char *req)
{
	char target[DMU_BASE_MAX + 128], b64[DMU_KEY_B64MAX];
	char host[DMU_DEVICE_MAX + 1];
	long n;

	if ((size_t)snprintf(target, sizeof(target), "%s%s", cl->base, path) >=
	    sizeof(target))
		return -1;
	dmu_device_authority(cl->dev, host);
	dmu_key_reveal(cl->key, b64);
	n = dmu_http_get(req, DMU_REQ_MAX, host, target, b64);
	explicit_bzero(b64, sizeof(b64));
	return n;
}

/* see dmu.h */
int
dmu_client_init(struct dmu_client *cl, const struct dmu_device *dev,
    const char *app, int timeout_ms, char *err)
{
	memset(cl, 0, sizeof(*cl));
	if (app == NULL || *app == '\0')
		app = "https_server_1";
	if (strlen(app) > 64 || strspn(app, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != strlen(app)) {
		char safe[DMU_ECHO_MAX + 1];

		dmu_seterr(err, "invalid application name '%s'",
		    dmu_scrub(safe, sizeof(safe), app, strlen(app)));
		return DMU_EUSAGE;
	}
	cl->dev = dev;
	cl->timeout_ms = timeout_ms;
	snprintf(cl->base, sizeof(cl->base), "/api/application/%s/reports/v1",
	    app);
	cl->conn = dmu_xcalloc(1, sizeof(*cl->conn));
	return DMU_OK;
}

/* see dmu.h */
int
dmu_client_key(struct dmu_client *cl, const struct dmu_key *key, char *err)
{
	char req[DMU_REQ_MAX];
	long n;

	cl->key = key;
	/*
	 * The longest request of any run must fit: a usage error now, never
	 * a request that fails again and again in a collector.
	 */
	n = format_get(cl, "/wait?lastSerial=9007199254740992&timeout=75", req);
	explicit_bzero(req, sizeof(req));
	if (n < 0) {
		dmu_seterr(err, "%s: the host name and the API key are too long "
		    "together: a request would not fit in %d bytes",
		    cl->dev->canon, DMU_REQ_MAX);
		return DMU_EUSAGE;
	}
	return DMU_OK;
}

/* see dmu.h */
int
dmu_client_connect(struct dmu_client *cl)
{
	int rc;

	if (cl->connected)
		return DMU_OK;
	rc = dmu_conn_open(cl->conn, cl->dev, cl->pinned, cl->timeout_ms);
	cl->evwarn[0] = '\0';
	free(cl->evline);
	cl->evline = NULL;
	/* Evidence of an impostor, taken before closing frees what it sent. */
	if (rc == DMU_EMISMATCH && cl->evpath != NULL)
		cl->evline = dmu_ev_line(cl->dev->canon, cl->conn, cl->evwarn);
	if (rc != DMU_OK) {
		dmu_seterr(cl->err, "%s", cl->conn->err);
		dmu_conn_close(cl->conn);
		return rc;
	}
	dmu_src_init(&cl->src, conn_read, cl->conn);
	cl->connected = 1;
	cl->opened++;
	return DMU_OK;
}

/* see dmu.h */
void
dmu_client_close(struct dmu_client *cl)
{
	if (cl->connected)
		dmu_conn_close(cl->conn);
	cl->connected = 0;
}

/*
 * A connection carries another request only when nothing came after the
 * last answer (RFC 9112 6.3): bytes left in the source or the TLS engine,
 * or waiting on the socket, would be read as the answer to the next
 * request.  Such a connection is closed, which is said once a run; one
 * that the device closed is closed silently.  Looked at after each answer
 * and again before the next request, for bytes that came meanwhile.
 */
static void
check_idle(struct dmu_client *cl)
{
	char msg[DMU_DEVICE_MAX + DMU_ERRLEN];
	int idle;

	if (!cl->connected)
		return;
	idle = dmu_src_left(&cl->src) > 0 ? DMU_IDLE_DATA :
	    dmu_conn_idle(cl->conn);
	if (idle == DMU_IDLE_CLEAN)
		return;
	if (idle == DMU_IDLE_DATA && cl->leftovers++ == 0 && cl->warn != NULL) {
		snprintf(msg, sizeof(msg), "%s: warning: the device sent data "
		    "after a complete answer; it is not read as an answer: "
		    "the connection is closed and made again (said once)",
		    cl->dev->canon);
		cl->warn(cl->warnctx, msg);
	}
	dmu_client_close(cl);
}

/* see dmu.h */
void
dmu_client_settle(struct dmu_client *cl)
{
	check_idle(cl);
}

/* see dmu.h */
int
dmu_client_get(struct dmu_client *cl, const char *path, long extra_ms,
    struct dmu_resp *r)
{
	char req[DMU_REQ_MAX];
	long n;
	int rc;

	check_idle(cl);
	if ((rc = dmu_client_connect(cl)) != DMU_OK)
		return rc;
	if ((n = format_get(cl, path, req)) < 0) {
		explicit_bzero(req, sizeof(req));
		dmu_seterr(cl->err, "request too long");
		return DMU_EUSAGE;
	}
	/* A long poll may be silent for its whole time: wait that long. */
	dmu_conn_timeout(cl->conn, cl->timeout_ms + (int)extra_ms);
	dmu_conn_deadline(cl->conn, cl->timeout_ms + extra_ms);
	rc = dmu_conn_write(cl->conn, req, (size_t)n);
	explicit_bzero(req, sizeof(req));
	if (rc != 0) {
		dmu_seterr(cl->err, "%s", cl->conn->err);
		dmu_client_close(cl);
		return DMU_ENET;
	}
	rc = dmu_http_read(&cl->src, r, cl->err);
	/* The connection knows why reading failed: time-out, cut, ... */
	if (rc == DMU_ENET && cl->conn->err[0] != '\0') {
		size_t used = strlen(cl->err);

		snprintf(cl->err + used, DMU_ERRLEN - used, ": %s",
		    cl->conn->err);
	}
	if (rc != DMU_OK || !r->keepalive)
		dmu_client_close(cl);
	else
		check_idle(cl);
	return rc;
}

/* see dmu.h */
int
dmu_client_delete(struct dmu_client *cl, long long serial,
    struct dmu_resp *deleted)
{
	struct dmu_resp r;
	char path[64];
	int rc;

	if (deleted != NULL)
		memset(deleted, 0, sizeof(*deleted));
	snprintf(path, sizeof(path), "/reports/%lld?delete=true", serial);
	if ((rc = dmu_client_get(cl, path, 0, &r)) != DMU_OK)
		return rc;
	/* 404: it is gone already, which is what was asked. */
	rc = r.status == 200 || r.status == 404 ? DMU_OK : DMU_EHTTP;
	if (rc != DMU_OK)
		dmu_seterr(cl->err, "HTTP %d", r.status);
	/* The report deleted, for the caller to compare with its own. */
	if (rc == DMU_OK && r.status == 200 && deleted != NULL) {
		*deleted = r;
		return rc;
	}
	dmu_resp_free(&r);
	return rc;
}

/* see dmu.h */
void
dmu_client_free(struct dmu_client *cl)
{
	dmu_client_close(cl);
	free(cl->conn);
	cl->conn = NULL;
	free(cl->evline);
	cl->evline = NULL;
}

/* see dmu.h */
void
dmu_client_keep_evidence(struct dmu_client *cl)
{
	if (cl->evline != NULL && dmu_ev_keep(cl->evpath, cl->evline,
	    cl->evwarn) == DMU_OK)
		cl->evwarn[0] = '\0';
	free(cl->evline);
	cl->evline = NULL;
}

/* The words of the resources, by DMU_RES_*; a serial has none. */
static const char *const res_words[] = {
	[DMU_RES_LATEST] = "latest",
	[DMU_RES_OLDEST] = "oldest",
	[DMU_RES_SERIAL] = NULL,
	[DMU_RES_LIST] = "list",
	[DMU_RES_WAIT] = "wait",
	[DMU_RES_FOLLOW] = "follow",
};

/* see dmu.h */
int
dmu_res_parse(const char *word, int *res, long long *serial, char *err)
{
	int i;

	for (i = 0; i < (int)(sizeof(res_words) / sizeof(res_words[0])); i++)
		if (res_words[i] != NULL && strcmp(word, res_words[i]) == 0) {
			*res = i;
			return DMU_OK;
		}
	if (dmu_parse_long(word, 1, 1LL << 53, serial) != 0) {
		dmu_seterr(err, "unknown resource '%s' (latest, oldest, a "
		    "serial, list, wait or follow)", dmu_echo(word));
		return DMU_EUSAGE;
	}
	*res = DMU_RES_SERIAL;
	return DMU_OK;
}

/* see dmu.h */
int
dmu_res_choose(const struct dmu_device *d, const char *word, int *res,
    long long *serial, char *err)
{
	long long urlserial;
	int urlres, rc;

	if (d->resource[0] == '\0')
		return dmu_res_parse(word != NULL ? word : "latest", res,
		    serial, err);
	if ((rc = dmu_res_parse(d->resource, res, serial, err)) != DMU_OK ||
	    word == NULL)
		return rc;
	urlres = *res;
	urlserial = *serial;
	if ((rc = dmu_res_parse(word, res, serial, err)) != DMU_OK)
		return rc;
	if (*res != urlres ? !(urlres == DMU_RES_WAIT &&
	    *res == DMU_RES_FOLLOW) : urlres == DMU_RES_SERIAL &&
	    *serial != urlserial) {
		dmu_seterr(err, "the URL names resource '%s' but the command "
		    "line '%.40s': give one of them", d->resource, word);
		return DMU_EUSAGE;
	}
	return DMU_OK;
}

/* see dmu.h */
long
dmu_res_path(char *path, size_t sz, int res, long long serial,
    long long last, long wait_s, int del)
{
	const char *q = del ? "?delete=true" : "";

	switch (res) {
	case DMU_RES_LATEST:
	case DMU_RES_OLDEST:
		snprintf(path, sz, "/reports/%s%s", res_words[res], q);
		break;
	case DMU_RES_SERIAL:
		snprintf(path, sz, "/reports/%lld%s", serial, q);
		break;
	case DMU_RES_LIST:
		snprintf(path, sz, "/reports");
		break;
	default:	/* DMU_RES_WAIT */
		snprintf(path, sz, "/wait?lastSerial=%lld", last);
		if (wait_s > 0)
			snprintf(path + strlen(path), sz - strlen(path),
			    "&timeout=%ld", wait_s);
		return (wait_s > 0 ? wait_s : 75) * 1000;
	}
	return 0;
}
