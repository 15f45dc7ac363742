/* SPDX-License-Identifier: ISC */
/*
 * replay.c - runs a fuzz harness without libFuzzer: LLVMFuzzerTestOneInput
 * over every file given, and every regular file in the directories given
 * (not recursively, in name order).  Prints "replayed N inputs" and exits
 * 0; a failed check or a sanitizer report ends the process with an error
 * status, after the name of the input is printed.
 */
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

/* Present when linked with a sanitizer runtime (GCC or Clang). */
extern void __sanitizer_set_death_callback(void (*)(void))
    __attribute__((weak));

static const char *current;

static void
say_current(void)
{
	if (current != NULL) {
		(void)!write(2, "replay: failed on ", 18);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
}

static void
on_abort(int sig)
{
	say_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Runs one file; returns 0, or -1 when it cannot be read. */
static int
run_file(const char *path)
{
	unsigned char *buf, *exact;
	size_t len = 0, cap = 4096, k;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if ((buf = malloc(cap)) == NULL)
		abort();
	while ((k = fread(buf + len, 1, cap - len, f)) > 0) {
		len += k;
		if (len == cap && (buf = realloc(buf, cap *= 2)) == NULL)
			abort();
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	/* An exact-size copy, as libFuzzer gives: overreads are caught. */
	if ((exact = malloc(len ? len : 1)) == NULL)
		abort();
	if (len > 0)
		memcpy(exact, buf, len);
	free(buf);
	current = path;
	(void)LLVMFuzzerTestOneInput(exact, len);
	current = NULL;
	free(exact);
	return 0;
}

static int
dirent_name_cmp(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int
main(int argc, char *argv[])
{
	struct dirent **ent;
	struct stat st;
	char *path;
	long count = 0;
	int i, j, n, bad = 0;
	size_t plen;

	signal(SIGABRT, on_abort);
	signal(SIGSEGV, on_abort);
	if (__sanitizer_set_death_callback != NULL)
		__sanitizer_set_death_callback(say_current);
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE ...\n", argv[0]);
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (run_file(argv[i]) != 0)
				bad = 1;
			else
				count++;
			continue;
		}
		if ((n = scandir(argv[i], &ent, NULL, dirent_name_cmp)) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
			    strerror(errno));
			bad = 1;
			continue;
		}
		for (j = 0; j < n; j++) {
			if (ent[j]->d_name[0] == '.') {
				free(ent[j]);
				continue;
			}
			plen = strlen(argv[i]) + strlen(ent[j]->d_name) + 2;
			if ((path = malloc(plen)) == NULL)
				abort();
			snprintf(path, plen, "%s/%s", argv[i], ent[j]->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) != 0)
					bad = 1;
				else
					count++;
			}
			free(path);
			free(ent[j]);
		}
		free(ent);
	}
	printf("replayed %ld inputs\n", count);
	return bad;
}
