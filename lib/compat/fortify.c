/* SPDX-License-Identifier: ISC */
/*
 * fortify.c - the checked copies that Debian's libbearssl.a calls, for the
 * static build with musl, which has none: the archive is compiled with
 * _FORTIFY_SOURCE.  As glibc's do, they abort when the destination is
 * smaller than the copy.  Linked into build/static only.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__memcpy_chk(void *, const void *, size_t, size_t);
void *__memmove_chk(void *, const void *, size_t, size_t);
void *__memset_chk(void *, int, size_t, size_t);

static void
overflow(void)
{
	static const char msg[] = "*** buffer overflow detected ***: "
	    "terminated\n";

	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to say */
	}
	abort();
}

void *
__memcpy_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		overflow();
	return memcpy(dst, src, n);
}

void *
__memmove_chk(void *dst, const void *src, size_t n, size_t dstlen)
{
	if (n > dstlen)
		overflow();
	return memmove(dst, src, n);
}

void *
__memset_chk(void *dst, int c, size_t n, size_t dstlen)
{
	if (n > dstlen)
		overflow();
	return memset(dst, c, n);
}
