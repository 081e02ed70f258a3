#!/usr/bin/env python3
"""Direct chats, invite-only groups and leaving a chat: who receives, who
may join, read, list and download, what a legacy client sees, and that
every refused request changes nothing."""

from adminlib import FAST_HASH, AdminServerTest, admin, admin_cmd, download, upload
from harness import user


class Base(AdminServerTest):

    def p2(self, base="u"):
        c = user(self.srv, self.name(base), protocol2=True)
        self.conns.append(c)
        return c

    def legacy(self, base="u"):
        c = user(self.srv, self.name(base))
        self.conns.append(c)
        return c

    def open_direct(self, c, username):
        c.send("open_direct_chat_request", username=username)
        return c.recv_type(("open_direct_chat_response", "error_message"))

    def request(self, c, mtype, **fields):
        c.send(mtype + "_request", **fields)
        return c.recv_type((mtype + "_response", "error_message"))

    def refused(self, c, mtype, code, **fields):
        r = self.request(c, mtype, **fields)
        self.assertEqual(r["message_type"], "error_message", r)
        self.assertEqual(r["error_code"], code, r)
        self.assertTrue(r["error_message"])
        return r

    def chats(self, c, list_type):
        c.send("list_chats_request", list_type=list_type)
        return {x["group_name"]: x for x in c.recv_type("list_chats_response")["chats"]}

    def members(self, c, gid):
        c.send("list_users_request", list_type="current_chat", chat_group_id=gid)
        return sorted(u["username"] for u in c.recv_type("list_users_response")["users"])


class DirectChats(Base):

    def test_direct_message_reaches_only_its_two_members(self):
        a, b, third = self.p2("al"), self.p2("bo"), self.p2("th")
        r = self.open_direct(a, b.username)
        self.assertEqual(r["message_type"], "open_direct_chat_response", r)
        self.assertIs(r["success"], True, r)
        self.assertIs(r["created"], True, r)
        self.assertEqual(r["chat_name"], "%s_%s" % (a.username, b.username))
        self.assertEqual(r["username"], b.username)
        gid, name = r["chat_group_id"], r["chat_name"]
        for c in (a, b):
            resp, _, _ = c.enter_chat(name)
            self.assertIs(resp["success"], True, resp)
        # the third user is in public with both, and in the same group
        g = a.create_chat(self.name("grp"), [b.username, third.username])
        third.enter_chat(g["chat_name"])
        a.chat("only for bob", group_id=gid)
        self.assertEqual(b.recv_chat("only for bob")["chat_group_id"], gid)
        self.assertEqual(a.recv_chat("only for bob")["chat_group_id"], gid)
        self.assertTrue(third.no_message(0.5, types=("chat_message", "direct_message_notice")))
        # third may not join, enter, send, read or list it
        self.refused(third, "join_chat", 1005, chat_name=name)
        self.refused(third, "enter_chat", 1005, chat_name=name)
        third.send("history_request", chat_group_id=gid)
        third.expect_error(1005)
        third.chat("let me in", group_id=gid)
        third.expect_error(1005)
        self.assertNotIn(name, self.chats(third, "all"))
        self.assertNotIn(name, self.chats(third, "joined"))
        # the members list it as private; "all" leaves it out for them too
        self.assertIs(self.chats(a, "joined")[name]["is_private_chat"], True)
        self.assertNotIn(name, self.chats(b, "all"))
        self.assertEqual(self.members(a, gid), sorted([a.username, b.username]))
        # nothing from third reached the chat
        _, hist, _ = b.enter_chat(name)
        self.assertEqual([h["content"] for h in hist], ["only for bob"])

    def test_files_of_a_direct_chat_are_for_its_members(self):
        a, b, third = self.p2("al"), self.p2("bo"), self.p2("th")
        gid = self.open_direct(a, b.username)["chat_group_id"]
        first, final = upload(a, "note.txt", b"secret", gid)
        self.assertIs(final["success"], True, final)
        fid = final["file_id"]
        third.send("file_list_request", chat_group_id=gid)
        third.expect_error(1005)
        d = download(third, fid)
        self.assertEqual(d["first"]["message_type"], "error_message", d["first"])
        self.assertEqual(d["first"]["error_code"], 1005)
        d = download(b, fid)
        self.assertEqual(d["data"], b"secret")

    def test_second_request_for_the_pair_returns_the_same_chat(self):
        a, b = self.p2("al"), self.p2("bo")
        r1 = self.open_direct(a, b.username)
        r2 = self.open_direct(a, b.username)
        r3 = self.open_direct(b, a.username)
        self.assertEqual(r1["chat_group_id"], r2["chat_group_id"])
        self.assertEqual(r1["chat_group_id"], r3["chat_group_id"])
        self.assertEqual(r3["chat_name"], r1["chat_name"])
        self.assertIs(r2["created"], False)
        self.assertIs(r3["created"], False)
        names = [n for n in self.chats(a, "joined") if a.username in n and b.username in n]
        self.assertEqual(len(names), 1, names)

    def test_taken_name_gets_a_suffix_and_the_pair_still_one_chat(self):
        a, b = self.p2("al"), self.p2("bo")
        squat = "%s_%s" % (a.username, b.username)
        self.assertIs(a.create_chat(squat, [])["success"], True)
        r = self.open_direct(a, b.username)
        self.assertIs(r["success"], True, r)
        self.assertEqual(r["chat_name"], squat + "_2")
        self.assertEqual(self.open_direct(b, a.username)["chat_group_id"], r["chat_group_id"])

    def test_offline_user_finds_the_conversation_on_login(self):
        a = self.p2("al")
        bname = self.name("bo")
        b = user(self.srv, bname, protocol2=True)
        b.close()
        r = self.open_direct(a, bname)
        a.chat("while you were away", group_id=r["chat_group_id"], client_msg_id="away-1")
        a.recv_type("chat_ack")  # stored: its history has it
        b = user(self.srv, bname, protocol2=True)
        self.conns.append(b)
        self.assertIn(r["chat_name"], self.chats(b, "joined"))
        _, hist, _ = b.enter_chat(r["chat_name"])
        self.assertEqual([h["content"] for h in hist], ["while you were away"])

    def test_notice_of_a_direct_message_while_in_another_chat(self):
        a, b = self.p2("al"), self.p2("bo")
        legacy = self.legacy("le")
        r = self.open_direct(a, b.username)
        gid = r["chat_group_id"]
        a.enter_chat(r["chat_name"])
        # b stays in public
        a.chat("psst", group_id=gid)
        n = b.recv_type("direct_message_notice")
        self.assertEqual(n["content"], "psst")
        self.assertEqual(n["sender_username"], a.username)
        self.assertEqual(n["chat_group_id"], gid)
        self.assertTrue(b.no_message(0.3, types=("chat_message",)))
        # the sender hears no notice of its own message
        self.assertTrue(a.no_message(0.3, types=("direct_message_notice",)))
        # a legacy member elsewhere gets nothing it does not know
        r2 = self.open_direct(a, legacy.username)
        a.chat("to legacy", group_id=r2["chat_group_id"])
        self.assertTrue(legacy.no_message(0.5))

    def test_bad_direct_requests_are_refused_and_change_nothing(self):
        a = self.p2("al")
        before = self.chats(a, "joined")
        self.refused(a, "open_direct_chat", 1003, username=self.name("ghost"))
        self.refused(a, "open_direct_chat", 1008, username=a.username)
        self.refused(a, "open_direct_chat", 1008)
        self.refused(a, "open_direct_chat", 1008, username=7)
        self.assertEqual(self.chats(a, "joined"), before)

    def test_banned_user_cannot_open_a_direct_chat(self):
        a, b = self.p2("al"), self.p2("bo")
        adm = admin(self.srv)
        self.conns.append(adm)
        r = admin_cmd(adm, "ban", "-u", target_name=a.username)
        self.assertIs(r.get("success"), True, r)
        self.refused(a, "open_direct_chat", 1005, username=b.username)
        self.assertEqual([n for n in self.chats(b, "joined") if a.username in n], [])

    def test_legacy_client_lists_a_private_chat_and_talks_in_it(self):
        a = self.p2("al")
        legacy = self.legacy("le")
        r = self.open_direct(a, legacy.username)
        name, gid = r["chat_name"], r["chat_group_id"]
        legacy.send("list_chats_request", list_type="joined")
        chats = legacy.recv_type("list_chats_response")["chats"]
        mine = [c for c in chats if c["group_name"] == name]
        self.assertEqual(len(mine), 1, chats)
        self.assertIs(mine[0]["is_private_chat"], True)
        # exactly the reference's fields
        self.assertEqual(sorted(mine[0]), sorted(["group_id", "group_name", "is_private_chat",
                                                  "member_count", "created_at"]))
        self.assertEqual(mine[0]["member_count"], 2)
        self.assertNotIn(name, self.chats(legacy, "all"))
        legacy.send("user_info_request")
        info = legacy.recv_type("user_info_response")
        self.assertEqual(info["private_chats_count"], 1)
        resp, _, _ = legacy.enter_chat(name)
        self.assertIs(resp["success"], True, resp)
        a.enter_chat(name)
        legacy.chat("hello from legacy", group_id=gid)
        m = a.recv_chat("hello from legacy")
        self.assertEqual(m["sender_username"], legacy.username)
        a.chat("hello back", group_id=gid)
        m = legacy.recv_chat("hello back")
        self.assertNotIn("client_msg_id", m)


class InviteOnly(Base):

    def create(self, c, name, members=(), invite_only=True):
        c.send("create_chat_request", chat_name=name, member_usernames=list(members),
               invite_only=invite_only)
        return c.recv_type(("create_chat_response", "error_message"))

    def test_join_refused_then_allowed_after_an_invitation(self):
        a, b = self.p2("al"), self.p2("bo")
        name = self.name("club")
        r = self.create(a, name)
        self.assertIs(r["success"], True, r)
        gid = r["chat_group_id"]
        e = self.refused(b, "join_chat", 1005, chat_name=name)
        self.assertIn("invite-only", e["error_message"])
        self.assertEqual(self.members(a, gid), [a.username])
        r = self.request(a, "invite_member", username=b.username, chat_group_id=gid)
        self.assertEqual(r["message_type"], "invite_member_response", r)
        self.assertIs(r["success"], True, r)
        n = b.recv_type("member_added")
        self.assertEqual((n["chat_group_id"], n["chat_name"], n["by_username"]), (gid, name, a.username))
        r = self.request(b, "join_chat", chat_name=name)
        self.assertEqual(r["message_type"], "join_chat_response", r)
        self.assertIs(r["success"], True, r)
        resp, _, _ = b.enter_chat(name)
        self.assertIs(resp["success"], True, resp)
        self.assertEqual(self.members(a, gid), sorted([a.username, b.username]))

    def test_legacy_user_is_refused_joining_and_told_of_the_invitation(self):
        a, legacy = self.p2("al"), self.legacy("le")
        name = self.name("club")
        gid = self.create(a, name)["chat_group_id"]
        legacy.send("join_chat_request", chat_name=name)
        legacy.expect_error(1005)
        self.request(a, "invite_member", username=legacy.username, chat_group_id=gid)
        m = legacy.recv_type("system_message")
        self.assertIn(name, m["content"])
        self.assertEqual(sorted(m), ["content", "level", "message_type", "timestamp"])
        resp, _, _ = legacy.enter_chat(name)
        self.assertIs(resp["success"], True, resp)

    def test_non_member_does_not_see_it_listed(self):
        a, b = self.p2("al"), self.p2("bo")
        name = self.name("club")
        open_name = self.name("open")
        self.create(a, name)
        self.create(a, open_name, invite_only=False)
        self.assertNotIn(name, self.chats(b, "all"))
        self.assertIn(open_name, self.chats(b, "all"))
        listed = self.chats(a, "all")
        self.assertIn(name, listed)
        self.assertIs(listed[name]["invite_only"], True)
        self.assertIs(listed[open_name]["invite_only"], False)
        self.assertIs(listed[name]["is_private_chat"], False)

    def test_any_member_may_invite(self):
        a, b, c = self.p2("al"), self.p2("bo"), self.p2("ca")
        name = self.name("club")
        gid = self.create(a, name, [b.username])["chat_group_id"]
        r = self.request(b, "invite_member", username=c.username, chat_group_id=gid)
        self.assertIs(r.get("success"), True, r)
        self.assertEqual(self.members(a, gid), sorted([a.username, b.username, c.username]))

    def test_bad_invitations_are_refused_and_change_nothing(self):
        a, b, out = self.p2("al"), self.p2("bo"), self.p2("ou")
        name = self.name("club")
        gid = self.create(a, name, [b.username])["chat_group_id"]
        dm = self.open_direct(a, b.username)["chat_group_id"]
        self.refused(out, "invite_member", 1005, username=out.username, chat_group_id=gid)
        self.refused(a, "invite_member", 1003, username=self.name("ghost"), chat_group_id=gid)
        self.refused(a, "invite_member", 1008, username=b.username, chat_group_id=gid)
        self.refused(a, "invite_member", 1004, username=out.username, chat_group_id=999999)
        self.refused(a, "invite_member", 1005, username=out.username, chat_group_id=dm)
        self.refused(a, "invite_member", 1008, chat_group_id=gid)
        self.refused(a, "invite_member", 1008, username=out.username, chat_group_id="x")
        self.assertEqual(self.members(a, gid), sorted([a.username, b.username]))
        self.assertEqual(self.members(a, dm), sorted([a.username, b.username]))
        self.assertTrue(out.no_message(0.3, types=("member_added",)))

    def test_invite_only_must_be_a_boolean(self):
        a = self.p2("al")
        name = self.name("club")
        r = self.create(a, name, invite_only="yes")
        self.assertEqual(r["message_type"], "error_message", r)
        self.assertEqual(r["error_code"], 1008)
        self.assertNotIn(name, self.chats(a, "joined"))


class Members(Base):

    def create(self, c, name, members=()):
        c.send("create_chat_request", chat_name=name, member_usernames=list(members),
               invite_only=True)
        return c.recv_type("create_chat_response")

    def test_creator_removes_a_member_who_is_moved_to_public(self):
        a, b = self.p2("al"), self.p2("bo")
        name = self.name("club")
        gid = self.create(a, name, [b.username])["chat_group_id"]
        b.enter_chat(name)
        r = self.request(a, "remove_member", username=b.username, chat_group_id=gid)
        self.assertEqual(r["message_type"], "remove_member_response", r)
        self.assertIs(r["success"], True, r)
        n = b.recv_type("member_removed")
        self.assertEqual(n["by_username"], a.username)
        self.assertEqual(n["current_chat_group"]["name"], "public")
        self.assertEqual(self.members(a, gid), [a.username])
        a.enter_chat(name)
        a.chat("after the kick", group_id=gid)
        a.recv_chat("after the kick")
        self.assertTrue(b.no_message(0.5, types=("chat_message",)))
        self.refused(b, "join_chat", 1005, chat_name=name)

    def test_admin_may_remove(self):
        a, b = self.p2("al"), self.p2("bo")
        gid = self.create(a, self.name("club"), [b.username])["chat_group_id"]
        adm = admin(self.srv, protocol2=True)
        self.conns.append(adm)
        r = self.request(adm, "remove_member", username=b.username, chat_group_id=gid)
        self.assertIs(r.get("success"), True, r)
        self.assertEqual(self.members(a, gid), [a.username])

    def test_bad_removals_are_refused_and_change_nothing(self):
        a, b, c = self.p2("al"), self.p2("bo"), self.p2("ca")
        name = self.name("club")
        gid = self.create(a, name, [b.username, c.username])["chat_group_id"]
        dm = self.open_direct(a, b.username)["chat_group_id"]
        pub = a.group["id"]
        self.refused(b, "remove_member", 1005, username=c.username, chat_group_id=gid)
        self.refused(a, "remove_member", 1008, username=a.username, chat_group_id=gid)
        self.refused(a, "remove_member", 1003, username=self.name("ghost"), chat_group_id=gid)
        self.refused(a, "remove_member", 1005, username=b.username, chat_group_id=dm)
        self.refused(a, "remove_member", 1005, username=b.username, chat_group_id=pub)
        out = self.p2("ou")
        self.refused(a, "remove_member", 1008, username=out.username, chat_group_id=gid)
        self.assertEqual(self.members(a, gid), sorted([a.username, b.username, c.username]))
        self.assertEqual(self.members(a, dm), sorted([a.username, b.username]))
        self.assertTrue(c.no_message(0.3, types=("member_removed",)))


class Leave(Base):

    def test_leave_moves_to_public_and_ends_deliveries(self):
        a, b = self.p2("al"), self.p2("bo")
        name = self.name("grp")
        gid = a.create_chat(name, [b.username])["chat_group_id"]
        b.enter_chat(name)
        r = self.request(b, "leave_chat")
        self.assertEqual(r["message_type"], "leave_chat_response", r)
        self.assertIs(r["success"], True, r)
        self.assertEqual(r["chat_group_id"], gid)
        self.assertEqual(r["current_chat_group"]["name"], "public")
        self.assertNotIn(name, self.chats(b, "joined"))
        a.enter_chat(name)
        a.chat("gone?", group_id=gid)
        a.recv_chat("gone?")
        self.assertTrue(b.no_message(0.5, types=("chat_message", "direct_message_notice")))
        # public is current: b's message without a group goes there
        b.chat("back in public")
        b.recv_chat("back in public")
        # an open group may be joined again
        r = self.request(b, "join_chat", chat_name=name)
        self.assertIs(r.get("success"), True, r)

    def test_leaving_a_chat_that_is_not_current_keeps_the_current_one(self):
        a = self.p2("al")
        name, other = self.name("grp"), self.name("grp")
        gid = a.create_chat(name, [])["chat_group_id"]
        a.create_chat(other, [])
        a.enter_chat(other)
        r = self.request(a, "leave_chat", chat_group_id=gid)
        self.assertIs(r.get("success"), True, r)
        self.assertEqual(r["current_chat_group"]["name"], other)

    def test_leaving_public_is_refused(self):
        a = self.p2("al")
        pub = a.group["id"]
        self.refused(a, "leave_chat", 1005)
        self.refused(a, "leave_chat", 1005, chat_group_id=pub)
        self.assertIn("public", self.chats(a, "joined"))
        a.chat("still here")
        a.recv_chat("still here")

    def test_bad_leaves_are_refused(self):
        a, b = self.p2("al"), self.p2("bo")
        gid = a.create_chat(self.name("grp"), [])["chat_group_id"]
        self.refused(b, "leave_chat", 1005, chat_group_id=gid)
        self.refused(b, "leave_chat", 1004, chat_group_id=999999)
        self.refused(b, "leave_chat", 1008, chat_group_id="x")
        self.assertEqual(self.members(a, gid), [a.username])

    def test_last_member_leaving_keeps_the_history(self):
        a, b = self.p2("al"), self.p2("bo")
        name = self.name("grp")
        gid = a.create_chat(name, [])["chat_group_id"]
        a.enter_chat(name)
        a.chat("for the record")
        a.recv_chat("for the record")
        self.assertIs(self.request(a, "leave_chat", chat_group_id=gid).get("success"), True)
        self.assertEqual(self.chats(b, "all")[name]["member_count"], 0)
        # a newcomer to the open group reads what was said
        self.assertIs(self.request(b, "join_chat", chat_name=name).get("success"), True)
        _, hist, _ = b.enter_chat(name)
        self.assertEqual([h["content"] for h in hist], ["for the record"])

    def test_leaving_a_direct_chat_and_reopening_it(self):
        a, b = self.p2("al"), self.p2("bo")
        r = self.open_direct(a, b.username)
        gid = r["chat_group_id"]
        self.assertIs(self.request(b, "leave_chat", chat_group_id=gid).get("success"), True)
        self.assertEqual(self.members(a, gid), [a.username])
        r2 = self.open_direct(a, b.username)
        self.assertEqual(r2["chat_group_id"], gid)
        self.assertEqual(self.members(a, gid), sorted([a.username, b.username]))

    def test_admin_bans_and_frees_a_direct_chat(self):
        a, b = self.p2("al"), self.p2("bo")
        r = self.open_direct(a, b.username)
        gid = r["chat_group_id"]
        adm = admin(self.srv)
        self.conns.append(adm)
        d = admin_cmd(adm, "ban", "-g", target_name=r["chat_name"])
        self.assertIs(d.get("success"), True, d)
        a.chat("banned?", group_id=gid)
        a.expect_error(1005)
        self.assertTrue(b.no_message(0.3, types=("direct_message_notice",)))
        d = admin_cmd(adm, "free", "-g", target_name=r["chat_name"])
        self.assertIs(d.get("success"), True, d)
        a.chat("free again", group_id=gid)
        self.assertEqual(b.recv_type("direct_message_notice")["content"], "free again")

    def test_admin_deletes_a_direct_chat(self):
        a, b = self.p2("al"), self.p2("bo")
        r = self.open_direct(a, b.username)
        adm = admin(self.srv)
        self.conns.append(adm)
        d = admin_cmd(adm, "del", "-g", target_id=r["chat_group_id"])
        self.assertIs(d.get("success"), True, d)
        self.assertNotIn(r["chat_name"], self.chats(a, "joined"))
        r2 = self.open_direct(b, a.username)
        self.assertIs(r2["created"], True, r2)
        self.assertNotEqual(r2["chat_group_id"], r["chat_group_id"])


class ChatLimit(Base):
    """MaxChatsPerUser 2: public and one more."""
    server_args = FAST_HASH + ["--max-chats-per-user", "2"]

    def test_invitation_refused_to_a_user_in_too_many_chats(self):
        a, b = self.p2("al"), self.p2("bo")
        g1 = a.create_chat(self.name("g"), [])["chat_group_id"]
        self.assertIs(self.request(a, "invite_member", username=b.username,
                                   chat_group_id=g1).get("success"), True)
        d = self.p2("do")
        g2 = d.create_chat(self.name("g"), [])["chat_group_id"]
        e = self.refused(d, "invite_member", 1005, username=b.username, chat_group_id=g2)
        self.assertIn("too many chats", e["error_message"])
        self.assertEqual(self.members(d, g2), [d.username])

    def test_direct_chat_counts_against_the_limit_of_both(self):
        a, b, c = self.p2("al"), self.p2("bo"), self.p2("ca")
        r = self.open_direct(a, b.username)
        self.assertIs(r.get("success"), True, r)
        # a and b are full: a opens no new chat, nobody opens one with b
        self.refused(a, "open_direct_chat", 1005, username=c.username)
        e = self.refused(c, "open_direct_chat", 1005, username=b.username)
        self.assertIn(b.username, e["error_message"])
        self.assertEqual(sorted(self.chats(c, "joined")), ["public"])
        # the way back into their own chat stays open
        self.assertEqual(self.open_direct(b, a.username)["chat_group_id"], r["chat_group_id"])


class Presence(Base):
    """Presence only in groups of at most 2: public is left out, a direct
    chat is not."""
    server_args = FAST_HASH + ["--presence-max-group", "2"]

    def test_presence_in_a_direct_chat_reaches_only_its_members(self):
        a, third = self.p2("al"), self.p2("th")
        bname = self.name("bo")
        b = user(self.srv, bname, protocol2=True)
        self.open_direct(a, bname)
        b.close()
        m = a.recv_where(lambda m: m["message_type"] == "user_status_update" and
                         m["username"] == bname and m["is_online"] is False)
        self.assertIs(m["is_online"], False)
        b = user(self.srv, bname, protocol2=True)
        self.conns.append(b)
        a.recv_where(lambda m: m["message_type"] == "user_status_update" and
                     m["username"] == bname and m["is_online"] is True)
        self.assertTrue(third.no_message(0.5, types=("user_status_update",)))


class Restart(Base):

    def test_kinds_of_chats_survive_a_restart(self):
        a, b, c = self.p2("al"), self.p2("bo"), self.p2("ca")
        anames = (a.username, b.username, c.username)
        dm = self.open_direct(a, b.username)
        club = self.name("club")
        a.send("create_chat_request", chat_name=club, member_usernames=[b.username], invite_only=True)
        cid = a.recv_type("create_chat_response")["chat_group_id"]
        for x in (a, b, c):
            x.close()
        self.conns = []
        self.assertEqual(self.srv.restart(), 0)
        a, b, c = (user(self.srv, n, protocol2=True) for n in anames)
        self.conns += [a, b, c]
        # the pair's chat is the same one, private, for its two only
        self.assertEqual(self.open_direct(b, a.username)["chat_group_id"], dm["chat_group_id"])
        self.assertIs(self.chats(a, "joined")[dm["chat_name"]]["is_private_chat"], True)
        self.refused(c, "join_chat", 1005, chat_name=dm["chat_name"])
        # the group is still invite-only, and its creator still may remove
        self.refused(c, "join_chat", 1005, chat_name=club)
        self.assertNotIn(club, self.chats(c, "all"))
        self.refused(b, "remove_member", 1005, username=a.username, chat_group_id=cid)
        r = self.request(a, "remove_member", username=b.username, chat_group_id=cid)
        self.assertIs(r.get("success"), True, r)


if __name__ == "__main__":
    from harness import main
    main()
