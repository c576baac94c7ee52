// SPDX-License-Identifier: BSD-2-Clause
/*
 * Unit tests of the CLI's output escaping (src/cli/output.c): sz_escape for
 * text lines and sz_json_str for JSON strings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli/output.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct esc_case {
	const char *what, *in, *out;
};

static const struct esc_case esc[] = {
	{ "empty", "", "" },
	{ "plain", "libc.so.6", "libc.so.6" },
	{ "all printable ASCII but backslash",
	  " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~",
	  " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~" },
	{ "spaces kept", "/tmp/my lib .so", "/tmp/my lib .so" },
	{ "backslash doubled", "a\\b", "a\\\\b" },
	{ "two backslashes", "\\\\", "\\\\\\\\" },
	{ "backslash then x", "\\x41", "\\\\x41" }, /* stays distinguishable from an escape */
	{ "newline", "a\nb", "a\\x0ab" },
	{ "tab", "\t", "\\x09" },
	{ "carriage return", "x\r", "x\\x0d" },
	{ "DEL", "\x7f", "\\x7f" },
	{ "0x01", "\x01", "\\x01" },
	{ "escape", "\x1b[31m", "\\x1b[31m" },
	{ "0x1f", "\x1f", "\\x1f" },
	{ "2-byte UTF-8", "caf\xc3\xa9", "caf\xc3\xa9" },
	{ "lowest 2-byte", "\xc2\x80", "\xc2\x80" },
	{ "3-byte UTF-8", "\xe2\x82\xac", "\xe2\x82\xac" },
	{ "3-byte after surrogates", "\xee\x80\x80", "\xee\x80\x80" },
	{ "last before surrogates", "\xed\x9f\xbf", "\xed\x9f\xbf" },
	{ "lowest 3-byte", "\xe0\xa0\x80", "\xe0\xa0\x80" },
	{ "4-byte UTF-8", "\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80" },
	{ "U+10FFFF", "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },
	{ "mixed", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z", "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z" },
	{ "lone continuation", "a\x80z", "a\\x80z" },
	{ "continuations", "\xbf\x80", "\\xbf\\x80" },
	{ "overlong NUL", "\xc0\x80", "\\xc0\\x80" },
	{ "overlong 0xc1", "\xc1\xbf", "\\xc1\\xbf" },
	{ "overlong 3-byte", "\xe0\x80\xaf", "\\xe0\\x80\\xaf" },
	{ "overlong 4-byte", "\xf0\x8f\xbf\xbf", "\\xf0\\x8f\\xbf\\xbf" },
	{ "surrogate D800", "\xed\xa0\x80", "\\xed\\xa0\\x80" },
	{ "surrogate DFFF", "\xed\xbf\xbf", "\\xed\\xbf\\xbf" },
	{ "above U+10FFFF", "\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80" },
	{ "0xf5 lead", "\xf5\x80\x80\x80", "\\xf5\\x80\\x80\\x80" },
	{ "truncated 2-byte at end", "ab\xc3", "ab\\xc3" },
	{ "truncated 3-byte at end", "\xe2\x82", "\\xe2\\x82" },
	{ "truncated 4-byte at end", "\xf0\x9f\x98", "\\xf0\\x9f\\x98" },
	{ "truncated 3-byte mid", "\xe2\x82z", "\\xe2\\x82z" },
	{ "truncated then valid", "\xe2\xc3\xa9", "\\xe2\xc3\xa9" },
	{ "0xff", "\xff", "\\xff" },
	{ "0xfe 0xff", "\xfe\xff", "\\xfe\\xff" },
	{ "latin-1 name", "caf\xe9.so", "caf\\xe9.so" },
};

static void test_escape_table(void **state)
{
	int bad = 0;

	for (size_t i = 0; i < ARRAY_SIZE(esc); i++) {
		char out[256];
		char *r;

		memset(out, 'Q', sizeof(out));
		r = sz_escape(esc[i].in, out, sizeof(out));
		assert_ptr_equal(r, out);
		if (strcmp(out, esc[i].out)) {
			print_error("%s: got \"%s\"\n", esc[i].what, out);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Escaping is reversible: decode \\ and \xNN, get the input back. */
static void test_escape_reversible(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(esc); i++) {
		char out[256], back[256];
		size_t o = 0;

		sz_escape(esc[i].in, out, sizeof(out));
		for (const char *p = out; *p; p++) {
			if (*p == '\\' && p[1] == '\\') {
				back[o++] = '\\';
				p++;
			} else if (*p == '\\') {
				unsigned v;

				assert_int_equal(p[1], 'x');
				assert_int_equal(sscanf(p + 2, "%2x", &v), 1);
				back[o++] = (char)v;
				p += 3;
			} else {
				back[o++] = *p;
			}
		}
		back[o] = '\0';
		assert_string_equal(back, esc[i].in);
	}
}

/* Output never holds a byte < 0x20, 0x7f or a lone backslash. */
static void test_escape_all_bytes(void **state)
{
	for (unsigned c = 1; c < 256; c++) {
		char in[2] = { (char)c, 0 }, out[16];

		sz_escape(in, out, sizeof(out));
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			assert_int_equal(strlen(out), 1);
			assert_int_equal((unsigned char)out[0], c);
		} else if (c == '\\') {
			assert_string_equal(out, "\\\\");
		} else {
			char want[8];

			snprintf(want, sizeof(want), "\\x%02x", c);
			assert_string_equal(out, want);
		}
	}
}

/* Truncation: at most OUTSZ bytes, always NUL-terminated, never half an
 * escape or half a UTF-8 sequence, always a prefix of the full output. */
static void test_escape_truncation(void **state)
{
	static const char *const inputs[] = {
		"libc.so.6",
		"a\nb\\c\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xff",
		"\x01\x02\x03",
		"\\\\\\",
		"\xf0\x9f\x98\x80\xf0\x9f\x98\x80",
	};

	for (size_t k = 0; k < ARRAY_SIZE(inputs); k++) {
		char full[256];
		size_t flen;

		sz_escape(inputs[k], full, sizeof(full));
		flen = strlen(full);
		for (size_t outsz = 0; outsz <= flen + 2; outsz++) {
			char *buf = malloc(outsz + 8); /* guard bytes after OUTSZ */
			size_t len;

			assert_non_null(buf);
			memset(buf, 'Q', outsz + 8);
			sz_escape(inputs[k], buf, outsz);
			for (size_t g = outsz; g < outsz + 8; g++)
				assert_int_equal(buf[g], 'Q');
			if (!outsz) {
				free(buf);
				continue;
			}
			len = strnlen(buf, outsz);
			assert_true(len < outsz); /* NUL inside the buffer */
			assert_memory_equal(buf, full, len);
			if (outsz > flen)
				assert_int_equal(len, flen);
			/* It stopped at a unit boundary: the next unit would not fit. */
			if (len < flen) {
				size_t unit = full[len] == '\\' ? (full[len + 1] == '\\' ? 2 : 4)
					      : (unsigned char)full[len] >= 0xf0 ? 4
					      : (unsigned char)full[len] >= 0xe0 ? 3
					      : (unsigned char)full[len] >= 0xc0 ? 2
										 : 1;

				assert_true(len + unit >= outsz);
			}
			free(buf);
		}
	}
}

static void test_escape_exact_sizes(void **state)
{
	char buf[8];

	sz_escape("a\nb", buf, 5); /* "a" + "\x0a" needs 6 with the NUL */
	assert_string_equal(buf, "a");
	sz_escape("a\nb", buf, 6);
	assert_string_equal(buf, "a\\x0a");
	sz_escape("\xe2\x82\xac", buf, 3); /* 3 bytes + NUL needs 4 */
	assert_string_equal(buf, "");
	sz_escape("\xe2\x82\xac", buf, 4);
	assert_string_equal(buf, "\xe2\x82\xac");
	sz_escape("abc", buf, 1);
	assert_string_equal(buf, "");
	buf[0] = 'Q';
	sz_escape("abc", buf, 0);
	assert_int_equal(buf[0], 'Q');
}

/* Run sz_json_str into a string. */
static char *json(const char *s)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	sz_json_str(f, s);
	assert_int_equal(fclose(f), 0);
	return out;
}

static void test_json(void **state)
{
	static const struct esc_case c[] = {
		{ "plain", "libc.so.6", "\"libc.so.6\"" },
		{ "empty", "", "\"\"" },
		{ "quotes", "say \"hi\"", "\"say \\\"hi\\\"\"" },
		/* one escape layer from sz_escape, then JSON's */
		{ "backslash", "a\\b", "\"a\\\\\\\\b\"" },
		{ "newline", "a\nb", "\"a\\\\x0ab\"" },
		{ "control and DEL", "\x01\x1f\x7f", "\"\\\\x01\\\\x1f\\\\x7f\"" },
		{ "quote, backslash, control", "\"\\\t", "\"\\\"\\\\\\\\\\\\x09\"" },
		{ "UTF-8 kept", "caf\xc3\xa9 \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"" },
		{ "invalid UTF-8", "\xff\xc0\x80", "\"\\\\xff\\\\xc0\\\\x80\"" },
		{ "slash kept", "/usr/lib", "\"/usr/lib\"" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		char *got = json(c[i].in);

		if (strcmp(got, c[i].out))
			print_error("%s: got %s\n", c[i].what, got);
		assert_string_equal(got, c[i].out);
		free(got);
	}
}

static void test_json_null(void **state)
{
	char *got = json(NULL);

	assert_string_equal(got, "null");
	free(got);
}

/* The JSON text has no raw control bytes, and quotes/backslashes come only as
 * escape pairs: the string is well-formed whatever the input. */
static void check_json_wellformed(const char *s)
{
	size_t n;
	char *got = json(s);

	n = strlen(got);
	assert_true(n >= 2);
	assert_int_equal(got[0], '"');
	assert_int_equal(got[n - 1], '"');
	for (size_t i = 1; i < n - 1; i++) {
		unsigned char ch = (unsigned char)got[i];

		assert_true(ch >= 0x20 && ch != 0x7f);
		if (ch == '\\') {
			assert_true(got[i + 1] == '\\' || got[i + 1] == '"');
			assert_true(i + 1 < n - 1);
			i++;
		} else {
			assert_true(ch != '"');
		}
	}
	free(got);
}

static void test_json_wellformed_all_bytes(void **state)
{
	char s[4 * 255 + 1];
	size_t o = 0;

	for (unsigned c = 1; c < 256; c++)
		check_json_wellformed((char[]){ (char)c, 0 });
	/* Every byte, then sequences that end mid-way. */
	for (unsigned c = 1; c < 256; c++) {
		s[o++] = (char)c;
		if (c % 3 == 0)
			s[o++] = '\xe2';
	}
	s[o] = '\0';
	check_json_wellformed(s);
}

/* A very long name: JSON output is bounded and still a closed string. */
static void test_json_long(void **state)
{
	size_t n = 10000;
	char *s = malloc(n + 1), *got;

	assert_non_null(s);
	memset(s, '\x01', n);
	s[n] = '\0';
	got = json(s);
	/* sz_escape fits 4096 "\x01" in its 16 KiB buffer; each is 5 in JSON. */
	assert_int_equal(strlen(got), 2 + 4096 * 5);
	assert_memory_equal(got, "\"\\\\x01", 6);
	assert_int_equal(got[strlen(got) - 1], '"');
	free(got);
	check_json_wellformed(s);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_table),
		cmocka_unit_test(test_escape_reversible),
		cmocka_unit_test(test_escape_all_bytes),
		cmocka_unit_test(test_escape_truncation),
		cmocka_unit_test(test_escape_exact_sizes),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_null),
		cmocka_unit_test(test_json_wellformed_all_bytes),
		cmocka_unit_test(test_json_long),
	};

	return cmocka_run_group_tests_name("output", tests, NULL, NULL);
}
