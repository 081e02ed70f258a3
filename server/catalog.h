/* catalog.h - every text the server sends to a client, in English and in
 * the wording of the reference server (Chinese), in one table
 * (catalog.c). A legacy client gets the [Server] Language texts (default
 * zh, the reference's own words, which its users and their scripts match
 * on); a protocol-2 client gets English unless its hello asks for "zh".
 *
 * The texts are printf formats. Each entry declares its arguments (a
 * signature: s = const char *, d = int, L = long long, z = size_t); each
 * language uses a leading part of them, in that order, so that one call
 * serves both (tests/unit/test_catalog.c checks it). The table is
 * immutable: no lock. */
#ifndef CHATROOM_CATALOG_H
#define CHATROOM_CATALOG_H

#include <stdarg.h>
#include <stddef.h>

enum cat_lang { CAT_EN = 0, CAT_ZH = 1 };
#define CAT_NLANGS 2

enum cat_id {
	/* session, framing, rate limit */
	CAT_LOGIN_FIRST,
	CAT_UNKNOWN_TYPE,
	CAT_RATE_LIMITED,
	CAT_RATE_DISCONNECT,
	CAT_LINE_TOO_LONG,
	CAT_BAD_UTF8,
	CAT_BAD_JSON,
	CAT_JSON_TOO_DEEP,
	CAT_NOT_OBJECT,
	CAT_NO_TYPE,
	CAT_OUT_OF_MEMORY,
	CAT_SHUTDOWN,
	CAT_TOO_MANY_CONNECTIONS,
	CAT_TOO_MANY_FROM_ADDRESS,
	CAT_SERVER_BUSY,
	CAT_TRANSFERS_BUSY,
	/* hello */
	CAT_HELLO_FIRST,
	CAT_HELLO_PROTOCOL,
	CAT_HELLO_CLIENT,
	CAT_HELLO_LANG,
	/* accounts */
	CAT_CREDENTIALS_REQUIRED,
	CAT_USERNAME_TEXT,
	CAT_USERNAME_LENGTH,
	CAT_USERNAME_LONG,
	CAT_USERNAME_DIGIT,
	CAT_USERNAME_CHARS,
	CAT_PASSWORD_TEXT,
	CAT_PASSWORD_LENGTH,
	CAT_PASSWORD_LONG,
	CAT_PASSWORD_MIX,
	CAT_HASH_FAILED,
	CAT_USER_EXISTS,
	CAT_REGISTER_FAILED,
	CAT_LOGIN_THROTTLED,
	CAT_DATABASE_ERROR,
	CAT_MESSAGE_NOT_STORED,
	CAT_BAD_CREDENTIALS,
	CAT_LOGGED_IN_ELSEWHERE,
	CAT_LOGGED_OUT,
	CAT_LIST_USERS_ARGS,
	CAT_LIST_USERS_TYPE,
	/* chat and groups */
	CAT_CHAT_NOT_FOUND,
	CAT_CHAT_NOT_FOUND_NAME,
	CAT_NOT_MEMBER,
	CAT_NOT_MEMBER_NAME,
	CAT_CONTENT_REQUIRED,
	CAT_GROUP_ID_INTEGER,
	CAT_CLIENT_MSG_ID,
	CAT_CONTENT_EMPTY,
	CAT_NO_CURRENT_CHAT,
	CAT_USER_BANNED,
	CAT_CHAT_BANNED,
	CAT_STORE_FULL,
	CAT_CHAT_NAME_REQUIRED,
	CAT_CHAT_NAME_TEXT,
	CAT_CHAT_NAME_LENGTH,
	CAT_CHAT_NAME_LONG,
	CAT_CHAT_NAME_CONTROL,
	CAT_CHAT_NAME_SPACE,
	CAT_MEMBERS_LIST,
	CAT_MEMBERS_MAX,
	CAT_USER_NOT_FOUND_NAME,
	CAT_CHAT_EXISTS,
	CAT_CREATE_FAILED,
	CAT_PRIVATE_NO_JOIN,
	CAT_JOIN_FAILED,
	CAT_JOINED,
	CAT_ALREADY_MEMBER,
	CAT_HISTORY_FAILED,
	CAT_SESSION_TAKEN,
	CAT_HISTORY_ARGS,
	CAT_HISTORY_RANGE,
	CAT_LIST_CHATS_ARGS,
	CAT_LIST_CHATS_TYPE,
	/* files */
	CAT_FILENAME_EMPTY,
	CAT_FILENAME_LONG,
	CAT_FILENAME_CONTROL,
	CAT_NO_CURRENT_CHAT_FILE,
	CAT_UPLOAD_ARGS,
	CAT_FILE_SIZE_ZERO,
	CAT_FILE_TOO_LARGE,
	CAT_FILE_TYPE,
	CAT_USER_BANNED_FILE,
	CAT_CHAT_BANNED_FILE,
	CAT_FILES_UNAVAILABLE,
	CAT_FILE_SAVE_FAILED,
	CAT_UPLOAD_STALLED,
	CAT_CHAT_DELETED_UPLOAD,
	CAT_FILE_RECORD_FAILED,
	CAT_UPLOAD_READY,
	CAT_UPLOADED,
	CAT_FILE_NOTIFICATION,
	CAT_DOWNLOAD_ARGS,
	CAT_FILE_NOT_FOUND,
	CAT_NOT_MEMBER_FILE,
	CAT_FILE_MISSING,
	CAT_DOWNLOAD_STARTING,
	CAT_DOWNLOADED,
	/* admin commands */
	CAT_ADMIN_ONLY,
	CAT_ADMIN_ARGS,
	CAT_ADMIN_ARGS_FORMAT,
	CAT_ADMIN_UNKNOWN,
	CAT_ADMIN_USAGE,
	CAT_USAGE_ADD_U,
	CAT_USAGE_DEL_U,
	CAT_USAGE_DEL_G,
	CAT_USAGE_DEL_F,
	CAT_USAGE_MODIFY_U,
	CAT_USAGE_MODIFY_G,
	CAT_USAGE_BAN_U,
	CAT_USAGE_BAN_G,
	CAT_USAGE_FREE_U,
	CAT_USAGE_FREE_G,
	CAT_USAGE_FREE_L,
	CAT_USAGE_STATS,
	CAT_ADMIN_USER_NOT_FOUND,
	CAT_ADMIN_USER_ID_NOT_FOUND,
	CAT_ADMIN_CHAT_NOT_FOUND,
	CAT_ADMIN_CHAT_ID_NOT_FOUND,
	CAT_ADMIN_USER_EXISTS,
	CAT_ADMIN_ADD_FAILED,
	CAT_ADMIN_USER_ADDED,
	CAT_ADMIN_NO_DELETE_ADMIN,
	CAT_ADMIN_DELETE_USER_FAILED,
	CAT_ADMIN_ACCOUNT_DELETED,
	CAT_ADMIN_USER_DELETED,
	CAT_ADMIN_NO_DELETE_PUBLIC,
	CAT_ADMIN_DELETE_CHAT_FAILED,
	CAT_ADMIN_CHAT_DELETED_NOTICE,
	CAT_ADMIN_CHAT_DELETED,
	CAT_ADMIN_FILE_ID_NUMBER,
	CAT_ADMIN_FILE_NOT_FOUND,
	CAT_ADMIN_DELETE_FILE_FAILED,
	CAT_ADMIN_FILE_DELETED,
	CAT_ADMIN_MODIFY_USER_FIELD,
	CAT_ADMIN_PASSWORD_FAILED,
	CAT_ADMIN_PASSWORD_CHANGED,
	CAT_ADMIN_PASSWORD_NOTICE,
	CAT_ADMIN_NO_RENAME_ADMIN,
	CAT_ADMIN_RENAME_USER_FAILED,
	CAT_ADMIN_RENAMED_NOTICE,
	CAT_ADMIN_USER_RENAMED,
	CAT_ADMIN_MODIFY_CHAT_FIELD,
	CAT_ADMIN_NO_RENAME_PUBLIC,
	CAT_ADMIN_CHAT_EXISTS,
	CAT_ADMIN_RENAME_CHAT_FAILED,
	CAT_ADMIN_CHAT_RENAMED,
	CAT_ADMIN_NO_BAN_ADMIN,
	CAT_ADMIN_USER_ALREADY_BANNED,
	CAT_ADMIN_USER_NOT_BANNED,
	CAT_ADMIN_USER_BANNED,
	CAT_ADMIN_USER_FREED,
	CAT_ADMIN_NO_BAN_PUBLIC,
	CAT_ADMIN_CHAT_ALREADY_BANNED,
	CAT_ADMIN_CHAT_NOT_BANNED,
	CAT_ADMIN_CHAT_BANNED,
	CAT_ADMIN_CHAT_FREED,
	CAT_ADMIN_BANNED_ITEM,
	CAT_ADMIN_BANNED_SEPARATOR,
	CAT_ADMIN_BANNED_USERS,
	CAT_ADMIN_BANNED_USERS_NONE,
	CAT_ADMIN_BANNED_CHATS,
	CAT_ADMIN_BANNED_CHATS_NONE,
	CAT_ADMIN_BANNED_LIST,
	CAT_REGISTER_TOO_MANY,
	CAT_BANNED_CREATE,
	CAT_BANNED_JOIN,
	CAT_TOO_MANY_CHATS,
	CAT_FILE_LOW_SPACE,
	CAT_FILE_NAME_EMPTY,
	/* direct chats, invite-only groups, members */
	CAT_INVITE_ONLY_ARG,
	CAT_INVITE_ONLY_NO_JOIN,
	CAT_DIRECT_ARGS,
	CAT_DIRECT_SELF,
	CAT_DIRECT_FAILED,
	CAT_BANNED_DIRECT,
	CAT_MEMBER_ARGS,
	CAT_BANNED_INVITE,
	CAT_DIRECT_MEMBERS_FIXED,
	CAT_PUBLIC_MEMBERS_FIXED,
	CAT_ALREADY_MEMBER_USER,
	CAT_NOT_MEMBER_USER,
	CAT_REMOVE_NOT_ALLOWED,
	CAT_REMOVE_SELF,
	CAT_LEAVE_PUBLIC,
	CAT_MEMBERS_FAILED,
	CAT_INVITED_NOTICE,
	CAT_REMOVED_NOTICE,
	CAT_TOO_MANY_CHATS_USER,
	CAT_COUNT
};

struct cat_entry {
	const char *name;     /* "CAT_LOGIN_FIRST": the id as spelled in the source */
	const char *args;     /* the signature, see above */
	int ours;             /* 1: the reference has no such text; the Chinese is ours */
	const char *text[CAT_NLANGS];
};

/* The entry of id (never NULL for id < CAT_COUNT). */
const struct cat_entry *catalog_entry(int id);

/* Format entry id in lang into buf (always terminated). A text cut to fit
 * ends on a whole UTF-8 character. Returns buf. */
char *catalog_format(char *buf, size_t len, int lang, int id, ...);
char *catalog_vformat(char *buf, size_t len, int lang, int id, va_list ap);

/* The entry whose English text is exactly en (the English reasons returned
 * by common/valid.c and proto_parse()), or -1. */
int catalog_by_english(const char *en);

/* The entry for a reason from common/valid.c about value: like
 * catalog_by_english(), but a length that is too long (not too short) gets
 * its own entry, as the reference words the two apart. -1: none. */
int catalog_for_reason(const char *why, const char *value);

/* "zh" or "en" -> CAT_ZH or CAT_EN; -1 for anything else. */
int catalog_lang_parse(const char *s);
const char *catalog_lang_name(int lang);

/* Cut s (len bytes) back to the end of its last whole UTF-8 character:
 * the new length. */
size_t catalog_utf8_cut(const char *s, size_t len);

#endif
