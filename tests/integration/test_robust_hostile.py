#!/usr/bin/env python3
"""Hostile input on the wire: many connections send random and mutated
lines (huge, binary, invalid UTF-8, deeply nested JSON, wrong field types,
half a line and then a close, aborted uploads) while well-behaved clients
chat. The server stays up, answers the well-behaved clients as usual, and
they lose nothing: every message each of them sent is acknowledged,
delivered to every other one, and stored."""
import json
import os
import random
import socket
import threading
import time
import unittest

from harness import Conn, Closed, SLOW
from robust import RobustCase, p2_user, db_messages
import tap

MAX_LINE = 16384
HOSTILE_CONNS = 16
GOOD = 3
GOOD_MSGS = 150
DURATION = 8.0

TYPES = ["hello", "register_request", "login_request", "logout_request", "chat_message",
         "create_chat_request", "join_chat_request", "enter_chat_request", "user_info_request",
         "list_users_request", "list_chats_request", "file_upload_request",
         "file_download_request", "file_list_request", "admin_command_request", "heartbeat",
         "history_request", "no_such_type"]
FIELDS = ["username", "password", "content", "chat_group_id", "chat_name", "member_usernames",
          "list_type", "filename", "file_data", "file_size", "file_id", "command", "action",
          "target_id", "target_name", "new_value", "client_msg_id", "after_message_id",
          "before_message_id", "limit", "protocol", "client", "timestamp", "message_type"]


def weird_value(r, depth=0):
    k = r.randrange(16)
    if k == 0:
        return None
    if k == 1:
        return r.choice([True, False])
    if k == 2:
        return r.choice([0, -1, 1, 2 ** 31, 2 ** 63 - 1, -2 ** 63, 2 ** 64, 10 ** 30])
    if k == 3:
        return r.choice([0.5, -0.0, 1e308, -1e308, 3.0, 1e-320])
    if k == 4:
        return "x" * r.choice([0, 1, 64, 65, 1000, 5000])
    if k == 5:
        return "".join(chr(r.choice([0, 1, 9, 10, 13, 0x7f, 0x85, 0x2028, 0xfeff, 0x4e2d,
                                     0x1f600])) for _ in range(r.randrange(1, 50)))
    if k == 6 and depth < 3:
        return [weird_value(r, depth + 1) for _ in range(r.randrange(5))]
    if k == 7 and depth < 3:
        return {"k%d" % i: weird_value(r, depth + 1) for i in range(r.randrange(5))}
    if k == 8:
        return "public"
    if k == 9:
        return r.choice(["all", "joined", "current_chat", "../../etc/passwd", "a.txt", "-u"])
    return r.choice(["", "Admin", "alice", "secret123", "1", "-1", "\u0000", "ban", "del"])


def hostile_line(r, valid_lines):
    """One line (without the newline, except where the point is)."""
    k = r.randrange(13)
    if k == 0:  # random bytes
        return bytes(r.randrange(256) for _ in range(r.randrange(1, 300))).replace(b"\n", b" ")
    if k == 1:  # invalid UTF-8 inside an otherwise valid message
        bad = r.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe4\xbd"])
        return b'{"message_type":"chat_message","timestamp":1,"content":"a' + bad + b'b"}'
    if k == 2:  # deep JSON
        d = r.choice([50, 1000, 5000])
        o = r.choice([(b"[", b"]"), (b'{"a":', b"}")])
        return b'{"message_type":"chat_message","content":' + o[0] * d + b"1" + o[1] * d + b"}"
    if k == 3:  # deep JSON, unterminated
        return b"[" * r.randrange(1, 8000)
    if k == 4 or k == 5:  # a known type with fields of the wrong types
        msg = {"message_type": r.choice(TYPES)}
        for f in r.sample(FIELDS, r.randrange(1, 8)):
            msg[f] = weird_value(r)
        if r.random() < 0.8:
            msg["message_type"] = r.choice(TYPES)
        return json.dumps(msg).encode()
    if k == 6:  # JSON escapes that are not characters
        esc = r.choice([r"\u0000", r"\ud800", r"\udfff", r"\ud800\u0041", r"\u00", r"\x41"])
        return ('{"message_type":"chat_message","content":"a%sb","chat_group_id":1}' % esc).encode()
    if k == 7:  # non-objects
        return r.choice([b"[]", b"null", b"1", b'"chat_message"', b"true", b"{}",
                         b'{"message_type":1}', b'{"message_type":null}', b"{,}", b" \t "])
    if k in (8, 9, 10):  # a valid line, mutated
        b = bytearray(r.choice(valid_lines))
        for _ in range(r.randrange(1, 6)):
            op = r.randrange(3)
            pos = r.randrange(len(b) + 1)
            if op == 0 and pos < len(b):
                b[pos] = r.randrange(256)
            elif op == 1:
                b[pos:pos] = bytes([r.randrange(256)])
            elif pos < len(b):
                del b[pos]
        return bytes(b).replace(b"\n", b" ")
    if k == 11:  # duplicate keys, huge numbers, trailing garbage
        return r.choice([b'{"message_type":"chat_message","message_type":"heartbeat"}',
                         b'{"message_type":"history_request","chat_group_id":1,"limit":1e999}',
                         b'{"message_type":"heartbeat"} {"message_type":"heartbeat"}',
                         b'{"message_type":"heartbeat"}garbage',
                         b'{"message_type":"chat_message","content":"' + b"\\\\" * 3000 + b'"}'])
    return json.dumps({"message_type": "chat_message", "content": weird_value(r),
                       "chat_group_id": weird_value(r),
                       "client_msg_id": weird_value(r)}).encode()


class Hostile(threading.Thread):
    def __init__(self, port, idx, user, stop, seed):
        super().__init__(daemon=True)
        self.port, self.idx, self.user, self.stop = port, idx, user, stop
        self.r = random.Random(seed)
        self.lines = 0
        self.conns = 0
        self.received = 0
        self.error = None
        self.valid = [
            json.dumps({"message_type": "chat_message", "timestamp": 1.0, "content": "hi",
                        "chat_group_id": 1, "client_msg_id": "x1"}).encode(),
            json.dumps({"message_type": "login_request", "timestamp": 1.0, "username": user,
                        "password": "secret123"}).encode(),
            json.dumps({"message_type": "history_request", "timestamp": 1.0,
                        "chat_group_id": 1, "after_message_id": 3, "limit": 10}).encode(),
            json.dumps({"message_type": "create_chat_request", "timestamp": 1.0,
                        "chat_name": "room%d" % idx, "member_usernames": ["alice"]}).encode(),
            json.dumps({"message_type": "admin_command_request", "timestamp": 1.0,
                        "command": "ban", "action": "-u", "target_id": None,
                        "target_name": "good0", "new_value": ""}).encode(),
        ]

    def drain(self, s):
        """Read what the server answered so far, without waiting."""
        s.settimeout(0)
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    raise ConnectionResetError("closed by the server")
                self.received += len(d)
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            s.settimeout(2 * SLOW)

    def one_connection(self):
        r = self.r
        s = socket.create_connection(("127.0.0.1", self.port), timeout=2 * SLOW)
        self.conns += 1
        try:
            if r.random() < 0.5:
                if r.random() < 0.5:
                    s.sendall(b'{"message_type":"hello","timestamp":1,"protocol":2}\n')
                s.sendall(self.valid[1] + b"\n")
            for _ in range(r.randrange(1, 60)):
                if self.stop.is_set():
                    return
                k = r.random()
                if k < 0.02:  # a line over the limit: 1015, then closed
                    s.sendall(b'{"message_type":"chat_message","content":"'
                              + b"z" * (MAX_LINE + 100) + b'"}\n')
                    self.lines += 1
                    return
                if k < 0.04:  # half a line, then close
                    s.sendall(hostile_line(r, self.valid)[:r.randrange(1, 40)])
                    self.lines += 1
                    return
                if k < 0.05:  # an upload that never finishes
                    s.sendall(json.dumps({"message_type": "file_upload_request", "timestamp": 1,
                                          "filename": "a.txt", "file_size": 100000,
                                          "file_data": "", "chat_group_id": 1}).encode()
                              + b"\n" + os.urandom(r.randrange(1, 5000)))
                    self.lines += 1
                    return
                s.sendall(hostile_line(r, self.valid) + b"\n")
                self.lines += 1
                if r.random() < 0.2:
                    self.drain(s)
        finally:
            s.close()

    def run(self):
        while not self.stop.is_set():
            try:
                self.one_connection()
            except (OSError, socket.timeout):
                time.sleep(0.01)  # closed by the server (too long, flooding): fine


class Good(threading.Thread):
    """A protocol-2 client that sends numbered messages at a steady pace and
    records everything delivered to it."""

    def __init__(self, port, name):
        super().__init__(daemon=True)
        self.port, self.name = port, name
        self.conn = None
        self.acks = {}
        self.got = []      # (message_id, sender, content) of every chat_message
        self.errors = []
        self.done_sending = False
        self.error = None

    def run(self):
        try:
            c = self.conn
            sent = 0
            last_hb = time.time()
            next_send = time.time()
            deadline = time.time() + 60 * SLOW
            while time.time() < deadline:
                if sent < GOOD_MSGS and time.time() >= next_send:
                    c.chat("%s says %d" % (self.name, sent), client_msg_id="%s-%d" % (self.name, sent))
                    sent += 1
                    next_send = time.time() + DURATION / GOOD_MSGS
                if time.time() - last_hb > 5:
                    c.send("heartbeat")
                    last_hb = time.time()
                if sent == GOOD_MSGS and len(self.acks) == GOOD_MSGS and self.done_sending:
                    return
                try:
                    m = c.recv(timeout=0.05)
                except TimeoutError:
                    continue
                t = m["message_type"]
                if t == "chat_ack":
                    self.acks[m["client_msg_id"]] = m["message_id"]
                elif t == "chat_message":
                    self.got.append((m["message_id"], m["sender_username"], m["content"]))
                elif t == "error_message":
                    self.errors.append(m)
            self.error = "%s: timed out (%d acks)" % (self.name, len(self.acks))
        except Exception as e:
            self.error = "%s: %r" % (self.name, e)


class HostileInput(RobustCase):
    def test_server_survives_hostile_lines_and_good_clients_lose_nothing(self):
        srv = self.start_server(["--max-line", str(MAX_LINE), "--rate", "100000",
                                 "--burst", "100000", "--workers", "200"])
        goods = []
        for i in range(GOOD):
            g = Good(srv.port, "good%d" % i)
            g.conn, _ = p2_user(srv, g.name)
            goods.append(g)
        for i in range(HOSTILE_CONNS):
            c, _ = p2_user(srv, "hostile%d" % i)
            c.close()
        stop = threading.Event()
        seed = int(os.environ.get("ROBUST_SEED", "1234"))
        hostiles = [Hostile(srv.port, i, "hostile%d" % i, stop, seed + i)
                    for i in range(HOSTILE_CONNS)]
        for t in hostiles + goods:
            t.start()
        time.sleep(DURATION)
        stop.set()
        for t in hostiles:
            t.join(10 * SLOW)
        self.assertTrue(srv.alive(), "chatroomd died:\n" + srv.log_text()[-3000:])
        # the good ones finish and then wait for each other's last messages
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline and any(len(g.acks) < GOOD_MSGS for g in goods):
            time.sleep(0.1)
        time.sleep(1.0)
        for g in goods:
            g.done_sending = True
        for g in goods:
            g.join(10 * SLOW)
            self.assertIsNone(g.error, g.error)
            self.assertEqual([], g.errors, g.name)
        # every good client received every good message once, in id order
        want = sorted((mid, g.name, "%s says %s" % (g.name, cmid.split("-")[1]))
                      for g in goods for cmid, mid in g.acks.items())
        self.assertEqual(GOOD * GOOD_MSGS, len(want))
        for g in goods:
            mine = [x for x in g.got if x[1].startswith("good")]
            self.assertEqual(want, mine, "%s lost, doubled or reordered messages" % g.name)
            ids = [x[0] for x in g.got]
            self.assertEqual(ids, sorted(ids), "%s: ids not increasing" % g.name)
        for g in goods:
            g.conn.close()
        self.assertTrue(srv.alive())
        self.assertEqual(0, srv.stop())
        stored = {(r[0], r[3]) for r in db_messages(srv.db)}
        for mid, _, content in want:
            self.assertIn((mid, content), stored)
        lines = sum(h.lines for h in hostiles)
        conns = sum(h.conns for h in hostiles)
        print("hostile lines sent: %d on %d connections (%d bytes answered); good messages: "
              "%d sent, %d acked, %d deliveries, all stored"
              % (lines, conns, sum(h.received for h in hostiles), GOOD * GOOD_MSGS, len(want),
                                             sum(len(g.got) for g in goods)))


if __name__ == "__main__":
    tap.main()
