/* text.c - UTF-8 validation and content cleaning. */
#include "config.h"
#include "text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Length of the sequence starting at s (n bytes available), 0 if invalid. */
static size_t text_seq_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c < 0xC2)
		return 0;
	if (c < 0xE0) {
		if (n < 2 || (s[1] & 0xC0) != 0x80)
			return 0;
		return 2;
	}
	if (c < 0xF0) {
		if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
			return 0;
		if (c == 0xE0 && s[1] < 0xA0)
			return 0; /* overlong */
		if (c == 0xED && s[1] >= 0xA0)
			return 0; /* UTF-16 surrogate */
		return 3;
	}
	if (c < 0xF5) {
		if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
			return 0;
		if (c == 0xF0 && s[1] < 0x90)
			return 0; /* overlong */
		if (c == 0xF4 && s[1] >= 0x90)
			return 0; /* > U+10FFFF */
		return 4;
	}
	return 0;
}

int text_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		if (p[i] < 0x80) { /* fast path for ASCII */
			i++;
			continue;
		}
		size_t l = text_seq_len(p + i, n - i);
		if (l == 0)
			return 0;
		i += l;
	}
	return 1;
}

size_t text_utf8_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p & 0xC0) != 0x80)
			n++;
	return n;
}

char *text_clean_content(const char *s, size_t max_chars)
{
	size_t len = strlen(s);
	char *out = malloc(len + 4);
	if (!out)
		return NULL;
	size_t o = 0, chars = 0;
	const unsigned char *p = (const unsigned char *)s;
	const unsigned char *end = p + len;
	while (*p) {
		unsigned c = *p;
		size_t l = 1;
		if (c >= 0x80) {
			/* the bytes left are known: measuring them again for
			 * every character made cleaning quadratic */
			l = text_seq_len(p, (size_t)(end - p));
			if (l == 0) { /* invalid byte: drop it */
				p++;
				continue;
			}
		} else if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F) {
			p++;
			continue;
		}
		/* C1 controls U+0080..U+009F are control characters as well. */
		if (l == 2 && c == 0xC2 && p[1] < 0xA0) {
			p += 2;
			continue;
		}
		if (chars == max_chars) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, p, l);
		o += l;
		p += l;
		chars++;
	}
	out[o] = '\0';
	return out;
}

int text_blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
			return 0;
	return 1;
}

/* The escaped form of the character at p (n bytes left) into esc (4
 * bytes); its length in esc, and in *len its length at p. */
static size_t text_escape_one(const unsigned char *p, size_t n, char *esc, size_t *len)
{
	static const char hex[] = "0123456789abcdef";
	*len = text_seq_len(p, n);
	if (*len > 1) {
		memcpy(esc, p, *len);
		return *len;
	}
	*len = 1;
	esc[0] = '\\';
	switch (*p) {
	case '\n': esc[1] = 'n'; return 2;
	case '\r': esc[1] = 'r'; return 2;
	case '\t': esc[1] = 't'; return 2;
	case '\\': esc[1] = '\\'; return 2;
	}
	if (*p >= 0x20 && *p < 0x7f) {
		esc[0] = (char)*p;
		return 1;
	}
	/* other control characters, DEL, and bytes that are not UTF-8 */
	esc[1] = 'x';
	esc[2] = hex[*p >> 4];
	esc[3] = hex[*p & 15];
	return 4;
}

const char *text_escape(char *out, size_t outlen, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "(null)");
	size_t n = strlen((const char *)p), o = 0, len, elen, total = 0;
	char esc[4];
	/* does it all fit? else keep room for "..." */
	for (const unsigned char *q = p; *q && total < outlen; q += len)
		total += text_escape_one(q, n - (size_t)(q - p), esc, &len);
	size_t cap = total <= outlen - 1 ? outlen - 1 : outlen - 4;
	for (; *p; p += len, n -= len) {
		elen = text_escape_one(p, n, esc, &len);
		if (o + elen > cap) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, esc, elen);
		o += elen;
	}
	out[o] = '\0';
	return out;
}

size_t text_utf8_repair(char *s)
{
	size_t n = strlen(s), i = 0, o = 0;
	while (i < n) {
		size_t len = text_seq_len((const unsigned char *)s + i, n - i);
		if (len == 0) {
			i++;
			continue;
		}
		memmove(s + o, s + i, len);
		o += len;
		i += len;
	}
	s[o] = '\0';
	return o;
}
