#!/usr/bin/env python3
"""Groups: creating, joining and entering chats, privacy of a group to its
members, history on entering, and the list and user_info answers."""

from harness import ServerTest, main


class CreateChat(ServerTest):

    def test_create_chat_makes_creator_and_listed_users_members(self):
        a = self.login_user()
        b = self.login_user()
        outsider = self.login_user()
        gname = self.name("team")
        r = a.create_chat(gname, [b.username])
        self.assertEqual(r["message_type"], "create_chat_response", r)
        self.assertIs(r["success"], True, r)
        self.assertEqual(r["chat_name"], gname)
        self.assertIsInstance(r["chat_group_id"], int)
        for member in (a, b):
            resp, hist, done = member.enter_chat(gname)
            self.assertIs(resp["success"], True, resp)
            self.assertEqual(resp["chat_group_id"], r["chat_group_id"])
        a.send("list_users_request", list_type="current_chat", chat_group_id=r["chat_group_id"])
        users = a.recv_type("list_users_response")["users"]
        self.assertEqual(sorted(u["username"] for u in users), sorted([a.username, b.username]))
        self.assertNotIn(outsider.username, [u["username"] for u in users])

    def test_group_is_private_to_its_members(self):
        a = self.login_user()
        outsider = self.login_user()
        gname = self.name("priv")
        r = a.create_chat(gname, [])
        gid = r["chat_group_id"]
        outsider.send("enter_chat_request", chat_name=gname)
        outsider.expect_error(1005)
        outsider.chat("let me in", group_id=gid)
        outsider.expect_error(1005)
        a.enter_chat(gname)
        self.assertTrue(a.no_message(0.3, types=("chat_message",)))
        # the refused message was not stored either
        _, hist, done = a.enter_chat(gname)
        self.assertEqual(hist, [])
        self.assertEqual(done["message_count"], 0)

    def test_create_chat_with_unknown_user(self):
        a = self.login_user()
        gname = self.name("unk")
        a.send("create_chat_request", chat_name=gname, member_usernames=[self.name("ghost")])
        a.expect_error(1003)
        # and no group was created
        a.send("enter_chat_request", chat_name=gname)
        a.expect_error(1004)

    def test_create_chat_with_taken_name(self):
        a = self.login_user()
        b = self.login_user(protocol2=True)
        gname = self.name("taken")
        self.assertIs(a.create_chat(gname, [])["success"], True)
        r = b.create_chat(gname, [])
        self.assertEqual(r["message_type"], "create_chat_response", r)
        self.assertIs(r["success"], False, r)
        self.assertEqual(r["error_message"], "a chat with that name already exists")
        # b did not become a member of a's group
        b.send("enter_chat_request", chat_name=gname)
        b.expect_error(1005)

    def test_public_is_taken(self):
        a = self.login_user(protocol2=True)
        r = a.create_chat("public", [])
        self.assertEqual(r["message_type"], "create_chat_response", r)
        self.assertIs(r["success"], False, r)
        self.assertEqual(r["error_message"], "a chat with that name already exists")

    def test_create_chat_name_length(self):
        a = self.login_user(protocol2=True)
        for bad in ("x", "y" * 31):
            with self.subTest(name=bad):
                r = a.create_chat(bad, [])
                self.assertEqual(r["message_type"], "create_chat_response", r)
                self.assertIs(r["success"], False, r)
                self.assertEqual(r["error_message"], "chat name must be 2 to 30 characters long")
        r = a.create_chat("z" + self.name("")[:28], [])
        self.assertIs(r["success"], True, r)

    def test_create_chat_with_wrong_member_list_type(self):
        a = self.login_user()
        a.send("create_chat_request", chat_name=self.name("bad"), member_usernames="notalist")
        a.expect_error(1008)
        a.send("create_chat_request", chat_name=self.name("bad"), member_usernames=[1, 2])
        a.expect_error(1008)


class JoinChat(ServerTest):

    def test_legacy_client_gets_system_message(self):
        a = self.login_user()
        gname = self.name("open")
        a.create_chat(gname, [])
        b = self.login_user()
        b.send("join_chat_request", chat_name=gname)
        m = b.recv_type(("system_message", "join_chat_response", "error_message"))
        self.assertEqual(m["message_type"], "system_message", m)
        self.assertIn(m["level"], ("info", "warning", "error"))
        self.assertTrue(m["content"])
        self.assertTrue(b.no_message(0.3, types=("join_chat_response",)),
                        "a legacy client was sent join_chat_response")
        resp, hist, done = b.enter_chat(gname)
        self.assertIs(resp["success"], True, resp)

    def test_protocol2_client_gets_join_chat_response(self):
        a = self.login_user()
        gname = self.name("open")
        gid = a.create_chat(gname, [])["chat_group_id"]
        b = self.login_user(protocol2=True)
        b.send("join_chat_request", chat_name=gname)
        r = b.recv_type(("join_chat_response", "error_message"))
        self.assertEqual(r["message_type"], "join_chat_response", r)
        self.assertIs(r["success"], True, r)
        self.assertEqual(r["chat_group_id"], gid)
        self.assertEqual(r["chat_name"], gname)
        # b now receives the group's messages once in it
        b.enter_chat(gname)
        a.enter_chat(gname)
        a.chat("welcome", group_id=gid)
        self.assertEqual(b.recv_chat("welcome")["chat_group_id"], gid)

    def test_join_unknown_chat(self):
        b = self.login_user()
        b.send("join_chat_request", chat_name=self.name("nowhere"))
        b.expect_error(1004)

    def test_join_twice_is_harmless(self):
        a = self.login_user()
        gname = self.name("twice")
        gid = a.create_chat(gname, [])["chat_group_id"]
        b = self.login_user(protocol2=True)
        for _ in range(2):
            b.send("join_chat_request", chat_name=gname)
            r = b.recv_type(("join_chat_response", "error_message"))
            self.assertEqual(r["message_type"], "join_chat_response", r)
            if not r["success"]:
                self.assertTrue(r["error_message"])
        a.send("list_users_request", list_type="current_chat", chat_group_id=gid)
        users = a.recv_type("list_users_response")["users"]
        self.assertEqual(sorted(u["username"] for u in users), sorted([a.username, b.username]))


class EnterChat(ServerTest):
    server_args = ["--rate", "1000", "--burst", "1000"]

    def test_enter_returns_last_50_messages_in_order(self):
        a = self.login_user()
        gname = self.name("hist")
        gid = a.create_chat(gname, [])["chat_group_id"]
        a.enter_chat(gname)
        for i in range(55):
            a.chat("m%02d" % i, group_id=gid)
        for i in range(55):
            a.recv_chat("m%02d" % i)
        resp, hist, done = a.enter_chat(gname)
        self.assertIs(resp["success"], True)
        self.assertEqual(resp["chat_group_id"], gid)
        self.assertEqual(resp["chat_name"], gname)
        self.assertEqual([h["content"] for h in hist], ["m%02d" % i for i in range(5, 55)])
        ids = [h["message_id"] for h in hist]
        self.assertEqual(ids, sorted(ids))
        for h in hist:
            self.assertEqual(h["chat_group_id"], gid)
            self.assertEqual(h["chat_group_name"], gname)
            self.assertEqual(h["sender_username"], a.username)
        self.assertEqual(done["chat_group_id"], gid)
        self.assertEqual(done["message_count"], 50)

    def test_enter_sets_current_group(self):
        a = self.login_user()
        b = self.login_user()
        gname = self.name("cur")
        gid = a.create_chat(gname, [b.username])["chat_group_id"]
        b.enter_chat(gname)
        a.chat("in public")  # a is still in public; b is not
        self.assertTrue(b.no_message(0.3, types=("chat_message",)))
        a.enter_chat(gname)
        a.chat("in group", group_id=gid)
        self.assertEqual(b.recv_chat("in group")["chat_group_name"], gname)
        b.send("user_info_request")
        info = b.recv_type("user_info_response")
        self.assertEqual(info["current_chat_group_id"], gid)
        self.assertEqual(info["current_chat_group_name"], gname)

    def test_enter_unknown_chat(self):
        a = self.login_user(protocol2=True)
        name = self.name("none")
        a.send("enter_chat_request", chat_name=name)
        m = a.expect_error(1004)
        self.assertEqual(m["error_message"], "chat not found: %s" % name)

    def test_enter_empty_group(self):
        a = self.login_user()
        gname = self.name("empty")
        gid = a.create_chat(gname, [])["chat_group_id"]
        resp, hist, done = a.enter_chat(gname)
        self.assertEqual(hist, [])
        self.assertEqual(done["message_count"], 0)
        self.assertEqual(done["chat_group_id"], gid)


class Lists(ServerTest):

    def test_list_users_all(self):
        a = self.login_user()
        off = self.login_user()
        off.send("logout_request")
        off.recv_type("system_message")
        a.send("list_users_request", list_type="all")
        users = a.recv_type("list_users_response")["users"]
        by_name = {u["username"]: u for u in users}
        self.assertIs(by_name[a.username]["is_online"], True)
        self.assertEqual(by_name[a.username]["user_id"], a.user_id)
        self.assertIs(by_name[off.username]["is_online"], False)
        for u in users:
            self.assertIsInstance(u["user_id"], int)
            self.assertIsInstance(u["username"], str)
            self.assertIsInstance(u["is_online"], bool)

    def test_list_users_current_chat(self):
        a = self.login_user()
        b = self.login_user()
        gname = self.name("lu")
        self.assertTrue(a.create_chat(gname, [b.username])["success"])
        a.enter_chat(gname)
        # without chat_group_id: the current chat
        a.send("list_users_request", list_type="current_chat")
        users = a.recv_type("list_users_response")["users"]
        self.assertEqual(sorted(u["username"] for u in users), sorted([a.username, b.username]))

    def test_list_chats_joined_and_all(self):
        a = self.login_user()
        b = self.login_user()
        mine = self.name("mine")
        theirs = self.name("theirs")
        a.create_chat(mine, [b.username])
        b.create_chat(theirs, [])
        a.send("list_chats_request", list_type="joined")
        joined = {c["group_name"]: c for c in a.recv_type("list_chats_response")["chats"]}
        self.assertIn("public", joined)
        self.assertIn(mine, joined)
        self.assertNotIn(theirs, joined)
        self.assertEqual(joined[mine]["member_count"], 2)
        self.assertIs(joined[mine]["is_private_chat"], False)
        self.assertIsInstance(joined[mine]["group_id"], int)
        a.send("list_chats_request", list_type="all")
        all_chats = {c["group_name"]: c for c in a.recv_type("list_chats_response")["chats"]}
        self.assertIn("public", all_chats)
        self.assertIn(mine, all_chats)
        self.assertIn(theirs, all_chats)
        self.assertEqual(all_chats[theirs]["member_count"], 1)
        for c in all_chats.values():
            self.assertIs(c["is_private_chat"], False)

    def test_user_info(self):
        a = self.login_user()
        b = self.login_user()
        a.create_chat(self.name("ui"), [b.username])
        a.send("user_info_request")
        r = a.recv_type("user_info_response")
        self.assertEqual(r["user_info"]["user_id"], a.user_id)
        self.assertEqual(r["user_info"]["username"], a.username)
        self.assertIs(r["user_info"]["is_online"], True)
        self.assertEqual(r["current_chat_group_name"], "public")
        self.assertEqual(r["current_chat_group_id"], a.group["id"])
        self.assertGreaterEqual(r["joined_chats_count"], 2)
        self.assertEqual(r["joined_chats_count"], r["private_chats_count"] + r["group_chats_count"])
        self.assertGreaterEqual(r["total_users_count"], 2)
        self.assertGreaterEqual(r["online_users_count"], 2)
        self.assertLessEqual(r["online_users_count"], r["total_users_count"])
        self.assertGreaterEqual(r["total_chats_count"], 2)
        self.assertIs(r["is_user_banned"], False)
        self.assertIs(r["is_current_chat_banned"], False)

    def test_list_with_wrong_types(self):
        a = self.login_user()
        a.send("list_users_request", list_type=5)
        a.expect_error(1008)
        a.send("list_chats_request", list_type=["all"])
        a.expect_error(1008)
        a.send("list_users_request", list_type="current_chat", chat_group_id="one")
        a.expect_error(1008)


if __name__ == "__main__":
    main()
