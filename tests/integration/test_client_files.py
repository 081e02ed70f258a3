#!/usr/bin/env python3
"""File transfer through the chatroom client in script mode: /send_files,
/recv_files -l, -n and -a, where downloads are saved, and what a file name
from the server may not do."""
import hashlib
import os
import shutil
import socket
import tempfile
import threading
import time
import unittest

from adminlib import END, AdminServerTest, server, upload
from clientlib import HOME, Client, Tmux, chat_lines, need_tmux, run_client
from harness import CHATROOM, PASSWORD, SLOW, user
import tap

SENT_RE = r"^\*\*\* sent %s \(.*\) to %s as file (\d+)$"


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def all_files(root):
    out = []
    for d, _, names in os.walk(root):
        out += [os.path.join(d, n) for n in names]
    return sorted(out)


class SlowProxy:
    """A TCP proxy to the server that forwards each direction at most
    `rate` bytes per second, so that a transfer of a few MB lasts seconds.
    With pause_after, the client's bytes stop for pause_for seconds once
    that many have passed (small socket buffers keep the client from
    writing far ahead meanwhile)."""

    def __init__(self, target_port, rate, pause_after=None, pause_for=0.0):
        self.target, self.rate = target_port, rate
        self.pause_after, self.pause_for = pause_after, pause_for
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(4)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            s = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [c, s]
            threading.Thread(target=self._pump, args=(c, s, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, False), daemon=True).start()

    def _pump(self, src, dst, from_client):
        step = max(1, self.rate // 20)
        passed, paused = 0, False
        try:
            while True:
                data = src.recv(step)
                if not data:
                    break
                dst.sendall(data)
                passed += len(data)
                time.sleep(len(data) / self.rate)
                if from_client and self.pause_after and not paused and passed >= self.pause_after:
                    paused = True
                    time.sleep(self.pause_for)
        except OSError:
            pass
        for x in (src, dst):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        self.lsock.close()
        for x in self.socks:
            x.close()


class ClientFiles(AdminServerTest):
    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="chatroom-files-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def account(self, base="u"):
        """A fresh account (registered and logged in over a raw connection)."""
        type(self).n += 1
        name = "%s%d" % (base, type(self).n)
        conn = user(self.srv, name)
        self.addCleanup(conn.close)
        return name, conn

    def folder(self, *parts):
        d = os.path.join(self.tmp, *parts)
        os.makedirs(d, exist_ok=True)
        return d

    def run_as(self, name, script, args=(), port=None, **kw):
        return run_client(port or self.srv.port, script, user=name, args=args, **kw)

    def assert_no_crash(self, out, err):
        self.assertNotIn("Sanitizer", err)
        self.assertTrue(any(l.startswith("*** logged in as") for l in out), out)

    def send(self, name, *paths, port=None):
        """/send_files in script mode; (status, output, file ids by name)."""
        rc, out, err = self.run_as(name, ["/send_files " + " ".join(paths)], port=port)
        ids = {}
        for line in out:
            if line.startswith("*** sent "):
                fname = line[len("*** sent "):].split(" (")[0]
                ids[fname] = int(line.rsplit(" ", 1)[1])
        return rc, out, err, ids

    # --- upload and download -------------------------------------------------

    def test_upload_then_download_of_a_multi_mb_file_is_byte_identical(self):
        name, _ = self.account("big")
        # random bytes with the framing's own markers and a JSON line inside:
        # the client must count bytes, not look at them
        data = (os.urandom(3 * 1024 * 1024) + END + b"===FILE_DATA_START===\n"
                + b'{"message_type": "chat_message", "content": "not a message"}\n'
                + os.urandom(3 * 1024 * 1024 + 123))
        src = os.path.join(self.folder("src"), "big.zip")
        write(src, data)
        rc, out, err, ids = self.send(name, src)
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("big.zip", ids, out)
        self.assertRegex("\n".join(out), r"(?m)" + SENT_RE % (r"big\.zip", "public"))

        rc, out, err = self.run_as(name, ["/recv_files -l"])
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("***   %d: big.zip (6.0 MB, from %s, " % (ids["big.zip"], name), "\n".join(out))

        dl = self.folder("dl")
        rc, out, err = self.run_as(name, ["/recv_files -n %d" % ids["big.zip"], "after the file"],
                                   args=["--download-dir", dl])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(os.listdir(dl), ["big.zip"])
        self.assertEqual(sha(read(os.path.join(dl, "big.zip"))), sha(data))
        self.assertIn("*** received big.zip (6.0 MB) as %s/big.zip" % dl, out)
        # the lines after the raw bytes were read as lines again
        self.assertTrue(out[-1].endswith("<%s> after the file" % name), out)
        self.assertFalse([l for l in out if l.startswith("!!!")], out)

    def test_recv_all_downloads_every_file_of_the_current_chat(self):
        name, conn = self.account("all")
        room = "room%d" % self.n
        conn.create_chat(room)
        files = {"one.txt": b"first\n", "two.txt": b"second\n" * 1000, "three.txt": b"3"}
        src = self.folder("src")
        for fname, data in files.items():
            write(os.path.join(src, fname), data)
        script = ["/enter_chat " + room,
                  "/send_files " + " ".join(os.path.join(src, f) for f in files)]
        rc, out, err = self.run_as(name, script)
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("*** 3 of 3 files sent", out)
        dl = self.folder("dl")
        rc, out, err = self.run_as(name, ["/enter_chat " + room, "/recv_files -a"],
                                   args=["--download-dir", dl])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(sorted(os.listdir(dl)), sorted(files))
        for fname, data in files.items():
            self.assertEqual(read(os.path.join(dl, fname)), data)
        self.assertIn("*** 3 of 3 files received", out)

    def test_listing_an_empty_chat_says_so(self):
        name, conn = self.account("empty")
        room = "void%d" % self.n
        conn.create_chat(room)
        rc, out, err = self.run_as(name, ["/enter_chat " + room, "/recv_files -l", "/recv_files -a"])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(out.count("*** no files in " + room), 2, out)

    def test_quoted_name_with_spaces_is_one_file(self):
        name, _ = self.account("space")
        path = os.path.join(self.folder("with space"), "my notes.txt")
        write(path, b"spaced out\n")
        rc, out, err, ids = self.send(name, '"%s"' % path)
        self.assertEqual(rc, 0, (out, err))
        self.assertIn("my notes.txt", ids, out)

    # --- where downloads go ---------------------------------------------------

    def test_server_file_name_cannot_escape_the_download_dir(self):
        name, conn = self.account("dots")
        gid = conn.group["id"]
        tag = "escape%d_%d" % (os.getpid(), self.n)
        evil = {"../%s.txt" % tag: b"one level up\n",
                "../../%s-2.txt" % tag: b"two levels up\n",
                "/tmp/%s-abs.txt" % tag: b"absolute\n",
                "..": b"only dots\n"}
        ids = {}
        for fname, data in evil.items():
            err, final = upload(conn, fname, data, gid)
            if final is None:  # the server refused this name: nothing to download
                self.assertEqual(err["message_type"], "error_message")
                continue
            ids[final["file_id"]] = data
        self.assertGreaterEqual(len(ids), 3)
        dl = self.folder("a", "b", "dl")
        before = all_files(self.tmp)
        lines = ["/recv_files -n %d" % i for i in ids]
        rc, out, err = self.run_as(name, lines, args=["--download-dir", dl])
        self.assertEqual(rc, 0, (out, err))
        # every file landed inside the download folder, none outside it
        self.assertEqual([p for p in all_files(self.tmp) if p not in before
                          and not p.startswith(dl + os.sep)], [])
        self.assertFalse(os.path.exists("/tmp/%s-abs.txt" % tag) and
                         read("/tmp/%s-abs.txt" % tag) == b"absolute\n")
        saved = {read(p): os.path.basename(p) for p in all_files(dl)}
        self.assertEqual(sorted(saved), sorted(ids.values()))
        self.assertEqual(saved[b"one level up\n"], tag + ".txt")
        for base in saved.values():
            self.assertFalse(base.startswith("."), base)
        # the server already sends base names only: nothing for the
        # client to rename
        self.assertTrue(any("received %s.txt" % tag in l for l in out), out)

    def test_existing_file_is_never_overwritten(self):
        name, conn = self.account("keep")
        _, final = upload(conn, "notes.txt", b"from the server\n", conn.group["id"])
        dl = self.folder("dl")
        write(os.path.join(dl, "notes.txt"), b"mine\n")
        write(os.path.join(dl, "notes-1.txt"), b"mine too\n")
        rc, out, err = self.run_as(name, ["/recv_files -n %d" % final["file_id"]] * 2,
                                   args=["--download-dir", dl])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(read(os.path.join(dl, "notes.txt")), b"mine\n")
        self.assertEqual(read(os.path.join(dl, "notes-1.txt")), b"mine too\n")
        self.assertEqual(read(os.path.join(dl, "notes-2.txt")), b"from the server\n")
        self.assertEqual(read(os.path.join(dl, "notes-3.txt")), b"from the server\n")

    def test_download_dir_from_the_configuration_file(self):
        name, conn = self.account("conf")
        _, final = upload(conn, "c.txt", b"configured\n", conn.group["id"])
        dl = self.folder("configured")
        cfg = os.path.join(self.tmp, "config")
        with open(cfg, "w") as f:
            f.write("download-dir = %s\n" % dl)
        rc, out, err = self.run_as(name, ["/recv_files -n %d" % final["file_id"]],
                                   args=["--config", cfg])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(read(os.path.join(dl, "c.txt")), b"configured\n")

    def test_missing_download_dir_is_an_error_and_the_stream_stays_in_step(self):
        name, conn = self.account("nodir")
        _, final = upload(conn, "d.txt", b"x" * 5000, conn.group["id"])
        missing = os.path.join(self.tmp, "does-not-exist")
        rc, out, err = self.run_as(name, ["/recv_files -n %d" % final["file_id"], "still here"],
                                   args=["--download-dir", missing])
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("!!! cannot save d.txt in %s: No such file or directory" % missing, out)
        self.assertFalse(os.path.exists(missing))
        self.assertTrue(out[-1].endswith("<%s> still here" % name), out)

    # --- failures -------------------------------------------------------------

    def test_missing_local_file_is_a_clear_error_and_exit_status_1(self):
        name, _ = self.account("miss")
        missing = os.path.join(self.tmp, "no-such-file.txt")
        rc, out, err = self.run_as(name, ["/send_files " + missing])
        self.assertEqual(rc, 1, (out, err))
        self.assertIn("!!! cannot send %s: No such file or directory" % missing, out)
        self.assert_no_crash(out, err)

    def test_the_other_files_are_sent_when_one_is_missing(self):
        name, _ = self.account("part")
        src = self.folder("src")
        write(os.path.join(src, "a.txt"), b"a")
        write(os.path.join(src, "b.txt"), b"b")
        rc, out, err, ids = self.send(name, *(os.path.join(src, f) for f in ("a.txt", "gone.txt", "b.txt")))
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(sorted(ids), ["a.txt", "b.txt"])
        self.assertIn("*** 2 of 3 files sent; see the errors above", out)

    def test_refused_upload_prints_the_server_error_and_the_session_goes_on(self):
        name, _ = self.account("refused")
        src = self.folder("src")
        write(os.path.join(src, "tool.exe"), b"MZ")
        write(os.path.join(src, "empty.txt"), b"")
        rc, out, err = self.run_as(name, ["/send_files %s/tool.exe" % src,
                                          "/send_files %s/empty.txt" % src, "/send_files " + src,
                                          "chat still works"])
        self.assertEqual(rc, 1, (out, err))
        text = "\n".join(out)
        self.assertRegex(text, r"!!! ERROR 1008: cannot send tool\.exe: file type not allowed")
        self.assertIn("!!! cannot send %s/empty.txt: empty file" % src, text)
        self.assertIn("!!! cannot send %s: is a directory" % src, text)
        self.assertTrue(out[-1].endswith("<%s> chat still works" % name), out)

    def test_unknown_file_and_other_chats_files_are_refused(self):
        name, _ = self.account("nosy")
        owner, oconn = self.account("owner")
        room = "priv%d" % self.n
        gid = oconn.create_chat(room)["chat_group_id"]
        _, final = upload(oconn, "secret.txt", b"secret", gid)
        dl = self.folder("dl")
        rc, out, err = self.run_as(name, ["/recv_files -n 999999",
                                          "/recv_files -n %d" % final["file_id"]],
                                   args=["--download-dir", dl])
        self.assertEqual(rc, 1, (out, err))
        text = "\n".join(out)
        self.assertIn("!!! ERROR 1006: cannot get file 999999:", text)
        self.assertIn("!!! ERROR 1005: cannot get file %d:" % final["file_id"], text)
        self.assertEqual(os.listdir(dl), [])

    def test_wrong_arguments_give_a_usage_line(self):
        name, _ = self.account("args")
        bad = ["/recv_files", "/recv_files -n", "/recv_files -n abc", "/recv_files -n -3",
               "/recv_files -z", "/recv_files -l extra", "/send_files", '/send_files "unclosed',
               "/recv_files -n 1 2"]
        rc, out, err = self.run_as(name, bad + ["after the mistakes"])
        self.assertEqual(rc, 1, (out, err))
        usage = [l for l in out if l.startswith("!!! usage:")]
        self.assertEqual(len(usage), len(bad), out)
        self.assertTrue(out[-1].endswith("<%s> after the mistakes" % name), out)
        self.assert_no_crash(out, err)

    def test_transfers_need_a_login(self):
        rc, out, err = run_client(self.srv.port, ["/send_files /etc/hostname", "/recv_files -l"],
                                  password=None)
        self.assertEqual(rc, 1, (out, err))
        self.assertEqual(out.count("!!! not logged in: use /login NAME first"), 2, out)


class SlowLink(unittest.TestCase):
    """Transfers that last several heartbeat intervals: no heartbeat may
    land inside the raw bytes, and the silent server is not taken for dead."""

    def setUp(self):
        self.srv = server(self, "--heartbeat-interval", "1")
        self.tmp = tempfile.mkdtemp(prefix="chatroom-slow-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.conn = user(self.srv, "slowpoke")
        self.addCleanup(self.conn.close)

    def proxy(self, *args, **kw):
        p = SlowProxy(self.srv.port, *args, **kw)
        self.addCleanup(p.stop)
        return p

    def test_upload_that_stalls_midway_carries_no_heartbeat_in_its_bytes(self):
        # 1 s heartbeats, and the upload's bytes stop for 2.5 s after the
        # first MB: the client wants to send heartbeats meanwhile, and the
        # server says nothing for longer than three intervals
        proxy = self.proxy(8 * 1024 * 1024, pause_after=1024 * 1024, pause_for=2.5)
        data = os.urandom(8 * 1024 * 1024)
        write(os.path.join(self.tmp, "stall.zip"), data)
        t0 = time.time()
        rc, out, err = run_client(proxy.port, ["/send_files %s/stall.zip" % self.tmp], user="slowpoke")
        self.assertEqual(rc, 0, (out, err))
        self.assertGreater(time.time() - t0, 2.5, "the proxy did not hold the upload up")
        self.assertFalse([l for l in out if "connection lost" in l or l.startswith("!!!")], out)
        file_id = int([l for l in out if l.startswith("*** sent stall.zip")][0].rsplit(" ", 1)[1])
        # the server stored exactly the file's bytes and read lines again after
        self.assertNotIn("invalid", self.srv.log_text().lower())
        dl = os.path.join(self.tmp, "dl")
        os.mkdir(dl)
        rc, out, err = run_client(self.srv.port, ["/recv_files -n %d" % file_id],
                                  user="slowpoke", args=["--download-dir", dl])
        self.assertEqual(rc, 0, (out, err))
        self.assertEqual(sha(read(os.path.join(dl, "stall.zip"))), sha(data))

    def test_slow_download_while_heartbeats_go_out(self):
        conn = self.conn
        data = os.urandom(5 * 1024 * 1024)
        _, final = upload(conn, "slow.zip", data, conn.group["id"])
        proxy = self.proxy(2 * 1024 * 1024)
        dl = os.path.join(self.tmp, "dl")
        os.mkdir(dl)
        t0 = time.time()
        rc, out, err = run_client(proxy.port, ["/recv_files -n %d" % final["file_id"], "done"],
                                  user="slowpoke", args=["--download-dir", dl])
        self.assertEqual(rc, 0, (out, err))
        self.assertGreater(time.time() - t0, 2.0, "the proxy did not slow the download down")
        self.assertEqual(sha(read(os.path.join(dl, "slow.zip"))), sha(data))
        self.assertFalse([l for l in out if "connection lost" in l or l.startswith("!!!")], out)
        self.assertTrue(out[-1].endswith("<slowpoke> done"), out)
        # script mode: one line when done, no progress
        self.assertFalse([l for l in out if "receiving" in l or "%" in l], out)

    def test_chat_during_a_download_is_shown_and_the_file_intact(self):
        data = os.urandom(5 * 1024 * 1024)
        _, final = upload(self.conn, "busy.zip", data, self.conn.group["id"])
        talker = user(self.srv, "talker")
        self.addCleanup(talker.close)
        proxy = self.proxy(2 * 1024 * 1024)
        dl = os.path.join(self.tmp, "dl")
        os.mkdir(dl)
        c = Client(proxy.port, user="slowpoke", args=["--download-dir", dl])
        self.addCleanup(c.kill)
        c.wait_for(r"^\*\*\* logged in as slowpoke")
        c.send("/recv_files -n %d" % final["file_id"])
        for i in range(30):  # before, during and after the raw bytes
            talker.chat("tick %d" % i)
            time.sleep(0.1)
        c.wait_for(r"^\*\*\* received busy\.zip", timeout=30 * SLOW)
        c.wait_for(r"<talker> tick 29$")
        self.assertEqual(c.finish(), 0, c.lines)
        self.assertEqual([m for _, _, m in chat_lines(c.lines, "talker")],
                         ["tick %d" % i for i in range(30)])
        self.assertEqual(sha(read(os.path.join(dl, "busy.zip"))), sha(data))
        self.assertFalse([l for l in c.lines if l.startswith("!!!") or "ignored" in l], c.lines)

    def cut_midway(self, proxy, client, command):
        client.wait_for(r"^\*\*\* logged in as slowpoke")
        client.send(command)
        time.sleep(1.0)
        proxy.stop()
        client.wait_for(r"^!!! transfer of cut\.zip interrupted: connection lost$")
        self.assertEqual(client.finish(), 1, client.lines)

    def test_download_cut_midway_leaves_no_partial_file(self):
        data = os.urandom(5 * 1024 * 1024)
        _, final = upload(self.conn, "cut.zip", data, self.conn.group["id"])
        proxy = self.proxy(1024 * 1024)
        dl = os.path.join(self.tmp, "dl")
        os.mkdir(dl)
        c = Client(proxy.port, user="slowpoke", args=["--download-dir", dl, "--exit-wait", "1"])
        self.addCleanup(c.kill)
        self.cut_midway(proxy, c, "/recv_files -n %d" % final["file_id"])
        self.assertEqual(os.listdir(dl), [])

    def test_upload_cut_midway_is_reported(self):
        write(os.path.join(self.tmp, "cut.zip"), os.urandom(5 * 1024 * 1024))
        proxy = self.proxy(1024 * 1024)
        c = Client(proxy.port, user="slowpoke", args=["--exit-wait", "1"])
        self.addCleanup(c.kill)
        self.cut_midway(proxy, c, "/send_files %s/cut.zip" % self.tmp)
        # the server kept nothing of it
        conn = user(self.srv, "slowpoke")  # (the client's login ended self.conn)
        self.addCleanup(conn.close)
        conn.send("file_list_request", chat_group_id=conn.group["id"])
        self.assertEqual(conn.recv_type("file_list_response")["files"], [])

    @need_tmux
    def test_terminal_shows_progress_in_the_prompt(self):
        # U+009B is CSI to some terminals; the server allows it in a name,
        # and the prompt, which readline prints as it is, must not
        data = os.urandom(8 * 1024 * 1024)
        _, final = upload(self.conn, "prog\u009b2J.zip", data, self.conn.group["id"])
        proxy = self.proxy(2 * 1024 * 1024)
        dl = os.path.join(self.tmp, "dl")
        os.mkdir(dl)
        t = Tmux("%s --host 127.0.0.1 --port %d -u slowpoke --download-dir %s"
                 % (CHATROOM, proxy.port, dl), env={"CHATROOM_PASSWORD": PASSWORD, "HOME": HOME})
        self.addCleanup(t.kill)
        t.wait_screen(r"logged in as slowpoke")
        t.type("/recv_files -n %d" % final["file_id"])
        t.keys("Enter")
        t.wait_screen(r"^\[receiving prog\?2J\.zip \d+% [\d.]+ [KM]B/8\.0 MB\] slowpoke@public>")
        t.wait_screen(r"received prog\?2J\.zip \(8\.0 MB\)", timeout=30 * SLOW)
        # then the prompt is itself again: readline redraws it after the
        # line is printed, so a capture between the two shows neither yet
        t.wait_screen(r"^slowpoke@public>\s*$")
        self.assertEqual(sha(read(os.path.join(dl, "prog\u009b2J.zip"))), sha(data))

if __name__ == "__main__":
    tap.main()
