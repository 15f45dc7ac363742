/* SPDX-License-Identifier: ISC */
/* codec.c - hex, base64, fingerprints, SHA-256. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "dmu.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* see dmu.h */
void
dmu_hex(char *out, const void *in, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < n; i++) {
		*out++ = hx[p[i] >> 4];
		*out++ = hx[p[i] & 15];
	}
	*out = '\0';
}

/* see dmu.h */
void
dmu_hex_colon(char *out, const void *in, size_t n)
{
	static const char hx[] = "0123456789ABCDEF";
	const unsigned char *p = in;
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			*out++ = ':';
		*out++ = hx[p[i] >> 4];
		*out++ = hx[p[i] & 15];
	}
	*out = '\0';
}

/* see dmu.h */
char *
dmu_fpr_colon(char *out, const char *hex)
{
	uint8_t b[32];

	if (dmu_fpr_parse(hex, b) != 0)
		snprintf(out, DMU_FPR_COLON, "%.95s", hex);
	else
		dmu_hex_colon(out, b, 32);
	return out;
}

/* see dmu.h */
void
dmu_b64_encode(char *out, const void *in, size_t n)
{
	const unsigned char *p = in;
	uint32_t v;

	for (; n >= 3; n -= 3, p += 3) {
		v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = b64[(v >> 6) & 63];
		*out++ = b64[v & 63];
	}
	if (n > 0) {
		v = (uint32_t)p[0] << 16 | (n > 1 ? (uint32_t)p[1] << 8 : 0);
		*out++ = b64[v >> 18];
		*out++ = b64[(v >> 12) & 63];
		*out++ = n > 1 ? b64[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int
b64val(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* see dmu.h */
long
dmu_b64_decode(void *out, size_t outsz, const char *in, size_t n)
{
	unsigned char *o = out;
	size_t i, k, len = 0;
	int v[4], pad;

	if (n % 4 != 0)
		return -1;
	for (i = 0; i < n; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64val(in[i + k])) < 0)
				return -1;
		}
		/* Canonical form only: unused bits of the last digit are 0. */
		if ((pad == 1 && (v[2] & 3)) || (pad == 2 && (v[1] & 15)))
			return -1;
		if (len + 3 - (size_t)pad > outsz)
			return -1;
		o[len++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			o[len++] = (unsigned char)((v[1] & 15) << 4 | v[2] >> 2);
		if (pad < 1)
			o[len++] = (unsigned char)((v[2] & 3) << 6 | v[3]);
	}
	return (long)len;
}

/* see dmu.h */
int
dmu_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* see dmu.h */
int
dmu_is_control(const unsigned char *c, size_t n)
{
	return (n == 1 && (c[0] < 0x20 || c[0] == 0x7f)) ||
	    (n == 2 && c[0] == 0xc2 && c[1] < 0xa0);
}

/*
 * dmu_scrub() and dmu_scrub_line(): with fold, white space (and a control
 * that is white space: tab, line ends) collapses to one space, none at the
 * ends.  Text that does not fit is cut and ends in "...".
 */
static char *
scrub(char *out, size_t outsz, const char *in, size_t n, int fold)
{
	size_t i, o = 0, room = outsz - 1, space = 0;
	char ch;

	if (outsz == 0)
		return out;
	for (i = 0; i < n; i++) {
		ch = in[i] >= 0x20 && in[i] < 0x7f ? in[i] : '?';
		if (fold && (in[i] == ' ' || (in[i] >= '\t' &&
		    in[i] <= '\r'))) {
			space = o > 0;
			continue;
		}
		if (o + space + 1 > room)
			break;
		if (space)
			out[o++] = ' ';
		space = 0;
		out[o++] = ch;
	}
	if (i < n && room >= 3) {
		/* Cut: the last three places say so. */
		o = o + 3 > room ? room - 3 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* see dmu.h */
char *
dmu_scrub(char *out, size_t outsz, const char *in, size_t n)
{
	return scrub(out, outsz, in, n, 0);
}

/* see dmu.h */
const char *
dmu_echo(const char *s)
{
	static char buf[DMU_ECHO_MAX + 1];

	return dmu_scrub(buf, sizeof(buf), s, strlen(s));
}

/* see dmu.h */
char *
dmu_scrub_line(char *out, size_t outsz, const char *in, size_t n)
{
	return scrub(out, outsz, in, n, 1);
}

/* "SHA256:" and 43 or 44 base64 characters (OpenSSH drops the '='). */
static int
fpr_b64(const char *s, size_t n, uint8_t out[32])
{
	char buf[44];

	if (n != 43 && n != 44)
		return -1;
	memcpy(buf, s, n);
	buf[43] = n == 43 ? '=' : buf[43];
	return dmu_b64_decode(out, 32, buf, 44) == 32 ? 0 : -1;
}

/* 64 hex digits, or 32 pairs with ':' between them, any case. */
static int
fpr_hex(const char *s, size_t n, uint8_t out[32])
{
	size_t i;
	int colons, hi, lo;

	if (n == 64)
		colons = 0;
	else if (n == 95)
		colons = 1;
	else
		return -1;
	for (i = 0; i < 32; i++) {
		if (colons && i > 0 && *s++ != ':')
			return -1;
		if ((hi = dmu_hexval(s[0])) < 0 || (lo = dmu_hexval(s[1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	return 0;
}

/* see dmu.h */
int
dmu_fpr_parse(const char *s, uint8_t out[32])
{
	static const char openssl[] = "sha256 fingerprint=";
	size_t n;

	/* What a person pastes may come with blanks or a newline around. */
	s += strspn(s, " \t");
	n = strlen(s);
	while (n > 0 && strchr(" \t\r\n", s[n - 1]) != NULL)
		n--;
	if (n >= 7 && strncasecmp(s, "sha256:", 7) == 0)
		return fpr_b64(s + 7, n - 7, out);
	/* openssl x509 -fingerprint -sha256: "sha256 Fingerprint=AA:..." */
	if (n >= sizeof(openssl) - 1 &&
	    strncasecmp(s, openssl, sizeof(openssl) - 1) == 0) {
		s += sizeof(openssl) - 1;
		n -= sizeof(openssl) - 1;
	}
	return fpr_hex(s, n, out);
}

/* see dmu.h */
void
dmu_sha256(uint8_t out[32], const void *in, size_t n)
{
	br_sha256_context sc;

	br_sha256_init(&sc);
	br_sha256_update(&sc, in, n);
	br_sha256_out(&sc, out);
}

/* see dmu.h */
int
dmu_ct_equal(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	unsigned d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (unsigned)(x[i] ^ y[i]);
	return d == 0;
}
