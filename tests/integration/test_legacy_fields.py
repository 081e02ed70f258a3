#!/usr/bin/env python3
"""A legacy client (one that sends no hello) gets exactly the reference
protocol's fields for each message type: reference clients reject a known
message type that carries a field they do not know, and accept an unknown
type only when it carries nothing but message_type and timestamp."""

from harness import ServerTest, main

COMMON = {"message_type", "timestamp"}
CHAT = {"sender_id", "sender_username", "chat_group_id", "chat_group_name", "content", "message_id"}
REFERENCE_FIELDS = {
    "register_response": {"success", "user_id", "username", "error_message"},
    "login_response": {"success", "user_id", "username", "error_message", "current_chat_group"},
    "chat_message": CHAT,
    "chat_history": CHAT,
    "chat_history_complete": {"chat_group_id", "message_count"},
    "create_chat_response": {"success", "chat_group_id", "chat_name", "error_message"},
    "join_chat_response": {"success", "chat_group_id", "chat_name", "error_message"},
    "enter_chat_response": {"success", "chat_group_id", "chat_name", "error_message"},
    "user_info_response": {"user_info", "joined_chats_count", "private_chats_count", "group_chats_count",
                           "total_users_count", "online_users_count", "total_chats_count",
                           "is_user_banned", "is_current_chat_banned", "current_chat_group_id",
                           "current_chat_group_name"},
    "list_users_response": {"users"},
    "list_chats_response": {"chats"},
    "file_upload_response": {"success", "message", "file_id"},
    "file_download_response": {"success", "message", "filename", "file_size"},
    "file_list_response": {"chat_group_id", "files"},
    "admin_command_response": {"success", "message", "data"},
    "admin_operation_notification": {"operation", "operator_id", "operator_name", "target_type",
                                     "target_id", "target_name", "message"},
    "system_message": {"content", "level"},
    "error_message": {"error_code", "error_message"},
    "heartbeat": set(),
    # the reference defines the name only: to a legacy client it may carry
    # nothing else
    "user_status_update": set(),
}
USER_ITEM = {"user_id", "username", "is_online"}
CHAT_ITEM = {"group_id", "group_name", "is_private_chat", "member_count", "created_at"}


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class LegacyFields(ServerTest):

    def assertReference(self, m):
        """m carries exactly the reference's fields for its type."""
        t = m["message_type"]
        want = REFERENCE_FIELDS.get(t, set()) | COMMON
        self.assertEqual(set(m), want, "%s to a legacy client: extra %s, missing %s in %r"
                         % (t, sorted(set(m) - want), sorted(want - set(m)), m))
        if t == "chat_history":
            self.assertIsInstance(m["timestamp"], str)
            self.assertRegex(m["timestamp"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        else:
            self.assertTrue(is_number(m["timestamp"]), m)

    def assertAllReference(self, conn):
        """Everything this connection has received so far."""
        self.assertTrue(conn.seen)
        for m in conn.seen:
            self.assertReference(m)

    def test_register_and_login_responses(self):
        c = self.connect()
        name = self.name("lf")
        ok = c.register(name)
        bad = c.register("1bad")
        self.assertIs(ok["success"], True)
        self.assertIs(bad["success"], False)
        self.assertReference(ok)
        self.assertReference(bad)
        lr_bad = c.login(name, "wrong999")
        if lr_bad["message_type"] == "login_response":
            self.assertReference(lr_bad)
        lr = c.login(name)
        self.assertReference(lr)
        self.assertEqual(set(lr["current_chat_group"]), {"id", "name"})
        self.assertIsInstance(lr["user_id"], int)
        self.assertAllReference(c)

    def test_chat_message_and_history(self):
        a = self.login_user()
        b = self.login_user()
        a.chat("fields check")
        for conn in (a, b):
            m = conn.recv_chat("fields check")
            self.assertReference(m)
            self.assertIsInstance(m["message_id"], int)
            self.assertIsInstance(m["sender_id"], int)
            self.assertIsInstance(m["chat_group_id"], int)
            self.assertEqual(m["chat_group_name"], "public")
        r, hist, done = a.enter_chat("public")
        self.assertReference(r)
        self.assertTrue(hist)
        for h in hist:
            self.assertReference(h)
        self.assertReference(done)
        self.assertAllReference(a)
        self.assertAllReference(b)

    def test_chat_from_protocol2_sender_reaches_legacy_without_extras(self):
        legacy = self.login_user()
        p2 = self.login_user(protocol2=True)
        p2.chat("from a new client", client_msg_id="cm-legacy-1")
        p2.recv_type("chat_ack")
        m = legacy.recv_chat("from a new client")
        self.assertReference(m)
        self.assertAllReference(legacy)

    def test_presence_of_others_is_not_sent_with_fields(self):
        legacy = self.login_user()
        other = self.login_user(protocol2=True)
        other.send("logout_request")
        other.recv_type("system_message")
        legacy.collect(0.5)
        self.assertAllReference(legacy)

    def test_group_responses(self):
        a = self.login_user()
        b = self.login_user()
        gname = self.name("g")
        r = a.create_chat(gname, [b.username])
        self.assertEqual(r["message_type"], "create_chat_response", r)
        self.assertReference(r)
        r2 = a.create_chat(gname, [])
        self.assertReference(r2)
        c = self.login_user()
        c.send("join_chat_request", chat_name=gname)
        sm = c.recv_type("system_message")
        self.assertReference(sm)
        r, hist, done = c.enter_chat(gname)
        self.assertReference(r)
        self.assertReference(done)
        c.send("enter_chat_request", chat_name=self.name("nochat"))
        e = c.recv_type(("enter_chat_response", "error_message"))
        self.assertReference(e)
        for conn in (a, b, c):
            conn.collect(0.2)
            self.assertAllReference(conn)

    def test_lists_and_user_info(self):
        a = self.login_user()
        a.send("list_users_request", list_type="all")
        r = a.recv_type("list_users_response")
        self.assertReference(r)
        for u in r["users"]:
            self.assertEqual(set(u), USER_ITEM, u)
        a.send("list_users_request", list_type="current_chat", chat_group_id=a.group["id"])
        r = a.recv_type("list_users_response")
        self.assertReference(r)
        for u in r["users"]:
            self.assertEqual(set(u), USER_ITEM, u)
        for lt in ("joined", "all"):
            a.send("list_chats_request", list_type=lt)
            r = a.recv_type("list_chats_response")
            self.assertReference(r)
            for ch in r["chats"]:
                self.assertEqual(set(ch), CHAT_ITEM, ch)
        a.send("user_info_request")
        r = a.recv_type("user_info_response")
        self.assertReference(r)
        self.assertEqual(set(r["user_info"]), USER_ITEM)
        self.assertAllReference(a)

    def test_session_ended_by_a_second_login(self):
        name = self.name("twice")
        old = self.login_user(name)
        self.login_user(name)
        self.assertTrue(old.expect_closed())
        self.assertAllReference(old)

    def test_rate_limit_error(self):
        # errors chatroomd adds (1014) still have the reference's shape;
        # 220 lines at once pass the default burst (200) by a few
        a = self.login_user()
        for i in range(220):
            a.send("heartbeat")
        a.recv_where(lambda m: m.get("error_code") == 1014, what="error 1014")
        for m in a.seen:
            self.assertReference(m)

    def test_error_system_and_heartbeat(self):
        a = self.login_user()
        a.send_raw(b"this is not json\n")
        e = a.expect_error(1008)
        self.assertReference(e)
        a.send("heartbeat")
        h = a.recv_type("heartbeat")
        self.assertReference(h)
        a.send("logout_request")
        sm = a.recv_type("system_message")
        self.assertReference(sm)
        self.assertAllReference(a)


if __name__ == "__main__":
    main()
