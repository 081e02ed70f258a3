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
FAST = ["--rate", "1000000", "--burst", "1000000", "--batch-ms", "5"]


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


class Reader(threading.Thread):
    """A client present in one group that records every chat_message it is
    sent live: what a user saw must be what is stored."""

    def __init__(self, port, name, group, deadline):
        super().__init__(daemon=True)
        self.port, self.name, self.group, self.deadline = port, name, group, deadline
        self.seen = {}   # message_id -> (sender_username, content)
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
                    if m.get("message_type") == "chat_message" and m.get("message_id"):
                        self.seen[m["message_id"]] = (m["sender_username"], m["content"])
            except (OSError, Closed, TimeoutError, ValueError):
                time.sleep(0.05)
            finally:
                c.close()


class KillTest(RobustCase):
    def test_every_message_is_stored_exactly_once_across_kills(self):
        srv = self.start_server(FAST)
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

        # What the watchers saw live: a message is fanned out before it is
        # stored, so one delivered just before a kill may be lost and sent
        # again under a new id (counted, and its content is then stored
        # once under the new id); but an id seen live never names another
        # message.
        stored_by_id = {r[0]: r for r in rows}
        seen_total = 0
        lost_live, reused = [], []
        for w in watchers:
            for mid, (uname, content) in w.seen.items():
                seen_total += 1
                row = stored_by_id.get(mid)
                if row is None:
                    lost_live.append((mid, content))
                elif row[3] != content:
                    reused.append((mid, content, row[3]))
        print("kills survived: %d; sent %d, acknowledged %d, stored %d; logins %d, resends %d; "
              "live deliveries seen %d: %d of them lost in a kill (stored later under a new "
              "id), %d ids reused"
              % (kills, len(sent), len(acked), len(rows), sum(s.logins for s in senders),
                 sum(s.resends for s in senders), seen_total, len(lost_live), len(reused)))
        self.assertEqual(len(sent), len(rows))
        self.assertEqual(len(sent), len(acked))
        self.assertEqual([], reused[:20], "an id delivered live names another stored message")
        stored_contents = {r[3] for r in rows}
        self.assertEqual([], [x for x in lost_live if x[1] not in stored_contents][:20],
                         "a message delivered live and lost in a kill was never stored")

    def test_ids_delivered_before_a_crash_are_not_reused(self):
        """chatroomd fans a message out before it is stored; after a crash
        it must not hand the ids of the messages it lost out again, or a
        client that saw id N live and later catches up with
        after_message_id=N would miss the messages that then carry ids <= N."""
        srv = self.start_server(FAST)
        alice, _ = p2_user(srv, "alice")
        bob, _ = p2_user(srv, "bob")
        alice.chat("before the fault", client_msg_id="a-0")
        self.assertEqual("a-0", alice.recv_type("chat_ack")["client_msg_id"])
        # Hold the write lock: messages are delivered but cannot be stored.
        lock = sqlite3.connect(srv.db, isolation_level=None, timeout=10)
        lock.execute("BEGIN EXCLUSIVE")
        for i in range(1, 6):
            alice.chat("unstored %d" % i, client_msg_id="a-%d" % i)
        seen = []
        while len(seen) < 6:
            m = bob.recv_type("chat_message")
            seen.append(m["message_id"])
        self.assertTrue(alice.no_message(0.3) or
                        all(m["message_type"] != "chat_ack" for m in alice.backlog))
        srv.kill()
        lock.rollback()
        lock.close()
        alice.close()
        bob.close()
        srv.start()
        alice, _ = p2_user(srv, "alice", register=False)
        alice.chat("after the restart", client_msg_id="a-new")
        ack = alice.recv_type("chat_ack")
        self.assertGreater(ack["message_id"], max(seen),
                           "id %d was already delivered before the crash" % ack["message_id"])


if __name__ == "__main__":
    tap.main()
