/* test_catalog.c - the table of client texts (server/catalog.h): every
 * entry complete in both languages, its placeholders consistent with its
 * signature, every entry used by the server, and the rendering helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "text.h"
#include "valid.h"

/* The conversions of a printf format as signature letters (s, d, L, z);
 * -1 on a conversion the catalog does not allow. */
static int conversions(const char *f, char *sig, size_t len)
{
	size_t n = 0;
	for (const char *p = f; *p; p++) {
		if (*p != '%')
			continue;
		p++;
		if (*p == '%')
			continue;
		while (*p == '.' || (*p >= '0' && *p <= '9'))
			p++;
		char c;
		if (*p == 's')
			c = 's';
		else if (*p == 'd')
			c = 'd';
		else if (strncmp(p, "lld", 3) == 0)
			c = 'L', p += 2;
		else if (strncmp(p, "zu", 2) == 0)
			c = 'z', p += 1;
		else
			return -1;
		if (n + 1 >= len)
			return -1;
		sig[n++] = c;
	}
	sig[n] = '\0';
	return 0;
}

static void test_every_entry_has_both_languages(void **state)
{
	for (int i = 0; i < CAT_COUNT; i++) {
		const struct cat_entry *e = catalog_entry(i);
		assert_non_null(e);
		assert_non_null(e->name);
		assert_int_equal(strncmp(e->name, "CAT_", 4), 0);
		assert_non_null(e->args);
		for (int l = 0; l < CAT_NLANGS; l++) {
			if (!e->text[l] || !*e->text[l])
				fail_msg("%s: language %d has no text", e->name, l);
			if (!text_utf8_valid(e->text[l], strlen(e->text[l])))
				fail_msg("%s: language %d is not UTF-8", e->name, l);
		}
	}
	assert_null(catalog_entry(CAT_COUNT));
	assert_null(catalog_entry(-1));
}

/* Each language uses a leading part of the entry's arguments, and some
 * language all of them: one call with the arguments serves both. */
static void test_placeholders_match_the_signature(void **state)
{
	for (int i = 0; i < CAT_COUNT; i++) {
		const struct cat_entry *e = catalog_entry(i);
		int full = 0;
		for (int l = 0; l < CAT_NLANGS; l++) {
			char sig[16];
			if (conversions(e->text[l], sig, sizeof sig) < 0)
				fail_msg("%s: language %d has a conversion outside s, d, lld, zu", e->name, l);
			if (strncmp(sig, e->args, strlen(sig)) != 0)
				fail_msg("%s: language %d takes \"%s\", not a start of \"%s\"", e->name, l, sig,
				         e->args);
			full |= strcmp(sig, e->args) == 0;
		}
		if (!full)
			fail_msg("%s: no language uses all of \"%s\"", e->name, e->args);
	}
}

/* Every entry is used by the server: its name appears in a server source
 * other than the catalog itself, or its English text is a reason returned
 * by common/ (proto_parse(), valid.c), which the server maps to the entry
 * with catalog_by_english() or catalog_for_reason(). */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc((size_t)n + 1);
	if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
		free(s);
		s = NULL;
	}
	if (s)
		s[n] = '\0';
	fclose(f);
	return s;
}

/* name occurs as a whole identifier in s */
static int uses(const char *s, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = strstr(s, name); p; p = strstr(p + 1, name)) {
		char after = p[n];
		if (!((after >= 'A' && after <= 'Z') || after == '_' || (after >= '0' && after <= '9')))
			return 1;
	}
	return 0;
}

/* The .c files of folder sub (catalog.c left out), one after another. */
static char *sources(const char *sub)
{
	char dir[1024];
	snprintf(dir, sizeof dir, "%s/%s", CR_TOP_SRCDIR, sub);
	DIR *d = opendir(dir);
	assert_non_null(d);
	char *all = calloc(1, 1);
	size_t len = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t nl = strlen(de->d_name);
		if (nl < 3 || strcmp(de->d_name + nl - 2, ".c") != 0 || strcmp(de->d_name, "catalog.c") == 0)
			continue;
		char path[2048];
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		char *s = slurp(path);
		assert_non_null(s);
		size_t sl = strlen(s);
		all = realloc(all, len + sl + 2);
		memcpy(all + len, s, sl);
		len += sl;
		all[len++] = '\n';
		all[len] = '\0';
		free(s);
	}
	closedir(d);
	return all;
}

static void test_every_entry_is_used(void **state)
{
	char *server = sources("server"), *common = sources("common");
	assert_true(uses(server, "catalog_by_english") && uses(server, "catalog_for_reason"));
	for (int i = 0; i < CAT_COUNT; i++) {
		const struct cat_entry *e = catalog_entry(i);
		char literal[512];
		snprintf(literal, sizeof literal, "\"%s\"", e->text[CAT_EN]);
		if (!uses(server, e->name) && !strstr(common, literal))
			fail_msg("%s is used by no server code", e->name);
	}
	free(server);
	free(common);
}

/* The other way round: every reason common/proto.c and common/valid.c give
 * (a string literal after "*why = " or "return ") has its entry, so that
 * no English reason reaches a client that asked for another language. */
static void test_every_reason_of_common_has_an_entry(void **state)
{
	const char *files[] = { "common/proto.c", "common/valid.c" };
	const char *marks[] = { "*why = \"", "return \"", "? \"", ": \"" };
	int found = 0;
	for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", CR_TOP_SRCDIR, files[f]);
		char *src = slurp(path);
		assert_non_null(src);
		for (size_t m = 0; m < sizeof marks / sizeof *marks; m++)
			for (char *p = strstr(src, marks[m]); p; p = strstr(p + 1, marks[m])) {
				char *start = p + strlen(marks[m]), *end = strchr(start, '"');
				assert_non_null(end);
				char text[256];
				snprintf(text, sizeof text, "%.*s", (int)(end - start), start);
				if (!strstr(text, " "))
					continue; /* not a sentence: a name or a format */
				found++;
				if (catalog_by_english(text) < 0)
					fail_msg("%s: reason \"%s\" has no catalog entry", files[f], text);
			}
		free(src);
	}
	assert_true(found >= 10);
}

static void test_format_in_each_language(void **state)
{
	char buf[256];
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_ZH, CAT_USER_EXISTS, "alice"),
	                    "用户名 'alice' 已存在");
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_EN, CAT_USER_EXISTS, "alice"),
	                    "username already exists");
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_ZH, CAT_ADMIN_FILE_NOT_FOUND, "999"),
	                    "文件ID 999 不存在");
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_EN, CAT_ADMIN_FILE_NOT_FOUND, "999"),
	                    "file not found: 999");
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_ZH, CAT_ADMIN_USER_BANNED, "bob", 7LL),
	                    "用户 bob (ID: 7) 已被禁言");
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_EN, CAT_ADMIN_USER_BANNED, "bob", 7LL),
	                    "User bob banned");
	assert_string_equal(catalog_format(buf, sizeof buf, CAT_ZH, CAT_BAD_CREDENTIALS),
	                    "用户名或密码错误");
}

/* A text cut to fit its buffer ends on a whole character. */
static void test_truncation_keeps_utf8_whole(void **state)
{
	for (size_t len = 1; len < 40; len++) {
		char buf[64];
		catalog_format(buf, len, CAT_ZH, CAT_ADMIN_ONLY);
		assert_true(strlen(buf) < len);
		assert_true(text_utf8_valid(buf, strlen(buf)));
		assert_int_equal(strncmp(buf, catalog_entry(CAT_ADMIN_ONLY)->text[CAT_ZH], strlen(buf)), 0);
	}
	assert_int_equal(catalog_utf8_cut("ab\xe4\xb8", 4), 2);
	assert_int_equal(catalog_utf8_cut("ab\xe4\xb8\xad", 5), 5);
	assert_int_equal(catalog_utf8_cut("abc", 3), 3);
}

/* Every reason of common/valid.c has its entry; a length above the
 * maximum gets the reference's "too long" wording. */
static void test_every_validation_reason_is_in_the_catalog(void **state)
{
	const char *users[] = { "", "ab", "abcdefghijklmnopqrstuvwxyz", "1abc", "ab-c", "\xff\xfe" };
	const char *pws[] = { "", "ab1", "abcdef", "123456", "a1" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" };
	const char *chats[] = { "", "a", "abcdefghijklmnopqrstuvwxyz012345", "a\x01" "b", " ab" };
	for (size_t i = 0; i < sizeof users / sizeof *users; i++)
		assert_true(catalog_for_reason(valid_username(users[i]), users[i]) >= 0);
	for (size_t i = 0; i < sizeof pws / sizeof *pws; i++)
		assert_true(catalog_for_reason(valid_password(pws[i]), pws[i]) >= 0);
	for (size_t i = 0; i < sizeof chats / sizeof *chats; i++)
		assert_true(catalog_for_reason(valid_chat_name(chats[i]), chats[i]) >= 0);
	assert_int_equal(catalog_for_reason(valid_username("ab"), "ab"), CAT_USERNAME_LENGTH);
	assert_int_equal(catalog_for_reason(valid_username(users[2]), users[2]), CAT_USERNAME_LONG);
	assert_int_equal(catalog_for_reason(valid_chat_name(chats[2]), chats[2]), CAT_CHAT_NAME_LONG);
	assert_int_equal(catalog_by_english("no such text"), -1);
}

static void test_language_names(void **state)
{
	assert_int_equal(catalog_lang_parse("zh"), CAT_ZH);
	assert_int_equal(catalog_lang_parse("en"), CAT_EN);
	assert_int_equal(catalog_lang_parse("fr"), -1);
	assert_int_equal(catalog_lang_parse(NULL), -1);
	assert_string_equal(catalog_lang_name(CAT_ZH), "zh");
	assert_string_equal(catalog_lang_name(CAT_EN), "en");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_entry_has_both_languages),
		cmocka_unit_test(test_placeholders_match_the_signature),
		cmocka_unit_test(test_every_entry_is_used),
		cmocka_unit_test(test_every_reason_of_common_has_an_entry),
		cmocka_unit_test(test_format_in_each_language),
		cmocka_unit_test(test_truncation_keeps_utf8_whole),
		cmocka_unit_test(test_every_validation_reason_is_in_the_catalog),
		cmocka_unit_test(test_language_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
