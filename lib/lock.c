/* SPDX-License-Identifier: ISC */
/*
 * lock.c - the exclusive locks of the database and of the evidence: a
 * lock file beside the data, opened without following a symbolic link,
 * and a wait for it that ends.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/* see dmu.h */
long
dmu_lock_timeout_ms(void)
{
	const char *e = getenv("DMU_LOCK_TIMEOUT");
	long long s;

	if (e != NULL && dmu_parse_long(e, 0, 3600, &s) == 0)
		return (long)s * 1000;
	return 30000;
}

/* see dmu.h */
int
dmu_lock(const char *lockpath, long wait_ms, char *err)
{
	struct stat st;
	int64_t end = dmu_now_ms() + wait_ms;
	int fd;

	/*
	 * O_NOFOLLOW: a link planted at the lock's name must not make us
	 * create or truncate a file elsewhere; O_NONBLOCK: nor may a fifo
	 * planted there make us wait.
	 */
	fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK, 0644);
	if (fd < 0) {
		if (errno == ELOOP)
			dmu_seterr(err, "cannot lock %.200s: it is a symbolic "
			    "link (refused)", lockpath);
		else
			dmu_seterr(err, "cannot lock %.200s: %s", lockpath,
			    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		dmu_seterr(err, "cannot lock %.200s: not a regular file",
		    lockpath);
		close(fd);
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK && errno != EINTR) {
			dmu_seterr(err, "cannot lock %.200s: %s", lockpath,
			    strerror(errno));
			close(fd);
			return -1;
		}
		if (dmu_now_ms() >= end) {
			dmu_seterr(err, "cannot lock %.200s: another writer "
			    "has held it for %ld s (DMU_LOCK_TIMEOUT)",
			    lockpath, wait_ms / 1000);
			close(fd);
			return -1;
		}
		/* A short poll: flock(2) itself cannot wait with a bound. */
		usleep(20000);
	}
	return fd;
}
