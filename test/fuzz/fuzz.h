/* SPDX-License-Identifier: ISC */
/*
 * fuzz.h - what the fuzz harnesses share: the libFuzzer entry point, a
 * check that aborts with a message (so that libFuzzer and test/fuzz/replay
 * both see a crash), and tests of the strings the library hands back.
 */
#ifndef DMU_FUZZ_H
#define DMU_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "dmu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__,	\
		    __LINE__, #cond);					\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* s is NUL-terminated within n bytes. */
static inline int
fz_terminated(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

/* s holds printable ASCII only (what a terminal may get raw). */
static inline int
fz_printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

/* s is a timestamp as the library writes them: YYYY-MM-DDTHH:MM:SSZ. */
static inline int
fz_timestamp(const char *s)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:ddZ";
	size_t i;

	for (i = 0; pat[i] != '\0'; i++)
		if (pat[i] == 'd' ? s[i] < '0' || s[i] > '9' : s[i] != pat[i])
			return 0;
	return s[i] == '\0';
}

/* An error message: set, terminated in DMU_ERRLEN, printable. */
static inline int
fz_errmsg(const char *err)
{
	return fz_terminated(err, DMU_ERRLEN) && err[0] != '\0' &&
	    fz_printable(err);
}

/* s is well-formed UTF-8 (RFC 3629) without C0, DEL or C1 controls. */
static inline int
fz_utf8_clean(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	unsigned long cp;
	size_t n, i;

	while (*s != '\0') {
		if (*s < 0x80) {
			if (*s < 0x20 || *s == 0x7f)
				return 0;
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf)
			n = 2, cp = *s & 0x1f;
		else if (*s >= 0xe0 && *s <= 0xef)
			n = 3, cp = *s & 0x0f;
		else if (*s >= 0xf0 && *s <= 0xf4)
			n = 4, cp = *s & 0x07;
		else
			return 0;
		for (i = 1; i < n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp < 0xa0))
			return 0;
		s += n;
	}
	return 1;
}

/* A NUL-terminated copy of the input, cut at its first NUL byte. */
static inline char *
fz_strdup(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (s == NULL)
		abort();
	if (size > 0)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static char *fz_path;

static inline void
fz_cleanup(void)
{
	if (fz_path != NULL)
		unlink(fz_path);
}

/*
 * Writes the n bytes at p to the harness's scratch file and returns its
 * path: one per process, named after name, in $TMPDIR, else /dev/shm
 * (memory rather than a disk when there is a choice), else /tmp; removed
 * at exit.
 */
static inline const char *
fz_put_file(const char *name, const void *p, size_t n)
{
	int fd;

	if (fz_path == NULL) {
		const char *t = getenv("TMPDIR");
		size_t sz;

		if (t == NULL || *t == '\0')
			t = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		sz = strlen(t) + strlen(name) + 64;
		if ((fz_path = malloc(sz)) == NULL)
			abort();
		snprintf(fz_path, sz, "%s/dmu-fuzz-%s.%ld", t, name,
		    (long)getpid());
		atexit(fz_cleanup);
	}
	fd = open(fz_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0, "cannot write %s", fz_path);
	CHECK(n == 0 || write(fd, p, n) == (ssize_t)n, "short write");
	close(fd);
	return fz_path;
}

#endif
