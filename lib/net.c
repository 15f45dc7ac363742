/* net.c - TCP connections with time-outs. */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
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

/* see dmu.h */
int
dmu_tcp_connect(const struct dmu_device *d, int timeout_ms, char *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	int fd = -1, e = 0, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (d->is_ip ? AI_NUMERICHOST : 0);
	if ((r = getaddrinfo(d->host, d->port, &hints, &res)) != 0) {
		snprintf(err, DMU_ERRLEN, "cannot resolve %.100s: %s", d->host,
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		/* Without it the handshake stalls on delayed ACKs. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((e = connect_wait(fd, ai, timeout_ms)) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		snprintf(err, DMU_ERRLEN, "cannot connect: %s",
		    e == ETIMEDOUT ? "timed out" : strerror(e));
	return fd;
}
