/* SPDX-License-Identifier: ISC */
/*
 * bench-time OUT CMD [ARG ...] - runs CMD and appends one line to OUT:
 * "WALL USER SYS MAXRSS STATUS", times in microseconds, the peak resident
 * set in KiB, the exit status.  Like GNU time -f '%e %U %S %M', but with
 * microseconds instead of hundredths: a pinned request takes milliseconds.
 * CPU and peak RSS include the descendants that CMD waited for.
 */
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long
tv_us(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

int
main(int argc, char **argv)
{
	struct rusage ru;
	long long t0, t1;
	FILE *out;
	pid_t pid;
	int st;

	if (argc < 3) {
		fputs("usage: bench-time OUT CMD [ARG ...]\n", stderr);
		return 2;
	}
	if ((out = fopen(argv[1], "a")) == NULL) {
		perror(argv[1]);
		return 2;
	}
	t0 = now_us();
	if ((pid = fork()) < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) < 0) {
		perror("wait4");
		return 2;
	}
	t1 = now_us();
	fprintf(out, "%lld %lld %lld %ld %d\n", t1 - t0, tv_us(ru.ru_utime),
	    tv_us(ru.ru_stime), ru.ru_maxrss,
	    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return fclose(out) == 0 ? 0 : 2;
}
