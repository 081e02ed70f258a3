#!/usr/bin/env python3
"""The cluster where things go wrong or arrive at once: a legacy (reference
protocol) client through HAProxy, a direct chat opened from two nodes at
the same moment, DedupWindow across nodes. The PostgreSQL store's own
cases (a COMMIT whose reply is lost, DedupWindow in the store) are in
tests/unit/test_store_pg.c and test_writer_pg.c, run by test_cluster.py.
Uses test_cluster.py's servers and helpers (cluster.py underneath)."""
import threading

import test_cluster as tc
import test_legacy_fields as legacy
from harness import main, uname


def setUpModule():
    tc.setUpModule()


def tearDownModule():
    tc.tearDownModule()


class LegacyThroughHAProxy(tc.ClusterTest):
    """A client that sends no hello gets exactly the reference protocol's
    messages, whichever of the three nodes HAProxy gives it, and chats with
    users on the other nodes."""

    assertReference = legacy.LegacyFields.assertReference

    def assertAllReference(self, conn):
        self.assertTrue(conn.seen)
        for m in conn.seen:
            self.assertReference(m)

    def test_legacy_client_through_haproxy_chats_with_every_node(self):
        name = uname("leg")
        c = self.cl.lb.connect()
        self.conns.append(c)
        r = c.register(name)
        self.assertIs(r.get("success"), True, r)
        r = c.login(name)
        self.assertIs(r.get("success"), True, r)
        self.assertEqual(r["current_chat_group"]["name"], "public")
        pub = r["current_chat_group"]["id"]
        c.send("list_chats_request", list_type="joined")
        r = c.recv_type("list_chats_response")
        self.assertIn("public", [ch["group_name"] for ch in r["chats"]])
        for ch in r["chats"]:
            self.assertEqual(set(ch), legacy.CHAT_ITEM, ch)
        r, hist, done = c.enter_chat("public")
        self.assertIs(r.get("success"), True, r)
        self.assertIsNotNone(hist, r)

        # one user on each node: at least two are not on the legacy
        # client's node
        others = [self.on(i) for i in range(3)]
        c.chat("legacy says hi")
        for o in others:
            self.assertEqual(tc.chats(o, 1, pub)[0][:2], (name, "legacy says hi"))
        for i, o in enumerate(others):
            o.chat("node %d answers" % i)
        got = tc.chats(c, 4, pub)
        self.assertEqual(got[0][:2], (name, "legacy says hi"))
        self.assertEqual(sorted(x[1] for x in got[1:]), ["node %d answers" % i for i in range(3)])
        # the history, read again through HAProxy, is what was delivered
        r, hist, done = c.enter_chat("public")
        self.assertEqual([(h["sender_username"], h["content"], h["message_id"])
                          for h in hist][-4:], got)
        self.assertEqual(done["message_count"], len(hist))
        self.assertAllReference(c)

    def test_a_legacy_user_and_a_protocol2_user_on_different_nodes_chat(self):
        old, new = self.on(0), self.on(1, protocol2=True)
        team = uname("mix")
        r = old.create_chat(team, [new.username])
        self.assertIs(r.get("success"), True, r)
        self.assertReference(r)
        gid = r["chat_group_id"]
        r, hist = tc.enter_when_known(new, team)
        self.assertEqual(hist, [], r)
        r, hist, _ = old.enter_chat(team)
        self.assertEqual(hist, [], r)
        old.chat("from the old client")
        new.chat("from the new one", group_id=gid, client_msg_id="mix-1")
        ack = new.recv_type("chat_ack")
        for conn in (old, new):
            got = tc.chats(conn, 2, gid)
            self.assertEqual(sorted(x[:2] for x in got),
                             sorted([(new.username, "from the new one"),
                                     (old.username, "from the old client")]))
        self.assertIn(ack["message_id"], [x[2] for x in got])
        self.assertEqual(tc.history(old, team), got)
        self.assertAllReference(old)


class DirectChatRace(tc.ClusterTest):
    """Both users of a pair open their direct chat at the same moment, each
    on its own node: one chat, the same chat_group_id to both."""

    ROUNDS = 8

    def open_both(self, a, b):
        """a and b send open_direct_chat_request for each other at once;
        their two responses."""
        go = threading.Barrier(2)
        out = {}

        def opener(conn, other):
            go.wait()
            conn.send("open_direct_chat_request", username=other.username)
            out[conn.username] = conn.recv_type(("open_direct_chat_response", "error_message"))
        ts = [threading.Thread(target=opener, args=(a, b)),
              threading.Thread(target=opener, args=(b, a))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return out[a.username], out[b.username]

    def test_two_nodes_opening_one_direct_chat_at_once_make_one_chat(self):
        db = self.cl.conninfo.split("dbname=")[1].split()[0]
        for k in range(self.ROUNDS):
            # the nodes change places every round
            a = self.on(k % 3, uname("ra"), protocol2=True)
            b = self.on((k + 1) % 3, uname("rb"), protocol2=True)
            ra, rb = self.open_both(a, b)
            self.assertEqual(ra.get("message_type"), "open_direct_chat_response", ra)
            self.assertEqual(rb.get("message_type"), "open_direct_chat_response", rb)
            self.assertEqual(ra["chat_group_id"], rb["chat_group_id"], (ra, rb))
            self.assertEqual(ra["chat_name"], rb["chat_name"], (ra, rb))
            self.assertEqual(sorted([ra["created"], rb["created"]]), [False, True], (ra, rb))
            gid = ra["chat_group_id"]
            rows = self.cl.pg.psql(
                "SELECT count(*) FROM chat_meta WHERE direct_lo = %d AND direct_hi = %d"
                % (min(a.user_id, b.user_id), max(a.user_id, b.user_id)), db=db)
            self.assertEqual(rows, [["1"]], "round %d" % k)
            rows = self.cl.pg.psql(
                "SELECT count(*) FROM groups g WHERE g.name <> 'public' AND (SELECT count(*) "
                "FROM members m WHERE m.group_id = g.id AND m.user_id IN (%d, %d)) = 2"
                % (a.user_id, b.user_id),
                db=db)
            self.assertEqual(rows, [["1"]], "round %d: a second group was left behind" % k)
            # and it works: a message from each arrives at both
            for conn in (a, b):
                r, hist = tc.enter_when_known(conn, ra["chat_name"])
                self.assertEqual(hist, [], r)
            a.chat("ping %d" % k, group_id=gid)
            b.chat("pong %d" % k, group_id=gid)
            for conn in (a, b):
                self.assertEqual(sorted(x[1] for x in tc.chats(conn, 2, gid)),
                                 ["ping %d" % k, "pong %d" % k])


class DedupWindowAcrossNodes(tc.ClusterTest):
    """[Store] DedupWindow holds in a cluster: the last N client_msg_ids of
    a user are recognised on any node, older ones are not."""
    node_args = {i: ["--dedup-window", "2"] for i in range(3)}

    def test_only_the_last_n_client_msg_ids_are_recognised_on_another_node(self):
        name = uname("dw")
        watcher = self.on(2)
        c = self.on(0, name, protocol2=True)
        pub = c.group["id"]
        ids = {}
        for k in "abc":
            c.chat("msg " + k, client_msg_id=k)
            ids[k] = c.recv_type("chat_ack")["message_id"]
        c.close()
        self.conns.remove(c)
        c = self.on(1, name, protocol2=True)
        # c is among the last 2: answered with its first id, not sent again
        c.chat("again c", client_msg_id="c")
        self.assertEqual(c.recv_type("chat_ack")["message_id"], ids["c"])
        # a has left the window: a new message
        c.chat("again a", client_msg_id="a")
        self.assertGreater(c.recv_type("chat_ack")["message_id"], ids["c"])
        self.assertEqual([x[1] for x in tc.chats(watcher, 4, pub)],
                         ["msg a", "msg b", "msg c", "again a"])
        self.assertTrue(watcher.no_message(0.3, types=("chat_message",)))


if __name__ == "__main__":
    main()
