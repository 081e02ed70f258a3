#!/usr/bin/env python3
"""Many connections at once: idle connections are parked in the waiter, not
held by a thread each. As many connections as the descriptor limit allows
(up to 10,000) are opened and each gets an answer; the server's thread count
stays that of its pool, and chat among logged-in clients goes on meanwhile.
The queue of connections waiting for a worker fills and drains under the
load (its statistics say so)."""
import os
import resource
import selectors
import signal
import socket
import time

from harness import SLOW, ServerTest, main

WANT = 10000
# descriptors kept for the test's own use (server log, probes, python)
SPARE = 200


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return -1


class ManyConnections(ServerTest):
    server_args = ["--workers", "4", "--max-per-address", "20000", "--login-timeout", "600",
                   "--queue", "20000"]

    def test_thousands_of_idle_connections_are_all_served_by_a_few_threads(self):
        n = min(WANT, raise_nofile() - SPARE)
        self.assertGreater(n, 100, "the descriptor limit leaves too few connections to test")
        a = self.login_user()
        b = self.login_user()
        sel = selectors.DefaultSelector()
        socks = []
        self.addCleanup(lambda: [s.close() for s in socks])
        hb = b'{"message_type":"heartbeat","timestamp":0}\n'
        answered = 0
        buf = {}
        deadline = time.time() + 120 * SLOW

        def pump(timeout):
            nonlocal answered
            for key, _ in sel.select(timeout):
                s = key.fileobj
                data = s.recv(4096)
                if not data:
                    self.fail("the server closed an idle connection: %s" % self.srv.log_tail(5))
                buf[s] = buf.get(s, b"") + data
                if buf[s].endswith(b"\n") and b'"heartbeat"' in buf[s]:
                    sel.unregister(s)
                    answered += 1

        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10 * SLOW)
            s.setblocking(False)
            socks.append(s)
            s.send(hb)
            sel.register(s, selectors.EVENT_READ)
            if i % 200 == 199:
                pump(0)
        while answered < n and time.time() < deadline:
            pump(1)
        self.assertEqual(answered, n, "connections answered")
        # every connection is open and idle: parked, with no thread each
        threads = threads_of(self.srv.proc.pid)
        self.assertLess(threads, 4 + 16, "threads for %d idle connections" % n)
        # and the logged-in clients chat on
        a.chat("among %d idle connections" % n)
        b.recv_chat("among %d idle connections" % n)
        # each parked connection still answers
        for s in socks[:: max(1, n // 50)]:
            s.setblocking(True)
            s.send(hb)
            got = b""
            while not got.endswith(b"\n"):
                got += s.recv(4096)
            self.assertIn(b'"heartbeat"', got)
        # the queue of connections waiting for a worker was used and measured
        self.srv.proc.send_signal(signal.SIGUSR1)  # statistics to the log
        for _ in range(100):
            if "connections_parked=" in self.srv.log_text():
                break
            time.sleep(0.05)
        log = self.srv.log_text()
        line = [l for l in log.splitlines() if "statistics:" in l][-1]
        fields = dict(kv.split("=", 1) for kv in line.split("statistics: ", 1)[1].split())
        self.assertGreaterEqual(int(fields["connections_parked"]), n)
        self.assertGreater(int(fields["pool_queue_most"]), 0)
        self.assertEqual(int(fields["pool_queue"]), 0)


def thread_names(pid):
    names = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                names.append(f.read().strip())
        except FileNotFoundError:
            pass  # a worker that just exited
    return names


class ThreadNames(ServerTest):
    """Each thread is named after its job, so that top -H and ps -L tell an
    operator which one is busy; the process keeps its own name."""
    server_args = ["--synchronous", "normal", "--workers", "3"]

    def test_threads_are_named_after_their_job(self):
        a = self.login_user()
        b = self.login_user()
        a.chat("who is busy")
        b.recv_chat("who is busy")
        pid = self.srv.proc.pid
        names = thread_names(pid)
        with open("/proc/%d/comm" % pid) as f:
            self.assertEqual(f.read().strip(), "chatroomd", "the process's own name")
        for job in ("accept", "waiter", "watchdog", "writer", "checkpoint"):
            self.assertEqual(names.count(job), 1, "%s in %s" % (job, names))
        workers = sorted(n for n in names if n.startswith("worker "))
        self.assertTrue(workers, "no worker among %s" % names)
        self.assertLessEqual(len(workers), 3, names)
        for n in workers:
            self.assertRegex(n, r"^worker [1-9][0-9]*$")
        self.assertEqual(len(set(workers)), len(workers), "worker numbers are unique: %s" % workers)


if __name__ == "__main__":
    main()
