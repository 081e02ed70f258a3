#!/usr/bin/env python3
"""Database faults: chatroomd refuses to start on a database it cannot
use, saying what to do; while the database cannot be written (locked by
another process, disk full) it acknowledges nothing it could not store,
keeps what it accepted, and stores and acknowledges all of it once the
fault clears."""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
import unittest

from harness import SLOW, Conn
from robust import RobustCase, p2_user, db_messages, wait_for
import tap


def wait_exit(srv, timeout):
    try:
        return srv.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


class StartupFaults(RobustCase):
    def refused(self, srv):
        srv.start(wait=False)
        rc = wait_exit(srv, 15 * SLOW)
        self.assertIsNotNone(rc, "chatroomd kept running on a database it cannot use")
        self.assertEqual(1, rc)
        srv.stop()  # the exit is expected: collected here, not a death
        return srv.log_text()

    def test_a_file_that_is_not_a_database_is_refused_with_advice(self):
        srv = self.start_server(start=False)
        with open(srv.db, "wb") as f:
            f.write(b"this is not an SQLite database\n" * 300)
        log = self.refused(srv)
        self.assertIn("is damaged or is not an SQLite database", log)
        self.assertIn("restore it from a backup", log)
        # nothing was written over the operator's file
        with open(srv.db, "rb") as f:
            self.assertTrue(f.read().startswith(b"this is not an SQLite database"))

    def test_a_damaged_database_is_refused_with_advice(self):
        srv = self.start_server(["--rate", "100000", "--burst", "100000"])
        c, _ = p2_user(srv, "alice")
        for i in range(200):
            c.chat("message %d %s" % (i, "x" * 200), client_msg_id="m%d" % i)
        for i in range(200):
            c.recv_type("chat_ack")
        c.close()
        self.assertEqual(0, srv.stop())
        # overwrite the middle of the file (b-tree pages), keep the header
        size = os.path.getsize(srv.db)
        self.assertGreater(size, 16384)
        with open(srv.db, "r+b") as f:
            f.seek(4096)
            f.write(b"\xa5" * (size - 8192))
        for ext in ("-wal", "-shm"):
            if os.path.exists(srv.db + ext):
                os.unlink(srv.db + ext)
        log = self.refused(srv)
        self.assertRegex(log, "failed its integrity check|is damaged or is not an SQLite database")
        self.assertIn("restore it from a backup", log)

    def test_a_read_only_database_is_refused_with_advice(self):
        srv = self.start_server()
        # serving (not only listening: the port opens before the signal
        # handling is set up), then stopped cleanly
        Conn(srv.port).hello()
        self.assertEqual(0, srv.stop())
        os.chmod(srv.db, 0o444)
        for ext in ("-wal", "-shm"):
            if os.path.exists(srv.db + ext):
                os.unlink(srv.db + ext)
        if os.geteuid() == 0:
            # root writes read-only files: run the server as nobody, in a
            # folder it may read but not write
            os.chmod(srv.dir, 0o755)
            os.makedirs(os.path.join(srv.dir, "files"), exist_ok=True)
            os.chmod(os.path.join(srv.dir, "files"), 0o777)
            srv.command_orig = srv.command
            if not shutil.which("setpriv"):
                self.skipTest("running as root without setpriv")
            srv.command = lambda: ["setpriv", "--reuid=65534", "--regid=65534",
                                   "--clear-groups"] + srv.command_orig()
        log = self.refused(srv)
        self.assertIn("read-only", log)
        self.assertIn("writable", log)


class RuntimeFaults(RobustCase):
    """Messages sent while the database cannot be written: nobody sees them
    until they are stored, then everybody does, in order."""

    def send(self, c, prefix, n, extra=""):
        for i in range(n):
            c.chat("%s %d%s" % (prefix, i, extra), client_msg_id="%s-%d" % (prefix, i))

    def assert_nothing_seen(self, clients, what):
        """Neither an echo, another member's copy nor an ack: nobody sees a
        message that is not stored."""
        for c in clients:
            quiet = c.no_message(0.3, types=("chat_message", "chat_ack"))
            self.assertTrue(quiet, "seen while %s: %r" % (what, c.backlog))

    def expect_delivered(self, c, prefix, n, timeout):
        """Once stored: each message's echo, then its ack naming the same
        id, in the order sent. Returns {client_msg_id: message_id}."""
        want = ["%s-%d" % (prefix, i) for i in range(n)]
        echoes, acks = [], {}
        while set(acks) != set(want):
            m = c.recv_type(("chat_message", "chat_ack"), timeout=timeout)
            if m["message_type"] == "chat_message":
                echoes.append(m)
            else:
                mid = [e["message_id"] for e in echoes
                       if e.get("client_msg_id") == m["client_msg_id"]]
                self.assertEqual([m["message_id"]], mid, "ack before its echo: %r" % m)
                acks[m["client_msg_id"]] = m["message_id"]
        self.assertEqual(want, [e["client_msg_id"] for e in echoes])
        self.assertTrue(all(e["content"].startswith("%s %d" % (prefix, i))
                            for i, e in enumerate(echoes)))
        ids = [e["message_id"] for e in echoes]
        self.assertEqual(sorted(ids), ids, "delivered out of id order")
        return acks

    def expect_copies(self, c, prefix, n, acks, timeout):
        """Another member gets the same messages, under the same ids."""
        got = [c.recv_type("chat_message", timeout=timeout) for _ in range(n)]
        self.assertEqual([acks["%s-%d" % (prefix, i)] for i in range(n)],
                         [m["message_id"] for m in got])

    def check_stored(self, srv, acks):
        self.assertEqual(0, srv.stop())
        rows = {r[4]: r[0] for r in db_messages(srv.db) if r[4]}
        for cmid, mid in acks.items():
            self.assertEqual(mid, rows.get(cmid), "%s not stored as acknowledged" % cmid)
        self.assertEqual(len(rows), len(set(rows.values())))

    def test_locked_database_holds_messages_until_it_is_free(self):
        srv = self.start_server()
        c, _ = p2_user(srv, "alice")
        bob, _ = p2_user(srv, "bob")
        c.chat("before", client_msg_id="before")
        c.recv_type("chat_message")  # its echo
        acks = {"before": c.recv_type("chat_ack")["message_id"]}
        bob.recv_type("chat_message")

        locker = sqlite3.connect(srv.db, isolation_level=None, timeout=10)
        locker.execute("BEGIN EXCLUSIVE")
        t0 = time.time()
        self.send(c, "locked", 20)
        # the writer waits out its busy timeout (5 s), then says why
        wait_for(lambda: "database locked" in srv.log_text(), 15 * SLOW,
                 "the writer to log the lock")
        self.assert_nothing_seen([c, bob], "the database is locked")
        held = time.time() - t0
        locker.rollback()
        locker.close()
        acks.update(self.expect_delivered(c, "locked", 20, 15 * SLOW))
        self.expect_copies(bob, "locked", 20, acks, 5 * SLOW)
        wait_for(lambda: "storing works again" in srv.log_text(), 5 * SLOW,
                 "the writer to log the recovery")
        # and the server kept serving meanwhile: a new message is stored too
        c.chat("after", client_msg_id="after")
        acks["after"] = c.recv_type("chat_ack")["message_id"]
        c.close()
        bob.close()
        self.check_stored(srv, acks)
        print("database held locked for %.1f s; 20 messages queued, none delivered or "
              "acknowledged early, all stored and delivered after" % held)

    def test_disk_full_holds_messages_until_there_is_space(self):
        mnt = tempfile.mkdtemp(prefix="chatroom-full-")
        self.addCleanup(shutil.rmtree, mnt, True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here (needs root)")
        self.addCleanup(subprocess.run, ["umount", "-l", mnt])
        srv = self.start_server(start=False)
        srv.db = os.path.join(mnt, "chat.db")
        srv.start()
        c, _ = p2_user(srv, "alice")
        c.chat("before", client_msg_id="before")
        c.recv_type("chat_message")  # its echo
        acks = {"before": c.recv_type("chat_ack")["message_id"]}

        # fill the file system to the last byte
        filler = os.path.join(mnt, "filler")
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        for size in (65536, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
        os.close(fd)
        self.send(c, "full", 30, " " + "y" * 900)
        wait_for(lambda: "disk full" in srv.log_text() or "cannot store" in srv.log_text(),
                 15 * SLOW, "the writer to log the full disk")
        self.assertIn("disk full", srv.log_text())
        self.assert_nothing_seen([c], "the disk is full")
        os.unlink(filler)
        acks.update(self.expect_delivered(c, "full", 30, 15 * SLOW))
        c.chat("after", client_msg_id="after")
        acks["after"] = c.recv_type("chat_ack")["message_id"]
        c.close()
        self.check_stored(srv, acks)


if __name__ == "__main__":
    tap.main()
