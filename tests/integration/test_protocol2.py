#!/usr/bin/env python3
"""Protocol 2: hello, heartbeats and the watchdog, acknowledged and
de-duplicated sends, history_request paging, presence updates."""
import shutil
import subprocess
import time

from harness import SLOW, ServerTest, main, uname, user


class Hello(ServerTest):
    server_args = ["--max-line", "4096", "--heartbeat-interval", "7"]

    def test_hello_reply(self):
        c = self.connect()
        h = c.hello("tests/2.0")
        self.assertEqual(h["protocol"], 2)
        self.assertIsInstance(h["server"], str)
        self.assertTrue(h["server"])
        self.assertEqual(h["heartbeat_interval"], 7)
        self.assertEqual(h["max_line"], 4096)
        self.assertIsInstance(h["timestamp"], (int, float))

    def test_hello_after_other_messages_is_refused(self):
        c = self.login_user()
        c.send("hello", protocol=2, client="late/1")
        c.expect_error(1008)
        # still a legacy client: no protocol-2 extras
        c.chat("still legacy", client_msg_id="late-1")
        m = c.recv_chat("still legacy")
        self.assertNotIn("client_msg_id", m)
        self.assertTrue(c.no_message(0.3, types=("chat_ack",)))

    def test_hello_with_wrong_protocol_type(self):
        c = self.connect()
        c.send("hello", protocol="2", client="x/1")
        c.expect_error(1008)

    def test_heartbeat_is_answered(self):
        c = self.login_user(protocol2=True)
        for _ in range(3):
            c.send("heartbeat")
            c.recv_type("heartbeat")

    def test_heartbeat_before_login_is_answered(self):
        c = self.connect()
        c.hello()
        c.send("heartbeat")
        c.recv_type("heartbeat")

    def test_legacy_heartbeat_is_answered(self):
        c = self.login_user()
        c.send("heartbeat")
        h = c.recv_type("heartbeat")
        self.assertEqual(set(h), {"message_type", "timestamp"})


class Watchdog(ServerTest):
    server_args = ["--heartbeat-interval", "1", "--heartbeat-timeout", "2"]

    def test_silent_protocol2_client_is_ended(self):
        c = self.login_user(protocol2=True)
        t0 = time.time()
        self.assertTrue(c.expect_closed(timeout=6 * SLOW), "silent protocol-2 client still open")
        self.assertGreaterEqual(time.time() - t0, 1.0, "closed well before the heartbeat timeout")

    def test_protocol2_client_sending_heartbeats_stays(self):
        c = self.login_user(protocol2=True)
        deadline = time.time() + 4
        while time.time() < deadline:
            c.send("heartbeat")
            c.recv_type("heartbeat")
            time.sleep(0.5)
        c.chat("still here")
        c.recv_chat("still here")

    def test_client_sending_chat_instead_of_heartbeats_stays(self):
        c = self.login_user(protocol2=True)
        deadline = time.time() + 4
        i = 0
        while time.time() < deadline:
            c.chat("alive %d" % i)
            c.recv_chat("alive %d" % i)
            i += 1
            time.sleep(0.5)
        c.send("heartbeat")
        c.recv_type("heartbeat")

    def test_ended_client_goes_offline_for_others(self):
        watcher = self.login_user()
        name = self.name("silent")
        silent = self.login_user(name, protocol2=True)
        self.assertTrue(silent.expect_closed(timeout=6 * SLOW))
        time.sleep(0.2)
        watcher.send("list_users_request", list_type="all")
        users = {u["username"]: u for u in watcher.recv_type("list_users_response")["users"]}
        self.assertIs(users[name]["is_online"], False)

    def test_idle_legacy_client_is_not_ended(self):
        legacy = self.login_user()
        p2 = self.login_user(protocol2=True)
        # after the heartbeat timeout and then some, the p2 client is gone
        # but the legacy one, which never sent anything, is still served
        self.assertTrue(p2.expect_closed(timeout=6 * SLOW))
        self.assertFalse(legacy.expect_closed(timeout=1.5))
        other = self.login_user()
        other.chat("are you there")
        legacy.recv_chat("are you there")


class Keepalive(ServerTest):

    def test_legacy_connections_use_tcp_keepalive(self):
        # dead legacy peers (which never send heartbeats) are found by TCP
        # keepalive: the server's end of the connection must have it on
        ss = shutil.which("ss")
        if not ss:
            self.skipTest("ss (iproute2) is not installed")
        c = self.login_user()
        c.drain(0.3)
        local = c.sock.getsockname()[1]
        out = ""
        for _ in range(20):
            out = subprocess.run([ss, "-tnoH", "state", "established",
                                  "( sport = :%d and dport = :%d )" % (self.srv.port, local)],
                                 capture_output=True, text=True).stdout
            if "keepalive" in out:
                break
            time.sleep(0.1)  # another timer (retransmit) may show first
        self.assertIn("keepalive", out)


class AckAndDedup(ServerTest):

    def test_chat_ack(self):
        a = self.login_user(protocol2=True)
        a.chat("acked", client_msg_id="ack-1")
        ack = a.recv_type("chat_ack")
        self.assertEqual(ack["client_msg_id"], "ack-1")
        self.assertIsInstance(ack["message_id"], int)
        self.assertEqual(ack["chat_group_id"], a.group["id"])
        echo = a.recv_chat("acked")
        self.assertEqual(echo["message_id"], ack["message_id"])

    def test_no_ack_without_client_msg_id(self):
        a = self.login_user(protocol2=True)
        a.chat("not acked")
        a.recv_chat("not acked")
        self.assertTrue(a.no_message(0.3, types=("chat_ack",)))

    def test_same_client_msg_id_twice_gives_one_copy(self):
        a = self.login_user(protocol2=True)
        b = self.login_user()
        a.chat("dedup me", client_msg_id="dup-1")
        ack1 = a.recv_type("chat_ack")
        a.chat("dedup me", client_msg_id="dup-1")
        ack2 = a.recv_type("chat_ack")
        self.assertEqual(ack1["message_id"], ack2["message_id"])
        self.assertEqual(ack2["client_msg_id"], "dup-1")
        for conn in (a, b):
            copies = [m for m in conn.collect(0.5)
                      if m["message_type"] == "chat_message" and m["content"] == "dedup me"]
            self.assertEqual(len(copies), 1, "copies seen by %s: %r" % (conn.username, copies))
        _, hist, _ = b.enter_chat("public")
        self.assertEqual([h["content"] for h in hist].count("dedup me"), 1)

    def test_same_client_msg_id_pipelined(self):
        # the second copy arrives before the first is acknowledged
        a = self.login_user(protocol2=True)
        b = self.login_user()
        for _ in range(3):
            a.chat("pipelined", client_msg_id="pipe-1")
        acks = [a.recv_type("chat_ack") for _ in range(3)]
        self.assertEqual(len({x["message_id"] for x in acks}), 1, acks)
        for conn in (a, b):
            copies = [m for m in conn.collect(0.5)
                      if m["message_type"] == "chat_message" and m["content"] == "pipelined"]
            self.assertEqual(len(copies), 1, "copies seen by %s: %r" % (conn.username, copies))

    def test_same_client_msg_id_from_two_connections_at_once(self):
        name = self.name("two")
        a1 = self.login_user(name, protocol2=True)
        # a second connection of the same user ends the first; send on the
        # first, then at once resend on the second, as a reconnecting client
        a1.chat("raced", client_msg_id="race-1")
        a2 = self.login_user(name, protocol2=True)
        a2.chat("raced", client_msg_id="race-1")
        ack2 = a2.recv_type("chat_ack")
        watcher = self.login_user(protocol2=True)
        watcher.send("history_request", chat_group_id=a2.group["id"], limit=50)
        hist, _ = watcher.read_history()
        copies = [h for h in hist if h["content"] == "raced"]
        self.assertEqual(len(copies), 1, copies)
        self.assertEqual(copies[0]["message_id"], ack2["message_id"])

    def test_same_client_msg_id_after_reconnect(self):
        name = self.name("rc")
        a = self.login_user(name, protocol2=True)
        a.chat("before reconnect", client_msg_id="rc-1")
        ack1 = a.recv_type("chat_ack")
        a.close()
        a2 = self.login_user(name, protocol2=True)
        a2.chat("before reconnect", client_msg_id="rc-1")
        ack2 = a2.recv_type("chat_ack")
        self.assertEqual(ack1["message_id"], ack2["message_id"])
        self.assertTrue(a2.no_message(0.3, types=("chat_message",)))

    def test_client_msg_ids_are_per_user(self):
        a = self.login_user(protocol2=True)
        b = self.login_user(protocol2=True)
        a.chat("from a", client_msg_id="shared-id")
        b.chat("from b", client_msg_id="shared-id")
        ida = a.recv_type("chat_ack")["message_id"]
        idb = b.recv_type("chat_ack")["message_id"]
        self.assertNotEqual(ida, idb)
        a.recv_chat("from b")

    def test_concurrent_senders_one_order_for_everyone(self):
        import threading
        senders = [self.login_user(protocol2=True) for _ in range(4)]
        readers = [self.login_user() for _ in range(2)]
        per = 25

        def blast(conn, k):
            for i in range(per):
                conn.chat("c%d-%d" % (k, i), client_msg_id="conc-%d-%d" % (k, i))
        threads = [threading.Thread(target=blast, args=(c, k)) for k, c in enumerate(senders)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = per * len(senders)
        seqs = []
        for conn in senders + readers:
            got = []
            while len(got) < total:
                m = conn.recv_where(lambda m: m["message_type"] == "chat_message"
                                    and m["content"].startswith("c"), what="chat")
                got.append((m["message_id"], m["content"]))
            seqs.append(got)
        for sq in seqs[1:]:
            self.assertEqual(sq, seqs[0])
        ids = [i for i, _ in seqs[0]]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), total)
        for k in range(len(senders)):
            mine = [c for _, c in seqs[0] if c.startswith("c%d-" % k)]
            self.assertEqual(mine, ["c%d-%d" % (k, i) for i in range(per)])

    def test_client_msg_id_too_long_or_wrong_type(self):
        a = self.login_user(protocol2=True)
        a.chat("long id", client_msg_id="x" * 65)
        a.expect_error(1008)
        a.chat("number id", client_msg_id=12)
        a.expect_error(1008)
        a.chat("ok id", client_msg_id="x" * 64)
        self.assertEqual(a.recv_type("chat_ack")["client_msg_id"], "x" * 64)


class HistoryRequest(ServerTest):
    server_args = ["--rate", "1000", "--burst", "1000"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # one group with 30 messages, shared by the tests below
        cls.owner_name = uname("hist")
        c = user(cls.srv, cls.owner_name, protocol2=True)
        cls.gname = uname("hg")
        r = c.create_chat(cls.gname, [])
        cls.gid = r["chat_group_id"]
        c.enter_chat(cls.gname)
        for i in range(30):
            c.chat("h%02d" % i, group_id=cls.gid)
        cls.ids = [c.recv_chat("h%02d" % i)["message_id"] for i in range(30)]
        c.close()

    def history(self, conn, **kw):
        conn.send("history_request", chat_group_id=self.gid, **kw)
        hist, done = conn.read_history()
        self.assertEqual(done["chat_group_id"], self.gid)
        self.assertEqual(done["message_count"], len(hist))
        for h in hist:
            self.assertEqual(h["chat_group_id"], self.gid)
        return [h["content"] for h in hist], [h["message_id"] for h in hist]

    def owner(self):
        return self.login_user(self.owner_name, protocol2=True)

    def test_newest_by_default(self):
        c = self.owner()
        contents, ids = self.history(c, limit=5)
        self.assertEqual(contents, ["h%02d" % i for i in range(25, 30)])
        self.assertEqual(ids, self.ids[25:])

    def test_default_limit_is_50(self):
        c = self.owner()
        contents, _ = self.history(c)
        self.assertEqual(contents, ["h%02d" % i for i in range(30)])

    def test_page_forward_after(self):
        c = self.owner()
        seen = []
        after = self.ids[0]
        for _ in range(10):
            contents, ids = self.history(c, after_message_id=after, limit=7)
            if not ids:
                break
            self.assertLessEqual(len(ids), 7)
            seen += contents
            after = ids[-1]
        self.assertEqual(seen, ["h%02d" % i for i in range(1, 30)])

    def test_after_zero_starts_at_the_first_message(self):
        # a client that has seen nothing yet pages forward from 0
        c = self.owner()
        contents, ids = self.history(c, after_message_id=0, limit=4)
        self.assertEqual(contents, ["h00", "h01", "h02", "h03"])

    def test_after_returns_oldest_after(self):
        c = self.owner()
        contents, ids = self.history(c, after_message_id=self.ids[9], limit=3)
        self.assertEqual(contents, ["h10", "h11", "h12"])

    def test_before_returns_newest_before(self):
        c = self.owner()
        contents, ids = self.history(c, before_message_id=self.ids[20], limit=4)
        self.assertEqual(contents, ["h16", "h17", "h18", "h19"])
        contents, ids = self.history(c, before_message_id=self.ids[2], limit=10)
        self.assertEqual(contents, ["h00", "h01"])

    def test_after_the_last_is_empty(self):
        c = self.owner()
        contents, ids = self.history(c, after_message_id=self.ids[-1])
        self.assertEqual(contents, [])

    def test_non_member_is_refused(self):
        c = self.login_user(protocol2=True)
        c.send("history_request", chat_group_id=self.gid)
        c.expect_error(1005)
        self.assertTrue(c.no_message(0.3, types=("chat_history", "chat_history_complete")))

    def test_odd_values(self):
        # chatroom-protocol(7): a limit below 1 is 1008; an unknown group
        # is 1004 (an id past int64 is saturated, so unknown as well)
        c = self.owner()
        c.send("history_request", chat_group_id=self.gid, limit=-5)
        m = c.expect_error(1008)
        self.assertEqual(m["error_message"], "history_request: limit must be 1 or more, message ids positive")
        c.send("history_request", chat_group_id=self.gid, limit=0)
        c.expect_error(1008)
        c.send("history_request", chat_group_id=self.gid, after_message_id=-1)
        c.expect_error(1008)
        for gid in (2 ** 62, 2 ** 70, -5):
            c.send("history_request", chat_group_id=gid)
            m = c.expect_error(1004)
            self.assertEqual(m["error_message"], "chat not found")
        c.send("heartbeat")
        c.recv_type("heartbeat")
        self.assertEqual([], [m for m in c.seen if m["message_type"] in ("chat_history", "chat_history_complete")])

    def test_wrong_types(self):
        c = self.owner()
        c.send("history_request", chat_group_id=str(self.gid))
        c.expect_error(1008)
        c.send("history_request", chat_group_id=self.gid, limit="ten")
        c.expect_error(1008)
        c.send("history_request", chat_group_id=self.gid, after_message_id="1")
        c.expect_error(1008)

    def test_limit_above_maximum_is_lowered_to_it(self):
        # HistoryMax is 500 here, above the 30 messages: all of them
        c = self.owner()
        c.send("history_request", chat_group_id=self.gid, limit=10 ** 9)
        hist, done = c.read_history()
        self.assertEqual(["h%02d" % i for i in range(30)], [h["content"] for h in hist])
        self.assertEqual(done["message_count"], 30)


class HistoryMaxLowersTheLimit(ServerTest):
    server_args = ["--history-max", "5"]

    def test_a_larger_limit_is_lowered_to_history_max_not_refused(self):
        c = self.login_user(protocol2=True)
        for i in range(8):
            c.chat("m%d" % i, client_msg_id="m%d" % i)
            c.recv_type("chat_ack")
        c.send("history_request", chat_group_id=c.group["id"], limit=10 ** 9)
        hist, done = c.read_history()
        self.assertEqual(["m3", "m4", "m5", "m6", "m7"], [h["content"] for h in hist][-5:])
        self.assertEqual(len(hist), 5)
        self.assertEqual(done["message_count"], 5)


class NotYetStored(ServerTest):
    # batches wait up to 3 s before they are committed
    server_args = ["--batch-ms", "3000", "--batch-size", "10000"]

    def test_nothing_is_delivered_or_in_history_before_it_is_stored(self):
        a = self.login_user(protocol2=True)
        b = self.login_user(protocol2=True)
        for i in range(5):
            a.chat("pending %d" % i, client_msg_id="pend-%d" % i)
        a.send("history_request", chat_group_id=a.group["id"], limit=10)
        hist, done = a.read_history()
        self.assertEqual([], [h for h in hist if h["content"].startswith("pending")])
        self.assertEqual(done["message_count"], len(hist))
        self.assertTrue(b.no_message(0.3, types=("chat_message",)))
        # once stored: the echo, then the ack, from the same commit
        echoes = [a.recv_chat("pending %d" % i) for i in range(5)]
        acks = [a.recv_type("chat_ack") for _ in range(5)]
        self.assertEqual([e["message_id"] for e in echoes], [k["message_id"] for k in acks])
        seen = [b.recv_chat("pending %d" % i)["message_id"] for i in range(5)]
        self.assertEqual([e["message_id"] for e in echoes], seen)
        a.send("history_request", chat_group_id=a.group["id"], limit=10)
        hist, done = a.read_history()
        self.assertEqual([h["message_id"] for h in hist][-5:], seen)


class DeliveryOrder(ServerTest):
    server_args = ["--rate", "1000000", "--burst", "1000000"]

    def test_client_msg_id_reaches_protocol2_recipients_only(self):
        a = self.login_user(protocol2=True)
        b = self.login_user(protocol2=True)
        legacy = self.login_user()
        a.chat("named", client_msg_id="named-1")
        for conn in (a, b):
            self.assertEqual("named-1", conn.recv_chat("named")["client_msg_id"])
        self.assertNotIn("client_msg_id", legacy.recv_chat("named"))
        _, hist, _ = b.enter_chat("public")
        self.assertEqual("named-1", [h for h in hist if h["content"] == "named"][0]["client_msg_id"])
        _, hist, _ = legacy.enter_chat("public")
        self.assertNotIn("client_msg_id", [h for h in hist if h["content"] == "named"][0])

    def test_login_response_comes_before_live_chat(self):
        """A client logging in while a group is busy learns it is logged
        in before it sees the group's messages."""
        import threading
        talker = self.login_user(protocol2=True)
        name = self.name("login")
        self.login_user(name, protocol2=True).close()
        stop = threading.Event()

        def talk():
            i = 0
            while not stop.is_set():
                talker.chat("busy %d" % i)
                i += 1
                time.sleep(0.001)
        t = threading.Thread(target=talk)
        t.start()
        try:
            for _ in range(30):
                c = self.connect()
                c.hello()
                c.send("login_request", username=name, password="secret123")
                first = c.recv_where(lambda m: m["message_type"] not in
                                     ("heartbeat", "user_status_update"), what="a reply")
                self.assertEqual("login_response", first["message_type"], first)
                c.close()
        finally:
            stop.set()
            t.join()


class Presence(ServerTest):

    def test_online_and_offline_updates(self):
        watcher = self.login_user(protocol2=True)
        name = self.name("pres")
        other = self.login_user(name)
        up = watcher.recv_where(lambda m: m["message_type"] == "user_status_update"
                                and m.get("username") == name, what="online update")
        self.assertIs(up["is_online"], True)
        self.assertEqual(up["user_id"], other.user_id)
        other.close()
        down = watcher.recv_where(lambda m: m["message_type"] == "user_status_update"
                                  and m.get("username") == name, what="offline update")
        self.assertIs(down["is_online"], False)
        self.assertEqual(down["user_id"], other.user_id)

    def test_logout_sends_offline_update(self):
        watcher = self.login_user(protocol2=True)
        name = self.name("lo")
        other = self.login_user(name)
        watcher.recv_where(lambda m: m["message_type"] == "user_status_update"
                           and m.get("username") == name and m["is_online"], what="online update")
        other.send("logout_request")
        other.recv_type("system_message")
        down = watcher.recv_where(lambda m: m["message_type"] == "user_status_update"
                                  and m.get("username") == name, what="offline update")
        self.assertIs(down["is_online"], False)

    def test_legacy_client_gets_no_presence_updates(self):
        # chatroom-protocol(7): a legacy client gets no user_status_update.
        # A protocol-2 watcher in the same group sees the login and the
        # logout; once it has the offline update, an update for the legacy
        # client would have been queued before the answer it asks for next.
        legacy = self.login_user()
        watcher = self.login_user(protocol2=True)
        name = self.name("pr")
        self.login_user(name, protocol2=True).close()
        watcher.recv_where(lambda m: m["message_type"] == "user_status_update"
                           and m.get("username") == name and m["is_online"] is False,
                           what="offline update")
        legacy.send("user_info_request")
        legacy.recv_type("user_info_response")
        self.assertEqual([], [m for m in legacy.seen if m["message_type"] == "user_status_update"])


class PresenceLargeGroups(ServerTest):
    # public grows past 3 members: no presence through it; a small group
    # shared with the watcher still carries presence
    server_args = ["--presence-max-group", "3"]

    def is_update_for(self, name):
        return lambda m: m["message_type"] == "user_status_update" and m.get("username") == name

    def test_no_updates_through_a_large_group(self):
        watcher = self.login_user(protocol2=True)
        others = [self.login_user() for _ in range(3)]  # public now has 4+
        name = self.name("big")
        late = self.login_user(name)
        self.assertFalse([m for m in watcher.collect(0.5) if self.is_update_for(name)(m)])
        late.close()
        self.assertFalse([m for m in watcher.collect(0.5) if self.is_update_for(name)(m)])
        for o in others:
            o.close()

    def test_updates_through_a_small_shared_group(self):
        watcher = self.login_user(protocol2=True)
        for _ in range(3):
            self.login_user()
        name = self.name("small")
        friend = self.login_user(name)
        watcher.create_chat(self.name("pair"), [name])
        friend.close()
        down = watcher.recv_where(self.is_update_for(name), what="offline update")
        self.assertIs(down["is_online"], False)
        # counted once although both share public as well
        self.assertFalse([m for m in watcher.collect(0.4) if self.is_update_for(name)(m)])


if __name__ == "__main__":
    main()
