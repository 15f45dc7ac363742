/* SPDX-License-Identifier: ISC */
/* device.c - device addresses and their canonical host:port form. */
#include <arpa/inet.h>
#include <ctype.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmu.h"

/* Says why s is no device, shown without a control character; -1. */
static int
seterr(char *err, const char *s, const char *why)
{
	char safe[81];

	dmu_seterr(err, "invalid device '%s': %s", dmu_scrub(safe,
	    sizeof(safe), s, strlen(s)), why);
	return -1;
}

static int
valid_name(const char *h)
{
	size_t label = 0;

	if (*h == '\0' || *h == '.' || *h == '-')
		return 0;
	for (; *h != '\0'; h++) {
		if (*h == '.') {
			if (label == 0)
				return 0;
			label = 0;
		} else if (isalnum((unsigned char)*h) || *h == '-' ||
		    *h == '_') {
			if (++label > 63)
				return 0;
		} else
			return 0;
	}
	return 1;
}

/*
 * One device, one name: an IPv4 address that libc also takes in another
 * spelling (127.1, 0x7f.0.0.1, 2130706433, 0177.0.0.1) would be pinned as
 * another device than its dotted quad, so it is refused with the quad to
 * write instead; so is a name whose last label is a number, which is no
 * host name (RFC 1123) and which resolvers may read as an address.
 */
static int
odd_ipv4(const char *host, char *err)
{
	struct in_addr a;
	char quad[INET_ADDRSTRLEN], why[96];
	const char *last = strrchr(host, '.');

	if (inet_aton(host, &a) != 0) {
		inet_ntop(AF_INET, &a, quad, sizeof(quad));
		snprintf(why, sizeof(why), "write the IPv4 address as a "
		    "dotted quad: %s", quad);
		return seterr(err, host, why) != 0;
	}
	last = last != NULL ? last + 1 : host;
	if (*last != '\0' && strspn(last, "0123456789") == strlen(last))
		return seterr(err, host, "the last label of a host name "
		    "cannot be a number") != 0;
	return 0;
}

/*
 * "st1." and "st1" would be two names of one device; the absolute form is
 * refused rather than cut, as a resolver's search list may tell them apart.
 */
static int
trailing_dot(const char *host, char *err)
{
	size_t n = strlen(host);

	if (n > 1 && host[n - 1] == '.')
		return seterr(err, host, "a host name with a trailing dot: "
		    "write it without") != 0;
	return 0;
}

#define URL_FORMS "the path of a URL names the reports API: https://HOST" \
	"[:PORT][/api/application/APP/reports/v1[/reports[/SERIAL|oldest|" \
	"latest]|/wait]]"

/* The next segment of a URL path p into seg (segsz bytes); -1: none. */
static int
segment(const char **p, char *seg, size_t segsz)
{
	size_t n;

	if (**p != '/' || (*p)[1] == '\0')
		return -1;
	n = strcspn(*p + 1, "/");
	if (n == 0 || n >= segsz)
		return -1;
	memcpy(seg, *p + 1, n);
	seg[n] = '\0';
	*p += n + 1;
	return 0;
}

/*
 * Reads the path of a URL (after its authority) into d->app and
 * d->resource: nothing else is silently asked for instead of what the
 * path says.  Returns 0, or -1 with the reason in err (s is the device as
 * given).
 */
static int
url_path(struct dmu_device *d, const char *path, const char *s, char *err)
{
	static const char *const words[] = { "api", "application", NULL,
	    "reports", "v1" };
	char seg[80];
	long long v;
	size_t i;

	if (strpbrk(path, "?#") != NULL)
		return seterr(err, s, "a URL with a query or fragment is not "
		    "supported (dmu-get has -d, -l and -w for them)");
	if (*path == '\0' || strcmp(path, "/") == 0)
		return 0;
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (segment(&path, seg, sizeof(seg)) != 0 ||
		    (words[i] != NULL && strcmp(seg, words[i]) != 0) ||
		    strlen(seg) >= sizeof(d->app))
			return seterr(err, s, URL_FORMS);
		if (words[i] == NULL)
			memcpy(d->app, seg, strlen(seg) + 1);
	}
	if (segment(&path, seg, sizeof(seg)) == 0) {
		if (strcmp(seg, "wait") == 0) {
			snprintf(d->resource, sizeof(d->resource), "wait");
		} else if (strcmp(seg, "reports") != 0) {
			return seterr(err, s, URL_FORMS);
		} else if (segment(&path, seg, sizeof(seg)) != 0) {
			snprintf(d->resource, sizeof(d->resource), "list");
		} else if (strcmp(seg, "latest") == 0 ||
		    strcmp(seg, "oldest") == 0) {
			snprintf(d->resource, sizeof(d->resource), "%.6s", seg);
		} else if (isdigit((unsigned char)*seg) &&
		    dmu_parse_long(seg, 1, 1LL << 53, &v) == 0) {
			snprintf(d->resource, sizeof(d->resource), "%lld", v);
		} else
			return seterr(err, s, URL_FORMS);
	}
	if (*path != '\0' && strcmp(path, "/") != 0)
		return seterr(err, s, URL_FORMS);
	return 0;
}

/*
 * Copies the authority of s (an https:// URL loses its scheme, its path
 * goes to url_path()) into buf (bufsz bytes).  Returns 0, or -1 with the
 * reason in err.
 */
static int
take_authority(struct dmu_device *d, char *buf, size_t bufsz, const char *s,
    char *err)
{
	const char *p, *given = s;
	size_t n;
	int url = 0;

	if (strncasecmp(s, "https://", 8) == 0) {
		s += 8;
		url = 1;
	} else if (strstr(s, "://") != NULL)
		return seterr(err, s, "only https:// URLs are supported");
	n = strcspn(s, "/?#");
	if (url && url_path(d, s + n, given, err) != 0)
		return -1;
	/* A path is read only in the https:// form: never dropped. */
	if (!url && s[n] != '\0' && strcmp(s + n, "/") != 0)
		return seterr(err, given, "a path, query or fragment is read "
		    "only in a URL: https://HOST[:PORT]/api/application/APP/"
		    "reports/v1/...");
	if (n == 0)
		return seterr(err, s, "empty host");
	if (n >= bufsz)
		return seterr(err, s, "too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strchr(buf, '@') != NULL)
		return seterr(err, s, "user information is not supported");
	for (p = buf; *p; p++)
		if (isspace((unsigned char)*p) || !isprint((unsigned char)*p))
			return seterr(err, s, "white space or control character");
	return 0;
}

/*
 * Cuts the zone off an IPv6 host ("fe80::1%eth0") into zone (DMU_ZONE_MAX
 * + 1 bytes; "" when there is none).  In a URL the '%' is written "%25"
 * (RFC 6874).  A zone is an interface's name, or its index, which is
 * stored as the name so that a device has one spelling.  Returns 0, or -1
 * with the reason in err.
 */
static int
take_zone(char *host, char *zone, int url, const char *s, char *err)
{
	char *z = strchr(host, '%'), name[IF_NAMESIZE];
	size_t n;

	zone[0] = '\0';
	if (z == NULL)
		return 0;
	*z++ = '\0';
	if (url && strncmp(z, "25", 2) == 0 && z[2] != '\0')
		z += 2;
	n = strlen(z);
	if (n == 0)
		return seterr(err, s, "empty zone after '%'");
	if (n > DMU_ZONE_MAX || strspn(z, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789._-") != n)
		return seterr(err, s, "the zone after '%' must be a network "
		    "interface's name");
	if (strspn(z, "0123456789") == n) {
		unsigned long i = strtoul(z, NULL, 10);

		if (i == 0 || i > 0xffffffffUL ||
		    if_indextoname((unsigned)i, name) == NULL)
			return seterr(err, s, "no network interface has the "
			    "index given as its zone");
		z = name;
	}
	memcpy(zone, z, strlen(z) + 1);
	return 0;
}

/*
 * Splits buf in place into *host and *port (NULL when none is given) and
 * the zone of an IPv6 address into zone: "[v6]:port", "[v6]", a bare IPv6
 * address, "host:port" or "host".  Returns 0, or -1 with the reason in err
 * (s is the device as given, url says whether it was an https:// URL).
 */
static int
split_host_port(char *buf, char **host, char **port, char *zone, int url,
    const char *s, char *err)
{
	unsigned char a6[16];
	char *p;

	*host = buf;
	*port = NULL;
	zone[0] = '\0';
	if (buf[0] == '[') {
		if ((p = strchr(buf, ']')) == NULL)
			return seterr(err, s, "missing ']'");
		*p++ = '\0';
		*host = buf + 1;
		if (*p == ':')
			*port = p + 1;
		else if (*p != '\0')
			return seterr(err, s, "junk after ']'");
		if (take_zone(*host, zone, url, s, err) != 0)
			return -1;
		if (inet_pton(AF_INET6, *host, a6) != 1)
			return seterr(err, s, "not an IPv6 address");
	} else if ((p = strchr(buf, ':')) != NULL) {
		if (strchr(p + 1, ':') != NULL) {
			/* Several colons and no brackets: a bare IPv6 address. */
			if (take_zone(buf, zone, url, s, err) != 0)
				return -1;
			if (inet_pton(AF_INET6, buf, a6) != 1)
				return seterr(err, s,
				    "IPv6 addresses with a port need brackets");
		} else {
			*p = '\0';
			*port = p + 1;
		}
	}
	return 0;
}

/*
 * A link-local address names a host only together with the interface it
 * is reached through, and on any other address a zone would be a second
 * spelling of one device.  Returns 0, or -1 with the reason in err.
 */
static int
check_zone(const unsigned char *a, const char *zone, const char *s, char *err)
{
	const struct in6_addr *a6 = (const void *)a;
	int link = IN6_IS_ADDR_LINKLOCAL(a6);

	if (link && zone[0] == '\0')
		return seterr(err, s, "a link-local address needs the "
		    "interface it is reached through, as in [fe80::1%eth0]");
	if (!link && zone[0] != '\0')
		return seterr(err, s, "only a link-local address (fe80::/10) "
		    "takes a zone");
	return 0;
}

/*
 * Writes the canonical form of host into d->host and d->is_ip: an IPv6
 * or IPv4 address as inet_ntop() writes it, a name in lower case.
 * Returns 0, or -1 with the reason in err.
 */
static int
canon_host(struct dmu_device *d, char *host, const char *s, char *err)
{
	unsigned char a[16];
	char *p;

	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, a) != 1)
			return seterr(err, s, "not an IPv6 address");
		if (check_zone(a, d->zone, s, err) != 0)
			return -1;
		inet_ntop(AF_INET6, a, d->host, sizeof(d->host));
		d->is_ip = 1;
		return 0;
	}
	if (strlen(host) > DMU_HOST_MAX)
		return seterr(err, s, "host name too long");
	for (p = host; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (inet_pton(AF_INET, host, a) == 1) {
		inet_ntop(AF_INET, a, d->host, sizeof(d->host));
		d->is_ip = 1;
		return 0;
	}
	if (odd_ipv4(host, err) || trailing_dot(host, err))
		return -1;
	if (!valid_name(host))
		return seterr(err, s, "not a host name or address");
	/* At most DMU_HOST_MAX bytes: checked above. */
	memcpy(d->host, host, strlen(host) + 1);
	return 0;
}

/*
 * Writes d->port and d->canon ("host:port", "[v6]:port").  By hand: with
 * snprintf(3), 'dmu-certdb get' in a database of 100,000 devices, each of
 * whose lines comes here, took 10 to 25 % longer.
 */
static void
format_canon(struct dmu_device *d, long long port)
{
	size_t n, h = strlen(d->host), z = strlen(d->zone);
	long long v;
	char *p = d->canon;

	for (n = 1, v = port; v >= 10; v /= 10)
		n++;
	d->port[n] = '\0';
	for (v = port; n > 0; v /= 10)
		d->port[--n] = (char)('0' + v % 10);
	if (memchr(d->host, ':', h) != NULL)
		*p++ = '[';
	memcpy(p, d->host, h);
	p += h;
	if (z > 0) {
		*p++ = '%';
		memcpy(p, d->zone, z);
		p += z;
	}
	if (d->canon[0] == '[')
		*p++ = ']';
	*p++ = ':';
	memcpy(p, d->port, strlen(d->port) + 1);
}

/* see dmu.h */
int
dmu_device_parse(struct dmu_device *d, const char *s, char *err)
{
	char buf[DMU_DEVICE_MAX + 32], *host, *port;
	long long pv = 443;

	memset(d, 0, sizeof(*d));
	if (take_authority(d, buf, sizeof(buf), s, err) != 0 ||
	    split_host_port(buf, &host, &port, d->zone,
	    strncasecmp(s, "https://", 8) == 0, s, err) != 0)
		return -1;
	if (port != NULL && (!isdigit((unsigned char)*port) ||
	    dmu_parse_long(port, 1, 65535, &pv) != 0))
		return seterr(err, s, "port must be a number from 1 to 65535");
	if (canon_host(d, host, s, err) != 0)
		return -1;
	format_canon(d, pv);
	return 0;
}

/* see dmu.h */
void
dmu_device_authority(const struct dmu_device *d, char *out)
{
	if (d->zone[0] == '\0')
		memcpy(out, d->canon, strlen(d->canon) + 1);
	else
		snprintf(out, DMU_DEVICE_MAX + 1, "[%s]:%s", d->host, d->port);
}
