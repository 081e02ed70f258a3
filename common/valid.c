/* valid.c - account and chat name rules; see valid.h. */
#include "config.h"
#include "valid.h"
#include "tunables.h"
#include "text.h"

#include <stdint.h>
#include <string.h>

/* Decode one code point of valid UTF-8 and advance *p. */
static uint32_t valid_next_cp(const unsigned char **p)
{
	const unsigned char *s = *p;
	uint32_t c = s[0];
	if (c < 0x80) {
		*p += 1;
		return c;
	}
	if (c < 0xE0) {
		*p += 2;
		return ((c & 0x1F) << 6) | (s[1] & 0x3F);
	}
	if (c < 0xF0) {
		*p += 3;
		return ((c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
	}
	*p += 4;
	return ((c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
	       (s[3] & 0x3F);
}

/* CJK unified ideographs, as the reference's pattern allows. */
static int valid_is_cjk(uint32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF);
}

static int valid_is_ascii_letter(uint32_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

const char *valid_username(const char *s)
{
	if (!s || !text_utf8_valid(s, strlen(s)))
		return "username must be valid text";
	size_t n = text_utf8_chars(s);
	if (n < CR_USERNAME_MIN || n > CR_USERNAME_MAX)
		return "username must be 3 to 20 characters long";
	const unsigned char *p = (const unsigned char *)s;
	int first = 1;
	while (*p) {
		uint32_t c = valid_next_cp(&p);
		int digit = c >= '0' && c <= '9';
		if (first && digit)
			return "username must not start with a digit";
		if (!(valid_is_ascii_letter(c) || digit || c == '_' || valid_is_cjk(c)))
			return "username may contain only letters, digits, '_' and CJK characters";
		first = 0;
	}
	return NULL;
}

const char *valid_password(const char *s)
{
	if (!s || !text_utf8_valid(s, strlen(s)))
		return "password must be valid text";
	size_t n = text_utf8_chars(s);
	if (n < CR_PASSWORD_MIN || n > CR_PASSWORD_MAX)
		return "password must be 6 to 50 characters long";
	int letter = 0, digit = 0;
	for (const char *p = s; *p; p++) {
		if (valid_is_ascii_letter((unsigned char)*p))
			letter = 1;
		else if (*p >= '0' && *p <= '9')
			digit = 1;
	}
	if (!letter || !digit)
		return "password must contain at least one letter and one digit";
	return NULL;
}

const char *valid_chat_name(const char *s)
{
	if (!s || !text_utf8_valid(s, strlen(s)))
		return "chat name must be valid text";
	size_t n = text_utf8_chars(s);
	if (n < CR_CHATNAME_MIN || n > CR_CHATNAME_MAX)
		return "chat name must be 2 to 30 characters long";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7F)
			return "chat name must not contain control characters";
	if (s[0] == ' ' || s[strlen(s) - 1] == ' ')
		return "chat name must not start or end with a space";
	return NULL;
}
