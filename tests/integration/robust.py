"""Shared helpers of the robustness tests (test_robust_*.py).

RobustCase starts servers that are checked at cleanup: a server log that
holds a sanitizer or valgrind report fails the test, whatever the test
itself saw. The log is printed on failure (it lands in the test's .log
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

from harness import Server, Conn, Closed, SLOW, PASSWORD

# Markers of a sanitizer or memcheck report in chatroomd's stderr.
SANITIZER_MARKERS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "ThreadSanitizer: reported",
    "ERROR SUMMARY: [1-9]",  # valgrind, matched as a regex below
)

# Cheap password hashing: the robustness tests log in hundreds of times.
FAST_HASH = ["--hash-opslimit", "1", "--hash-memlimit", "8"]


def sanitizer_report(text):
    """The first lines of a sanitizer/valgrind report in text, or None."""
    import re
    for marker in SANITIZER_MARKERS:
        m = re.search(marker, text)
        if m:
            start = text.rfind("\n", 0, max(0, m.start() - 2000)) + 1
            return text[start:m.start() + 4000]
    return None


def sanitizer_files(pid):
    """Report files a sanitizer with log_path= wrote for process pid."""
    import glob
    import re
    found = []
    for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS"):
        m = re.search(r"(?:^|[: ])log_path=([^: ]+)", os.environ.get(var, ""))
        if m:
            found += glob.glob("%s.%d" % (m.group(1), pid))
    return sorted(set(found))


class RobustCase(unittest.TestCase):
    """A TestCase whose servers are checked for sanitizer reports."""

    def start_server(self, args=(), start=True, **kw):
        srv = Server(list(FAST_HASH) + list(args), **kw)
        srv.pids = []
        plain_start = srv.start

        def start_and_record(*a, **k):
            try:
                return plain_start(*a, **k)
            finally:
                if srv.proc is not None:
                    srv.pids.append(srv.proc.pid)
        srv.start = start_and_record
        self.addCleanup(self._finish_server, srv)
        if start:
            srv.start()
        return srv

    def _finish_server(self, srv):
        srv.stop()
        text = srv.log_text()
        keep = os.environ.get("CHATROOM_KEEP_LOGS")
        report = sanitizer_report(text)
        if not report:
            # sanitizers told to write their reports to files (log_path=)
            for pid in srv.pids:
                for path in sanitizer_files(pid):
                    with open(path, errors="replace") as f:
                        report = sanitizer_report(f.read()) or report
        if keep:
            print("server log kept in %s" % srv.dir)
        else:
            shutil.rmtree(srv.dir, ignore_errors=True)
        if report:
            print("---- chatroomd log (%s) ----\n%s" % (srv.log_path, text[-20000:]))
            self.fail("chatroomd reported a sanitizer/memcheck error:\n%s" % report)

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
