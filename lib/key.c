/* key.c - the API key: from a file or the environment, never from argv. */
#include <sys/random.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmu.h"

static void
mask(struct dmu_key *k, const char *b64)
{
	size_t i, n = strlen(b64);
	ssize_t got = getrandom(k->pad, n, 0);
	int64_t t = dmu_now_ms();

	/* Without randomness the pad still keeps the key out of sight. */
	for (i = got < 0 ? 0 : (size_t)got; i < n; i++)
		k->pad[i] = (unsigned char)(t >> (i % 8 * 8)) ^
		    (unsigned char)(i * 167 + 13);
	for (i = 0; i < n; i++)
		k->masked[i] = (unsigned char)b64[i] ^ k->pad[i];
	k->len = n;
}

/* see dmu.h */
int
dmu_key_load(struct dmu_key *k, const char *file, char *warning, char *err)
{
	char key[DMU_KEY_MAX + 2], b64[DMU_KEY_B64MAX], *env;
	struct stat st;
	size_t n, got = 0;
	ssize_t nr;
	int fd, rc = DMU_OK;

	warning[0] = '\0';
	key[0] = '\0';
	if (file == NULL && (env = getenv("DMU_API_KEY_FILE")) != NULL &&
	    *env != '\0')
		file = env;
	if (file != NULL) {
		/* Plain read(2): no stdio buffer keeps a copy of the key. */
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
			snprintf(err, DMU_ERRLEN, "cannot read key file "
			    "%.200s: %s", file, strerror(errno));
			return DMU_EFAIL;
		}
		if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
			snprintf(warning, DMU_ERRLEN, "warning: key file "
			    "%.200s is readable by group or others", file);
		while (got < sizeof(key) - 1 && (nr = read(fd, key + got,
		    sizeof(key) - 1 - got)) != 0) {
			if (nr < 0 && errno == EINTR)
				continue;
			if (nr < 0) {
				snprintf(err, DMU_ERRLEN, "cannot read key "
				    "file %.200s: %s", file, strerror(errno));
				close(fd);
				dmu_wipe(key, sizeof(key));
				return DMU_EFAIL;
			}
			got += (size_t)nr;
			if (memchr(key, '\n', got) != NULL)
				break;
		}
		close(fd);
		key[got] = '\0';
	} else if ((env = getenv("DMU_API_KEY")) != NULL) {
		snprintf(key, sizeof(key), "%s", env);
		/* Gone from our environment (and /proc/PID/environ) too. */
		dmu_wipe(env, strlen(env));
		unsetenv("DMU_API_KEY");
	} else {
		snprintf(err, DMU_ERRLEN, "no API key: give -k FILE, or set "
		    "DMU_API_KEY_FILE or DMU_API_KEY");
		return DMU_EUSAGE;
	}
	n = strcspn(key, "\r\n");
	if (key[n] == '\0' && n > DMU_KEY_MAX) {
		snprintf(err, DMU_ERRLEN, "API key longer than %d bytes",
		    DMU_KEY_MAX);
		rc = DMU_EUSAGE;
	} else if (n == 0) {
		snprintf(err, DMU_ERRLEN, "the API key is empty");
		rc = DMU_EUSAGE;
	} else {
		dmu_b64_encode(b64, key, n);
		mask(k, b64);
	}
	dmu_wipe(key, sizeof(key));
	dmu_wipe(b64, sizeof(b64));
	return rc;
}

/* see dmu.h */
void
dmu_key_reveal(const struct dmu_key *k, char *b64)
{
	size_t i;

	for (i = 0; i < k->len; i++)
		b64[i] = (char)(k->masked[i] ^ k->pad[i]);
	b64[k->len] = '\0';
}

/* see dmu.h */
void
dmu_key_wipe(struct dmu_key *k)
{
	dmu_wipe(k, sizeof(*k));
}
