#!/usr/bin/env python3
"""Robustness at the limits: bad input of every kind (1008, connection
usable), an over-long line (1015, closed), a full worker pool (1013,
closed), the bound on file transfers, deadlines on parked connections, and
a client that stops reading (closed once its unsent output
passes --max-output) while everyone else goes on."""
import socket
import struct
import time

from adminlib import group_id
from harness import SLOW, Closed, ServerTest, main


class BadInput(ServerTest):

    BAD_LINES = [
        ("invalid JSON", b"{not json}\n"),
        ("truncated JSON", b'{"message_type": "heartbeat"\n'),
        ("invalid UTF-8", b'{"message_type":"chat_message","content":"\xff\xfe"}\n'),
        ("overlong UTF-8", b'{"message_type":"chat_message","content":"\xc0\xaf"}\n'),
        ("surrogate in UTF-8", b'{"message_type":"chat_message","content":"\xed\xa0\x80"}\n'),
        ("array", b'["message_type","heartbeat"]\n'),
        ("string", b'"heartbeat"\n'),
        ("number", b"42\n"),
        ("null", b"null\n"),
        ("missing message_type", b'{"timestamp":1.0}\n'),
        ("numeric message_type", b'{"message_type":7,"timestamp":1.0}\n'),
        ("null message_type", b'{"message_type":null}\n'),
        ("unknown message_type", b'{"message_type":"no_such_thing","timestamp":1.0}\n'),
        ("deeply nested", b'{"message_type":"heartbeat","x":' + b"[" * 200 + b"]" * 200 + b"}\n"),
        ("trailing garbage", b'{"message_type":"heartbeat"} junk\n'),
    ]

    def assertStillUsable(self, c):
        c.send("heartbeat")
        c.recv_type("heartbeat")

    def test_bad_lines_before_login(self):
        c = self.connect()
        for what, line in self.BAD_LINES:
            with self.subTest(what):
                c.send_raw(line)
                c.expect_error(1008)
                self.assertStillUsable(c)
        # and the connection can still register and log in
        name = self.name("bad")
        self.assertTrue(c.register(name).get("success"))
        self.assertTrue(c.login(name).get("success"))

    def test_bad_lines_after_login(self):
        c = self.login_user()
        other = self.login_user()
        for what, line in self.BAD_LINES:
            with self.subTest(what):
                c.send_raw(line)
                c.expect_error(1008)
                self.assertStillUsable(c)
        c.chat("still chatting")
        other.recv_chat("still chatting")

    def test_wrong_field_types(self):
        c = self.login_user()
        gid = c.group["id"]
        bad = [
            {"message_type": "login_request", "username": ["x"], "password": "abc123"},
            {"message_type": "login_request", "username": "abc", "password": 123456},
            {"message_type": "chat_message", "content": 42, "chat_group_id": gid},
            {"message_type": "chat_message", "content": "x", "chat_group_id": "public"},
            {"message_type": "chat_message", "content": {"a": 1}, "chat_group_id": gid},
            {"message_type": "chat_message", "content": "x", "chat_group_id": 1.5},
            {"message_type": "enter_chat_request", "chat_name": 5},
            {"message_type": "join_chat_request", "chat_name": None},
            {"message_type": "create_chat_request", "chat_name": ["a"], "member_usernames": []},
            {"message_type": "list_users_request", "list_type": True},
        ]
        for obj in bad:
            with self.subTest(obj=obj):
                c.send(obj)
                c.expect_error(1008)
                self.assertStillUsable(c)

    def test_odd_values(self):
        # an integer id no group has (2**64 is saturated to int64) is
        # 1004; a number that is not an integer is 1008
        c = self.login_user(protocol2=True)
        for gid, code, text in ((2 ** 63 - 1, 1004, "chat not found"), (2 ** 64, 1004, "chat not found"),
                                (1e300, 1008, "chat_group_id must be an integer")):
            with self.subTest(chat_group_id=gid):
                c.chat("odd", group_id=gid)
                e = c.expect_error(code)
                self.assertEqual(e["error_message"], text)
                self.assertStillUsable(c)
        c.send("enter_chat_request", chat_name="")
        self.assertEqual(c.expect_error(1004)["error_message"], "chat not found: ")
        c.send("create_chat_request", chat_name="n" * 10000, member_usernames=[])
        e = c.recv_type("create_chat_response")
        self.assertIs(e["success"], False, e)
        self.assertEqual(e["error_message"], "chat name must be 2 to 30 characters long")
        c.send("create_chat_request", chat_name=self.name("many"), member_usernames=["ghost%d" % i for i in range(500)])
        c.expect_error(1003)
        self.assertStillUsable(c)

    def test_negative_group_id_is_an_error_not_the_current_group(self):
        c = self.login_user(protocol2=True)
        other = self.login_user()
        c.chat("to group -1", group_id=-1)
        self.assertEqual(c.expect_error(1004)["error_message"], "chat not found")
        # nothing reached the current group: c's next message is the
        # first chat_message the other member gets
        c.chat("after -1")
        self.assertEqual(other.recv_type("chat_message")["content"], "after -1")

    def test_fields_unknown_to_the_server_are_ignored(self):
        c = self.login_user()
        c.send("heartbeat", extra_field="ignored", another={"x": 1})
        c.recv_type("heartbeat")
        c.chat("with extras", color="red", mood=["happy"])
        self.assertEqual(c.recv_chat("with extras")["content"], "with extras")

    def test_crlf_line_endings_are_accepted(self):
        c = self.connect()
        c.send_raw(b'{"message_type":"heartbeat","timestamp":1.0}\r\n')
        c.recv_type("heartbeat")

    def test_several_messages_in_one_packet_and_split_messages(self):
        c = self.connect()
        c.send_raw(b'{"message_type":"heartbeat"}\n{"message_type":"heartbeat"}\n{"message_ty')
        c.recv_type("heartbeat")
        c.recv_type("heartbeat")
        time.sleep(0.1)
        c.send_raw(b'pe":"heartbeat"}\n')
        c.recv_type("heartbeat")


class VanishingClients(ServerTest):

    def reset(self, conn):
        """Close with a TCP reset, as a crashed client or a lost network."""
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    def test_clients_that_reset_mid_conversation_do_not_hurt_the_server(self):
        watcher = self.login_user()
        for i in range(10):
            c = self.login_user()
            # ask for a lot of output and vanish before reading it
            for _ in range(5):
                c.send("list_users_request", list_type="all")
                c.send("enter_chat_request", chat_name="public")
            self.reset(c)
        for i in range(10):
            c = self.connect()
            c.send_raw(b'{"message_type":"register_request","username":"half')  # half a line
            self.reset(c)
        watcher.chat("still alive")
        watcher.recv_chat("still alive")
        self.assertTrue(self.srv.alive())

    def test_reset_while_messages_are_broadcast(self):
        talker = self.login_user()
        victims = [self.login_user() for _ in range(5)]
        for i in range(50):
            talker.chat("busy %d" % i)
            if i == 10:
                for v in victims:
                    self.reset(v)
        for i in range(50):
            talker.recv_chat("busy %d" % i)
        self.assertTrue(self.srv.alive())


class LineLimit(ServerTest):
    server_args = ["--max-line", "1024"]

    def test_over_long_line_gets_1015_and_is_closed(self):
        victim = self.login_user()
        a = self.login_user()
        b = self.login_user()
        victim.send_raw(b'{"message_type":"chat_message","content":"' + b"x" * 2000 + b'"}\n')
        victim.expect_error(1015)
        self.assertTrue(victim.expect_closed(), "connection still open after a line over the limit")
        a.chat("others go on")
        b.recv_chat("others go on")
        a.recv_chat("others go on")

    def test_over_long_line_without_newline_is_closed(self):
        victim = self.connect()
        try:
            victim.send_raw(b"y" * 4096)
        except OSError:
            pass
        self.assertTrue(victim.expect_closed(), "connection still open after 4 KiB without a newline")
        ok = self.login_user()
        ok.send("heartbeat")
        ok.recv_type("heartbeat")

    def test_line_just_under_the_limit_is_accepted(self):
        c = self.login_user()
        prefix = b'{"message_type":"chat_message","content":"'
        suffix = b'"}'
        content = "z" * (1024 - len(prefix) - len(suffix))
        line = prefix + content.encode() + suffix
        self.assertEqual(len(line), 1024)
        c.send_raw(line + b"\n")
        self.assertEqual(c.recv_chat()["content"], content)


def login_when_a_worker_is_free(test):
    """The harness's probe that the server listens holds a worker until the
    server sees it closed: until then a new client may be refused."""
    deadline = time.time() + 5 * SLOW
    while True:
        try:
            return test.login_user()
        except (Closed, OSError, AssertionError):
            if time.time() > deadline:
                raise
            time.sleep(0.1)


def hold_a_worker(test):
    """A logged-in client whose upload has started and stalls: a file
    transfer holds the worker serving it (until --transfer-timeout).
    Returns the connection and the bytes that finish the upload."""
    c = login_when_a_worker_is_free(test)
    gid = group_id(c, "public")
    c.send("file_upload_request", filename="hold.txt", file_data="", file_size=10,
           chat_group_id=gid)
    c.recv_type("file_upload_response")
    return c, b"0123456789"


def finish_upload(conn, data):
    conn.send_raw(data)
    final = conn.recv_type("file_upload_response", timeout=5 * SLOW)
    assert final["success"], final


class Pool(ServerTest):
    """Two workers serve any number of connections: the pool bounds what is
    done at once, not who may be connected."""
    server_args = ["--workers", "2", "--queue", "0", "--max-transfers", "2"]

    def test_more_clients_than_workers_are_all_served(self):
        users = [login_when_a_worker_is_free(self) for _ in range(12)]
        users[0].chat("twelve on two workers")
        for u in users:
            u.recv_chat("twelve on two workers")
        users[11].chat("and back")
        for u in users:
            u.recv_chat("and back")

    def test_new_connection_gets_1013_when_every_worker_is_held_and_the_queue_is_full(self):
        holders = [hold_a_worker(self) for _ in range(2)]
        extra = self.connect()
        extra.expect_error(1013)
        self.assertTrue(extra.expect_closed(), "refused connection was not closed")
        # a worker is free again once an upload ends
        finish_upload(*holders[0])
        finish_upload(*holders[1])
        deadline = time.time() + 3 * SLOW
        while True:
            c = self.connect()
            try:
                c.send("heartbeat")
                m = c.recv_type(("heartbeat", "error_message"))
            except (Closed, OSError, TimeoutError):
                m = {"message_type": "closed"}
            if m["message_type"] == "heartbeat":
                break
            c.close()
            self.assertLess(time.time(), deadline, "no worker freed after the uploads ended")
            time.sleep(0.2)


class PoolQueue(ServerTest):
    server_args = ["--workers", "2", "--queue", "1", "--max-transfers", "2"]

    def test_queued_connection_is_served_when_a_worker_frees(self):
        holders = [hold_a_worker(self) for _ in range(2)]
        queued = self.connect()
        queued.send("heartbeat")
        # waiting, not refused
        self.assertTrue(queued.no_message(0.5), "a connection within the queue limit was answered")
        refused = self.connect()
        refused.expect_error(1013)
        self.assertTrue(refused.expect_closed())
        finish_upload(*holders[0])
        queued.recv_type("heartbeat", timeout=5 * SLOW)
        name = self.name("q")
        self.assertTrue(queued.register(name).get("success"))
        self.assertTrue(queued.login(name).get("success"))
        holders[0][0].chat("to the newcomer")
        queued.recv_chat("to the newcomer")
        finish_upload(*holders[1])


class Transfers(ServerTest):
    """File transfers hold a worker each; --max-transfers bounds them so
    that chat goes on for everyone else."""
    server_args = ["--workers", "4", "--max-transfers", "2"]

    def test_transfer_past_the_limit_is_refused_and_chat_goes_on(self):
        holders = [hold_a_worker(self) for _ in range(2)]
        a = login_when_a_worker_is_free(self)
        b = login_when_a_worker_is_free(self)
        a.send("file_upload_request", filename="third.txt", file_data="", file_size=10,
               chat_group_id=group_id(a, "public"))
        err = a.expect_error(1009)
        # a legacy client: the default Language (zh)
        self.assertEqual(err["error_message"], "服务器繁忙：同时进行的文件传输过多，请稍后再试")
        a.chat("while two uploads stall")
        b.recv_chat("while two uploads stall")
        a.recv_chat("while two uploads stall")
        finish_upload(*holders[0])
        a.send("file_upload_request", filename="third.txt", file_data="", file_size=10,
               chat_group_id=group_id(a, "public"))
        self.assertTrue(a.recv_type("file_upload_response")["success"])
        finish_upload(a, b"abcdefghij")
        finish_upload(*holders[1])


class Parked(ServerTest):
    """Idle connections wait in the waiter, not in a worker, and still
    obey every deadline."""
    server_args = ["--workers", "2", "--login-timeout", "1", "--heartbeat-timeout", "2",
                   "--heartbeat-interval", "1"]

    def test_parked_connection_is_woken_by_its_next_line(self):
        c = login_when_a_worker_is_free(self)
        time.sleep(0.3)  # nothing to do: parked
        c.send("heartbeat")
        c.recv_type("heartbeat")

    def test_login_timeout_closes_a_parked_connection(self):
        c = self.connect()
        c.send("heartbeat")
        c.recv_type("heartbeat")
        # parked with nothing to read, and then closed by the deadline
        self.assertTrue(c.expect_closed(timeout=10 * SLOW))
        self.assertIn("login timeout", self.srv.log_text())

    def test_heartbeat_timeout_closes_a_silent_parked_protocol2_client(self):
        c = self.login_user(protocol2=True)
        self.assertTrue(c.expect_closed(timeout=15 * SLOW))
        self.assertIn("heartbeat timeout", self.srv.log_text())


class ConnectionsPerAddress(ServerTest):
    server_args = ["--max-per-address", "3"]

    def test_connection_over_the_per_address_limit_is_refused(self):
        users = [login_when_a_worker_is_free(self) for _ in range(3)]
        extra = self.connect()
        extra.expect_error(1013)
        self.assertTrue(extra.expect_closed())
        users[0].chat("three is enough")
        users[1].recv_chat("three is enough")
        users[2].close()
        deadline = time.time() + 3 * SLOW
        while True:
            c = self.connect()
            try:
                c.send("heartbeat")
                if c.recv_type(("heartbeat", "error_message"))["message_type"] == "heartbeat":
                    break
            except (Closed, OSError, TimeoutError):
                pass
            c.close()
            self.assertLess(time.time(), deadline, "no room after a client left")
            time.sleep(0.1)


class RateLimit(ServerTest):
    server_args = ["--rate", "5", "--burst", "5"]

    def test_flood_gets_1014_and_connection_stays_usable(self):
        a = self.login_user()
        b = self.login_user()
        for i in range(30):
            a.chat("flood %d" % i)
        got = []
        deadline = time.time() + 5 * SLOW
        while len(got) < 30 and time.time() < deadline:
            got.append(a.recv_type(("error_message", "chat_message")))
        errors = [m for m in got if m["message_type"] == "error_message"]
        chats = [m for m in got if m["message_type"] == "chat_message"]
        self.assertTrue(errors, "no error for 30 messages at once with --burst 5")
        self.assertTrue(all(e["error_code"] == 1014 for e in errors), errors)
        # the bucket also paid for the register and login lines
        self.assertGreaterEqual(len(chats), 2)
        self.assertLessEqual(len(chats), 12)
        self.assertEqual(len(chats) + len(errors), 30)
        time.sleep(1.2)
        a.chat("after the flood")
        b.recv_chat("after the flood")


class LargeReplies(ServerTest):
    """Replies larger than --max-output are sent as the client reads them."""
    server_args = ["--max-output", "4096", "--rate", "100000", "--burst", "100000"]

    def test_history_larger_than_max_output_arrives_whole(self):
        writer = self.login_user()
        for i in range(40):
            writer.chat("%03d " % i + "h" * 900)
            writer.recv_chat()
        reader = self.login_user()
        reader.send("history_request", chat_group_id=1, limit=40)
        hist, done = reader.read_history()
        self.assertEqual([m["content"][:3] for m in hist], ["%03d" % i for i in range(40)])
        reader.send("heartbeat")
        reader.recv_type("heartbeat")
        self.assertNotIn("slow consumer", self.srv.log_text())


class SlowReader(ServerTest):
    # small output limit; flood control out of the way
    server_args = ["--max-output", "262144", "--rate", "100000", "--burst", "100000"]

    def test_client_that_stops_reading_is_closed_and_others_go_on(self):
        name = self.name("slow")
        self.assertTrue(self.connect().register(name).get("success"))
        # a tiny receive window, so that the server's output piles up
        slow = self.connect(rcvbuf=4096)
        self.assertTrue(slow.login(name).get("success"))
        sender = self.login_user()
        good = self.login_user()
        # More than the kernel's socket buffers can hold (about 3 MB on
        # loopback) plus --max-output. Sent in small rounds that the
        # readers drain before the next, so that a client that does read
        # is never behind by more than a round (well under --max-output).
        n = 5000
        rounds = 100
        content = "s" * 990
        for start in range(0, n, rounds):
            for _ in range(rounds):
                sender.chat(content)
            for conn in (sender, good):
                for _ in range(rounds):
                    conn.recv_chat(content)
            sender.backlog.clear()
            good.backlog.clear()
        # about 5.5 MB was sent to the slow reader; the server must have
        # given up on it: what it can still read ends with a close, well
        # before all n messages
        got = 0
        closed = False
        deadline = time.time() + 10 * SLOW
        while time.time() < deadline:
            try:
                m = slow.recv(timeout=2 * SLOW)
            except Exception as e:
                closed = "closed" in str(e) or "reset" in str(e)
                break
            if m["message_type"] == "chat_message":
                got += 1
        self.assertTrue(closed, "slow reader not closed (read %d of %d messages)" % (got, n))
        self.assertLess(got, n)
        # the server is fine
        good.chat("after the slow one")
        sender.recv_chat("after the slow one")


if __name__ == "__main__":
    main()
