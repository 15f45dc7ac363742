/* SPDX-License-Identifier: ISC */
/*
 * clock-hook.c - a test hook for the clock, linked only into the programs
 * that make check-time64 builds (never into an installed one), with
 * -Wl,--wrap=__time64,--wrap=__clock_gettime64: glibc's names for time()
 * and clock_gettime() on a 32-bit system built with -D_TIME_BITS=64.
 * libfaketime cannot stand in: it knows only the 32-bit names.
 *
 * DMU_TEST_CLOCK_SHIFT seconds are added to every clock the program reads,
 * the wall clock and the monotonic one alike, so that time-outs and
 * back-off deadlines are computed with values past 2^31 seconds too.
 */
#include <stdlib.h>
#include <time.h>

time_t __real___time64(time_t *);
int __real___clock_gettime64(clockid_t, struct timespec *);
time_t __wrap___time64(time_t *);
int __wrap___clock_gettime64(clockid_t, struct timespec *);

static time_t
shift(void)
{
	const char *s = getenv("DMU_TEST_CLOCK_SHIFT");

	return s != NULL ? (time_t)strtoll(s, NULL, 10) : 0;
}

time_t
__wrap___time64(time_t *t)
{
	time_t now = __real___time64(NULL) + shift();

	if (t != NULL)
		*t = now;
	return now;
}

int
__wrap___clock_gettime64(clockid_t id, struct timespec *ts)
{
	int rc = __real___clock_gettime64(id, ts);

	if (rc == 0)
		ts->tv_sec += shift();
	return rc;
}
