"""Uploaded files in cluster mode: their bytes are in PostgreSQL (in
chunks), so a file uploaded on one node is listed, downloaded and deleted
on every node (cluster.py starts PostgreSQL, Redis, the nodes, HAProxy)."""
import hashlib
import os
import subprocess
import unittest

from adminlib import ADMIN_PASSWORD, END, admin_cmd, download, recv_any, upload
from harness import CHATROOMD, SLOW, Server, main, uname, wait_for
import test_cluster
from test_cluster import ClusterTest, login_on, run_unit_program

CHUNK = 256 * 1024        # STORE_PG_FILE_CHUNK (server/store_pg.h)
LIMIT = 6 * CHUNK + 4321  # the nodes' MaxFileSize: a file at it spans seven chunks
STALL = 3                 # the nodes' TransferTimeout, seconds

# one PostgreSQL server for the module, as test_cluster.py's (test_cluster.PG)
setUpModule = test_cluster.setUpModule
tearDownModule = test_cluster.tearDownModule


def digest(data):
    return hashlib.sha256(data).hexdigest()


class Units(unittest.TestCase):
    """The chunk store's C tests (tests/unit/test_store_pg.c) on a database
    of their own."""

    def test_chunk_store_unit_tests_pass(self):
        out = run_unit_program(self, "test_store_pg",
                               {"CHATROOM_TEST_PG": test_cluster.PG.new_database()})
        for name in ("test_file_bytes_in_chunks", "test_failed_chunk_write_leaves_no_file",
                     "test_orphan_chunks_swept_and_the_upgrade_from_version_3"):
            self.assertRegex(out, r"(?m)^ok \d+ - %s$" % name)


class SchemaVersion(unittest.TestCase):
    """Schema version 4 brought the files' chunks: chatroomd -t takes a
    database of version 3 (a node upgrades it, keeping version 3's tables)
    and names a newer one."""

    def configtest(self, conninfo):
        return subprocess.run([CHATROOMD, "-f", "/dev/null", "-t", "--postgres", conninfo],
                              capture_output=True, text=True, timeout=60 * SLOW)

    def test_version_3_is_upgraded_and_a_newer_one_refused(self):
        conninfo = test_cluster.PG.new_database()
        db = conninfo.rsplit("dbname=", 1)[1]
        psql = lambda q: test_cluster.PG.psql(q, db=db)  # noqa: E731
        name = uname("sv")
        node = Server(["--postgres", conninfo]).start()
        try:
            c = login_on(node, name, protocol2=True)
            c.chat("before the upgrade", client_msg_id="sv-1")
            first = c.recv_type("chat_ack")["message_id"]
            c.close()
        finally:
            self.assertEqual(node.finish(), [])
        # what a database of version 3 looks like
        psql("DROP TABLE file_chunks; DROP INDEX files_by_stored_name; "
             "UPDATE chatroom_meta SET value = 3 WHERE key = 'schema_version'")
        r = self.configtest(conninfo)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("# PostgreSQL: reachable, schema version fits", r.stdout)
        node = Server(["--postgres", conninfo]).start()
        try:
            c = login_on(node, name, protocol2=True)
            # version 3's client_msg_ids are kept: a resend is recognised
            c.chat("before the upgrade", client_msg_id="sv-1")
            self.assertEqual(c.recv_type("chat_ack")["message_id"], first)
            _, final = upload(c, "up.txt", b"upgraded\n", c.group["id"])
            self.assertTrue(final["success"], final)
            c.close()
        finally:
            self.assertEqual(node.finish(), [])
        # upgraded to the newest: 4 (the files' chunks), then 5 (the count of changes)
        self.assertEqual(psql("SELECT value FROM chatroom_meta WHERE key = 'schema_version'"),
                         [["5"]])
        self.assertEqual(psql("SELECT count(*) FROM file_chunks"), [["1"]])
        self.assertEqual(psql("SELECT count(*) FROM messages WHERE client_msg_id = 'sv-1'"),
                         [["1"]])
        psql("UPDATE chatroom_meta SET value = 6 WHERE key = 'schema_version'")
        r = self.configtest(conninfo)
        self.assertEqual(r.returncode, 1)
        self.assertIn("has schema version 6, newer than this chatroomd understands (5)",
                      r.stderr)


class FilesClusterTest(ClusterTest):
    """Base: a cluster of this module's PostgreSQL, with SQL on its database."""
    node_args = {i: ["--max-file-size", str(LIMIT), "--transfer-timeout", str(STALL)]
                 for i in range(3)}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.db = cls.cl.conninfo.rsplit("dbname=", 1)[1]

    def sql(self, q):
        return test_cluster.PG.psql(q, db=self.db)

    def chunks(self, where="TRUE"):
        return int(self.sql("SELECT count(*) FROM file_chunks WHERE %s" % where)[0][0])


class ClusterFiles(FilesClusterTest):

    def admin_on(self, i):
        c = self.cl.nodes[i].connect()
        r = c.login("Admin", ADMIN_PASSWORD)
        self.assertTrue(r.get("success"), r)
        self.conns.append(c)
        return c

    def listed(self, conn, gid):
        conn.send("file_list_request", chat_group_id=gid)
        return {f["file_id"]: f for f in conn.recv_type("file_list_response")["files"]}

    def downloaded(self, conn, file_id, name, data):
        d = download(conn, file_id)
        self.assertEqual(d["first"]["message_type"], "file_download_response", d["first"])
        self.assertEqual(d["first"]["file_size"], len(data))
        self.assertEqual(d["first"]["filename"], name)
        self.assertEqual(d["end_marker"], END)
        self.assertEqual(len(d["data"]), len(data))
        self.assertEqual(digest(d["data"]), digest(data))
        self.assertTrue(d["closing"]["success"], d["closing"])

    def test_upload_on_one_node_downloads_byte_identical_on_the_others(self):
        a = self.on(0)
        b, c = self.on(1), self.on(2, protocol2=True)
        gid = a.group["id"]
        files = {"small.txt": os.urandom(1000),
                 "chunks.zip": os.urandom(3 * CHUNK + 12345),
                 "exact.tar": os.urandom(CHUNK * 2),
                 "limit.zip": os.urandom(LIMIT)}
        ids = {}
        for name, data in files.items():
            first, final = upload(a, name, data, gid, chunk=100 * 1024)
            self.assertIsNotNone(final, first)
            self.assertTrue(final["success"], final)
            ids[name] = final["file_id"]
        # stored in chunks: a short one, four, two full ones, seven
        self.assertEqual(self.chunks("stored_name IN (SELECT stored_name FROM files WHERE id IN "
                                     "(%s))" % ",".join(str(i) for i in ids.values())),
                         1 + 4 + 2 + 7)
        # and through HAProxy, to whichever node it picks
        lb = login_on(self.cl.lb, uname("lb"))
        self.conns.append(lb)
        for conn in (b, c, a, lb):
            for name, data in files.items():
                self.downloaded(conn, ids[name], name, data)

    def test_a_file_over_the_limit_is_refused_and_nothing_is_stored(self):
        a, b = self.on(0, protocol2=True), self.on(1)
        gid = a.group["id"]
        before_chunks = self.chunks()
        before_files = self.sql("SELECT count(*) FROM files")[0][0]
        err, final = upload(a, "over.zip", b"x" * (LIMIT + 1), gid, size=LIMIT + 1)
        self.assertIsNone(final)
        self.assertEqual(err["message_type"], "error_message", err)
        self.assertEqual(err["error_code"], 1007)
        self.assertEqual(err["error_message"], "file too large: at most 1 MB (%d bytes)" % LIMIT)
        # the connection goes on: the bytes were never asked for
        a.send("file_list_request", chat_group_id=gid)
        self.assertNotIn("over.zip", [f["original_filename"] for f in
                                      a.recv_type("file_list_response")["files"]])
        self.assertNotIn("over.zip", [f["original_filename"] for f in
                                      self.listed(b, gid).values()])
        self.assertEqual(self.chunks(), before_chunks)
        self.assertEqual(self.sql("SELECT count(*) FROM files")[0][0], before_files)

    def test_every_node_lists_the_same_files(self):
        c = self.on(2)
        gid = c.group["id"]
        _, final = upload(c, "report.pdf", b"%PDF" + os.urandom(5000), gid)
        self.assertTrue(final["success"], final)
        lists = [self.listed(self.on(i), gid) for i in range(3)]
        self.assertIn(final["file_id"], lists[0])
        self.assertEqual(lists[0], lists[1])
        self.assertEqual(lists[1], lists[2])
        f = lists[0][final["file_id"]]
        self.assertEqual(f["original_filename"], "report.pdf")
        self.assertEqual(f["file_size"], 5004)

    def test_a_file_deleted_on_one_node_is_gone_on_all(self):
        up = self.on(0)
        gid = up.group["id"]
        _, final = upload(up, "gone.txt", os.urandom(CHUNK + 10), gid)
        self.assertTrue(final["success"], final)
        fid = final["file_id"]
        stored = self.sql("SELECT stored_name FROM files WHERE id = %d" % fid)[0][0]
        self.assertEqual(self.chunks("stored_name = '%s'" % stored), 2)
        adm = self.admin_on(1)
        r = admin_cmd(adm, "del", "-f", target_id=fid)
        self.assertTrue(r.get("success"), r)
        for i in (0, 2, 1):
            conn = self.on(i)
            self.assertNotIn(fid, self.listed(conn, gid))
            d = download(conn, fid)
            self.assertEqual(d["first"]["error_code"], 1006, d["first"])
        self.assertEqual(self.chunks("stored_name = '%s'" % stored), 0)
        # a second deletion, on another node, finds nothing
        r = admin_cmd(self.admin_on(2), "del", "-f", target_id=fid)
        self.assertFalse(r.get("success"), r)

    def test_a_deleted_group_takes_its_files_on_every_node(self):
        owner = self.on(0)
        name = uname("fg")
        r = owner.create_chat(name)
        self.assertEqual(r["message_type"], "create_chat_response", r)
        r, hist, _ = owner.enter_chat(name)
        self.assertIsNotNone(hist, r)
        gid = r["chat_group_id"]
        _, final = upload(owner, "team.txt", os.urandom(3000), gid)
        self.assertTrue(final["success"], final)
        fid = final["file_id"]
        adm = self.admin_on(1)
        r = admin_cmd(adm, "del", "-g", target_id=gid, target_name=name)
        self.assertTrue(r.get("success"), r)
        d = download(self.on(2), fid)
        self.assertEqual(d["first"]["error_code"], 1006, d["first"])
        self.assertEqual(self.sql("SELECT count(*) FROM files WHERE group_id = %d" % gid)[0][0],
                         "0")

    def test_a_stalled_upload_is_refused_and_leaves_nothing(self):
        a, b = self.on(1), self.on(2)
        gid = a.group["id"]
        before = self.chunks()
        data = os.urandom(2 * CHUNK + 100)
        a.send("file_upload_request", filename="slow.zip", file_data="", file_size=len(data),
               chat_group_id=gid)
        first = recv_any(a, ("file_upload_response", "error_message"))
        self.assertTrue(first["success"], first)
        a.send_raw(data[:CHUNK + 5])  # one chunk stored, then nothing more
        err = recv_any(a, ("error_message",), timeout=(STALL + 20) * SLOW)
        self.assertEqual(err["error_code"], 1010, err)
        self.assertTrue(a.expect_closed())
        self.assertNotIn("slow.zip", [f["original_filename"] for f in
                                      self.listed(b, gid).values()])
        self.assertEqual(self.chunks(), before)


class NodeKilledMidUpload(FilesClusterTest):
    """kill -9 of the node receiving an upload: no file shows on the others."""

    def test_no_file_is_visible_after_the_node_died_mid_upload(self):
        up = self.on(2)
        watcher = self.on(0)
        gid = up.group["id"]
        data = os.urandom(4 * CHUNK)
        up.send("file_upload_request", filename="cut.zip", file_data="", file_size=len(data),
                chat_group_id=gid)
        first = recv_any(up, ("file_upload_response", "error_message"))
        self.assertTrue(first["success"], first)
        up.send_raw(data[:2 * CHUNK + 99])
        # two chunks are in the database: the upload is under way
        self.assertTrue(wait_for(lambda: self.chunks() >= 2, timeout=20 * SLOW))
        self.cl.nodes[2].kill()
        self.assertTrue(up.expect_closed())
        for i in (0, 1):
            conn = self.on(i)
            conn.send("file_list_request", chat_group_id=gid)
            names = [f["original_filename"] for f in conn.recv_type("file_list_response")["files"]]
            self.assertNotIn("cut.zip", names)
        self.assertEqual(self.sql("SELECT count(*) FROM files")[0][0], "0")
        self.assertTrue(watcher.no_message(0.3, types=("file_notification",)))
        # the node comes back; its start leaves a recent upload's chunks be
        # (another node may still be receiving them) and serves files again
        self.cl.nodes[2].start()
        again = self.on(2)
        _, final = upload(again, "whole.zip", data, gid)
        self.assertTrue(final["success"], final)
        self.assertEqual(download(self.on(1), final["file_id"])["data"], data)


class PostgresDownMidUpload(FilesClusterTest):
    """PostgreSQL stopped while an upload's chunks are being stored."""
    nodes = 2

    def test_an_upload_postgres_cannot_take_is_refused_and_never_listed(self):
        a = self.on(0, protocol2=True)
        b = self.on(1)
        gid = a.group["id"]
        data = os.urandom(3 * CHUNK)
        a.send("file_upload_request", filename="part.zip", file_data="", file_size=len(data),
               chat_group_id=gid)
        first = recv_any(a, ("file_upload_response", "error_message"))
        self.assertTrue(first["success"], first)
        a.send_raw(data[:CHUNK + 10])
        self.assertTrue(wait_for(lambda: self.chunks() >= 1, timeout=20 * SLOW))
        test_cluster.PG.stop()
        try:
            a.send_raw(data[CHUNK + 10:])
            err = recv_any(a, ("error_message", "file_upload_response"), timeout=30 * SLOW)
        finally:
            test_cluster.PG.start()
        self.assertEqual(err["message_type"], "error_message", err)
        self.assertEqual(err["error_code"], 1009)
        self.assertEqual(err["error_message"], "the server could not save the file")
        # every byte was read: the connection goes on, and no node lists it
        # (a node's first query after the outage may fail: it reconnects)
        for conn in (a, b):
            for _ in range(5):
                conn.send("file_list_request", chat_group_id=gid)
                r = recv_any(conn, ("file_list_response", "error_message"))
                if r["message_type"] == "file_list_response":
                    break
            self.assertEqual(r["message_type"], "file_list_response", r)
            self.assertNotIn("part.zip", [f["original_filename"] for f in r["files"]])
        self.assertEqual(self.sql("SELECT count(*) FROM files")[0][0], "0")
        # and the next upload, PostgreSQL back, works
        _, final = upload(a, "after.zip", data, gid)
        self.assertTrue(final["success"], final)
        self.assertEqual(download(b, final["file_id"])["data"], data)


if __name__ == "__main__":
    main()
