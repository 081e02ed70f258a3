/* proto.c - JSON message helpers; see proto.h. */
#include "config.h"
#include "proto.h"
#include "text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Nesting deeper than this is rejected: protocol objects are flat. */
#define PROTO_MAX_DEPTH 16

double proto_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

json_object *proto_new(const char *type)
{
	json_object *o = json_object_new_object();
	if (!o)
		return NULL;
	json_object_object_add(o, "message_type", json_object_new_string(type));
	proto_set_double(o, "timestamp", proto_now());
	return o;
}

json_object *proto_error(int code, const char *text)
{
	json_object *o = proto_new("error_message");
	if (!o)
		return NULL;
	proto_set_int(o, "error_code", code);
	proto_set_string(o, "error_message", text);
	return o;
}

json_object *proto_system_message(const char *text, const char *level)
{
	json_object *o = proto_new("system_message");
	if (!o)
		return NULL;
	proto_set_string(o, "content", text);
	proto_set_string(o, "level", level);
	return o;
}

const char *proto_text(json_object *obj, size_t *len)
{
	*len = 0;
	return json_object_to_json_string_length(
	    obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
}

char *proto_serialize(json_object *obj, size_t *len)
{
	size_t l = 0;
	const char *s = proto_text(obj, &l);
	if (!s)
		return NULL;
	char *out = malloc(l + 2);
	if (!out)
		return NULL;
	memcpy(out, s, l);
	out[l] = '\n';
	out[l + 1] = '\0';
	*len = l + 1;
	return out;
}

int proto_parse(const char *line, size_t len, json_object **out, const char **type,
                const char **why)
{
	*out = NULL;
	if (!text_utf8_valid(line, len)) {
		*why = "invalid message: not valid UTF-8";
		return -1;
	}
	json_tokener *tok = json_tokener_new_ex(PROTO_MAX_DEPTH);
	if (!tok) {
		*why = "server out of memory";
		return -1;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	json_object *o = json_tokener_parse_ex(tok, line, (int)len);
	enum json_tokener_error err = json_tokener_get_error(tok);
	if (err == json_tokener_success && tok->char_offset < (int)len) {
		/* trailing bytes after the object: allow only white space */
		for (size_t i = (size_t)tok->char_offset; i < len; i++)
			if (line[i] != ' ' && line[i] != '\t') {
				err = json_tokener_error_parse_unexpected;
				break;
			}
	}
	json_tokener_free(tok);
	if (err != json_tokener_success || !o) {
		json_object_put(o);
		*why = err == json_tokener_error_depth ? "invalid message: JSON nested too deeply"
		                                       : "invalid message: not valid JSON";
		return -1;
	}
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		*why = "invalid message: expected a JSON object";
		return -1;
	}
	json_object *t;
	if (!json_object_object_get_ex(o, "message_type", &t) || !json_object_is_type(t, json_type_string)) {
		json_object_put(o);
		*why = "invalid message: message_type missing or not a string";
		return -1;
	}
	*type = json_object_get_string(t);
	*out = o;
	return 0;
}

int proto_get_string(json_object *o, const char *key, const char **out)
{
	json_object *v;
	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_string))
		return -1;
	*out = json_object_get_string(v);
	return 0;
}

int proto_get_int(json_object *o, const char *key, int64_t *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 1;
	if (json_object_is_type(v, json_type_int)) {
		*out = json_object_get_int64(v);
		return 0;
	}
	if (json_object_is_type(v, json_type_double)) {
		/* accept 3.0 from clients that send every number as a float */
		double d = json_object_get_double(v);
		if (d == floor(d) && fabs(d) < 9.0e15) {
			*out = (int64_t)d;
			return 0;
		}
	}
	return -1;
}

int proto_get_bool(json_object *o, const char *key, int *out)
{
	json_object *v;
	if (!json_object_object_get_ex(o, key, &v) || v == NULL)
		return 1;
	if (!json_object_is_type(v, json_type_boolean))
		return -1;
	*out = json_object_get_boolean(v);
	return 0;
}

/* Every text the server sends passes here, so this is where it is made
 * valid UTF-8: a text built with "%.64s" of a client's string may end in
 * part of a character, and an old database may hold anything. */
void proto_set_string(json_object *o, const char *key, const char *val)
{
	if (val && !text_utf8_valid(val, strlen(val))) {
		char *fixed = strdup(val);
		if (fixed) {
			text_utf8_repair(fixed);
			json_object_object_add(o, key, json_object_new_string(fixed));
			free(fixed);
			return;
		}
		val = "";
	}
	json_object_object_add(o, key, val ? json_object_new_string(val) : NULL);
}

void proto_set_int(json_object *o, const char *key, int64_t val)
{
	json_object_object_add(o, key, json_object_new_int64(val));
}

void proto_set_bool(json_object *o, const char *key, int val)
{
	json_object_object_add(o, key, json_object_new_boolean(val != 0));
}

void proto_set_double(json_object *o, const char *key, double val)
{
	json_object_object_add(o, key, json_object_new_double(val));
}

void proto_set_null(json_object *o, const char *key)
{
	json_object_object_add(o, key, NULL);
}

void proto_format_time(double t, char *buf, size_t len)
{
	time_t s = (time_t)t;
	struct tm tm;
	localtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}
