/* catalog.c - the table of every text sent to clients; see catalog.h.
 *
 * The Chinese texts marked REF are the reference server's own words
 * (Chat-Room: shared/exceptions.py, server/core/server.py,
 * server/core/admin_manager.py, server/core/chat_manager.py,
 * server/utils/auth.py, server/utils/admin_auth.py,
 * server/database/models.py), its placeholders become printf conversions.
 * Those marked OURS have no counterpart there (flood control, busy,
 * protocol 2, ...) and are written in the same register. */
#include "config.h"
#include "catalog.h"
#include "text.h"
#include "tunables.h"

#include <stdio.h>
#include <string.h>

#define REF 0
#define OURS 1
#define E(id, sig, origin, en, zh) [id] = { #id, sig, origin, { en, zh } }

static const struct cat_entry catalog_table[CAT_COUNT] = {
	/* session, framing, rate limit */
	E(CAT_LOGIN_FIRST, "", REF, "not logged in: log in first", "请先登录"),
	E(CAT_UNKNOWN_TYPE, "s", REF, "unknown message_type '%.64s'", "未知的消息类型: %.64s"),
	E(CAT_RATE_LIMITED, "d", OURS, "rate limit exceeded: at most %d messages per second",
	  "发送过于频繁：每秒最多 %d 条消息"),
	E(CAT_RATE_DISCONNECT, "", OURS, "rate limit exceeded repeatedly: disconnected",
	  "持续发送过于频繁，连接已断开"),
	E(CAT_LINE_TOO_LONG, "d", OURS, "message too large: lines are limited to %d bytes",
	  "消息过大：每行最多 %d 字节"),
	E(CAT_BAD_UTF8, "", REF, "invalid message: not valid UTF-8", "消息格式错误"),
	E(CAT_BAD_JSON, "", REF, "invalid message: not valid JSON", "JSON格式错误"),
	E(CAT_JSON_TOO_DEEP, "", REF, "invalid message: JSON nested too deeply", "JSON格式错误"),
	E(CAT_NOT_OBJECT, "", REF, "invalid message: expected a JSON object", "消息格式错误"),
	E(CAT_NO_TYPE, "", REF, "invalid message: message_type missing or not a string", "消息格式错误"),
	E(CAT_OUT_OF_MEMORY, "", REF, "server out of memory", "服务器内部错误"),
	E(CAT_SHUTDOWN, "", OURS, "Server shutting down", "服务器正在关闭"),
	E(CAT_TOO_MANY_CONNECTIONS, "", OURS, "too many connections to the server",
	  "服务器连接数已满，请稍后再试"),
	E(CAT_TOO_MANY_FROM_ADDRESS, "", OURS, "too many connections from your address",
	  "来自您地址的连接过多"),
	E(CAT_SERVER_BUSY, "", OURS, "server busy: try again later", "服务器繁忙，请稍后再试"),
	E(CAT_TRANSFERS_BUSY, "", OURS,
	  "server busy: too many file transfers at once; try again later",
	  "服务器繁忙：同时进行的文件传输过多，请稍后再试"),
	/* hello (protocol 2) */
	E(CAT_HELLO_FIRST, "", OURS, "hello must be the first message on a connection",
	  "hello 必须是连接上的第一条消息"),
	E(CAT_HELLO_PROTOCOL, "", OURS, "hello needs protocol (an integer, 2 or more)",
	  "hello 需要 protocol（整数，2 或以上）"),
	E(CAT_HELLO_CLIENT, "", OURS, "hello: client must be a string", "hello：client 必须是字符串"),
	E(CAT_HELLO_LANG, "", OURS, "hello: lang must be \"zh\" or \"en\"",
	  "hello：lang 必须是 \"zh\" 或 \"en\""),
	/* accounts */
	E(CAT_CREDENTIALS_REQUIRED, "", OURS, "username and password are required strings",
	  "用户名和密码必须是字符串"),
	E(CAT_USERNAME_TEXT, "", REF, "username must be valid text", "用户名不能为空"),
	E(CAT_USERNAME_LENGTH, "", REF, "username must be 3 to 20 characters long",
	  "用户名长度不能少于3个字符"),
	/* the same English; catalog_for_reason() tells them apart */
	E(CAT_USERNAME_LONG, "", REF, "username must be 3 to 20 characters long",
	  "用户名长度不能超过20个字符"),
	E(CAT_USERNAME_DIGIT, "", REF, "username must not start with a digit", "用户名不能以数字开头"),
	E(CAT_USERNAME_CHARS, "", REF,
	  "username may contain only letters, digits, '_' and CJK characters",
	  "用户名只能包含字母、数字、下划线和中文字符"),
	E(CAT_PASSWORD_TEXT, "", REF, "password must be valid text", "密码不能为空"),
	E(CAT_PASSWORD_LENGTH, "", REF, "password must be 6 to 50 characters long",
	  "密码长度不能少于6个字符"),
	E(CAT_PASSWORD_LONG, "", REF, "password must be 6 to 50 characters long",
	  "密码长度不能超过50个字符"),
	E(CAT_PASSWORD_MIX, "", REF, "password must contain at least one letter and one digit",
	  "密码必须包含至少一个字母和一个数字"),
	E(CAT_HASH_FAILED, "", OURS, "server could not hash the password; try again",
	  "服务器无法处理密码，请重试"),
	E(CAT_USER_EXISTS, "s", REF, "username already exists", "用户名 '%s' 已存在"),
	E(CAT_REGISTER_FAILED, "", REF, "could not store the account; try again later", "注册失败"),
	E(CAT_LOGIN_THROTTLED, "d", OURS, "too many failed logins: try again in %d seconds",
	  "登录失败次数过多，请 %d 秒后再试"),
	E(CAT_DATABASE_ERROR, "", REF, "database error; try again later", "数据库操作失败"),
	E(CAT_MESSAGE_NOT_STORED, "", OURS,
	  "message not stored: the server could not write it to the database; send it again",
	  "消息未保存：服务器无法将其写入数据库，请重新发送"),
	E(CAT_BAD_CREDENTIALS, "", REF, "invalid username or password", "用户名或密码错误"),
	E(CAT_LOGGED_IN_ELSEWHERE, "", OURS,
	  "You were logged out: your account logged in from another connection",
	  "您已被登出：您的账号在另一处登录"),
	E(CAT_LOGGED_OUT, "", REF, "Logged out", "已成功登出"),
	E(CAT_LIST_USERS_ARGS, "", OURS,
	  "list_users_request: list_type must be a string and chat_group_id an integer",
	  "list_users_request：list_type 必须是字符串，chat_group_id 必须是整数"),
	E(CAT_LIST_USERS_TYPE, "", OURS, "list_type must be \"all\" or \"current_chat\"",
	  "list_type 必须是 \"all\" 或 \"current_chat\""),
	/* chat and groups */
	E(CAT_CHAT_NOT_FOUND, "", REF, "chat not found", "聊天组不存在"),
	E(CAT_CHAT_NOT_FOUND_NAME, "s", REF, "chat not found: %.64s", "聊天组 '%.64s' 不存在"),
	E(CAT_NOT_MEMBER, "", REF, "you are not a member of this chat", "您不在此聊天组中"),
	E(CAT_NOT_MEMBER_NAME, "s", REF, "you are not a member of %.64s",
	  "您不是聊天组 '%.64s' 的成员"),
	E(CAT_CONTENT_REQUIRED, "", REF, "chat_message needs content (a string)",
	  "缺少必需字段: content"),
	E(CAT_GROUP_ID_INTEGER, "", OURS, "chat_group_id must be an integer",
	  "chat_group_id 必须是整数"),
	E(CAT_CLIENT_MSG_ID, "d", OURS, "client_msg_id must be a string of 1 to %d bytes",
	  "client_msg_id 必须是 1 到 %d 字节的字符串"),
	E(CAT_CONTENT_EMPTY, "", REF, "message content is empty", "消息内容不能为空"),
	E(CAT_NO_CURRENT_CHAT, "", OURS, "no current chat: enter a chat first",
	  "当前不在任何聊天组中，请先进入聊天组"),
	E(CAT_USER_BANNED, "", REF, "you are banned from sending messages",
	  "您已被禁言，无法发送消息"),
	E(CAT_CHAT_BANNED, "", REF, "this chat is banned: no messages can be sent to it",
	  "该聊天组已被禁言，无法发送消息"),
	E(CAT_STORE_FULL, "", REF,
	  "message not accepted: the server cannot store messages right now; try again later",
	  "消息发送失败"),
	E(CAT_CHAT_NAME_REQUIRED, "s", REF, "%s needs chat_name (a string)", "聊天组名称不能为空"),
	E(CAT_CHAT_NAME_TEXT, "", REF, "chat name must be valid text", "聊天组名称不能为空"),
	E(CAT_CHAT_NAME_LENGTH, "", REF, "chat name must be 2 to 30 characters long",
	  "聊天组名称长度不能少于2个字符"),
	E(CAT_CHAT_NAME_LONG, "", REF, "chat name must be 2 to 30 characters long",
	  "聊天组名称长度不能超过30个字符"),
	E(CAT_CHAT_NAME_CONTROL, "", OURS, "chat name must not contain control characters",
	  "聊天组名称不能包含控制字符"),
	E(CAT_CHAT_NAME_SPACE, "", OURS, "chat name must not start or end with a space",
	  "聊天组名称不能以空格开头或结尾"),
	E(CAT_MEMBERS_LIST, "", OURS, "member_usernames must be a list of strings",
	  "member_usernames 必须是字符串列表"),
	E(CAT_MEMBERS_MAX, "d", OURS, "member_usernames: at most %d names",
	  "member_usernames 最多 %d 个用户名"),
	E(CAT_USER_NOT_FOUND_NAME, "s", REF, "user not found: %.64s", "用户 '%.64s' 不存在"),
	E(CAT_CHAT_EXISTS, "s", REF, "a chat with that name already exists",
	  "聊天组名称 '%s' 已存在"),
	E(CAT_CREATE_FAILED, "", REF, "could not create the chat; try again later", "创建聊天组失败"),
	E(CAT_PRIVATE_NO_JOIN, "s", OURS, "%.64s is a private chat: it cannot be joined",
	  "%.64s 是私聊，不能加入"),
	E(CAT_JOIN_FAILED, "", REF, "could not join the chat; try again later", "加入聊天组失败"),
	E(CAT_JOINED, "s", REF, "Joined chat %s", "成功加入聊天组 '%s'"),
	/* the reference answers a member's join as any other */
	E(CAT_ALREADY_MEMBER, "s", REF, "You are already a member of chat %s", "成功加入聊天组 '%s'"),
	E(CAT_HISTORY_FAILED, "", OURS, "could not read the history; try again later",
	  "无法读取聊天记录，请稍后再试"),
	E(CAT_SESSION_TAKEN, "", OURS, "not logged in: your account logged in elsewhere",
	  "未登录：您的账号已在别处登录"),
	E(CAT_HISTORY_ARGS, "", OURS,
	  "history_request needs chat_group_id, and integers for after_message_id, "
	  "before_message_id and limit",
	  "history_request 需要 chat_group_id，after_message_id、before_message_id 和 limit 必须是整数"),
	E(CAT_HISTORY_RANGE, "", OURS, "history_request: limit must be 1 or more, message ids positive",
	  "history_request：limit 至少为 1，消息 ID 必须为正数"),
	E(CAT_LIST_CHATS_ARGS, "", OURS, "list_type must be a string", "list_type 必须是字符串"),
	E(CAT_LIST_CHATS_TYPE, "", OURS, "list_type must be \"joined\" or \"all\"",
	  "list_type 必须是 \"joined\" 或 \"all\""),
	/* files */
	E(CAT_FILENAME_EMPTY, "", REF, "filename is empty", "文件名不能为空"),
	E(CAT_FILENAME_LONG, "", REF, "filename is too long (at most 255 bytes)",
	  "文件名长度不能超过255个字符"),
	E(CAT_FILENAME_CONTROL, "", OURS, "filename contains control characters",
	  "文件名不能包含控制字符"),
	E(CAT_NO_CURRENT_CHAT_FILE, "", REF, "no current chat: give chat_group_id", "聊天组ID不能为空"),
	E(CAT_UPLOAD_ARGS, "", REF,
	  "file_upload_request needs filename (a string), file_size and chat_group_id (integers)",
	  "缺少必需的文件上传参数"),
	E(CAT_FILE_SIZE_ZERO, "", OURS, "file_size must be more than 0", "文件大小必须大于 0"),
	E(CAT_FILE_TOO_LARGE, "LL", REF, "file too large: at most %lld MB (%lld bytes)",
	  "文件过大，最大支持 %lldMB"),
	E(CAT_FILE_TYPE, "ss", REF, "file type not allowed: '%s'; allowed extensions are %s",
	  "不支持的文件类型: %s"),
	E(CAT_USER_BANNED_FILE, "", REF, "you are banned from sending messages and files",
	  "您已被禁言，无法发送消息"),
	E(CAT_CHAT_BANNED_FILE, "", REF, "this chat is banned: nothing can be sent to it",
	  "该聊天组已被禁言，无法发送消息"),
	E(CAT_FILES_UNAVAILABLE, "", REF, "the server cannot store files right now", "文件上传失败"),
	E(CAT_FILE_SAVE_FAILED, "", REF, "the server could not save the file", "文件接收失败"),
	E(CAT_UPLOAD_STALLED, "d", OURS, "upload stalled: no data for %d seconds",
	  "文件传输中断：%d 秒未收到数据"),
	E(CAT_CHAT_DELETED_UPLOAD, "", OURS, "the chat was deleted during the upload",
	  "上传期间聊天组已被删除"),
	E(CAT_FILE_RECORD_FAILED, "", REF, "could not record the file; try again later",
	  "文件上传失败"),
	E(CAT_UPLOAD_READY, "", REF, "ready", "准备接收文件"),
	E(CAT_UPLOADED, "s", REF, "File '%s' uploaded", "文件 '%s' 上传成功"),
	E(CAT_FILE_NOTIFICATION, "ssL", REF, "%s uploaded a file: %s (%lldKB)",
	  "📎 %s 上传了文件: %s (%lldKB)"),
	E(CAT_DOWNLOAD_ARGS, "", REF, "file_download_request needs file_id (a file number)",
	  "文件ID不能为空"),
	E(CAT_FILE_NOT_FOUND, "", REF, "file not found", "文件不存在"),
	E(CAT_NOT_MEMBER_FILE, "", REF, "you are not a member of the chat of this file",
	  "您无权下载此文件"),
	E(CAT_FILE_MISSING, "", REF, "the file is missing on the server", "服务器上的文件不存在"),
	E(CAT_DOWNLOAD_STARTING, "", REF, "download starting", "开始下载文件"),
	E(CAT_DOWNLOADED, "s", REF, "File '%s' downloaded", "文件 '%s' 下载完成"),
	/* admin commands */
	E(CAT_ADMIN_ONLY, "", REF, "permission denied: only Admin may use admin commands",
	  "权限不足：需要管理员权限"),
	E(CAT_ADMIN_ARGS, "", OURS, "admin_command_request needs command and action (strings)",
	  "admin_command_request 需要 command 和 action（字符串）"),
	E(CAT_ADMIN_ARGS_FORMAT, "dd", OURS,
	  "admin_command_request: target_id must be an integer, target_name and new_value "
	  "strings, at most %d bytes and %d words together",
	  "admin_command_request：target_id 必须是整数，target_name 和 new_value 必须是字符串，"
	  "合计最多 %d 字节、%d 个词"),
	E(CAT_ADMIN_UNKNOWN, "s", OURS, "unknown admin command; use one of: %s",
	  "无效的管理员命令，可用命令: %s"),
	E(CAT_ADMIN_USAGE, "s", REF, "usage: %s", "%s"),
	E(CAT_USAGE_ADD_U, "", REF, "add -u NAME PASSWORD", "用法: /add -u <用户名> <密码>"),
	E(CAT_USAGE_DEL_U, "", REF, "del -u USER", "用法: /del -u <用户ID>"),
	E(CAT_USAGE_DEL_G, "", REF, "del -g GROUP", "用法: /del -g <群组ID>"),
	E(CAT_USAGE_DEL_F, "", REF, "del -f FILE_ID", "用法: /del -f <文件ID>"),
	E(CAT_USAGE_MODIFY_U, "", REF, "modify -u USER username|password VALUE",
	  "用法: /modify -u <用户ID> <字段> <新值>"),
	E(CAT_USAGE_MODIFY_G, "", REF, "modify -g GROUP name VALUE",
	  "用法: /modify -g <群组ID> <字段> <新值>"),
	E(CAT_USAGE_BAN_U, "", REF, "ban -u USER", "用法: /ban -u <用户ID或用户名>"),
	E(CAT_USAGE_BAN_G, "", REF, "ban -g GROUP", "用法: /ban -g <群组ID或群组名>"),
	E(CAT_USAGE_FREE_U, "", REF, "free -u USER", "用法: /free -u <用户ID或用户名>"),
	E(CAT_USAGE_FREE_G, "", REF, "free -g GROUP", "用法: /free -g <群组ID或群组名>"),
	E(CAT_USAGE_FREE_L, "", OURS, "free -l", "用法: /free -l"),
	E(CAT_USAGE_STATS, "", OURS, "stats", "用法: /stats"),
	E(CAT_ADMIN_USER_NOT_FOUND, "s", REF, "user not found: %.64s", "用户 %.64s 不存在"),
	E(CAT_ADMIN_USER_ID_NOT_FOUND, "s", REF, "user not found: %.64s", "用户ID %.64s 不存在"),
	E(CAT_ADMIN_CHAT_NOT_FOUND, "s", REF, "chat not found: %.64s", "群组 %.64s 不存在"),
	E(CAT_ADMIN_CHAT_ID_NOT_FOUND, "s", REF, "chat not found: %.64s", "群组ID %.64s 不存在"),
	E(CAT_ADMIN_USER_EXISTS, "s", REF, "username already exists: %s", "用户名 %s 已存在"),
	E(CAT_ADMIN_ADD_FAILED, "", OURS, "could not store the account; try again later",
	  "创建用户失败，请稍后再试"),
	E(CAT_ADMIN_USER_ADDED, "sL", REF, "User %s added (id %lld)", "用户 %s (ID: %lld) 已创建成功"),
	E(CAT_ADMIN_NO_DELETE_ADMIN, "", REF, "the Admin account cannot be deleted", "不能删除自己"),
	E(CAT_ADMIN_DELETE_USER_FAILED, "", OURS, "could not delete the user; try again later",
	  "删除用户失败，请稍后再试"),
	E(CAT_ADMIN_ACCOUNT_DELETED, "", OURS, "Your account was deleted by Admin",
	  "您的账号已被管理员删除"),
	E(CAT_ADMIN_USER_DELETED, "sL", REF, "User %s (id %lld) deleted", "用户 %s (ID: %lld) 已被删除"),
	E(CAT_ADMIN_NO_DELETE_PUBLIC, "", REF, "the group public cannot be deleted", "不能删除public群组"),
	E(CAT_ADMIN_DELETE_CHAT_FAILED, "", OURS, "could not delete the chat; try again later",
	  "删除群组失败，请稍后再试"),
	E(CAT_ADMIN_CHAT_DELETED_NOTICE, "ss", OURS, "Chat %s was deleted by Admin; you are now in %s",
	  "聊天组 %s 已被管理员删除，您已回到 %s"),
	E(CAT_ADMIN_CHAT_DELETED, "sL", REF, "Chat %s (id %lld) deleted", "群组 %s (ID: %lld) 已被删除"),
	E(CAT_ADMIN_FILE_ID_NUMBER, "", REF, "del -f needs a file id", "文件ID必须是数字"),
	E(CAT_ADMIN_FILE_NOT_FOUND, "s", REF, "file not found: %.32s", "文件ID %.32s 不存在"),
	E(CAT_ADMIN_DELETE_FILE_FAILED, "", OURS, "could not delete the file; try again later",
	  "删除文件失败，请稍后再试"),
	E(CAT_ADMIN_FILE_DELETED, "sLss", REF, "File %s (id %lld) deleted",
	  "文件 %s (ID: %lld) 已被删除\n上传者: %s\n所属群组: %s"),
	E(CAT_ADMIN_MODIFY_USER_FIELD, "s", REF,
	  "modify -u USER takes username NAME or password PASSWORD", "不支持修改字段: %s"),
	E(CAT_ADMIN_PASSWORD_FAILED, "", OURS, "could not change the password; try again later",
	  "修改密码失败，请稍后再试"),
	E(CAT_ADMIN_PASSWORD_CHANGED, "s", REF, "Password of %s changed", "用户 %s 的密码已重置"),
	E(CAT_ADMIN_PASSWORD_NOTICE, "", OURS,
	  "Admin changed your password: log in again with the new one",
	  "管理员已重置您的密码，请用新密码重新登录"),
	E(CAT_ADMIN_NO_RENAME_ADMIN, "", OURS, "the Admin account cannot be renamed",
	  "不能修改管理员的用户名"),
	E(CAT_ADMIN_RENAME_USER_FAILED, "", OURS, "could not rename the user; try again later",
	  "修改用户名失败，请稍后再试"),
	E(CAT_ADMIN_RENAMED_NOTICE, "s", OURS,
	  "Admin renamed your account to %s: log in again with that name",
	  "管理员已将您的用户名修改为 %s，请用新用户名重新登录"),
	E(CAT_ADMIN_USER_RENAMED, "ss", REF, "User %s renamed to %s", "用户 %s 的用户名已修改为 %s"),
	E(CAT_ADMIN_MODIFY_CHAT_FIELD, "s", REF, "modify -g GROUP takes name NAME", "不支持修改字段: %s"),
	E(CAT_ADMIN_NO_RENAME_PUBLIC, "", OURS, "the group public cannot be renamed",
	  "不能修改public群组的名称"),
	E(CAT_ADMIN_CHAT_EXISTS, "s", REF, "a chat with that name already exists: %s",
	  "聊天组名称 '%s' 已存在"),
	E(CAT_ADMIN_RENAME_CHAT_FAILED, "", OURS, "could not rename the chat; try again later",
	  "修改群组名称失败，请稍后再试"),
	E(CAT_ADMIN_CHAT_RENAMED, "ss", REF, "Chat %s renamed to %s", "群组 %s 的名称已修改为 %s"),
	E(CAT_ADMIN_NO_BAN_ADMIN, "", REF, "the Admin account cannot be banned", "不能禁言自己"),
	E(CAT_ADMIN_USER_ALREADY_BANNED, "s", REF, "user %s is already banned", "用户 %s 已被禁言"),
	E(CAT_ADMIN_USER_NOT_BANNED, "s", REF, "user %s is not banned", "用户 %s 未被禁言"),
	E(CAT_ADMIN_USER_BANNED, "sL", REF, "User %s banned", "用户 %s (ID: %lld) 已被禁言"),
	E(CAT_ADMIN_USER_FREED, "sL", REF, "User %s freed", "用户 %s (ID: %lld) 已解除禁言"),
	E(CAT_ADMIN_NO_BAN_PUBLIC, "", REF, "the group public cannot be banned", "不能禁言public群组"),
	E(CAT_ADMIN_CHAT_ALREADY_BANNED, "s", REF, "chat %s is already banned", "群组 %s 已被禁言"),
	E(CAT_ADMIN_CHAT_NOT_BANNED, "s", REF, "chat %s is not banned", "群组 %s 未被禁言"),
	E(CAT_ADMIN_CHAT_BANNED, "sL", REF, "Chat %s banned", "群组 %s (ID: %lld) 已被禁言"),
	E(CAT_ADMIN_CHAT_FREED, "sL", REF, "Chat %s freed", "群组 %s (ID: %lld) 已解除禁言"),
	E(CAT_ADMIN_BANNED_ITEM, "sL", REF, "%s", "%s (ID: %lld)"),
	E(CAT_ADMIN_BANNED_SEPARATOR, "", REF, ", ", "\n"),
	E(CAT_ADMIN_BANNED_USERS, "zs", REF, "Banned users (%zu): %s", "被禁言用户 (%zu个):\n%s"),
	E(CAT_ADMIN_BANNED_USERS_NONE, "", REF, "Banned users (0): none", "被禁言用户: 无"),
	E(CAT_ADMIN_BANNED_CHATS, "zs", REF, "Banned chats (%zu): %s", "被禁言群组 (%zu个):\n%s"),
	E(CAT_ADMIN_BANNED_CHATS_NONE, "", REF, "Banned chats (0): none", "被禁言群组: 无"),
	E(CAT_ADMIN_BANNED_LIST, "ss", REF, "%s\n%s", "%s\n\n%s"),
	/* limits on registration, banned users, chats per user, uploads */
	E(CAT_REGISTER_TOO_MANY, "d", OURS,
	  "too many new accounts from your address: try again in %d seconds",
	  "来自您地址的新账号过多，请 %d 秒后再试"),
	E(CAT_BANNED_CREATE, "", OURS, "you are banned: you cannot create chats",
	  "您已被封禁，不能创建聊天"),
	E(CAT_BANNED_JOIN, "", OURS, "you are banned: you cannot join chats",
	  "您已被封禁，不能加入聊天"),
	E(CAT_TOO_MANY_CHATS, "d", OURS, "you are in too many chats: at most %d",
	  "您加入的聊天过多：最多 %d 个"),
	E(CAT_FILE_LOW_SPACE, "", OURS, "the server is low on disk space: the upload is refused",
	  "服务器磁盘空间不足，上传被拒绝"),
	E(CAT_FILE_NAME_EMPTY, "", OURS,
	  "filename has no name once its folders and leading dots are removed",
	  "文件名无效"),
	/* direct chats, invite-only groups, members (protocol 2) */
	E(CAT_INVITE_ONLY_ARG, "s", OURS, "%s: invite_only must be true or false",
	  "%s：invite_only 必须是 true 或 false"),
	E(CAT_INVITE_ONLY_NO_JOIN, "s", OURS,
	  "%.64s is invite-only: a member must add you (invite_member)",
	  "%.64s 仅限邀请加入：请由其成员邀请您"),
	E(CAT_DIRECT_ARGS, "s", OURS, "%s needs username (a string)", "%s 需要 username（字符串）"),
	E(CAT_DIRECT_SELF, "", OURS, "a direct chat needs another user, not yourself",
	  "不能与自己私聊"),
	E(CAT_DIRECT_FAILED, "", OURS, "could not open the direct chat; try again later",
	  "无法打开私聊，请稍后再试"),
	E(CAT_BANNED_DIRECT, "", OURS, "you are banned: you cannot open direct chats",
	  "您已被封禁，不能发起私聊"),
	E(CAT_MEMBER_ARGS, "s", OURS,
	  "%s needs username (a string) and takes chat_group_id (an integer; default: the current chat)",
	  "%s 需要 username（字符串），可带 chat_group_id（整数，默认为当前聊天）"),
	E(CAT_BANNED_INVITE, "", OURS, "you are banned: you cannot add members",
	  "您已被封禁，不能邀请成员"),
	E(CAT_DIRECT_MEMBERS_FIXED, "", OURS,
	  "a direct chat has exactly its two members: nobody can be added or removed",
	  "私聊只有两位成员：不能添加或移除成员"),
	E(CAT_PUBLIC_MEMBERS_FIXED, "s", OURS,
	  "everyone is a member of %s: nobody can be added, removed or leave",
	  "所有用户都是 %s 的成员：不能添加、移除或退出"),
	E(CAT_ALREADY_MEMBER_USER, "ss", OURS, "%.64s is already a member of %.64s",
	  "%.64s 已是 %.64s 的成员"),
	E(CAT_NOT_MEMBER_USER, "ss", OURS, "%.64s is not a member of %.64s",
	  "%.64s 不是 %.64s 的成员"),
	E(CAT_REMOVE_NOT_ALLOWED, "", OURS, "only the chat's creator or Admin may remove members",
	  "只有聊天的创建者或管理员可以移除成员"),
	E(CAT_REMOVE_SELF, "", OURS, "you cannot remove yourself: leave the chat (leave_chat) instead",
	  "不能移除自己：请退出聊天（leave_chat）"),
	E(CAT_LEAVE_PUBLIC, "s", OURS, "%s cannot be left: every user is a member",
	  "不能退出 %s：所有用户都是其成员"),
	E(CAT_MEMBERS_FAILED, "", OURS, "could not change the chat's members; try again later",
	  "无法更改聊天成员，请稍后再试"),
	E(CAT_INVITED_NOTICE, "ss", OURS, "%s added you to chat %s", "%s 邀请您加入了聊天组 '%s'"),
	E(CAT_REMOVED_NOTICE, "ss", OURS, "%s removed you from chat %s", "%s 将您移出了聊天组 '%s'"),
	E(CAT_TOO_MANY_CHATS_USER, "sd", OURS, "%.64s is in too many chats: at most %d",
	  "%.64s 加入的聊天过多：最多 %d 个"),
};

const struct cat_entry *catalog_entry(int id)
{
	return id >= 0 && id < CAT_COUNT ? &catalog_table[id] : NULL;
}

size_t catalog_utf8_cut(const char *s, size_t len)
{
	/* step back over continuation bytes to the lead byte of the last
	 * character; drop it when the bytes it announces are not all there */
	size_t i = len;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
		i--;
	if (i == 0)
		return 0;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
	return len - (i - 1) >= need ? len : i - 1;
}

char *catalog_vformat(char *buf, size_t len, int lang, int id, va_list ap)
{
	if (!len)
		return buf;
	const struct cat_entry *e = catalog_entry(id);
	if (!e || lang < 0 || lang >= CAT_NLANGS) {
		buf[0] = '\0';
		return buf;
	}
	/* the formats are the table's, checked by the unit test */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	int n = vsnprintf(buf, len, e->text[lang], ap);
#pragma GCC diagnostic pop
	if (n < 0)
		buf[0] = '\0';
	else if ((size_t)n >= len)
		buf[catalog_utf8_cut(buf, len - 1)] = '\0';
	return buf;
}

char *catalog_format(char *buf, size_t len, int lang, int id, ...)
{
	va_list ap;
	va_start(ap, id);
	catalog_vformat(buf, len, lang, id, ap);
	va_end(ap);
	return buf;
}

int catalog_by_english(const char *en)
{
	for (int i = 0; en && i < CAT_COUNT; i++)
		if (strcmp(catalog_table[i].text[CAT_EN], en) == 0)
			return i;
	return -1;
}

int catalog_for_reason(const char *why, const char *value)
{
	int id = catalog_by_english(why);
	if (id != CAT_USERNAME_LENGTH && id != CAT_PASSWORD_LENGTH && id != CAT_CHAT_NAME_LENGTH)
		return id;
	size_t n = value ? text_utf8_chars(value) : 0; /* valid: only length was refused */
	/* a length refused although not below the minimum is above the maximum */
	if (id == CAT_USERNAME_LENGTH && n >= CR_USERNAME_MIN)
		return CAT_USERNAME_LONG;
	if (id == CAT_PASSWORD_LENGTH && n >= CR_PASSWORD_MIN)
		return CAT_PASSWORD_LONG;
	if (id == CAT_CHAT_NAME_LENGTH && n >= CR_CHATNAME_MIN)
		return CAT_CHAT_NAME_LONG;
	return id;
}

int catalog_lang_parse(const char *s)
{
	if (s && strcmp(s, "zh") == 0)
		return CAT_ZH;
	if (s && strcmp(s, "en") == 0)
		return CAT_EN;
	return -1;
}

const char *catalog_lang_name(int lang)
{
	return lang == CAT_ZH ? "zh" : "en";
}
