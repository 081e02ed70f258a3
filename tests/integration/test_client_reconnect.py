#!/usr/bin/env python3
"""chatroom stays connected: after the connection drops (the server restarts,
or the network cuts it) it reconnects, logs in again, re-enters its chat and
shows exactly the messages it missed; lines typed meanwhile are delivered
exactly once."""
import threading
import time
import unittest

from harness import PASSWORD, SLOW, Server, started_server, user
from clientlib import Client, Proxy, chat_lines, start_server
import tap

FAST = ["--reconnect-min", "0.2", "--reconnect-max", "1"]


def stored(srv, name, group_id, limit=500):
    """Every message of the group as the server has stored it: (sender, content)."""
    c = user(srv, name, protocol2=True)
    c.send("history_request", chat_group_id=group_id, limit=limit)
    out = []
    while True:
        m = c.recv()
        if m["message_type"] == "chat_history":
            out.append((m["sender_username"], m["content"]))
        elif m["message_type"] == "chat_history_complete":
            break
    c.close()
    return out


class Reconnect(unittest.TestCase):
    def setUp(self):
        self.srv = start_server(self)

    def client(self, name, port=None, args=()):
        c = Client(port or self.srv.port, user=name, args=FAST + list(args))
        self.addCleanup(c.kill)
        c.wait_for(r"^\*\*\* logged in as %s" % name)
        return c

    def test_server_restart_mid_conversation(self):
        a = self.client("alice")
        b = self.client("bob")
        a.send("before restart")
        b.wait_for(r"<alice> before restart$")

        self.srv.stop()
        a.wait_for(r"^\*\*\* connection lost")
        b.wait_for(r"^\*\*\* connection lost")
        # typed while the server is down: queued, not lost
        a.send("typed while down 1", "typed while down 2")
        time.sleep(0.5 * SLOW)
        self.srv.start()

        a.wait_for(r"^\*\*\* reconnected; logged in again as alice")
        b.wait_for(r"^\*\*\* reconnected; logged in again as bob")
        b.wait_for(r"<alice> typed while down 2$")
        b.send("after restart")
        a.wait_for(r"<bob> after restart$")
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual(b.finish(), 0, b.lines)

        want = [("public", "alice", "before restart"), ("public", "alice", "typed while down 1"),
                ("public", "alice", "typed while down 2"), ("public", "bob", "after restart")]
        self.assertEqual(chat_lines(a.lines), want)
        self.assertEqual(chat_lines(b.lines), want)
        self.assertEqual(stored(self.srv, "bob", 1)[-4:], [(s, c) for g, s, c in want])

    def test_missed_messages_are_fetched_once(self):
        """bob talks without pause while alice's connection is cut twice:
        alice shows every message once, in order."""
        proxy = Proxy(self.srv.port)
        self.addCleanup(proxy.stop)
        a = self.client("alice", port=proxy.port)
        bob = user(self.srv, "bob", protocol2=True)
        self.addCleanup(bob.close)
        n = 120
        cut_at = {30, 80}

        def talk():
            cuts = 0
            for i in range(n):
                bob.chat("n%03d" % i, 1, client_msg_id="bob-%d" % i)
                if i in cut_at:
                    # each cut after alice is back, however slow the machine
                    if cuts:
                        a.wait_for(r"^\*\*\* reconnected", count=cuts, timeout=30 * SLOW)
                    cuts += 1
                    proxy.refusing = True
                    proxy.cut()
                    time.sleep(0.4 * SLOW)
                    proxy.refusing = False
                time.sleep(0.01)
        t = threading.Thread(target=talk)
        t.start()
        t.join()
        a.wait_for(r"<bob> n%03d$" % (n - 1), timeout=30 * SLOW)
        self.assertEqual(a.finish(), 0, a.lines)
        got = [c for g, s, c in chat_lines(a.lines, "bob")]
        self.assertEqual(got, ["n%03d" % i for i in range(n)])
        self.assertGreaterEqual(len([l for l in a.lines if l.startswith("*** reconnected")]), 2, a.lines)

    def test_unacknowledged_line_is_resent_not_doubled(self):
        """The server stores alice's line but the ack is lost with the
        connection: alice sends it again with the same client_msg_id and
        the server keeps one copy."""
        proxy = Proxy(self.srv.port)
        self.addCleanup(proxy.stop)
        a = self.client("alice", port=proxy.port)
        b = self.client("bob")
        proxy.mute_replies()
        a.send("exactly once please")
        b.wait_for(r"<alice> exactly once please$")
        time.sleep(0.2 * SLOW)
        proxy.cut()
        proxy.mute_replies(False)
        a.wait_for(r"^\*\*\* reconnected")
        a.wait_for(r"<alice> exactly once please$")
        b.send("seen it")
        a.wait_for(r"<bob> seen it$")
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual(b.finish(), 0, b.lines)
        self.assertEqual(chat_lines(a.lines), [("public", "alice", "exactly once please"),
                                               ("public", "bob", "seen it")])
        self.assertEqual(chat_lines(b.lines), chat_lines(a.lines))
        self.assertEqual(stored(self.srv, "bob", 1).count(("alice", "exactly once please")), 1)

    def test_a_copy_of_a_message_shown_is_not_shown_again(self):
        """A server that delivered a message before storing it, lost it in a
        crash and stored the resent line under a new id sends the same
        (sender, client_msg_id) twice: chatroom shows it once. Another
        message of the same sender is shown."""
        proxy = Proxy(self.srv.port)
        self.addCleanup(proxy.stop)
        a = self.client("alice", port=proxy.port)
        bob = user(self.srv, "bob", protocol2=True)
        self.addCleanup(bob.close)
        bob.chat("only once", 1, client_msg_id="bob-1")
        echo = bob.recv_type("chat_message")
        self.assertEqual("bob-1", echo.get("client_msg_id"))
        a.wait_for(r"<bob> only once$")
        copy = dict(echo, message_id=echo["message_id"] + 100)
        proxy.inject(copy)
        proxy.inject(dict(echo, message_id=echo["message_id"] + 101, client_msg_id="bob-2",
                          content="the next one"))
        a.wait_for(r"<bob> the next one$")
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual(chat_lines(a.lines, "bob"), [("public", "bob", "only once"),
                                                      ("public", "bob", "the next one")])

    def test_reenters_its_chat_after_reconnect(self):
        proxy = Proxy(self.srv.port)
        self.addCleanup(proxy.stop)
        a = self.client("alice", port=proxy.port)
        a.send("/create_chat den bob", "/enter_chat den")
        a.wait_for(r"^\*\*\* entered chat den")
        b = self.client("bob")
        b.send("/enter_chat den")
        b.wait_for(r"^\*\*\* entered chat den")
        proxy.refusing = True
        proxy.cut()
        a.wait_for(r"^\*\*\* connection lost")
        b.send("while alice is away")
        a.send("from the den, offline")
        time.sleep(0.3 * SLOW)
        proxy.refusing = False
        a.wait_for(r"^\*\*\* reconnected")
        b.wait_for(r"#den <alice> from the den, offline$")
        a.wait_for(r"#den <bob> while alice is away$")
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual(b.finish(), 0, b.lines)
        self.assertEqual(chat_lines(a.lines), [("den", "bob", "while alice is away"),
                                               ("den", "alice", "from the den, offline")])

    def test_exit_status_3_when_messages_cannot_be_delivered(self):
        a = Client(self.srv.port, user="alice", args=FAST + ["--exit-wait", "1"])
        self.addCleanup(a.kill)
        a.wait_for(r"^\*\*\* logged in as alice")
        self.srv.stop()
        a.wait_for(r"^\*\*\* connection lost")
        a.send("nowhere to go")
        self.assertEqual(a.finish(), 3, a.lines)
        self.assertIn("!!! 1 message not acknowledged by the server", a.lines)


    def test_second_login_elsewhere_is_not_fought(self):
        """The server ends the older session of an account that logs in
        again; the client must not log back in (and end the newer one)."""
        a = self.client("alice")
        other = user(self.srv, "alice", protocol2=True)
        self.addCleanup(other.close)
        a.wait_for(r"^\*\*\* not logging in again as alice")
        time.sleep(1.5 * SLOW)  # several reconnect delays
        other.send("heartbeat")
        self.assertEqual(other.recv_type("heartbeat")["message_type"], "heartbeat")
        a.send("not logged in any more")
        self.assertEqual(a.finish(), 1, a.lines)
        self.assertIn("!!! not logged in: use /login NAME first", a.lines)
        self.assertFalse(any("logged in again" in l for l in a.lines), a.lines)


class SmallHistoryLimit(unittest.TestCase):
    """The server answers at most 5 messages per history_request (and
    refuses a larger limit): the catch-up still gets everything missed."""

    def setUp(self):
        srv = self.srv = start_server(self, args=["--history-max", "5"])
        self.proxy = Proxy(srv.port)
        self.addCleanup(self.proxy.stop)

    def test_catch_up_of_a_chat_that_was_empty(self):
        srv, proxy = self.srv, self.proxy
        a = Client(proxy.port, user="alice", args=FAST)
        self.addCleanup(a.kill)
        a.send("/create_chat quiet bob", "/enter_chat quiet")
        a.wait_for(r"^\*\*\* no messages in quiet")
        bob = user(srv, "bob", protocol2=True)
        self.addCleanup(bob.close)
        bob.send("enter_chat_request", chat_name="quiet")
        gid = bob.recv_type("enter_chat_response")["chat_group_id"]
        proxy.refusing = True
        proxy.cut()
        a.wait_for(r"^\*\*\* connection lost")
        for i in range(12):
            bob.chat("q%02d" % i, gid, client_msg_id="q-%d" % i)
            bob.recv_type("chat_ack")
        proxy.refusing = False
        a.wait_for(r"<bob> q11$", timeout=20 * SLOW)
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual([c for g, s, c in chat_lines(a.lines)], ["q%02d" % i for i in range(12)])

    def test_catch_up_pages_past_the_servers_limit(self):
        srv, proxy = self.srv, self.proxy
        a = Client(proxy.port, user="alice", args=FAST)
        self.addCleanup(a.kill)
        a.wait_for(r"^\*\*\* logged in as alice")
        bob = user(srv, "bob", protocol2=True)
        self.addCleanup(bob.close)
        bob.chat("before", 1, client_msg_id="b-before")
        a.wait_for(r"<bob> before$")
        proxy.refusing = True
        proxy.cut()
        a.wait_for(r"^\*\*\* connection lost")
        for i in range(23):
            bob.chat("missed %02d" % i, 1, client_msg_id="b-%d" % i)
            bob.recv_type("chat_ack")
        proxy.refusing = False
        a.wait_for(r"<bob> missed 22$", timeout=20 * SLOW)
        bob.chat("after", 1, client_msg_id="b-after")
        a.wait_for(r"<bob> after$")
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual([c for g, s, c in chat_lines(a.lines)],
                         ["before"] + ["missed %02d" % i for i in range(23)] + ["after"])


class Heartbeat(unittest.TestCase):
    def test_quiet_client_is_kept_alive_and_idle_one_reconnects_on_demand(self):
        srv = started_server(self, ["--heartbeat-interval", "1", "--heartbeat-timeout", "2",
                                    "--login-timeout", "1"])
        c = srv.connect()
        c.register("quiet")
        c.close()
        q = Client(srv.port, user="quiet", args=FAST)
        self.addCleanup(q.kill)
        idle = Client(srv.port, password=None, args=FAST)
        self.addCleanup(idle.kill)
        q.wait_for(r"^\*\*\* logged in as quiet")
        time.sleep(3.5 * SLOW)
        # the logged-in client sent heartbeats: never dropped
        self.assertFalse(any("connection lost" in l for l in q.lines), q.lines)
        # the other did not log in in time: dropped once, not reconnecting
        idle.wait_for(r"^\*\*\* disconnected .*the next command connects again")
        self.assertEqual(len([l for l in idle.lines if l.startswith("*** disconnected")]), 1, idle.lines)
        idle.send("/login quiet " + PASSWORD)
        idle.wait_for(r"^\*\*\* logged in as quiet")
        self.assertEqual(idle.finish(), 0, idle.lines)
        q.finish()


if __name__ == "__main__":
    tap.main()
