#!/usr/bin/env python3
"""The texts clients read: a legacy client (no hello) gets the reference
server's own words (Chinese, [Server] Language zh), a protocol-2 client
English unless its hello asks for "lang": "zh"; the error codes are the
same in every language."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from adminlib import ADMIN_PASSWORD, FAST_HASH, AdminServerTest, admin_cmd, group_id, recv_any, upload  # noqa: E402
from harness import PASSWORD, main  # noqa: E402

LEGACY, EN, ZH = "legacy", "en", "zh"


class Texts(AdminServerTest):
    def conn(self, kind):
        c = self.srv.connect()
        self.addCleanup(c.close)
        if kind == EN:
            h = c.hello()
            self.assertEqual(h.get("lang"), "en")
        elif kind == ZH:
            c.send("hello", protocol=2, client="tests/1", lang="zh")
            self.assertEqual(c.recv_type("hello").get("lang"), "zh")
        return c

    def user(self, kind, name=None):
        c = self.conn(kind)
        name = name or self.name("cat")
        c.register(name)
        r = c.login(name)
        self.assertTrue(r["success"], r)
        return c, name

    def admin(self, kind=LEGACY):
        c = self.conn(kind)
        self.assertTrue(c.login("Admin", ADMIN_PASSWORD)["success"])
        return c

    def error(self, c, code):
        e = c.recv_type("error_message")
        self.assertEqual(e["error_code"], code, e)
        return e["error_message"]

    # accounts -----------------------------------------------------------
    def test_duplicate_registration(self):
        name = self.name("dup")
        self.user(EN, name)
        want = {LEGACY: "用户名 '%s' 已存在" % name, EN: "username already exists",
                ZH: "用户名 '%s' 已存在" % name}
        for kind, text in want.items():
            r = self.conn(kind).register(name)
            self.assertEqual((r["success"], r["error_message"]), (False, text), kind)

    def test_wrong_password(self):
        _, name = self.user(EN)
        want = {LEGACY: "用户名或密码错误", EN: "invalid username or password", ZH: "用户名或密码错误"}
        for kind, text in want.items():
            r = self.conn(kind).login(name, "wrong12345")
            self.assertEqual((r["success"], r["error_message"]), (False, text), kind)

    def test_registration_rules(self):
        want = {
            "ab": ("用户名长度不能少于3个字符", "username must be 3 to 20 characters long"),
            "a" * 21: ("用户名长度不能超过20个字符", "username must be 3 to 20 characters long"),
            "1abc": ("用户名不能以数字开头", "username must not start with a digit"),
        }
        for bad, (zh, en) in want.items():
            self.assertEqual(self.conn(LEGACY).register(bad)["error_message"], zh)
            self.assertEqual(self.conn(EN).register(bad)["error_message"], en)
        self.assertEqual(self.conn(LEGACY).register(self.name("pw"), "abcdefg")["error_message"],
                         "密码必须包含至少一个字母和一个数字")

    # chats ----------------------------------------------------------------
    def test_unknown_user(self):
        for kind, text in ((LEGACY, "用户 'nobody_here' 不存在"), (EN, "user not found: nobody_here"),
                           (ZH, "用户 'nobody_here' 不存在")):
            c, _ = self.user(kind)
            c.send("create_chat_request", chat_name=self.name("grp"), member_usernames=["nobody_here"])
            self.assertEqual(self.error(c, 1003), text, kind)

    def test_unknown_chat(self):
        for kind, text in ((LEGACY, "聊天组 'no_such_chat' 不存在"), (EN, "chat not found: no_such_chat"),
                           (ZH, "聊天组 'no_such_chat' 不存在")):
            c, _ = self.user(kind)
            c.send("enter_chat_request", chat_name="no_such_chat")
            self.assertEqual(self.error(c, 1004), text, kind)
            c.send("join_chat_request", chat_name="no_such_chat")
            self.assertEqual(self.error(c, 1004), text, kind)

    def test_non_member(self):
        owner, _ = self.user(EN)
        chat = self.name("priv")
        self.assertTrue(owner.create_chat(chat)["success"])
        for kind, text in ((LEGACY, "您不是聊天组 '%s' 的成员" % chat), (EN, "you are not a member of %s" % chat),
                           (ZH, "您不是聊天组 '%s' 的成员" % chat)):
            c, _ = self.user(kind)
            c.send("enter_chat_request", chat_name=chat)
            self.assertEqual(self.error(c, 1005), text, kind)
        gid = group_id(owner, chat)
        for kind, text in ((LEGACY, "您不在此聊天组中"), (EN, "you are not a member of this chat")):
            c, _ = self.user(kind)
            c.chat("hello?", group_id=gid)
            self.assertEqual(self.error(c, 1005), text, kind)

    def test_join_answers_in_the_reference_words(self):
        owner, _ = self.user(EN)
        chat = self.name("open")
        self.assertTrue(owner.create_chat(chat)["success"])
        c, _ = self.user(LEGACY)
        c.send("join_chat_request", chat_name=chat)
        self.assertEqual(c.recv_type("system_message")["content"], "成功加入聊天组 '%s'" % chat)

    def test_logout(self):
        for kind, text in ((LEGACY, "已成功登出"), (EN, "Logged out"), (ZH, "已成功登出")):
            c, _ = self.user(kind)
            c.send("logout_request")
            self.assertEqual(c.recv_type("system_message")["content"], text, kind)

    # each kind of bad request ------------------------------------------------
    def test_bad_requests(self):
        cases = [
            (b"this is not json\n", 1008, "JSON格式错误", "invalid message: not valid JSON"),
            (b"[1, 2]\n", 1008, "消息格式错误", "invalid message: expected a JSON object"),
            (b'{"timestamp": 0}\n', 1008, "消息格式错误",
             "invalid message: message_type missing or not a string"),
            (b'{"message_type": "bogus", "timestamp": 0}\n', 1008, "未知的消息类型: bogus",
             "unknown message_type 'bogus'"),
            (b'{"message_type": "user_info_request", "timestamp": 0}\n', 1001, "请先登录",
             "not logged in: log in first"),
            (b'{"message_type": "register_request", "timestamp": 0, "username": 5}\n', 1008,
             "用户名和密码必须是字符串", "username and password are required strings"),
        ]
        for line, code, zh, en in cases:
            for kind, text in ((LEGACY, zh), (EN, en), (ZH, zh)):
                c = self.conn(kind)
                c.send_raw(line)
                self.assertEqual(self.error(c, code), text, (kind, line))

    def test_bad_requests_of_a_logged_in_user(self):
        for kind in (LEGACY, EN, ZH):
            zh = kind != EN
            c, _ = self.user(kind)
            c.chat("   ")
            self.assertEqual(self.error(c, 1008), "消息内容不能为空" if zh else "message content is empty")
            gid = c.group["id"]
            c.send("file_upload_request", filename="big.txt", file_data="", file_size=1 << 40,
                   chat_group_id=gid)
            self.assertEqual(self.error(c, 1007), "文件过大，最大支持 100MB" if zh else
                             "file too large: at most 100 MB (104857600 bytes)")
            c.send("file_upload_request", filename="Tool.EXE", file_data="", file_size=10,
                   chat_group_id=gid)
            text = self.error(c, 1008)
            if zh:
                self.assertEqual(text, "不支持的文件类型: .exe")
            else:
                self.assertTrue(text.startswith("file type not allowed: '.exe'; allowed extensions are "), text)
            c.send("file_download_request", file_id="999999")
            self.assertEqual(self.error(c, 1006), "文件不存在" if zh else "file not found")
            c.send("admin_command_request", command="ban", action="-u", target_id=None,
                   target_name="Admin", new_value="")
            self.assertEqual(self.error(c, 1005), "权限不足：需要管理员权限" if zh else
                             "permission denied: only Admin may use admin commands")

    def test_hello_with_an_unknown_language_is_refused(self):
        c = self.srv.connect()
        self.addCleanup(c.close)
        c.send("hello", protocol=2, client="tests/1", lang="fr")
        # refused, the connection stays legacy: the legacy language
        self.assertEqual(self.error(c, 1008), "hello：lang 必须是 \"zh\" 或 \"en\"")

    # files ----------------------------------------------------------------
    def test_upload_texts(self):
        for kind, ready, done, note in (
                (LEGACY, "准备接收文件", "文件 'a.txt' 上传成功", "📎 %s 上传了文件: a.txt (2KB)"),
                (EN, "ready", "File 'a.txt' uploaded", "%s uploaded a file: a.txt (2KB)")):
            c, name = self.user(kind)
            first, final = upload(c, "a.txt", b"x" * 2048, c.group["id"])
            self.assertEqual(first["message"], ready)
            self.assertEqual(final["message"], done)
            n = recv_any(c, ("file_notification",))
            self.assertEqual(n["content"], note % name)

    # admin commands, as the reference's Admin (legacy) ---------------------------
    def test_admin_user_commands(self):
        a = self.admin()
        name = self.name("adm")
        r = admin_cmd(a, "add", "-u", new_value="%s %s" % (name, PASSWORD))
        self.assertTrue(r["success"], r)
        uid = self.conn(EN).login(name)["user_id"]
        self.assertEqual(r["message"], "用户 %s (ID: %d) 已创建成功" % (name, uid))
        r = admin_cmd(a, "add", "-u", new_value="%s %s" % (name, PASSWORD))
        self.assertEqual((r["success"], r["message"]), (False, "用户名 %s 已存在" % name))
        r = admin_cmd(a, "add", "-u")
        self.assertEqual((r["success"], r["message"]), (False, "用法: /add -u <用户名> <密码>"))

        r = admin_cmd(a, "modify", "-u", target_id=uid, new_value="password New12345")
        self.assertEqual((r["success"], r["message"]), (True, "用户 %s 的密码已重置" % name))
        r = admin_cmd(a, "modify", "-u", target_id=uid, new_value="email x@y")
        self.assertEqual((r["success"], r["message"]), (False, "不支持修改字段: email"))
        r = admin_cmd(a, "modify", "-u", target_id=999999, new_value="password New12345")
        self.assertEqual((r["success"], r["message"]), (False, "用户ID 999999 不存在"))

        r = admin_cmd(a, "ban", "-u", target_name=name)
        self.assertEqual((r["success"], r["message"]), (True, "用户 %s (ID: %d) 已被禁言" % (name, uid)))
        r = admin_cmd(a, "ban", "-u", target_name=name)
        self.assertEqual((r["success"], r["message"]), (False, "用户 %s 已被禁言" % name))
        r = admin_cmd(a, "ban", "-u", target_name="nobody_here")
        self.assertEqual((r["success"], r["message"]), (False, "用户 nobody_here 不存在"))
        r = admin_cmd(a, "ban", "-u", target_name="Admin")
        self.assertEqual((r["success"], r["message"]), (False, "不能禁言自己"))
        r = admin_cmd(a, "free", "-l")
        self.assertTrue(r["success"])
        self.assertIn("被禁言用户 (", r["message"])
        self.assertIn("%s (ID: %d)" % (name, uid), r["message"])
        r = admin_cmd(a, "free", "-u", target_name=name)
        self.assertEqual((r["success"], r["message"]), (True, "用户 %s (ID: %d) 已解除禁言" % (name, uid)))
        r = admin_cmd(a, "free", "-u", target_name=name)
        self.assertEqual((r["success"], r["message"]), (False, "用户 %s 未被禁言" % name))

        new = self.name("ren")
        r = admin_cmd(a, "modify", "-u", target_id=uid, new_value="username " + new)
        self.assertEqual((r["success"], r["message"]), (True, "用户 %s 的用户名已修改为 %s" % (name, new)))
        r = admin_cmd(a, "del", "-u", target_id=uid)
        self.assertEqual((r["success"], r["message"]), (True, "用户 %s (ID: %d) 已被删除" % (new, uid)))
        r = admin_cmd(a, "del", "-u", target_id=uid)
        self.assertEqual((r["success"], r["message"]), (False, "用户ID %d 不存在" % uid))
        r = admin_cmd(a, "del", "-u", target_id=0, target_name="Admin")
        self.assertEqual((r["success"], r["message"]), (False, "不能删除自己"))

    def test_admin_group_and_file_commands(self):
        a = self.admin()
        owner, oname = self.user(EN)
        chat = self.name("agrp")
        self.assertTrue(owner.create_chat(chat)["success"])
        gid = group_id(owner, chat)
        r = admin_cmd(a, "ban", "-g", target_name=chat)
        self.assertEqual((r["success"], r["message"]), (True, "群组 %s (ID: %d) 已被禁言" % (chat, gid)))
        r = admin_cmd(a, "ban", "-g", target_name=chat)
        self.assertEqual((r["success"], r["message"]), (False, "群组 %s 已被禁言" % chat))
        r = admin_cmd(a, "free", "-g", target_name=chat)
        self.assertEqual((r["success"], r["message"]), (True, "群组 %s (ID: %d) 已解除禁言" % (chat, gid)))
        r = admin_cmd(a, "free", "-g", target_name=chat)
        self.assertEqual((r["success"], r["message"]), (False, "群组 %s 未被禁言" % chat))
        r = admin_cmd(a, "ban", "-g", target_name="public")
        self.assertEqual((r["success"], r["message"]), (False, "不能禁言public群组"))
        r = admin_cmd(a, "ban", "-g", target_name="no_such_chat")
        self.assertEqual((r["success"], r["message"]), (False, "群组 no_such_chat 不存在"))

        owner.enter_chat(chat)
        _, final = upload(owner, "notes.txt", b"# notes\n", gid)
        fid = final["file_id"]
        r = admin_cmd(a, "del", "-f", target_id=fid)
        self.assertEqual((r["success"], r["message"]),
                         (True, "文件 notes.txt (ID: %d) 已被删除\n上传者: %s\n所属群组: %s" % (fid, oname, chat)))
        r = admin_cmd(a, "del", "-f", target_id=999)
        self.assertEqual((r["success"], r["message"]), (False, "文件ID 999 不存在"))
        r = admin_cmd(a, "del", "-f", target_name="abc")
        self.assertEqual((r["success"], r["message"]), (False, "文件ID必须是数字"))

        new = self.name("bgrp")
        r = admin_cmd(a, "modify", "-g", target_id=gid, new_value="name " + new)
        self.assertEqual((r["success"], r["message"]), (True, "群组 %s 的名称已修改为 %s" % (chat, new)))
        r = admin_cmd(a, "modify", "-g", target_id=gid, new_value="topic x")
        self.assertEqual((r["success"], r["message"]), (False, "不支持修改字段: topic"))
        r = admin_cmd(a, "del", "-g", target_id=gid)
        self.assertEqual((r["success"], r["message"]), (True, "群组 %s (ID: %d) 已被删除" % (new, gid)))
        r = admin_cmd(a, "del", "-g", target_id=gid)
        self.assertEqual((r["success"], r["message"]), (False, "群组ID %d 不存在" % gid))
        r = admin_cmd(a, "del", "-g", target_name="public")
        self.assertEqual((r["success"], r["message"]), (False, "不能删除public群组"))

    def test_admin_commands_in_english_for_protocol_2(self):
        a = self.admin(EN)
        r = admin_cmd(a, "del", "-f", target_id=999)
        self.assertEqual((r["success"], r["message"]), (False, "file not found: 999"))
        r = admin_cmd(a, "ban", "-u", target_name="nobody_here")
        self.assertEqual((r["success"], r["message"]), (False, "user not found: nobody_here"))

    def test_notification_in_each_recipients_language(self):
        a = self.admin()
        en, _ = self.user(EN)
        zh, _ = self.user(ZH)
        legacy, _ = self.user(LEGACY)
        _, name = self.user(EN)
        r = admin_cmd(a, "ban", "-u", target_name=name)
        self.assertTrue(r["success"], r)
        uid = self.conn(EN).login(name)["user_id"]

        def note(c):
            while True:
                n = c.recv_type("admin_operation_notification")
                if n["target_name"] == name:
                    return n["message"]
        self.assertEqual(note(en), "User %s banned" % name)
        self.assertEqual(note(zh), "用户 %s (ID: %d) 已被禁言" % (name, uid))
        self.assertEqual(note(legacy), "用户 %s (ID: %d) 已被禁言" % (name, uid))


class EnglishForLegacy(AdminServerTest):
    """[Server] Language en: legacy clients get the English texts."""

    server_args = FAST_HASH + ["--language", "en"]

    def test_legacy_client_gets_english(self):
        c = self.srv.connect()
        self.addCleanup(c.close)
        r = c.login("nobody_here", "secret123")
        self.assertEqual(r["error_message"], "invalid username or password")
        c.send_raw(b"not json\n")
        e = c.recv_type("error_message")
        self.assertEqual((e["error_code"], e["error_message"]), (1008, "invalid message: not valid JSON"))


if __name__ == "__main__":
    main()
