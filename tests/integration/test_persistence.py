#!/usr/bin/env python3
"""Durability: a restarted server (SIGTERM, then start) still has every
account, group and message; a SIGKILLed one loses nothing it acknowledged;
client_msg_id de-duplication survives restarts."""
import signal

from harness import ServerTest, main

N_MESSAGES = 120


class Restart(ServerTest):
    server_args = ["--rate", "1000", "--burst", "1000"]

    def history_all(self, conn, gid):
        conn.send("history_request", chat_group_id=gid, limit=500)
        hist, done = conn.read_history()
        return [(h["message_id"], h["content"]) for h in hist]

    def test_sigterm_restart_keeps_everything(self):
        a = self.login_user(protocol2=True)
        b = self.login_user()
        gname = self.name("keep")
        gid = a.create_chat(gname, [b.username])["chat_group_id"]
        a.enter_chat(gname)
        sent = []
        for i in range(N_MESSAGES):
            a.chat("keep %d" % i, group_id=gid)
        for i in range(N_MESSAGES):
            m = a.recv_chat("keep %d" % i)
            sent.append((m["message_id"], m["content"]))
        a.chat("in public", group_id=b.group["id"])  # b is still in public
        public_msg = b.recv_chat("in public")
        for c in (a, b):
            c.close()
        rc = self.srv.restart(signal.SIGTERM)
        self.assertEqual(rc, 0, "chatroomd did not exit cleanly on SIGTERM:\n" + self.srv.log_tail())

        a2 = self.login_user(a.username, protocol2=True)
        self.assertEqual(self.history_all(a2, gid), sent)
        # the group and its members survived
        b2 = self.login_user(b.username)
        resp, hist, done = b2.enter_chat(gname)
        self.assertIs(resp["success"], True, resp)
        self.assertEqual(resp["chat_group_id"], gid)
        self.assertEqual([h["content"] for h in hist], [c for _, c in sent[-50:]])
        _, hist, _ = b2.enter_chat("public")
        self.assertIn(public_msg["message_id"], [h["message_id"] for h in hist])
        # new messages get larger ids than the stored ones
        a2.enter_chat(gname)
        a2.chat("after restart", group_id=gid)
        m = a2.recv_chat("after restart")
        self.assertGreater(m["message_id"], max(i for i, _ in sent))

    def test_sigterm_right_after_delivery_keeps_every_delivered_message(self):
        a = self.login_user()
        b = self.login_user()
        for i in range(300):
            a.chat("fast %d" % i)
        delivered = [b.recv_chat("fast %d" % i)["message_id"] for i in range(300)]
        # no pause: whatever is still queued for the database must be
        # written before the server exits
        rc = self.srv.restart(signal.SIGTERM)
        self.assertEqual(rc, 0, self.srv.log_tail())
        c = self.login_user(protocol2=True)
        c.send("history_request", chat_group_id=c.group["id"], limit=500)
        hist, _ = c.read_history()
        stored = {h["message_id"]: h["content"] for h in hist}
        for i, mid in enumerate(delivered):
            self.assertEqual(stored.get(mid), "fast %d" % i)

    def test_sigterm_with_clients_connected_exits_promptly(self):
        idle = [self.login_user() for _ in range(3)]
        self.connect()  # not logged in
        p2 = self.login_user(protocol2=True)
        p2.chat("last words", client_msg_id="last-1")
        ack = p2.recv_type("chat_ack")
        # idle clients do not hold the shutdown up (stop() would SIGKILL a
        # server still running after its wait: status -9)
        rc = self.srv.stop(signal.SIGTERM)
        self.assertEqual(rc, 0, self.srv.log_tail())
        for c in idle:
            self.assertTrue(c.expect_closed(timeout=2))
        self.srv.start()
        c = self.login_user(protocol2=True)
        c.send("history_request", chat_group_id=c.group["id"], after_message_id=ack["message_id"] - 1)
        hist, _ = c.read_history()
        self.assertEqual([h["content"] for h in hist][:1], ["last words"])

    def test_reconnecting_client_fetches_exactly_what_it_missed(self):
        name = self.name("away")
        a = self.login_user(name, protocol2=True)
        b = self.login_user(protocol2=True)
        b.chat("seen by a")
        last = a.recv_chat("seen by a")["message_id"]
        a.close()
        for i in range(10):
            b.chat("missed %d" % i, client_msg_id="missed-%d" % i)
        for i in range(10):
            b.recv_type("chat_ack")
        self.srv.restart()
        b.close()
        b = self.login_user(b.username, protocol2=True)
        b.chat("after the restart")
        b.recv_chat("after the restart")
        a = self.login_user(name, protocol2=True)
        a.send("history_request", chat_group_id=a.group["id"], after_message_id=last)
        hist, done = a.read_history()
        self.assertEqual([h["content"] for h in hist],
                         ["missed %d" % i for i in range(10)] + ["after the restart"])
        self.assertEqual(done["message_count"], 11)

    def test_accounts_survive_restart(self):
        name = self.name("acct")
        c = self.connect()
        self.assertTrue(c.register(name).get("success"))
        c.close()
        self.srv.restart()
        c = self.connect()
        self.assertFalse(c.login(name, "wrong999").get("success"))
        self.assertIs(c.login(name).get("success"), True)
        c2 = self.connect()
        r = c2.register(name)
        self.assertFalse(r.get("success"))

    def test_dedup_survives_restart(self):
        name = self.name("dd")
        a = self.login_user(name, protocol2=True)
        a.chat("once only", client_msg_id="restart-dup-1")
        ack1 = a.recv_type("chat_ack")
        a.close()
        self.srv.restart()
        a = self.login_user(name, protocol2=True)
        watcher = self.login_user()
        a.chat("once only", client_msg_id="restart-dup-1")
        ack2 = a.recv_type("chat_ack")
        self.assertEqual(ack2["message_id"], ack1["message_id"])
        for conn in (a, watcher):
            copies = [m for m in conn.collect(0.4)
                      if m["message_type"] == "chat_message" and m["content"] == "once only"]
            self.assertEqual(copies, [])
        _, hist, _ = watcher.enter_chat("public")
        self.assertEqual([h["content"] for h in hist].count("once only"), 1)


class Kill(ServerTest):
    server_args = ["--rate", "1000", "--burst", "1000", "--batch-ms", "50"]

    def test_sigkill_loses_nothing_acked(self):
        name = self.name("kill")
        a = self.login_user(name, protocol2=True)
        acked = {}
        for i in range(N_MESSAGES):
            a.chat("k%d" % i, client_msg_id="kill-%d" % i)
        for i in range(N_MESSAGES):
            ack = a.recv_type("chat_ack")
            acked[ack["client_msg_id"]] = ack["message_id"]
        self.assertEqual(len(acked), N_MESSAGES)
        # a few more that may or may not be stored: not acknowledged yet
        for i in range(N_MESSAGES, N_MESSAGES + 20):
            a.chat("k%d" % i, client_msg_id="kill-%d" % i)
        self.srv.kill()
        a.close()
        self.srv.start()
        a = self.login_user(name, protocol2=True)
        a.send("history_request", chat_group_id=a.group["id"], limit=500)
        hist, done = a.read_history()
        stored = {h["content"]: h["message_id"] for h in hist}
        for i in range(N_MESSAGES):
            self.assertEqual(stored.get("k%d" % i), acked["kill-%d" % i], "acked message k%d lost" % i)
        # the unacknowledged ones: resending gives each exactly once
        for i in range(N_MESSAGES, N_MESSAGES + 20):
            a.chat("k%d" % i, client_msg_id="kill-%d" % i)
        for i in range(N_MESSAGES, N_MESSAGES + 20):
            ack = a.recv_type("chat_ack")
            if "k%d" % (int(ack["client_msg_id"][5:])) in stored:
                self.assertEqual(ack["message_id"], stored["k%d" % int(ack["client_msg_id"][5:])])
        a.send("history_request", chat_group_id=a.group["id"], limit=500)
        hist, done = a.read_history()
        contents = [h["content"] for h in hist]
        for i in range(N_MESSAGES + 20):
            self.assertEqual(contents.count("k%d" % i), 1, "k%d" % i)
        ids = [h["message_id"] for h in hist]
        self.assertEqual(ids, sorted(ids))


if __name__ == "__main__":
    main()
