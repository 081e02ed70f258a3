"""Helpers for the admin and file-transfer integration tests, on top of
harness.py: admin commands, uploads and downloads framed as the reference
frames them, and a chat pump that measures whether chat keeps flowing."""
import json
import threading
import time
import unittest

from harness import SLOW, TIMEOUT, Closed, ServerTest, started_server, user

ADMIN_PASSWORD = "Admin12345"
START = b"===FILE_DATA_START===\n"
END = b"\n===FILE_DATA_END===\n"
# Cheap password hashing: these tests log many users in.
FAST_HASH = ["--hash-opslimit", "1", "--hash-memlimit", "64"]


def server(test, *args):
    """A started server with fast password hashing for one test, checked
    when the test ends (harness.started_server)."""
    return started_server(test, FAST_HASH + list(args), admin_password=ADMIN_PASSWORD)


class AdminServerTest(ServerTest):
    """One started server per test class (fast hashing, Admin password set),
    checked as ServerTest checks it, and names unique within the class."""

    server_args = FAST_HASH
    n = 0

    def name(self, base):
        type(self).n += 1
        return "%s%d" % (base, type(self).n)


def admin(srv, protocol2=False):
    c = srv.connect()
    if protocol2:
        c.hello()
    r = c.login("Admin", ADMIN_PASSWORD)
    assert r["success"], r
    return c


def recv_any(conn, types, timeout=None):
    """The next message whose type is in types; others go to the backlog."""
    for i, m in enumerate(conn.backlog):
        if m["message_type"] in types:
            return conn.backlog.pop(i)
    deadline = time.time() + (timeout or TIMEOUT)
    while True:
        left = deadline - time.time()
        if left <= 0:
            raise TimeoutError("none of %s within timeout; got %r" % (types, conn.backlog))
        m = json.loads(conn._read_line(left))
        if m["message_type"] in types:
            return m
        conn.backlog.append(m)


def admin_cmd(conn, command, action="", target_id=None, target_name="", new_value=""):
    """Send an admin_command_request; the admin_command_response or error_message."""
    conn.send("admin_command_request", command=command, action=action, target_id=target_id,
              target_name=target_name, new_value=new_value)
    return recv_any(conn, ("admin_command_response", "error_message"))


def drop(conn, mtype):
    """Forget messages of mtype already received."""
    conn.backlog = [m for m in conn.backlog if m["message_type"] != mtype]


def group_id(conn, name):
    conn.send("list_chats_request", list_type="all")
    for c in conn.recv_type("list_chats_response")["chats"]:
        if c["group_name"] == name:
            return c["group_id"]
    return None


def upload(conn, filename, data, gid, chunk=None, pause=0.0, size=None):
    """Upload data; returns (first response, final response or None). The
    first is an error_message when the server refuses. chunk/pause slow
    the sender down; size overrides the announced size."""
    conn.send("file_upload_request", filename=filename, file_data="",
              file_size=len(data) if size is None else size, chat_group_id=gid)
    first = recv_any(conn, ("file_upload_response", "error_message"))
    if first["message_type"] == "error_message":
        return first, None
    assert first["success"] and first["file_id"] is None, first
    step = chunk or len(data)
    for i in range(0, len(data), step):
        conn.send_raw(data[i:i + step])
        if pause:
            time.sleep(pause)
    return first, recv_any(conn, ("file_upload_response", "error_message"), timeout=60 * SLOW)


def download(conn, file_id, chunk=1 << 20, pause=0.0):
    """Download a file. Returns a dict: first (the first response or an
    error_message), data, closing (the closing response), and the times
    (time.time()) when the first response, the start marker, the end
    marker and the closing response were received."""
    conn.send("file_download_request", file_id=str(file_id))
    first = recv_any(conn, ("file_download_response", "error_message"))
    out = {"first": first, "t_first": time.time()}
    if first["message_type"] == "error_message":
        return out
    size = first["file_size"]
    buf = conn.buf
    conn.buf = b""
    deadline = time.time() + 60 * SLOW

    def more():
        if time.time() > deadline:
            raise TimeoutError("download did not finish")
        conn.sock.settimeout(10 * SLOW)
        d = conn.sock.recv(chunk)
        if not d:
            raise Closed("connection closed during the download")
        if pause:
            time.sleep(pause)
        return d

    while START not in buf:
        buf += more()
    out["t_start"] = time.time()
    i = buf.index(START)
    # whole messages queued before the transfer began may precede the marker
    for line in buf[:i].split(b"\n"):
        if line.strip():
            conn.backlog.append(json.loads(line))
    parts = [buf[i + len(START):]]
    have = len(parts[0])
    while have < size + len(END):
        d = more()
        parts.append(d)
        have += len(d)
    body = b"".join(parts)
    out["t_end"] = time.time()
    out["data"] = body[:size]
    out["end_marker"] = body[size:size + len(END)]
    conn.buf = body[size + len(END):]
    out["closing"] = conn.recv_type("file_download_response", timeout=10 * SLOW)
    out["t_closing"] = time.time()
    return out


class ChatPump:
    """While running, sender posts a numbered message every interval and a
    thread records when receiver gets each one. Use times_between()."""

    def __init__(self, sender, receiver, interval=0.05):
        self.sender, self.receiver, self.interval = sender, receiver, interval
        self.received = []  # (time, content)
        self.sent = 0
        self.error = None
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True),
                         threading.Thread(target=self._recv, daemon=True)]

    def _send(self):
        try:
            while not self._stop.is_set():
                self.sent += 1
                self.sender.chat("tick %d" % self.sent)
                time.sleep(self.interval)
        except Exception as e:  # reported by stop()
            self.error = e

    def _recv(self):
        try:
            while not self._stop.is_set() or len(self.received) < self.sent:
                try:
                    m = self.receiver.recv_type("chat_message", timeout=1)
                except TimeoutError:
                    if self._stop.is_set():
                        return
                    continue
                if m["content"].startswith("tick "):
                    self.received.append((time.time(), m["content"]))
        except Exception as e:
            self.error = e

    def start(self):
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(15 * SLOW)
        if self.error:
            raise self.error

    def count_between(self, t0, t1):
        return sum(1 for t, _ in self.received if t0 <= t <= t1)
