"""chatroom-bench against the real chatroomd, briefly: a small run of each
mode must deliver every message, and a run the server's flood control
refuses must fail and say why."""
import os
import re
import subprocess
import unittest

from harness import CHATROOMD, SLOW, started_server
import tap

BENCH = os.environ.get("CHATROOM_BENCH",
                       os.path.join(os.path.dirname(CHATROOMD), "..", "tests", "bench", "chatroom-bench"))
# Cheap password hashes: the logins are not what is tested here.
# Cheap password hashes, and no login throttling: the bench logs in many
# users from one address and tries a login before registering.
CHEAP_HASH = ["--hash-opslimit", "1", "--hash-memlimit", "64", "--login-fail-max-address", "1000000"]
HIGH_RATE = ["--rate", "1000000", "--burst", "1000000"]


def field(out, name):
    m = re.search(r"^%s:\s+(.*)$" % name, out, re.M)
    return m.group(1) if m else ""


class BenchSmoke(unittest.TestCase):
    def start(self, args):
        srv = started_server(self, args)
        return srv

    def bench(self, srv, *args):
        cmd = [BENCH, "--port", str(srv.port), "--server-pid", str(srv.proc.pid),
               "--timeout", str(int(10 * SLOW))] + list(args)
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=120 * SLOW, universal_newlines=True)
        return p.returncode, p.stdout

    def test_throughput_run_delivers_every_message_to_every_client(self):
        srv = self.start(HIGH_RATE + CHEAP_HASH)
        rc, out = self.bench(srv, "-n", "20", "-s", "4", "-m", "200", "-w", "8")
        self.assertEqual(rc, 0, out)
        self.assertTrue(field(out, "deliveries").startswith("16000 of 16000 expected"), out)
        self.assertTrue(field(out, "lost").startswith("0 "), out)
        self.assertRegex(field(out, "latency"), r"p50 [0-9.]+ ms +p99 [0-9.]+ ms")

    def test_second_run_logs_in_the_accounts_of_the_first(self):
        srv = self.start(HIGH_RATE + CHEAP_HASH)
        rc, out = self.bench(srv, "-n", "5", "-s", "1", "-m", "10", "--register")
        self.assertEqual(rc, 0, out)
        rc, out = self.bench(srv, "-n", "5", "-s", "1", "-m", "10", "--register")
        self.assertEqual(rc, 0, out)
        self.assertTrue(field(out, "deliveries").startswith("50 of 50 expected"), out)

    def test_rate_run_into_a_new_group_delivers_every_message(self):
        srv = self.start(HIGH_RATE + CHEAP_HASH)
        rc, out = self.bench(srv, "-n", "10", "-s", "2", "--rate", "200", "--duration", "1",
                             "--group", "smokegroup")
        self.assertEqual(rc, 0, out)
        self.assertTrue(field(out, "deliveries").startswith("2000 of 2000 expected"), out)
        self.assertIn("max", field(out, "latency"))

    def test_tls_run_delivers_every_message(self):
        import shutil
        import tempfile
        from harness import free_port
        if not shutil.which("openssl"):
            self.skipTest("the openssl command is needed (Debian package openssl)")
        d = tempfile.mkdtemp(prefix="chatroom-bench-tls-")
        self.addCleanup(shutil.rmtree, d, True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-keyout", "key.pem",
                        "-out", "cert.pem", "-subj", "/CN=localhost"], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = free_port()
        srv = self.start(HIGH_RATE + CHEAP_HASH + [
            "--tls-port", str(port), "--tls-cert", os.path.join(d, "cert.pem"),
            "--tls-key", os.path.join(d, "key.pem")])
        rc, out = self.bench(srv, "--port", str(port), "--tls", "-n", "10", "-s", "2", "-m", "100",
                             "-w", "8")
        self.assertEqual(rc, 0, out)
        self.assertIn("over TLS", out)
        self.assertTrue(field(out, "deliveries").startswith("2000 of 2000 expected"), out)

    def test_idle_run_reports_server_memory_per_client(self):
        srv = self.start(CHEAP_HASH)
        rc, out = self.bench(srv, "-n", "50", "--idle", "--duration", "1")
        self.assertEqual(rc, 0, out)
        self.assertRegex(field(out, "per client"), r"-?[0-9.]+ KiB after login")

    def test_refused_messages_fail_the_run_and_are_named(self):
        # Default flood control (50/s, burst 200) against 1000 messages
        # sent as fast as they are echoed.
        srv = self.start(CHEAP_HASH)
        rc, out = self.bench(srv, "-n", "2", "-s", "1", "-m", "1000", "-w", "50")
        self.assertEqual(rc, 1, out)
        self.assertIn("1014", field(out, "errors"), out)
        self.assertFalse(field(out, "lost").startswith("0 "), out)


if __name__ == "__main__":
    tap.main()
