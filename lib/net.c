/* SPDX-License-Identifier: ISC */
/* net.c - TCP connections with time-outs. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* Connects fd to ai within timeout_ms; returns 0 or an errno value. */
static int
connect_wait(int fd, const struct addrinfo *ai, int timeout_ms)
{
	struct pollfd pfd = { fd, POLLOUT, 0 };
	socklen_t sl = sizeof(int);
	int e = 0, r;

	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	r = dmu_poll(&pfd, 1, timeout_ms);
	if (r < 0 && errno == EINTR)
		return EINTR;
	if (r == 0)
		return ETIMEDOUT;
	if (r < 0)
		return errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0)
		return errno;
	return e;
}

/*
 * Writes "a.b.c.d:port", "[v6]:port" or, for a link-local address,
 * "[v6%zone]:port" of ai into out (DMU_ADDR_MAX).
 */
static void
format_addr(char *out, const struct addrinfo *ai)
{
	char ip[INET6_ADDRSTRLEN + IF_NAMESIZE], *z;
	const void *a;
	unsigned port;

	if (ai->ai_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ai->ai_addr;

		a = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
		if (s6->sin6_scope_id != 0 &&
		    inet_ntop(AF_INET6, a, ip, INET6_ADDRSTRLEN) != NULL) {
			z = ip + strlen(ip);
			*z++ = '%';
			if (if_indextoname(s6->sin6_scope_id, z) == NULL)
				snprintf(z, IF_NAMESIZE, "%u",
				    (unsigned)s6->sin6_scope_id);
			snprintf(out, DMU_ADDR_MAX, "[%s]:%u", ip, port);
			return;
		}
	} else {
		const struct sockaddr_in *s4 = (const void *)ai->ai_addr;

		a = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	if (inet_ntop(ai->ai_family, a, ip, sizeof(ip)) == NULL)
		snprintf(ip, sizeof(ip), "?");
	snprintf(out, DMU_ADDR_MAX, ai->ai_family == AF_INET6 ? "[%s]:%u" :
	    "%s:%u", ip, port);
}

/*
 * A link-local address is reached through the interface its zone names:
 * sets it as the scope of the addresses in res.  Returns 0, or -1 with the
 * reason in err when this machine has no such interface.
 */
static int
set_zone(struct addrinfo *res, const char *zone, char *err)
{
	unsigned idx = if_nametoindex(zone);
	struct addrinfo *ai;

	if (idx == 0) {
		dmu_seterr(err, "cannot connect: no network interface '%s' "
		    "on this machine", zone);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (ai->ai_family == AF_INET6)
			((struct sockaddr_in6 *)(void *)ai->ai_addr)->
			    sin6_scope_id = idx;
	return 0;
}

/* see dmu.h */
int
dmu_tcp_connect(const struct dmu_device *d, int timeout_ms, char *addr,
    char *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	int64_t end = dmu_now_ms() + timeout_ms, left;
	int fd = -1, e = 0, one = 1, r, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (d->is_ip ? AI_NUMERICHOST : 0);
	if (dmu_stop) {
		dmu_seterr(err, "cannot connect: interrupted");
		return -1;
	}
	/*
	 * A resolver can take many seconds and no signal cuts it short; a
	 * collector has nothing unsaved while it resolves, so a stop signal
	 * may end it there.
	 */
	dmu_stop_exits(1);
	r = getaddrinfo(d->host, d->port, &hints, &res);
	dmu_stop_exits(0);
	if (r != 0) {
		dmu_seterr(err, "cannot resolve %.100s: %s", d->host,
		    r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -1;
	}
	if (d->zone[0] != '\0' && set_zone(res, d->zone, err) != 0) {
		freeaddrinfo(res);
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next)
		n++;
	for (ai = res; ai != NULL && !dmu_stop; ai = ai->ai_next, n--) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		/* Without it the handshake stalls on delayed ACKs. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/*
		 * Each address left gets an equal share of the time left, so
		 * that a black-holed first address cannot use up the time of
		 * a good second one.
		 */
		left = end - dmu_now_ms();
		if (left < 0)
			left = 0;
		if ((e = connect_wait(fd, ai, (int)(left / n))) == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && addr != NULL)
		format_addr(addr, ai);
	freeaddrinfo(res);
	if (fd < 0)
		dmu_seterr(err, "cannot connect: %s", dmu_stop ? "interrupted" :
		    e == ETIMEDOUT ? "timed out" : strerror(e));
	return fd;
}
