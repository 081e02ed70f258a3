#!/usr/bin/env python3
"""Error 1011 where the manual promises it: every request that must write
the database while it cannot be written (held locked by another process,
past the store's busy timeout) is refused with 1011 and its own text, and
nothing is half done; chat messages past WriterQueue waiting ones are
refused with 1011 and the ones accepted are stored once the database is
free. The texts are asked on protocol-2 connections (the server's own
texts)."""
import sqlite3

from harness import SLOW
from adminlib import ADMIN_PASSWORD, admin, group_id, recv_any
from robust import RobustCase, db_messages, p2_user
import tap

# A request that waits for the database waits out the store's busy
# timeout (5 s), one after the other: generous waits.
WAIT = 60 * SLOW


def lock(db):
    """Hold the database's write lock (WAL: readers still read)."""
    locker = sqlite3.connect(db, isolation_level=None, timeout=10)
    locker.execute("BEGIN EXCLUSIVE")
    return locker


class HandlersGet1011(RobustCase):
    def test_every_write_is_refused_with_1011_and_nothing_is_half_done(self):
        srv = self.start_server(["--hash-opslimit", "1", "--hash-memlimit", "64"],
                                admin_password=ADMIN_PASSWORD)
        owner, _ = p2_user(srv, "owner")
        self.assertIs(owner.create_chat("club", [])["success"], True)
        joiner, _ = p2_user(srv, "joiner")
        creator, _ = p2_user(srv, "creator")
        uploader, _ = p2_user(srv, "uploader")
        adm = admin(srv, protocol2=True)
        reg = srv.connect()
        reg.hello()
        gid = group_id(uploader, "public")
        for c in (owner, joiner, creator, uploader, adm, reg):
            self.addCleanup(c.close)

        locker = lock(srv.db)
        try:
            uploader.send("file_upload_request", filename="a.txt", file_data="", file_size=3,
                          chat_group_id=gid)
            self.assertEqual(uploader.recv_type("file_upload_response")["message"], "ready")
            uploader.send_raw(b"abc")
            reg.send("register_request", username="newone", password="secret123")
            creator.send("create_chat_request", chat_name="newchat", member_usernames=[])
            joiner.send("join_chat_request", chat_name="club")
            adm.send("admin_command_request", command="ban", action="-u", target_id=None,
                     target_name="joiner", new_value="")
            expect = [(uploader, "could not record the file; try again later"),
                      (reg, "could not store the account; try again later"),
                      (creator, "could not create the chat; try again later"),
                      (joiner, "could not join the chat; try again later")]
            for conn, text in expect:
                e = conn.expect_error(1011, timeout=WAIT)
                self.assertEqual(e["error_message"], text)
            r = recv_any(adm, ("admin_command_response",), timeout=WAIT)
            self.assertIs(r["success"], False, r)
            self.assertEqual(r["message"], "database error; try again later")
        finally:
            locker.rollback()
            locker.close()

        # nothing was half done: no file, account, chat, membership or ban
        uploader.send("file_list_request", chat_group_id=gid)
        self.assertEqual(uploader.recv_type("file_list_response")["files"], [])
        c = srv.connect()
        self.addCleanup(c.close)
        self.assertIs(c.login("newone", "secret123")["success"], False)
        creator.send("enter_chat_request", chat_name="newchat")
        creator.expect_error(1004)
        joiner.send("enter_chat_request", chat_name="club")
        joiner.expect_error(1005)
        joiner.chat("not banned", client_msg_id="nb")
        joiner.recv_type("chat_ack")
        # and all of it works now
        self.assertIs(creator.create_chat("newchat", [])["success"], True)
        self.assertIs(reg.register("newone")["success"], True)


class WriterQueueFull(RobustCase):
    def test_messages_past_writer_queue_get_1011_the_others_are_stored(self):
        srv = self.start_server(["--writer-queue", "3", "--batch-ms", "5"])
        c, _ = p2_user(srv, "chatter")
        self.addCleanup(c.close)
        locker = lock(srv.db)
        try:
            for i in range(6):
                c.chat("m%d" % i, client_msg_id="m%d" % i)
            for _ in range(3):
                e = c.expect_error(1011, timeout=WAIT)
                self.assertEqual(e["error_message"], "message not accepted: the server cannot store "
                                                     "messages right now; try again later")
            self.assertTrue(c.no_message(0.5, types=("chat_ack",)))
        finally:
            locker.rollback()
            locker.close()
        acks = {}
        while len(acks) < 3:
            m = c.recv_type("chat_ack", timeout=WAIT)
            acks[m["client_msg_id"]] = m["message_id"]
        self.assertEqual(sorted(acks), ["m0", "m1", "m2"])
        self.assertTrue(c.no_message(0.3, types=("error_message",)))
        c.close()
        self.assertEqual(0, srv.stop())
        self.assertEqual([r[3] for r in db_messages(srv.db)], ["m0", "m1", "m2"])


if __name__ == "__main__":
    tap.main()
