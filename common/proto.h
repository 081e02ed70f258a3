/* proto.h - the Chat-Room wire protocol: message types, error codes, and
 * helpers to build, parse and check JSON messages (json-c). */
#ifndef CHATROOM_PROTO_H
#define CHATROOM_PROTO_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

/* Error codes (error_message.error_code). */
enum proto_error_code {
	PROTO_E_CREDENTIALS = 1001, /* invalid credentials / not logged in */
	PROTO_E_USER_EXISTS = 1002,
	PROTO_E_USER_NOT_FOUND = 1003,
	PROTO_E_CHAT_NOT_FOUND = 1004,
	PROTO_E_PERMISSION = 1005, /* also bans and non-members */
	PROTO_E_FILE_NOT_FOUND = 1006,
	PROTO_E_FILE_TOO_LARGE = 1007,
	PROTO_E_INVALID = 1008, /* invalid command or message */
	PROTO_E_SERVER = 1009,
	PROTO_E_NETWORK = 1010,
	PROTO_E_DATABASE = 1011,
	PROTO_E_BUSY = 1013,     /* no free worker; the connection is closed */
	PROTO_E_RATE = 1014,     /* rate limited */
	PROTO_E_TOO_LARGE = 1015 /* line too long; the connection is closed */
};

/* Seconds since the epoch, with sub-second precision. */
double proto_now(void);

/* A new message object with message_type and timestamp set. */
json_object *proto_new(const char *type);

/* An error_message object. */
json_object *proto_error(int code, const char *text);

/* A system_message object: text for the user, level "info" or "warning". */
json_object *proto_system_message(const char *text, const char *level);

/* The one wire form of a message: obj serialized compact, on one line,
 * without the newline. The text belongs to obj (valid until it changes or
 * is freed); its length goes to *len. NULL on OOM. */
const char *proto_text(json_object *obj, size_t *len);

/* Serialize obj (proto_text) and append '\n'. Returns a malloc'd
 * buffer and its length through *len, or NULL on OOM. */
char *proto_serialize(json_object *obj, size_t *len);

/* Parse one received line. On success returns 0 and a new object in *out
 * whose message_type is a string (*type points into it). On failure returns
 * -1 and sets *why to an English reason suitable for error_message 1008. */
int proto_parse(const char *line, size_t len, json_object **out, const char **type,
                const char **why);

/* Field access with type checks. Each returns 0 when the field is present
 * with the right type, 1 when it is absent or null (and optional), -1 when
 * it has the wrong type. */
int proto_get_string(json_object *o, const char *key, const char **out);
int proto_get_int(json_object *o, const char *key, int64_t *out);
int proto_get_bool(json_object *o, const char *key, int *out);

/* Convenience setters (values copied). A NULL string sets JSON null. */
/* val is sent as valid UTF-8: bytes of a cut or broken character are
 * dropped (text_utf8_repair). NULL sets null. */
void proto_set_string(json_object *o, const char *key, const char *val);
void proto_set_int(json_object *o, const char *key, int64_t val);
void proto_set_bool(json_object *o, const char *key, int val);
void proto_set_double(json_object *o, const char *key, double val);
void proto_set_null(json_object *o, const char *key);

/* "YYYY-MM-DD HH:MM:SS" in local time, as chat_history timestamps. */
void proto_format_time(double t, char *buf, size_t len);

#endif
