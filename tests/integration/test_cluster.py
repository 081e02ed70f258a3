"""Several chatroomd nodes behind HAProxy, PostgreSQL as the record and
Redis between the nodes (cluster.py starts them all on this machine)."""
import os
import subprocess
import sys
import time
import unittest

import cluster
from harness import CHATROOMD, SLOW, Server, free_port, main, uname, wait_for

PG = None


def setUpModule():
    global PG
    PG = cluster.Postgres()
    try:
        PG.start()
    except BaseException:
        PG.cleanup()
        raise


def tearDownModule():
    if PG is not None:
        PG.cleanup()


class Infrastructure(unittest.TestCase):
    """What every other test stands on."""

    def test_postgres_15_runs_unprivileged_and_takes_sql(self):
        conninfo = PG.new_database()
        db = conninfo.split("dbname=")[1]
        self.assertTrue(PG.psql("SHOW server_version", db=db)[0][0].startswith("15."))
        PG.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)", db=db)
        self.assertEqual(PG.psql("SELECT sum(x) FROM t", db=db), [["42"]])
        with open("/proc/%d/status" % PG.proc.pid) as f:
            uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
        self.assertNotEqual(uid, "0", "postgres runs as root")

    def test_redis_answers_and_is_gone_after_cleanup(self):
        r = cluster.Redis().start()
        try:
            self.assertTrue(cluster._redis_ping(r.port))
        finally:
            r.cleanup()
        self.assertFalse(cluster._redis_ping(r.port))
        self.assertFalse(os.path.exists(r.dir))

    def test_haproxy_spreads_over_nodes_and_skips_a_dead_one(self):
        nodes = [Server() for _ in range(2)]
        lb = None
        try:
            for n in nodes:
                n.start()
            lb = cluster.HAProxy([n.port for n in nodes]).start()
            lb.wait_up(2)
            conns = [lb.connect() for _ in range(2)]
            # leastconn: two open connections, one on each node, so a
            # name registered through one is unknown on the other (each
            # node has its own SQLite file here)
            name = uname("lb")
            self.assertTrue(conns[0].register(name)["success"])
            r = conns[1].login(name)
            self.assertFalse(r.get("success"), r)
            for c in conns:
                c.close()
            nodes[0].kill()
            lb.wait_up(1)
            for _ in range(3):
                with lb.connect() as c:
                    name = uname("lb")
                    self.assertTrue(c.register(name)["success"])
                    self.assertTrue(c.login(name)["success"])
        finally:
            if lb:
                lb.cleanup()
            for n in nodes:
                n.cleanup()
        self.assertFalse(os.path.exists(lb.dir))


def run_unit_program(test, name, env):
    """Run the C test program tests/unit/NAME (built by make check) with
    env added; fail the test unless every one of its tests passed."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(CHATROOMD)))
    prog = os.path.join(build, "tests", "unit", name)
    test.assertTrue(os.access(prog, os.X_OK), "%s is not built (make check builds it)" % prog)
    r = subprocess.run([prog], env=dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP", **env),
                       capture_output=True, text=True, timeout=120 * SLOW)
    test.assertEqual(r.returncode, 0, "%s failed:\n%s%s" % (name, r.stdout, r.stderr))
    test.assertNotIn("not ok", r.stdout)
    test.assertIn("ok 1 - ", r.stdout)
    return r.stdout


class Units(unittest.TestCase):
    """The C tests of the PostgreSQL store (tests/unit/test_store_pg.c) and
    of the bus (tests/unit/test_bus.c), against this module's servers, each
    on a database of its own."""

    def test_store_pg_unit_tests_pass(self):
        out = run_unit_program(self, "test_store_pg", {"CHATROOM_TEST_PG": PG.new_database()})
        self.assertIn("ok 7 - test_two_writers_into_one_group_give_one_order", out)

    def test_writer_pg_unit_tests_pass(self):
        out = run_unit_program(self, "test_writer_pg", {"CHATROOM_TEST_PG": PG.new_database()})
        self.assertIn("ok 3 - test_a_lost_connection_keeps_the_batch_and_reconnects", out)

    def test_bus_unit_tests_pass(self):
        redis = cluster.Redis().start()
        try:
            out = run_unit_program(self, "test_bus", {"CHATROOM_TEST_PG": PG.new_database(),
                                                      "CHATROOM_TEST_REDIS": redis.address})
        finally:
            redis.cleanup()
        self.assertIn("ok 2 - test_a_dropped_publish_is_filled_from_the_store_in_order", out)


def login_on(node, name, protocol2=False):
    """A connection to node (a harness.Server, or HAProxy) logged in as
    name, registering it first (the record is shared: once is enough)."""
    c = node.connect()
    if protocol2:
        c.hello()
    c.register(name)
    r = c.login(name)
    assert r.get("success"), r
    return c


def chats(conn, want, group_id):
    """The next `want` chat_messages of group_id conn receives, as
    (sender, content, message_id); fails on a wait with nothing new."""
    out = []
    while len(out) < want:
        m = conn.recv_where(lambda m: m["message_type"] == "chat_message" and
                            m.get("chat_group_id") == group_id, timeout=10 * SLOW,
                            what="chat_message %d of %d" % (len(out) + 1, want))
        out.append((m["sender_username"], m["content"], m["message_id"]))
    return out


def enter_when_known(conn, name):
    """enter_chat_request until the node knows the group (created on
    another node, it learns of it from the bus or its next sweep)."""
    deadline = time.time() + 10 * SLOW
    while True:
        r, hist, _ = conn.enter_chat(name)
        if hist is not None or time.time() > deadline:
            return r, hist
        time.sleep(0.05)


def history(conn, name):
    r, hist = enter_when_known(conn, name)
    assert hist is not None, r
    return [(h["sender_username"], h["content"], h["message_id"]) for h in hist]


class ClusterTest(unittest.TestCase):
    """Base: one cluster per test class (node_args as Cluster's)."""
    nodes = 3
    node_args = None

    @classmethod
    def setUpClass(cls):
        cls.cl = cluster.Cluster(PG, cls.nodes, cls.node_args).start()

    @classmethod
    def tearDownClass(cls):
        problems = cls.cl.finish()
        if problems:
            raise AssertionError("\n".join(problems))

    def setUp(self):
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()

    def on(self, i, name=None, protocol2=False):
        c = login_on(self.cl.nodes[i], name or uname("c"), protocol2)
        self.conns.append(c)
        return c

    def run(self, result=None):
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            for i, n in enumerate(self.cl.nodes):
                sys.stderr.write("--- node%d log (tail):\n%s\n" % (i, n.log_tail()))
        return out


class ThreeNodes(ClusterTest):

    def test_public_chat_across_three_nodes_one_order_equal_to_history(self):
        users = [self.on(i) for i in range(3)]
        pub = users[0].group["id"]
        for round_ in range(5):
            for u in users:
                u.chat("%s says %d" % (u.username, round_))
        got = [chats(u, 15, pub) for u in users]
        self.assertEqual(len(set(g[2] for g in got[0])), 15, "a message twice: %r" % got[0])
        self.assertEqual(got[0], got[1])
        self.assertEqual(got[0], got[2])
        # each sender's own messages in the order it sent them
        for u in users:
            mine = [c for s, c, _ in got[0] if s == u.username]
            self.assertEqual(mine, ["%s says %d" % (u.username, r) for r in range(5)])
        # and history, read on yet another connection through HAProxy
        with login_on(self.cl.lb, uname("h")) as h:
            self.assertEqual(history(h, "public")[-15:], got[0])
        for u in users:
            self.assertTrue(u.no_message(0.3, types=("chat_message",)))

    def test_a_group_created_on_one_node_is_used_on_the_others(self):
        users = [self.on(i) for i in range(3)]
        name = uname("team")
        r = users[0].create_chat(name, [users[1].username, users[2].username])
        self.assertTrue(r.get("success"), r)
        gid = r["chat_group_id"]
        for u in users:
            r, hist = enter_when_known(u, name)
            self.assertEqual(hist, [], r)
        for i, u in enumerate(users):
            u.chat("team %d" % i)
        got = [chats(u, 3, gid) for u in users]
        self.assertEqual(got[0], got[1])
        self.assertEqual(got[0], got[2])
        self.assertEqual(sorted(c for _, c, _ in got[0]), ["team 0", "team 1", "team 2"])
        self.assertEqual(history(users[1], name), got[0])

    def test_a_direct_chat_opened_on_one_node_works_with_its_peer_on_another(self):
        a, b = self.on(0, protocol2=True), self.on(1, protocol2=True)
        third = self.on(2, protocol2=True)
        a.send("open_direct_chat_request", username=b.username)
        r = a.recv_type(("open_direct_chat_response", "error_message"))
        self.assertIs(r.get("created"), True, r)
        gid, name = r["chat_group_id"], r["chat_name"]
        # b, in public on node 1, hears of a's message as a notice
        a.enter_chat(name)
        a.chat("psst", group_id=gid)
        n = b.recv_where(lambda m: m["message_type"] == "direct_message_notice",
                         timeout=10 * SLOW, what="direct_message_notice")
        self.assertEqual((n["chat_group_id"], n["content"]), (gid, "psst"))
        # the peer's node knows the chat: the same one, not a second
        b.send("open_direct_chat_request", username=a.username)
        r2 = b.recv_type(("open_direct_chat_response", "error_message"))
        self.assertEqual((r2.get("chat_group_id"), r2.get("created")), (gid, False), r2)
        r3, hist = enter_when_known(b, name)
        self.assertEqual([h["content"] for h in hist or []], ["psst"], r3)
        b.chat("hi back", group_id=gid)
        self.assertEqual([m[:2] for m in chats(a, 2, gid)],
                         [(a.username, "psst"), (b.username, "hi back")])
        # nobody else may enter it, on any node (not found until node 2
        # learns of it, then refused)
        deadline = time.time() + 10 * SLOW
        while True:
            r4, hist4, _ = third.enter_chat(name)
            self.assertIsNone(hist4, r4)
            if r4.get("error_code") == 1005 or time.time() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(r4.get("error_code"), 1005, r4)
        self.assertTrue(third.no_message(0.3, types=("chat_message", "direct_message_notice")))

    def test_two_nodes_sending_into_one_group_at_once_give_one_order(self):
        a, b, c = self.on(0), self.on(1), self.on(2)
        pub = a.group["id"]
        # both send their whole burst before reading anything
        for i in range(40):
            a.chat("a%02d" % i)
            b.chat("b%02d" % i)
        got = [chats(x, 80, pub) for x in (a, b, c)]
        self.assertEqual(got[0], got[1])
        self.assertEqual(got[0], got[2])
        ids = [m[2] for m in got[0]]
        self.assertEqual(ids, sorted(ids), "delivered out of id order")
        self.assertEqual([x for _, x, _ in got[0] if x[0] == "a"], ["a%02d" % i for i in range(40)])
        self.assertEqual([x for _, x, _ in got[0] if x[0] == "b"], ["b%02d" % i for i in range(40)])
        # history gives the newest HistoryMax (50) of them
        hist = history(c, "public")
        self.assertEqual(len(hist), 50)
        self.assertEqual(hist, got[0][-50:])

    def test_a_resend_to_another_node_is_answered_with_the_stored_id(self):
        name = uname("rs")
        a = self.on(0, name, protocol2=True)
        watcher = self.on(2)
        pub = a.group["id"]
        a.chat("only once", client_msg_id="cm-resend-1")
        ack = a.recv_type("chat_ack")
        first = chats(watcher, 1, pub)
        a.close()
        # the same client, cut off, logs in on another node and resends
        a2 = self.on(1, name, protocol2=True)
        a2.chat("only once", client_msg_id="cm-resend-1")
        ack2 = a2.recv_type("chat_ack")
        self.assertEqual(ack2["message_id"], ack["message_id"])
        self.assertEqual(first[0][2], ack["message_id"])
        a2.chat("after")
        self.assertEqual([x[1] for x in chats(watcher, 1, pub)], ["after"])
        self.assertEqual([x for x in history(watcher, "public") if x[1] == "only once"], first)


class ConfigTest(unittest.TestCase):
    """chatroomd -t with cluster options: it says which server does not
    answer, and whether the schema's version fits."""

    def configtest(self, *args):
        return subprocess.run([CHATROOMD, "-f", "/dev/null", "-t"] + list(args),
                              capture_output=True, text=True, timeout=60 * SLOW)

    def test_configtest_checks_postgres_and_redis(self):
        conninfo = PG.new_database()
        redis = cluster.Redis().start()
        try:
            ok = self.configtest("--postgres", conninfo, "--redis", redis.address)
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertIn("# PostgreSQL: reachable, schema version fits", ok.stdout)
            self.assertIn("# Redis: reachable", ok.stdout)
            dead = "127.0.0.1:%d" % free_port()
            bad = self.configtest("--postgres", conninfo, "--redis", dead)
            self.assertEqual(bad.returncode, 1)
            self.assertIn("chatroomd: Redis: cannot connect to Redis at 127.0.0.1", bad.stderr)
            self.assertNotIn("Postgres:", bad.stderr)
        finally:
            redis.cleanup()
        db = conninfo.split("dbname=")[1]
        PG.psql("CREATE TABLE not_ours (x int)", db=db)
        foreign = self.configtest("--postgres", conninfo)
        self.assertEqual(foreign.returncode, 1)
        self.assertIn("was not made by chatroomd", foreign.stderr)

    def test_redis_without_postgres_is_refused(self):
        r = self.configtest("--redis", "127.0.0.1:6379")
        self.assertEqual(r.returncode, 2)
        self.assertIn("set Postgres too", r.stderr)


class Takeover(ClusterTest):
    nodes = 2

    def test_a_login_on_another_node_ends_the_first_session(self):
        name = uname("t")
        first = self.on(0, name)
        second = self.on(1, name)
        m = first.recv_type("system_message")
        self.assertTrue(m.get("content") or m.get("message"), m)
        self.assertTrue(first.expect_closed())
        # the new session works, and chats reach it
        other = self.on(0)
        other.chat("still here?")
        self.assertEqual(chats(second, 1, second.group["id"])[0][1], "still here?")
        self.assertIn("logged in again on node node1", self.cl.nodes[0].log_text())


class DroppedPublish(ClusterTest):
    """node0 drops every third of its publishes on purpose: the others
    fill the gaps from PostgreSQL."""
    nodes = 2
    node_args = {0: ["--debug-drop-publish", "3"]}

    def test_every_message_arrives_in_order_despite_dropped_publishes(self):
        a, b = self.on(0), self.on(1)
        pub = a.group["id"]
        for i in range(12):
            a.chat("d%02d" % i)
        got = chats(b, 12, pub)
        self.assertEqual([x[1] for x in got], ["d%02d" % i for i in range(12)])
        self.assertEqual(chats(a, 12, pub), got)
        self.assertIn("dropping the publish", self.cl.nodes[0].log_text())


class RedisRestart(ClusterTest):
    """Redis killed and started again in the middle of a stream."""
    nodes = 2

    def test_every_message_arrives_in_order_across_a_redis_restart(self):
        a, b = self.on(0), self.on(1)
        pub = a.group["id"]
        for i in range(10):
            a.chat("r%02d" % i)
        self.assertEqual([x[1] for x in chats(b, 10, pub)], ["r%02d" % i for i in range(10)])
        self.cl.redis.kill()
        for i in range(10, 20):
            a.chat("r%02d" % i)
        # with Redis gone, node1 reads them from PostgreSQL (SweepInterval)
        self.assertEqual([x[1] for x in chats(b, 10, pub)], ["r%02d" % i for i in range(10, 20)])
        self.cl.redis.start()
        for i in range(20, 30):
            a.chat("r%02d" % i)
        self.assertEqual([x[1] for x in chats(b, 10, pub)], ["r%02d" % i for i in range(20, 30)])
        self.assertEqual([x[1] for x in chats(a, 30, pub)], ["r%02d" % i for i in range(30)])
        for n in self.cl.nodes:
            wait_for(lambda: "Redis at" in n.log_text() and "is back" in n.log_text())
            self.assertEqual(n.log_text().count("lost Redis"), 1, n.log_tail())
            self.assertIn("is back", n.log_text())


class NodeKilled(ClusterTest):
    """kill -9 of the node a sender is on, in the middle of its stream."""

    def test_no_acknowledged_message_is_lost_or_doubled_when_a_node_dies(self):
        name = uname("k")
        watcher = self.on(2)
        pub = watcher.group["id"]
        s = self.on(1, name, protocol2=True)
        acked, sent = {}, []

        def send(conn, i):
            cmid = "cm-%03d" % i
            conn.chat("k%03d" % i, client_msg_id=cmid)
            sent.append(i)

        def read_acks(conn, wait):
            for m in conn.collect(wait):
                if m["message_type"] == "chat_ack":
                    acked[m["client_msg_id"]] = m["message_id"]

        for i in range(20):
            send(s, i)
        read_acks(s, 0.5)
        self.assertEqual(len(acked), 20)
        for i in range(20, 30):
            send(s, i)
        self.cl.nodes[1].kill()
        self.assertTrue(s.expect_closed())
        self.cl.lb.wait_up(2)
        # the client reconnects through HAProxy, resends what was not
        # acknowledged (as chatroom(1) does) and goes on
        s2 = login_on(self.cl.lb, name, protocol2=True)
        self.conns.append(s2)
        for i in range(20, 30):
            if "cm-%03d" % i not in acked:
                s2.chat("k%03d" % i, client_msg_id="cm-%03d" % i)
        for i in range(30, 40):
            send(s2, i)
        deadline = time.time() + 10 * SLOW
        while len(acked) < 40 and time.time() < deadline:
            read_acks(s2, 0.2)
        self.assertEqual(len(acked), 40, sorted(acked))
        self.assertEqual(len(set(acked.values())), 40, "two messages share an id")
        got = [x for x in chats(watcher, 40, pub)]
        self.assertEqual(sorted(x[1] for x in got), ["k%03d" % i for i in range(40)])
        self.assertEqual(len(set(x[2] for x in got)), 40)
        for x in got:
            self.assertEqual(acked["cm-" + x[1][1:]], x[2])
        self.assertTrue(watcher.no_message(0.5, types=("chat_message",)))
        hist = [x for x in history(watcher, "public") if x[1].startswith("k")]
        self.assertEqual(hist, got)


class PostgresOutage(ClusterTest):
    """PostgreSQL stopped for a few seconds under a stream: late acks,
    nothing acknowledged lost."""
    nodes = 2

    def test_messages_sent_while_postgres_is_down_are_stored_once_it_is_back(self):
        a = self.on(0, protocol2=True)
        b = self.on(1)
        pub = a.group["id"]
        acked = {}
        for i in range(5):
            a.chat("p%d" % i, client_msg_id="p-%d" % i)
        PG.stop()
        try:
            for i in range(5, 10):
                a.chat("p%d" % i, client_msg_id="p-%d" % i)
            time.sleep(1)
        finally:
            PG.start()
        deadline = time.time() + 15 * SLOW
        errors = []
        while len(acked) < 10 and time.time() < deadline:
            for m in a.collect(0.2):
                if m["message_type"] == "chat_ack":
                    acked[m["client_msg_id"]] = m["message_id"]
                elif m["message_type"] == "error_message":
                    errors.append(m)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(acked), ["p-%d" % i for i in range(10)])
        got = chats(b, 10, pub)
        self.assertEqual([x[1] for x in got], ["p%d" % i for i in range(10)])
        self.assertIn("lost the connection to PostgreSQL", self.cl.nodes[0].log_text())


if __name__ == "__main__":
    main()
