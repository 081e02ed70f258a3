#!/usr/bin/env python3
"""Nothing acknowledged is ever lost, and nothing is stored twice, when
chatroomd is killed (SIGKILL) in the middle of a stream of messages and
started again on the same database and port.

Several protocol-2 clients send chat_messages with client_msg_id to two
groups. The server is killed several times; each client reconnects, logs
in again and resends, in order and with the same client_msg_id, everything
not yet acknowledged. At the end every message sent is stored exactly once
(read back with history_request paging and with sqlite3 after a clean
stop), every ack names the message that was stored, and each group's
history has increasing ids and every sender's sequence without gaps.

What the members saw is what history holds: every chat_message any client
received live is in its group's history under the same id, from the same
sender, with the same content, and no client received the same (sender,
client_msg_id) twice, whatever the kills (chatroomd delivers a message only
once it is stored). All of it holds with --synchronous normal too.
"""
import collections
import json
import os
import random
import socket
import sqlite3
import sys
import threading
import time
import unittest

from harness import Conn, Closed, SLOW
from robust import RobustCase, p2_user, history_all, db_messages, wait_for
import tap

KILLS = int(os.environ.get("ROBUST_KILLS", "5"))
SENDERS = 4
WINDOW = 16           # messages a sender has out without an ack
GROUPS = ("public", "killroom")
FAST = ["--rate", "1000000", "--burst", "1000000"]


class Sender(threading.Thread):
    """A protocol-2 client that sends numbered messages, reconnecting and
    resending what is not acknowledged whenever the connection breaks."""

    def __init__(self, port, name, group_ids, deadline):
        super().__init__(daemon=True)
        self.port, self.name, self.group_ids = port, name, group_ids
        self.deadline = deadline
        self.stop_new = threading.Event()
        self.pending = collections.OrderedDict()  # cmid -> (seq, group_id)
        self.acked = {}        # cmid -> message_id of the first ack
        self.sent = {}         # cmid -> (seq, group_id, content) of every message ever sent
        self.next_seq = 0
        self.logins = 0
        self.resends = 0
        self.deliveries = []   # every chat_message received, as Reader.deliveries
        self.problems = []     # broken promises seen by the client
        self.lock = threading.Lock()
        self.error = None

    def cmid(self, seq):
        return "%s-%d" % (self.name, seq)

    def content(self, seq):
        return "%s#%d" % (self.name, seq)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def _send(self, c, seq, gid):
        c.send({"message_type": "chat_message", "chat_group_id": gid,
                "content": self.content(seq), "client_msg_id": self.cmid(seq)})

    def _session(self):
        c = Conn(self.port, timeout=2 * SLOW)
        try:
            c.hello()
            r = c.login(self.name)
            if not r.get("success"):
                raise Closed("login refused: %r" % r)
            self.logins += 1
            for cmid, (seq, gid) in list(self.pending.items()):
                self._send(c, seq, gid)
                self.resends += 1
            while True:
                while (len(self.pending) < WINDOW and not self.stop_new.is_set()):
                    seq = self.next_seq
                    self.next_seq += 1
                    gid = self.group_ids[seq % len(self.group_ids)]
                    cmid = self.cmid(seq)
                    with self.lock:
                        self.pending[cmid] = (seq, gid)
                        self.sent[cmid] = (seq, gid, self.content(seq))
                    self._send(c, seq, gid)
                if self.stop_new.is_set() and not self.pending:
                    return True
                m = c.recv(timeout=10 * SLOW)
                t = m.get("message_type")
                if t == "chat_ack":
                    self._ack(m)
                elif t == "chat_message":
                    self.deliveries.append(delivery(m))
                elif t == "error_message":
                    self.problems.append("error from the server: %r" % m)
        finally:
            c.close()

    def _ack(self, m):
        cmid, mid = m.get("client_msg_id"), m.get("message_id")
        with self.lock:
            if cmid not in self.sent:
                self.problems.append("ack for a message never sent: %r" % m)
                return
            first = self.acked.setdefault(cmid, mid)
            if first != mid:
                self.problems.append("%s acknowledged as %s, then as %s" % (cmid, first, mid))
            if m.get("chat_group_id") != self.sent[cmid][1]:
                self.problems.append("ack names the wrong group: %r" % m)
            self.pending.pop(cmid, None)

    def run(self):
        try:
            while time.time() < self.deadline:
                try:
                    if self._session():
                        return
                except (OSError, Closed, TimeoutError, ValueError):
                    time.sleep(0.05)  # the server is down or restarting
            self.error = "gave up: deadline passed with %d unacknowledged" % len(self.pending)
        except Exception as e:  # report, do not hang the test
            self.error = "%s: %r" % (self.name, e)


def delivery(m):
    """What a client saw of a live chat_message."""
    return (m.get("message_id"), m.get("chat_group_id"), m.get("sender_username"),
            m.get("content"), m.get("client_msg_id"))


class Reader(threading.Thread):
    """A client present in one group that records every chat_message it is
    sent live: what a user saw must be what is stored."""

    def __init__(self, port, name, group, deadline):
        super().__init__(daemon=True)
        self.port, self.name, self.group, self.deadline = port, name, group, deadline
        self.deliveries = []  # (message_id, group_id, sender, content, client_msg_id)
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set() and time.time() < self.deadline:
            try:
                c = Conn(self.port, timeout=2 * SLOW)
            except OSError:
                time.sleep(0.05)
                continue
            try:
                c.hello()
                if not c.login(self.name).get("success"):
                    continue
                if self.group != "public":
                    c.send("enter_chat_request", chat_name=self.group)
                while not self.stop.is_set():
                    try:
                        m = c.recv(timeout=0.5)
                    except TimeoutError:
                        c.send("heartbeat")
                        continue
                    if m.get("message_type") == "chat_message":
                        self.deliveries.append(delivery(m))
            except (OSError, Closed, TimeoutError, ValueError):
                time.sleep(0.05)
            finally:
                c.close()


class KillTest(RobustCase):
    def test_every_message_is_stored_exactly_once_across_kills(self):
        self.stream_across_kills(FAST)

    def test_with_synchronous_normal_too(self):
        """Commits that do not wait for the disk are still in the kernel
        when the process dies: a kill loses nothing acknowledged either."""
        self.stream_across_kills(FAST + ["--synchronous", "normal", "--checkpoint-interval", "50"])

    def stream_across_kills(self, args):
        srv = self.start_server(args)
        names = ["killer%d" % i for i in range(SENDERS)]
        readers = ["watch_pub", "watch_kill"]
        for n in names + readers + ["checker"]:
            c, _ = p2_user(srv, n)
            c.close()
        c, r = p2_user(srv, names[0], register=False)
        c.send("create_chat_request", chat_name="killroom", member_usernames=names[1:] + readers + ["checker"])
        resp = c.recv_type("create_chat_response")
        self.assertTrue(resp["success"], resp)
        gids = [r["current_chat_group"]["id"], resp["chat_group_id"]]
        c.close()

        deadline = time.time() + 90 * SLOW
        senders = [Sender(srv.port, n, gids, deadline) for n in names]
        watchers = [Reader(srv.port, readers[0], "public", deadline),
                    Reader(srv.port, readers[1], "killroom", deadline)]
        for t in senders + watchers:
            t.start()

        rnd = random.Random(os.environ.get("ROBUST_SEED", "4711"))
        kills = 0
        for k in range(KILLS):
            # kill mid-stream: only once every sender made progress since
            # the last restart, then after a random moment
            base = [s.acked_count() for s in senders]
            wait_for(lambda: all(s.acked_count() >= b + 150 for s, b in zip(senders, base)),
                     30 * SLOW, "senders to make progress before kill %d" % (k + 1))
            time.sleep(rnd.uniform(0.05, 0.4))
            srv.kill()
            kills += 1
            time.sleep(rnd.uniform(0.0, 0.3))
            srv.start()

        wait_for(lambda: all(s.acked_count() >= 30 for s in senders), 30 * SLOW,
                 "senders to make progress after the last restart")
        for s in senders:
            s.stop_new.set()
        for s in senders:
            s.join(max(1, deadline - time.time()))
        for s in senders:
            self.assertIsNone(s.error, s.error)
            self.assertFalse(s.is_alive(), "%s did not finish" % s.name)
            self.assertEqual([], s.problems, s.name)
            self.assertEqual({}, dict(s.pending), "%s: unacknowledged at the end" % s.name)

        for w in watchers:
            w.stop.set()
        for w in watchers:
            w.join(5 * SLOW)
        # What a client reads back with history_request paging.
        c, _ = p2_user(srv, "checker", register=False)
        hist = {gid: history_all(c, gid) for gid in gids}
        c.close()
        self.assertEqual(0, srv.stop(), "clean stop after the kills")
        rows = db_messages(srv.db)

        sent = {}
        for s in senders:
            sent.update(s.sent)
        acked = {}
        for s in senders:
            acked.update(s.acked)

        # Every message sent is stored exactly once, under its client_msg_id.
        stored = collections.Counter(r[4] for r in rows)
        dups = {k: v for k, v in stored.items() if v > 1}
        self.assertEqual({}, dups, "stored more than once")
        self.assertEqual(set(sent), set(stored), "sent and stored differ")
        by_cmid = {r[4]: r for r in rows}
        for cmid, (seq, gid, content) in sent.items():
            row = by_cmid[cmid]
            self.assertEqual((gid, content), (row[1], row[3]), cmid)
        # Every ack names the message that is stored.
        for cmid, mid in acked.items():
            self.assertEqual(mid, by_cmid[cmid][0], "ack of %s" % cmid)

        # History: ids increasing, every sender's sequence without gaps and
        # in order, and the same as the database.
        for gid in gids:
            ids = [m["message_id"] for m in hist[gid]]
            self.assertEqual(sorted(set(ids)), ids, "group %d: ids not increasing" % gid)
            self.assertEqual([r[0] for r in rows if r[1] == gid], ids, "history vs database")
            for s in senders:
                seqs = [int(m["content"].split("#")[1]) for m in hist[gid]
                        if m["sender_username"] == s.name]
                want = [q for (q, g, _) in sorted(s.sent.values()) if g == gid]
                self.assertEqual(want, seqs, "group %d, %s: gaps or disorder" % (gid, s.name))

        # What the members saw live is what history holds: every delivery
        # is in its group's history under the same id, sender and content,
        # and no client saw one (sender, client_msg_id) twice.
        in_history = {m["message_id"]: (m["chat_group_id"], m["sender_username"], m["content"])
                      for gid in gids for m in hist[gid]}
        seen_total, not_in_history, differs, twice = 0, [], [], []
        for client in senders + watchers:
            keys = collections.Counter()
            for (mid, gid, uname, content, cmid) in client.deliveries:
                seen_total += 1
                h = in_history.get(mid)
                if h is None:
                    not_in_history.append((client.name, mid, uname, content))
                elif h != (gid, uname, content):
                    differs.append((client.name, mid, (gid, uname, content), h))
                if cmid is None:
                    self.fail("%s: chat_message %d to a protocol-2 client without the "
                              "sender's client_msg_id" % (client.name, mid))
                keys[(uname, cmid)] += 1
            twice += [(client.name, k, n) for k, n in keys.items() if n > 1]
        print("kills survived: %d; sent %d, acknowledged %d, stored %d; logins %d, resends %d; "
              "live deliveries seen %d: %d not in history, %d differing from it, %d seen twice"
              % (kills, len(sent), len(acked), len(rows), sum(s.logins for s in senders),
                 sum(s.resends for s in senders), seen_total, len(not_in_history),
                 len(differs), len(twice)))
        self.assertEqual(len(sent), len(rows))
        self.assertEqual(len(sent), len(acked))
        self.assertGreater(min(len(w.deliveries) for w in watchers), 0, "the watchers saw nothing")
        self.assertEqual([], not_in_history[:20], "delivered live but not in history")
        self.assertEqual([], differs[:20], "delivered live as another message than history holds")
        self.assertEqual([], twice[:20], "one (sender, client_msg_id) delivered twice")

    def test_messages_not_stored_before_a_crash_were_seen_by_nobody(self):
        """While the database cannot be written nothing is delivered; a kill
        then loses only messages nobody saw, which their sender, having no
        ack, sends again: everyone then sees them once, as stored."""
        srv = self.start_server(FAST)
        alice, _ = p2_user(srv, "alice")
        bob, _ = p2_user(srv, "bob")
        alice.chat("before the fault", client_msg_id="a-0")
        first = alice.recv_type("chat_message")["message_id"]  # the echo, then the ack
        self.assertEqual(first, alice.recv_type("chat_ack")["message_id"])
        self.assertEqual(first, bob.recv_type("chat_message")["message_id"])
        alice.backlog.clear()
        bob.backlog.clear()
        # Hold the write lock: messages are accepted but cannot be stored.
        lock = sqlite3.connect(srv.db, isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        for i in range(1, 6):
            alice.chat("unstored %d" % i, client_msg_id="a-%d" % i)
        wait_for(lambda: "database locked" in srv.log_text(), 15 * SLOW,
                 "the writer to log the lock")
        for c in (alice, bob):
            self.assertTrue(c.no_message(0.3, types=("chat_message", "chat_ack")),
                            "seen before it was stored: %r" % c.backlog)
        srv.kill()
        lock.rollback()
        lock.close()
        alice.close()
        bob.close()
        srv.start()
        bob, _ = p2_user(srv, "bob", register=False)
        alice, _ = p2_user(srv, "alice", register=False)
        for i in range(1, 6):  # what chatroom(1) does with its unacknowledged lines
            alice.chat("unstored %d" % i, client_msg_id="a-%d" % i)
        acks = {}
        while len(acks) < 5:
            m = alice.recv_type("chat_ack")
            acks[m["client_msg_id"]] = m["message_id"]
        live = [bob.recv_type("chat_message") for _ in range(5)]
        self.assertEqual([acks["a-%d" % i] for i in range(1, 6)], [m["message_id"] for m in live])
        self.assertEqual(["a-%d" % i for i in range(1, 6)], [m["client_msg_id"] for m in live])
        self.assertTrue(all(m["message_id"] > first for m in live))
        hist = history_all(bob, live[0]["chat_group_id"])
        self.assertEqual([first] + [m["message_id"] for m in live],
                         [m["message_id"] for m in hist])
        self.assertEqual(["before the fault"] + ["unstored %d" % i for i in range(1, 6)],
                         [m["content"] for m in hist])


if __name__ == "__main__":
    tap.main()
