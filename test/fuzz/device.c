/* SPDX-License-Identifier: ISC */
/*
 * device.c - fuzzes dmu_device_parse().  The input is the device text (cut
 * at its first NUL byte).  What parses has a canonical form that parses
 * again to itself, also as an https:// URL (where a zone's '%' is
 * written %25); only a link-local address has a zone; outside a URL
 * nothing follows the device but a lone '/'.
 */
#include <arpa/inet.h>
#include <ctype.h>

#include "fuzz.h"

static void
same(const struct dmu_device *a, const struct dmu_device *b, const char *as)
{
	CHECK(strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0 &&
	    strcmp(a->zone, b->zone) == 0 &&
	    strcmp(a->canon, b->canon) == 0 && a->is_ip == b->is_ip,
	    "%s of '%s' gives '%s'", as, a->canon, b->canon);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dmu_device d, d2;
	char err[DMU_ERRLEN], *s, *url, *p, *z;
	unsigned char a[16];
	long long port;
	size_t n;

	s = fz_strdup(data, size);
	memset(err, 'x', sizeof(err));
	if (dmu_device_parse(&d, s, err) != 0) {
		CHECK(fz_errmsg(err), "bad error message for '%.80s'", s);
		free(s);
		return 0;
	}
	CHECK(fz_terminated(d.host, sizeof(d.host)) &&
	    fz_terminated(d.port, sizeof(d.port)) &&
	    fz_terminated(d.zone, sizeof(d.zone)) &&
	    fz_terminated(d.canon, sizeof(d.canon)), "unterminated field");
	if (d.zone[0] != '\0') {
		CHECK(inet_pton(AF_INET6, d.host, a) == 1 && a[0] == 0xfe &&
		    (a[1] & 0xc0) == 0x80, "zone '%s' on '%s'", d.zone,
		    d.host);
		CHECK(strspn(d.zone, "0123456789") != strlen(d.zone),
		    "zone '%s' is an index, not a name", d.zone);
	}
	CHECK(d.host[0] != '\0', "empty host from '%s'", s);
	/* a path, query or fragment is read only in a URL, never dropped */
	if (strncasecmp(s, "https://", 8) != 0)
		CHECK(strpbrk(s, "?#") == NULL && ((p = strchr(s, '/')) ==
		    NULL || strcmp(p, "/") == 0), "'%.80s' lost its path", s);
	for (p = d.host; *p; p++)
		CHECK(!isupper((unsigned char)*p) && isgraph((unsigned char)*p),
		    "host '%s'", d.host);
	CHECK(dmu_parse_long(d.port, 1, 65535, &port) == 0 &&
	    d.port[0] != '0', "port '%s'", d.port);
	CHECK(d.is_ip == (inet_pton(AF_INET, d.host, a) == 1 ||
	    inet_pton(AF_INET6, d.host, a) == 1), "is_ip %d for '%s'",
	    d.is_ip, d.host);
	if (!d.is_ip) {
		/* a DNS name: labels of 1..63 letters, digits, '-', '_' */
		size_t label = 0;

		CHECK(strlen(d.host) <= DMU_HOST_MAX && d.host[0] != '-' &&
		    d.host[0] != '.', "host '%s'", d.host);
		for (p = d.host; *p; p++) {
			if (*p == '.') {
				CHECK(label > 0, "empty label in '%s'", d.host);
				label = 0;
			} else {
				CHECK(isalnum((unsigned char)*p) || *p == '-' ||
				    *p == '_', "'%c' in '%s'", *p, d.host);
				CHECK(++label <= 63, "label over 63 in '%s'",
				    d.host);
			}
		}
	}
	n = strlen(d.canon);
	CHECK(n <= DMU_DEVICE_MAX, "canon of %zu bytes", n);

	/* idempotence: the canonical form is its own canonical form */
	CHECK(dmu_device_parse(&d2, d.canon, err) == 0,
	    "canonical '%s' (of '%.80s') refused: %s", d.canon, s, err);
	same(&d, &d2, "parse");

	/* and it stands in an https:// URL just as well */
	if ((url = malloc(n + 32)) == NULL)
		abort();
	if ((z = strchr(d.canon, '%')) != NULL)
		snprintf(url, n + 32, "HTTPS://%.*s%%25%s/",
		    (int)(z - d.canon), d.canon, z + 1);
	else
		snprintf(url, n + 32, "HTTPS://%s/", d.canon);
	CHECK(dmu_device_parse(&d2, url, err) == 0, "URL '%s' refused: %s",
	    url, err);
	same(&d, &d2, "URL");
	free(url);
	free(s);
	return 0;
}
