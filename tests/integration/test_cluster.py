"""Several chatroomd nodes behind HAProxy, PostgreSQL as the record and
Redis between the nodes (cluster.py starts them all on this machine)."""
import os
import subprocess
import unittest

import cluster
from harness import CHATROOMD, SLOW, Server, main, uname

PG = None


def setUpModule():
    global PG
    PG = cluster.Postgres()
    try:
        PG.start()
    except BaseException:
        PG.cleanup()
        raise


def tearDownModule():
    if PG is not None:
        PG.cleanup()


class Infrastructure(unittest.TestCase):
    """What every other test stands on."""

    def test_postgres_15_runs_unprivileged_and_takes_sql(self):
        conninfo = PG.new_database()
        db = conninfo.split("dbname=")[1]
        self.assertTrue(PG.psql("SHOW server_version", db=db)[0][0].startswith("15."))
        PG.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (41), (1)", db=db)
        self.assertEqual(PG.psql("SELECT sum(x) FROM t", db=db), [["42"]])
        with open("/proc/%d/status" % PG.proc.pid) as f:
            uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
        self.assertNotEqual(uid, "0", "postgres runs as root")

    def test_redis_answers_and_is_gone_after_cleanup(self):
        r = cluster.Redis().start()
        try:
            self.assertTrue(cluster._redis_ping(r.port))
        finally:
            r.cleanup()
        self.assertFalse(cluster._redis_ping(r.port))
        self.assertFalse(os.path.exists(r.dir))

    def test_haproxy_spreads_over_nodes_and_skips_a_dead_one(self):
        nodes = [Server() for _ in range(2)]
        lb = None
        try:
            for n in nodes:
                n.start()
            lb = cluster.HAProxy([n.port for n in nodes]).start()
            lb.wait_up(2)
            conns = [lb.connect() for _ in range(2)]
            # leastconn: two open connections, one on each node, so a
            # name registered through one is unknown on the other (each
            # node has its own SQLite file here)
            name = uname("lb")
            self.assertTrue(conns[0].register(name)["success"])
            r = conns[1].login(name)
            self.assertFalse(r.get("success"), r)
            for c in conns:
                c.close()
            nodes[0].kill()
            lb.wait_up(1)
            for _ in range(3):
                with lb.connect() as c:
                    name = uname("lb")
                    self.assertTrue(c.register(name)["success"])
                    self.assertTrue(c.login(name)["success"])
        finally:
            if lb:
                lb.cleanup()
            for n in nodes:
                n.cleanup()
        self.assertFalse(os.path.exists(lb.dir))


def run_unit_program(test, name, env):
    """Run the C test program tests/unit/NAME (built by make check) with
    env added; fail the test unless every one of its tests passed."""
    build = os.path.dirname(os.path.dirname(os.path.abspath(CHATROOMD)))
    prog = os.path.join(build, "tests", "unit", name)
    test.assertTrue(os.access(prog, os.X_OK), "%s is not built (make check builds it)" % prog)
    r = subprocess.run([prog], env=dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP", **env),
                       capture_output=True, text=True, timeout=120 * SLOW)
    test.assertEqual(r.returncode, 0, "%s failed:\n%s%s" % (name, r.stdout, r.stderr))
    test.assertNotIn("not ok", r.stdout)
    test.assertIn("ok 1 - ", r.stdout)
    return r.stdout


class Units(unittest.TestCase):
    """The C tests of the PostgreSQL store (tests/unit/test_store_pg.c) and
    of the bus (tests/unit/test_bus.c), against this module's servers, each
    on a database of its own."""

    def test_store_pg_unit_tests_pass(self):
        out = run_unit_program(self, "test_store_pg", {"CHATROOM_TEST_PG": PG.new_database()})
        self.assertIn("ok 7 - test_two_writers_into_one_group_give_one_order", out)

    def test_writer_pg_unit_tests_pass(self):
        out = run_unit_program(self, "test_writer_pg", {"CHATROOM_TEST_PG": PG.new_database()})
        self.assertIn("ok 3 - test_a_lost_connection_keeps_the_batch_and_reconnects", out)

    def test_bus_unit_tests_pass(self):
        redis = cluster.Redis().start()
        try:
            out = run_unit_program(self, "test_bus", {"CHATROOM_TEST_PG": PG.new_database(),
                                                      "CHATROOM_TEST_REDIS": redis.address})
        finally:
            redis.cleanup()
        self.assertIn("ok 2 - test_a_dropped_publish_is_filled_from_the_store_in_order", out)


if __name__ == "__main__":
    main()
