/* SPDX-License-Identifier: ISC */
/*
 * lock.c - the exclusive locks of the database and of the evidence: a
 * lock file beside the data, opened without following a symbolic link,
 * that only those who may write the data can open, and a wait for it that
 * ends.
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

/*
 * The data file of lockpath (its name without ".lock"), newly allocated,
 * or NULL; *mode gets the lock's mode: read and write for the owner, and
 * for group and others each only when they may write the data file.
 * flock(2) takes a lock through any descriptor, one opened read-only too:
 * whoever can open the lock file can block every writer, so only those
 * who could write the data anyway may open it at all.
 */
static char *
data_of(const char *lockpath, unsigned *mode)
{
	size_t n = strlen(lockpath);
	struct stat st;
	char *data;

	*mode = 0600;
	if (n <= 5 || strcmp(lockpath + n - 5, ".lock") != 0)
		return NULL;
	data = dmu_xstrdup(lockpath);
	data[n - 5] = '\0';
	if (stat(data, &st) != 0) {
		free(data);
		return NULL;
	}
	if (st.st_mode & S_IWGRP)
		*mode |= 0060;
	if (st.st_mode & S_IWOTH)
		*mode |= 0006;
	return data;
}

/* see dmu.h */
int
dmu_lock(const char *lockpath, long wait_ms, char *err)
{
	struct stat st;
	int64_t end = dmu_now_ms() + wait_ms;
	unsigned mode;
	char *data;
	int fd;

	/*
	 * O_NOFOLLOW: a link planted at the lock's name must not make us
	 * create or truncate a file elsewhere; O_NONBLOCK: nor may a fifo
	 * planted there make us wait.
	 */
	data = data_of(lockpath, &mode);
	fd = open(lockpath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK, (mode_t)mode);
	if (fd < 0) {
		if (errno == ELOOP)
			dmu_seterr(err, "cannot lock %.200s: it is a symbolic "
			    "link (refused)", lockpath);
		else
			dmu_seterr(err, "cannot lock %.200s: %s", lockpath,
			    strerror(errno));
		free(data);
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		dmu_seterr(err, "cannot lock %.200s: not a regular file",
		    lockpath);
		free(data);
		close(fd);
		return -1;
	}
	/*
	 * The data file's owner, group and writers, also for a lock file an
	 * older version made 0644; where we may not change it, it stays.
	 */
	(void)dmu_file_like(fd, data, mode);
	free(data);
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
