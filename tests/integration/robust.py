"""Shared helpers of the robustness tests (test_robust_*.py).

RobustCase starts servers that are checked at cleanup (harness.Server.finish):
a server that died, did not exit 0 on SIGTERM or left a sanitizer report
fails the test, whatever the test itself saw. The log is printed on failure (it lands in the test's .log
file under make check) and the server's directory is kept when
CHATROOM_KEEP_LOGS is set.
"""
import os
import shutil
import signal
import socket
import sqlite3
import time
import unittest

from harness import Server, Conn, Closed, SLOW, PASSWORD, check_finish

# Cheap password hashing: the robustness tests log in hundreds of times.
FAST_HASH = ["--hash-opslimit", "1", "--hash-memlimit", "8"]


class SourceConn(Conn):
    """A Conn from a chosen loopback source address (127.0.0.0/8 is all
    loopback on Linux), for the limits counted per address."""

    def __init__(self, port, source):
        real = socket.create_connection

        def from_source(address, timeout=None, *args, **kw):
            return real(address, timeout=timeout, source_address=(source, 0))
        socket.create_connection = from_source  # the tests are single-threaded
        try:
            super().__init__(port, timeout=5 * SLOW)
        finally:
            socket.create_connection = real


class RobustCase(unittest.TestCase):
    """A TestCase whose servers are checked for sanitizer reports."""

    def conn(self, source):
        """A connection to self.srv from the loopback address source."""
        try:
            return SourceConn(self.srv.port, source)
        except OSError as e:
            self.skipTest("cannot use %s as a source address: %s" % (source, e))

    def admin_stats(self):
        """The data of Admin's stats command on self.srv, asked from 127.0.0.1."""
        a = self.conn("127.0.0.1")
        self.assertTrue(a.login("Admin", "Admin12345")["success"])
        a.send("admin_command_request", command="stats", action="", target_id=None,
               target_name="", new_value="")
        r = a.recv_type("admin_command_response")
        a.close()
        return r["data"]

    def start_server(self, args=(), start=True, **kw):
        """A Server (started unless start=False) checked when the test ends
        (harness.Server.finish): it must be alive, exit 0 on SIGTERM and
        have no sanitizer report. A test that kills or stops it itself
        leaves only the sanitizer check."""
        srv = Server(list(FAST_HASH) + list(args), **kw)
        self.addCleanup(check_finish, srv)
        if start:
            srv.start()
        return srv

    @staticmethod
    def sanitized():
        """True when chatroomd runs under a sanitizer or valgrind (slow)."""
        return SLOW > 1


def wait_for(cond, timeout, what, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def p2_user(srv, name, register=True, timeout=None):
    """A protocol-2 connection logged in as name (registered first)."""
    c = Conn(srv.port, timeout=timeout or 5.0 * SLOW)
    c.hello()
    if register:
        c.register(name)
    r = c.login(name)
    if not r.get("success"):
        raise AssertionError("login of %s failed: %r" % (name, r))
    return c, r


def _history_page(conn, group_id, page, **ids):
    req = {"message_type": "history_request", "chat_group_id": group_id, "limit": page}
    req.update(ids)
    conn.send(req)
    got = []
    while True:
        m = conn.recv(timeout=10 * SLOW)
        t = m["message_type"]
        if t == "chat_history" and m.get("chat_group_id") == group_id:
            got.append(m)
        elif t == "chat_history_complete" and m.get("chat_group_id") == group_id:
            if m.get("message_count") != len(got):
                raise AssertionError("chat_history_complete counts %r, %d received"
                                     % (m.get("message_count"), len(got)))
            return got
        elif t == "error_message":
            raise AssertionError("history_request failed: %r" % m)
        # anything else (live chat, presence, acks) is not history


def history_all(conn, group_id, page=500):
    """Every message of a group, oldest first, fetched with history_request:
    the newest page, then paging backwards with before_message_id; checked
    by paging forwards from after_message_id 0 to the end, which must give
    the same messages. Returns a list of dicts."""
    pages = [_history_page(conn, group_id, page)]
    while len(pages[-1]) == page:
        pages.append(_history_page(conn, group_id, page, before_message_id=pages[-1][0]["message_id"]))
    out = [m for p in reversed(pages) for m in p]
    fwd, after = [], 0
    while True:
        got = _history_page(conn, group_id, page, after_message_id=after)
        fwd.extend(got)
        if len(got) < page:
            break
        after = got[-1]["message_id"]
    if [m["message_id"] for m in fwd] != [m["message_id"] for m in out]:
        raise AssertionError("history paged forwards from 0 differs from paged backwards")
    return out


def db_messages(path):
    """(id, group_id, sender_id, content, client_msg_id) of every stored
    message, read with Python's sqlite3 (the server must be stopped)."""
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT id, group_id, sender_id, content, client_msg_id "
                          "FROM messages ORDER BY id").fetchall()
    finally:
        db.close()
