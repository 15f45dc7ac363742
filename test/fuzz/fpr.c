/* SPDX-License-Identifier: ISC */
/*
 * fpr.c - fuzzes dmu_fpr_parse() and the codecs around it.  The input is
 * the fingerprint text (cut at its first NUL byte); the raw input bytes
 * also go through the hex, colon and base64 encoders and back.
 *
 * A parsed fingerprint must come back the same from its hex, colon-hex and
 * "SHA256:" base64 forms (padded or not); a text that parses is the
 * encoding of what it parsed to (case, padding, blanks around it and
 * OpenSSL's "sha256 Fingerprint=" before it aside).
 */
#include <ctype.h>
#include <strings.h>

#include "fuzz.h"

static void
roundtrip(const uint8_t fp[32])
{
	char hex[65], colon[96], b64[64], text[80];
	uint8_t back[32];

	dmu_hex(hex, fp, 32);
	CHECK(strlen(hex) == 64, "hex length");
	CHECK(dmu_fpr_parse(hex, back) == 0 && memcmp(back, fp, 32) == 0,
	    "hex round trip: %s", hex);
	dmu_hex_colon(colon, fp, 32);
	CHECK(strlen(colon) == 95, "colon length");
	CHECK(dmu_fpr_parse(colon, back) == 0 && memcmp(back, fp, 32) == 0,
	    "colon round trip: %s", colon);
	dmu_b64_encode(b64, fp, 32);
	CHECK(strlen(b64) == 44 && b64[43] == '=', "b64 '%s'", b64);
	snprintf(text, sizeof(text), "SHA256:%s", b64);
	CHECK(dmu_fpr_parse(text, back) == 0 && memcmp(back, fp, 32) == 0,
	    "b64 round trip: %s", text);
	text[strlen(text) - 1] = '\0';
	CHECK(dmu_fpr_parse(text, back) == 0 && memcmp(back, fp, 32) == 0,
	    "unpadded b64 round trip: %s", text);
}

/* Raw bytes through the encoders and back. */
static void
codecs(const uint8_t *data, size_t size)
{
	char *hex, *colon, *b64;
	unsigned char *back;
	size_t i, n = size > 4096 ? 4096 : size;
	long k;

	if ((hex = malloc(2 * n + 1)) == NULL ||
	    (colon = malloc(n > 0 ? 3 * n : 1)) == NULL ||
	    (b64 = malloc(DMU_B64_LEN(n) + 1)) == NULL ||
	    (back = malloc(n + 1)) == NULL)
		abort();
	dmu_hex(hex, data, n);
	CHECK(strlen(hex) == 2 * n, "hex length");
	for (i = 0; i < n; i++)
		CHECK(hex[2 * i] == "0123456789abcdef"[data[i] >> 4] &&
		    hex[2 * i + 1] == "0123456789abcdef"[data[i] & 15],
		    "hex digit %zu", i);
	dmu_hex_colon(colon, data, n);
	CHECK(strlen(colon) == (n > 0 ? 3 * n - 1 : 0), "colon length");
	for (i = 0; i < n; i++)
		CHECK(toupper((unsigned char)hex[2 * i]) == colon[3 * i] &&
		    toupper((unsigned char)hex[2 * i + 1]) == colon[3 * i + 1] &&
		    (i + 1 == n || colon[3 * i + 2] == ':'), "colon %zu", i);
	dmu_b64_encode(b64, data, n);
	CHECK(strlen(b64) == DMU_B64_LEN(n), "b64 length");
	k = dmu_b64_decode(back, n, b64, strlen(b64));
	CHECK(k == (long)n && (n == 0 || memcmp(back, data, n) == 0),
	    "b64 round trip of %zu bytes: %ld", n, k);
	if (n > 0)
		CHECK(dmu_b64_decode(back, n - 1, b64, strlen(b64)) == -1,
		    "b64 decoded into too small a buffer");
	CHECK(dmu_ct_equal(back, data, n) == 1, "ct_equal of equal bytes");
	if (n > 0) {
		back[size % n] ^= (unsigned char)(1 + data[0] % 255);
		CHECK(dmu_ct_equal(back, data, n) == 0,
		    "ct_equal of unequal bytes");
	}
	free(hex);
	free(colon);
	free(b64);
	free(back);
}

/*
 * The fingerprint itself in a text that parsed: blanks and a line end
 * around it, and OpenSSL's "sha256 Fingerprint=" before it, dropped; *b64
 * says whether it is the base64 after "SHA256:".  Sets *n to its length.
 */
static const char *
core(const char *s, size_t *n, int *b64)
{
	s += strspn(s, " \t");
	*n = strlen(s);
	while (*n > 0 && strchr(" \t\r\n", s[*n - 1]) != NULL)
		(*n)--;
	*b64 = *n >= 7 && strncasecmp(s, "sha256:", 7) == 0;
	if (*b64) {
		*n -= 7;
		return s + 7;
	}
	if (*n >= 19 && strncasecmp(s, "sha256 fingerprint=", 19) == 0) {
		*n -= 19;
		return s + 19;
	}
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fz_strdup(data, size), hex[65], colon[96], b64[48];
	const char *c;
	uint8_t fp[32], fp2[32];
	size_t n, i;
	int isb64;

	memset(fp, 0xa5, sizeof(fp));
	if (dmu_fpr_parse(s, fp) == 0) {
		roundtrip(fp);
		CHECK(dmu_fpr_parse(s, fp2) == 0 && memcmp(fp, fp2, 32) == 0,
		    "not deterministic");
		c = core(s, &n, &isb64);
		if (isb64) {
			dmu_b64_encode(b64, fp, 32);
			CHECK(strncmp(c, b64, 43) == 0 &&
			    (n == 43 || (n == 44 && c[43] == '=')),
			    "'%s' is not the base64 of its fingerprint", s);
		} else if (n == 64) {
			dmu_hex(hex, fp, 32);
			for (i = 0; i < 64; i++)
				CHECK(tolower((unsigned char)c[i]) == hex[i],
				    "'%s' is not the hex of its fingerprint",
				    s);
		} else {
			CHECK(n == 95, "parsed a text of %zu bytes", n);
			dmu_hex_colon(colon, fp, 32);
			for (i = 0; i < 95; i++)
				CHECK(toupper((unsigned char)c[i]) == colon[i],
				    "'%s' is not the colon hex of its "
				    "fingerprint", s);
		}
	}
	free(s);
	codecs(data, size);
	return 0;
}
