// SPDX-License-Identifier: BSD-2-Clause
/*
 * Escaping for text and JSON output.  One reversible escape layer (C-like
 * "\\xNN" and "\\\\") covers control characters and invalid UTF-8, so a file
 * name can neither break a line nor make the JSON invalid.
 */
#include "output.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at P (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f))
			return 0; /* overlong, surrogates */
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

char *sz_escape(const char *name, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)name;
	size_t o = 0;

	if (!outsz)
		return out;
	while (*p) {
		size_t n = utf8_len(p);
		char tmp[5];
		size_t tl;

		if (n == 1 && *p >= 0x20 && *p < 0x7f && *p != '\\') {
			tmp[0] = (char)*p;
			tl = 1;
		} else if (*p == '\\') {
			tmp[0] = '\\';
			tmp[1] = '\\';
			tl = 2;
			n = 1;
		} else if (n > 1) {
			memcpy(tmp, p, n);
			tl = n;
		} else {
			tmp[0] = '\\';
			tmp[1] = 'x';
			tmp[2] = hex[*p >> 4];
			tmp[3] = hex[*p & 15];
			tl = 4;
			n = 1;
		}
		if (o + tl >= outsz)
			break;
		memcpy(out + o, tmp, tl);
		o += tl;
		p += n;
	}
	out[o] = '\0';
	return out;
}

void sz_json_str(FILE *f, const char *s)
{
	char buf[4 * 4096 + 1];

	if (!s) {
		fputs("null", f);
		return;
	}
	sz_escape(s, buf, sizeof(buf));
	fputc('"', f);
	/* [perf] runs between the characters to escape in one fwrite each, not
	 * a locked fputc per character: 10,000 found records before `ready` */
	for (const char *p = buf;;) {
		size_t n = strcspn(p, "\"\\");

		/* an error stays on F (ferror), as fputc's do */
		(void)fwrite(p, 1, n, f);
		if (!p[n])
			break;
		fputc('\\', f);
		fputc(p[n], f);
		p += n + 1;
	}
	fputc('"', f);
}
