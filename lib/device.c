/* device.c - device addresses and their canonical host:port form. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dmu.h"

/* Says why s is no device, shown without a control character; -1. */
static int
seterr(char *err, const char *s, const char *why)
{
	char safe[81];

	dmu_seterr(err, "invalid device '%s': %s", dmu_scrub(safe,
	    sizeof(safe), s, 80), why);
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

/* see dmu.h */
int
dmu_device_parse(struct dmu_device *d, const char *s, char *err)
{
	char buf[DMU_DEVICE_MAX + 32], *host, *port = NULL, *p;
	unsigned char a6[16];
	long long pv = 443, v;
	size_t n;
	int v6;

	memset(d, 0, sizeof(*d));
	if (strncasecmp(s, "https://", 8) == 0)
		s += 8;
	else if (strstr(s, "://") != NULL)
		return seterr(err, s, "only https:// URLs are supported");
	n = strcspn(s, "/?#");
	if (n == 0)
		return seterr(err, s, "empty host");
	if (n >= sizeof(buf))
		return seterr(err, s, "too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (strchr(buf, '@') != NULL)
		return seterr(err, s, "user information is not supported");
	for (p = buf; *p; p++)
		if (isspace((unsigned char)*p) || !isprint((unsigned char)*p))
			return seterr(err, s, "white space or control character");

	host = buf;
	if (buf[0] == '[') {
		if ((p = strchr(buf, ']')) == NULL)
			return seterr(err, s, "missing ']'");
		*p++ = '\0';
		host = buf + 1;
		if (*p == ':')
			port = p + 1;
		else if (*p != '\0')
			return seterr(err, s, "junk after ']'");
		if (inet_pton(AF_INET6, host, a6) != 1)
			return seterr(err, s, "not an IPv6 address");
	} else if ((p = strchr(buf, ':')) != NULL) {
		if (strchr(p + 1, ':') != NULL) {
			/* Several colons and no brackets: a bare IPv6 address. */
			if (inet_pton(AF_INET6, buf, a6) != 1)
				return seterr(err, s,
				    "IPv6 addresses with a port need brackets");
		} else {
			*p = '\0';
			port = p + 1;
		}
	}
	if (port != NULL && (!isdigit((unsigned char)*port) ||
	    dmu_parse_long(port, 1, 65535, &pv) != 0))
		return seterr(err, s, "port must be a number from 1 to 65535");

	if (strchr(host, ':') != NULL) {
		if (inet_pton(AF_INET6, host, a6) != 1)
			return seterr(err, s, "not an IPv6 address");
		inet_ntop(AF_INET6, a6, d->host, sizeof(d->host));
		d->is_ip = 1;
	} else {
		unsigned char a4[4];

		if (strlen(host) > DMU_HOST_MAX)
			return seterr(err, s, "host name too long");
		for (p = host; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		if (inet_pton(AF_INET, host, a4) == 1) {
			inet_ntop(AF_INET, a4, d->host, sizeof(d->host));
			d->is_ip = 1;
		} else if (odd_ipv4(host, err) || trailing_dot(host, err)) {
			return -1;
		} else if (valid_name(host)) {
			/* At most DMU_HOST_MAX bytes: checked above. */
			memcpy(d->host, host, strlen(host) + 1);
		} else
			return seterr(err, s, "not a host name or address");
	}
	/* By hand, not snprintf: every line of a database comes here. */
	for (n = 1, v = pv; v >= 10; v /= 10)
		n++;
	d->port[n] = '\0';
	for (v = pv; n > 0; v /= 10)
		d->port[--n] = (char)('0' + v % 10);
	n = strlen(d->host);
	v6 = memchr(d->host, ':', n) != NULL;
	p = d->canon;
	if (v6)
		*p++ = '[';
	memcpy(p, d->host, n);
	p += n;
	if (v6)
		*p++ = ']';
	*p++ = ':';
	memcpy(p, d->port, strlen(d->port) + 1);
	return 0;
}
