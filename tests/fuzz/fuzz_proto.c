/* fuzz_proto.c - libFuzzer target for everything a peer's bytes pass
 * through before a command handler sees them: line framing (frame.c),
 * message decoding and field access (proto.c), and the text rules
 * (text.c, valid.c). Built and run by tests/fuzz/run-fuzz (needs clang).
 *
 * Input layout: the first byte picks the chunk sizes the stream is fed in
 * (so that lines split across reads are covered), the rest is the stream.
 * Besides "no crash, no sanitizer report", it checks invariants that the
 * server relies on: a framed line holds no '\n' and fits max_line, a parsed
 * message re-serializes to one line that parses again to the same type, and
 * cleaned content is valid UTF-8 of bounded length. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "proto.h"
#include "text.h"
#include "valid.h"

#define FUZZ_MAX_LINE 4096 /* small, so that FRAME_TOO_LONG is reachable */
#define FUZZ_MAX_CHARS 1000

static const char *const fuzz_string_keys[] = {
	"message_type", "username", "password", "content", "chat_name", "client_msg_id",
	"list_type", "filename", "file_id", "command", "action", "target_name",
	"new_value", "client",
};
static const char *const fuzz_int_keys[] = {
	"chat_group_id", "after_message_id", "before_message_id", "limit", "protocol",
	"file_size", "target_id", "sender_id", "message_id",
};

static void fuzz_check(int ok)
{
	if (!ok)
		abort();
}

static void fuzz_text(const char *s)
{
	char *clean = text_clean_content(s, FUZZ_MAX_CHARS);
	fuzz_check(clean != NULL);
	size_t n = strlen(clean);
	fuzz_check(text_utf8_valid(clean, n));
	/* at most FUZZ_MAX_CHARS code points plus "..." */
	fuzz_check(text_utf8_chars(clean) <= FUZZ_MAX_CHARS + 3);
	(void)text_blank(clean);
	free(clean);
	(void)valid_username(s);
	(void)valid_password(s);
	(void)valid_chat_name(s);
}

static void fuzz_message(json_object *o, const char *type)
{
	const char *s;
	int64_t i;
	int b;

	for (size_t k = 0; k < sizeof fuzz_string_keys / sizeof *fuzz_string_keys; k++)
		if (proto_get_string(o, fuzz_string_keys[k], &s) == 0) {
			fuzz_check(s != NULL);
			fuzz_text(s);
		}
	for (size_t k = 0; k < sizeof fuzz_int_keys / sizeof *fuzz_int_keys; k++)
		(void)proto_get_int(o, fuzz_int_keys[k], &i);
	(void)proto_get_bool(o, "success", &b);
	(void)proto_get_bool(o, "is_online", &b);

	/* member_usernames: a list whose entries are checked one by one */
	json_object *list;
	if (json_object_object_get_ex(o, "member_usernames", &list) &&
	    json_object_is_type(list, json_type_array)) {
		size_t n = json_object_array_length(list);
		for (size_t k = 0; k < n && k < 64; k++) {
			json_object *e = json_object_array_get_idx(list, k);
			if (json_object_is_type(e, json_type_string))
				fuzz_text(json_object_get_string(e));
		}
	}

	/* What the server sends back is built from what it parsed: it must be
	 * one line that parses again. */
	size_t len;
	char *out = proto_serialize(o, &len);
	fuzz_check(out != NULL);
	fuzz_check(len > 0 && out[len - 1] == '\n');
	fuzz_check(memchr(out, '\n', len - 1) == NULL);
	json_object *again = NULL;
	const char *type2 = NULL, *why = NULL;
	fuzz_check(proto_parse(out, len - 1, &again, &type2, &why) == 0);
	fuzz_check(strcmp(type, type2) == 0);
	json_object_put(again);
	free(out);
}

static void fuzz_line(char *line, size_t len)
{
	json_object *o = NULL;
	const char *type = NULL, *why = NULL;

	fuzz_check(len <= FUZZ_MAX_LINE);
	fuzz_check(memchr(line, '\n', len) == NULL);
	fuzz_check(line[len] == '\0');
	if (proto_parse(line, len, &o, &type, &why) < 0) {
		fuzz_check(o == NULL && why != NULL && *why != '\0');
		return;
	}
	fuzz_check(o != NULL && type != NULL);
	fuzz_message(o, type);
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	frame_reader_t fr;
	char *line;
	size_t len, pos = 0;
	int st;

	if (size < 1)
		return 0;
	/* chunk size 1..256; 0 in the selector means "all at once" */
	size_t chunk = data[0] ? data[0] : size;
	data++;
	size--;

	frame_init(&fr, FUZZ_MAX_LINE);
	while (pos < size) {
		size_t n = size - pos < chunk ? size - pos : chunk;
		fuzz_check(frame_feed(&fr, data + pos, n) == 0);
		pos += n;
		while ((st = frame_next(&fr, &line, &len)) == FRAME_LINE)
			fuzz_line(line, len);
		if (st == FRAME_TOO_LONG)
			goto out; /* the server closes the connection here */
	}
	/* the rest, as an upload's raw bytes would be taken */
	char raw[512];
	while (frame_pending(&fr) > 0)
		fuzz_check(frame_take(&fr, raw, sizeof raw) > 0);
out:
	frame_free(&fr);
	return 0;
}
