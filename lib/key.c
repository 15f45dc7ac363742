/* SPDX-License-Identifier: ISC */
/* key.c - the API key: from a file or the environment, never from argv. */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

/*
 * The page that holds the key: the key as read and its base64 form, and
 * nothing else, so that it can be kept out of core dumps as a whole.
 */
struct keypage {
	char raw[DMU_KEY_MAX + 2];
	char b64[DMU_KEY_B64MAX];
};

/*
 * Maps the key's page, excluded from core dumps, and makes the process
 * non-dumpable while it exists (which also refuses ptrace to other users).
 * Returns NULL when no page can be had.
 */
static struct keypage *
keypage_new(size_t *sz)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *p;

	*sz = pg > 0 && (size_t)pg >= sizeof(struct keypage) ? (size_t)pg :
	    sizeof(struct keypage);
	p = mmap(NULL, *sz, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, *sz, MADV_DONTDUMP);
	(void)mlock(p, *sz);	/* out of swap too, where the limit allows */
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	return p;
}

/*
 * The length of the key's first line, read byte by byte: no vectorized
 * strcspn(3) gets to keep pieces of it in its registers.
 */
static size_t
line_len(const char *s)
{
	const volatile char *p = s;
	size_t n = 0;

	while (p[n] != '\0' && p[n] != '\r' && p[n] != '\n')
		n++;
	return n;
}

/* Reads the first line of file into raw (at most size - 1 bytes). */
static int
read_file(const char *file, char *raw, size_t size, char *warning,
    char *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t nr;
	int fd;

	/* Plain read(2): no stdio buffer keeps a copy of the key. */
	if ((fd = dmu_open_file(file, O_RDONLY, 0, "read key file", err)) < 0)
		return DMU_EFAIL;
	/* Any bit for group or others: write or execute leaks it too. */
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
		dmu_seterr(warning, "warning: key file %.200s is open to "
		    "group or others (mode %04o)", file,
		    (unsigned)(st.st_mode & 07777));
	while (got < size - 1 && (nr = read(fd, raw + got, size - 1 - got))
	    != 0) {
		if (nr < 0 && errno == EINTR)
			continue;
		if (nr < 0) {
			dmu_seterr(err, "cannot read key file %.200s: %s",
			    file, strerror(errno));
			close(fd);
			return DMU_EFAIL;
		}
		got += (size_t)nr;
		if (memchr(raw, '\n', got) != NULL)
			break;
	}
	close(fd);
	raw[got] = '\0';
	return DMU_OK;
}

/*
 * What looks wrong with the n bytes of key raw: DMU_KEY_* bits.  The
 * device shows the key as text (NAME:SECRET) and dmu encodes it; a key
 * that is already the base64 of such a text, or a whole "X-Api-Key:"
 * header line, is refused by the device with a bare 401.  scratch (at
 * least n bytes, in the key's page) holds the decoded text for a moment
 * and is wiped.
 */
static unsigned
doubts(const char *raw, size_t n, char *scratch, size_t scratchsz)
{
	static const char hdr[] = "x-api-key:";
	unsigned d = 0;
	long m, i, colon = -1;
	size_t k, h;

	for (k = 0; k + sizeof(hdr) - 1 <= n && !d; k++) {
		for (h = 0; h < sizeof(hdr) - 1; h++)
			if (raw[k + h] != hdr[h] && raw[k + h] !=
			    (char)(hdr[h] - ('a' - 'A')))
				break;
		if (h == sizeof(hdr) - 1)
			d |= DMU_KEY_HEADER;
	}
	if ((m = dmu_b64_decode(scratch, scratchsz, raw, n)) >= 3) {
		for (i = 0; i < m; i++) {
			if (scratch[i] < '!' || scratch[i] > '~')
				break;
			if (scratch[i] == ':' && colon < 0)
				colon = i;
		}
		if (i == m && colon > 0 && colon < m - 1)
			d |= DMU_KEY_ENCODED;
	}
	explicit_bzero(scratch, scratchsz);
	return d;
}

/* see dmu.h */
int
dmu_key_load(struct dmu_key *k, const char *file, char *warning, char *err)
{
	struct keypage *kp;
	char *env;
	size_t n;
	int rc = DMU_OK;

	memset(k, 0, sizeof(*k));
	warning[0] = '\0';
	if (file != NULL)
		snprintf(k->from, sizeof(k->from), "key file %.200s (-k)",
		    file);
	else if ((env = getenv("DMU_API_KEY_FILE")) != NULL &&
	    *env != '\0') {
		file = env;
		snprintf(k->from, sizeof(k->from), "key file %.200s "
		    "($DMU_API_KEY_FILE)", file);
	} else
		snprintf(k->from, sizeof(k->from), "$DMU_API_KEY");
	env = file == NULL ? getenv("DMU_API_KEY") : NULL;
	if (file == NULL && env == NULL) {
		dmu_seterr(err, "no API key: give -k FILE, or set "
		    "DMU_API_KEY_FILE or DMU_API_KEY");
		return DMU_EUSAGE;
	}
	if ((kp = keypage_new(&k->size)) == NULL) {
		dmu_seterr(err, "cannot map a page for the API key: %s",
		    strerror(errno));
		return DMU_EFAIL;
	}
	k->page = kp;
	if (file != NULL) {
		rc = read_file(file, kp->raw, sizeof(kp->raw), warning, err);
	} else {
		n = strlen(env);
		dmu_secret_copy(kp->raw, env, n < sizeof(kp->raw) - 1 ? n :
		    sizeof(kp->raw) - 1);
		/* Gone from our environment (and /proc/PID/environ) too. */
		explicit_bzero(env, n);
		unsetenv("DMU_API_KEY");
	}
	n = line_len(kp->raw);
	if (rc != DMU_OK) {
		/* read_file() said why. */
	} else if (kp->raw[n] == '\0' && n > DMU_KEY_MAX) {
		dmu_seterr(err, "API key longer than %d bytes", DMU_KEY_MAX);
		rc = DMU_EUSAGE;
	} else if (n == 0) {
		dmu_seterr(err, "the API key is empty");
		rc = DMU_EUSAGE;
	} else {
		k->doubts = doubts(kp->raw, n, kp->b64, sizeof(kp->b64));
		dmu_b64_encode(kp->b64, kp->raw, n);
		k->len = DMU_B64_LEN(n);
	}
	explicit_bzero(kp->raw, sizeof(kp->raw));
	if (rc != DMU_OK)
		dmu_key_wipe(k);
	return rc;
}

/* see dmu.h */
void
dmu_key_reveal(const struct dmu_key *k, char *b64)
{
	const struct keypage *kp = k->page;

	dmu_secret_copy(b64, kp->b64, k->len);
	b64[k->len] = '\0';
}

/* see dmu.h */
void
dmu_key_wipe(struct dmu_key *k)
{
	if (k->page == NULL)
		return;
	explicit_bzero(k->page, k->size);
	munmap(k->page, k->size);
	k->page = NULL;
	k->len = 0;
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}
