#!/usr/bin/env python3
"""The legacy reply floor (LegacyReplyDelay): a legacy client's reply to its
own request leaves no sooner than the floor after the request arrived, and
no thread waits for it meanwhile: the reply stays queued, the connection is
parked, and the waiter writes it when the floor has passed. So a burst of
legacy requests, many more than there are workers, is answered all at once
after one floor, and protocol-2 chat goes on while those replies wait."""
import time

from harness import TIMEOUT, ServerTest, main

FLOOR_MS = 1000   # the largest floor: long enough to see what waits for it
LEGACY = 64       # legacy clients asking at once: 32 times the workers
WORKERS = 2


def request(c):
    # a request any legacy client may send: answered with 1001 (log in first)
    c.send("user_info_request")


class ReplyFloor(ServerTest):
    server_args = ["--legacy-reply-delay", str(FLOOR_MS), "--workers", str(WORKERS),
                   "--max-per-address", "1000"]

    def test_legacy_reply_leaves_no_sooner_than_the_floor(self):
        c = self.connect()
        t0 = time.monotonic()
        request(c)
        c.expect_error(1001, timeout=TIMEOUT + FLOOR_MS / 1000.0)
        self.assertGreaterEqual(time.monotonic() - t0, FLOOR_MS / 1000.0)

    def test_protocol2_client_is_answered_without_the_floor(self):
        c = self.login_user(protocol2=True)
        c.send("user_info_request")
        r = c.recv_type(("user_info_response", "error_message"))
        self.assertEqual(r["message_type"], "user_info_response")

    def test_burst_of_legacy_requests_is_all_answered_while_chat_goes_on(self):
        a = self.login_user(protocol2=True)
        b = self.login_user(protocol2=True)
        a.drain()
        b.drain()
        legacy = [self.connect() for _ in range(LEGACY)]
        t0 = time.monotonic()
        for c in legacy:
            request(c)
        # chat between protocol-2 clients while every legacy reply waits
        # for its floor: with a worker asleep per floor it would wait behind
        # them (LEGACY / WORKERS floors)
        a.chat("while the floors run")
        b.recv_chat("while the floors run")
        # every one is answered, with the right error, and none before
        # its floor
        for c in legacy:
            c.expect_error(1001, timeout=TIMEOUT + FLOOR_MS / 1000.0)
            self.assertGreaterEqual(time.monotonic() - t0, FLOOR_MS / 1000.0)


if __name__ == "__main__":
    main()
