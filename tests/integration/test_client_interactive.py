#!/usr/bin/env python3
"""chatroom on a terminal (driven in tmux): readline editing, messages that
arrive while a line is being typed, the password prompt, colour."""
import shlex
import time
import unittest

from harness import CHATROOM, PASSWORD, SLOW, user
from clientlib import HOME, Tmux, need_tmux, start_server
import tap


@need_tmux
class Interactive(unittest.TestCase):
    def setUp(self):
        self.srv = start_server(self)

    def terminal(self, args, env=None):
        cmd = " ".join(shlex.quote(a) for a in
                       [CHATROOM, "--host", "127.0.0.1", "--port", str(self.srv.port)] + args)
        e = {"HOME": HOME, "TERM": "xterm-256color", "NO_COLOR": "1"}
        e.update(env or {})
        t = Tmux(cmd, env=e)
        self.addCleanup(t.kill)
        return t

    def last_line(self, screen):
        return [l for l in screen.splitlines() if l.strip()][-1]

    def test_incoming_message_does_not_garble_the_typed_line(self):
        t = self.terminal(["--user", "alice"], env={"CHATROOM_PASSWORD": PASSWORD})
        t.wait_screen(r"^alice@public>\s*$")
        t.type("half a sente")
        t.wait_screen(r"^alice@public> half a sente$")
        bob = user(self.srv, "bob", protocol2=True)
        self.addCleanup(bob.close)
        bob.chat("interrupting you", 1, client_msg_id="b1")
        s = t.wait_screen(r"<bob> interrupting you$")
        lines = [l for l in s.splitlines() if l.strip()]
        # the message sits on its own line above the input line, which is
        # redrawn whole with the cursor where it was
        self.assertRegex(lines[-2], r"^\[\d\d:\d\d:\d\d\] #public <bob> interrupting you$")
        self.assertEqual(lines[-1], "alice@public> half a sente")
        t.type("nce")
        t.keys("Enter")
        m = bob.recv_type("chat_message")  # bob's own, echoed
        self.assertEqual(m["content"], "interrupting you")
        m = bob.recv_type("chat_message")
        self.assertEqual((m["sender_username"], m["content"]), ("alice", "half a sentence"))
        s = t.wait_screen(r"<alice> half a sentence$")
        self.assertEqual(self.last_line(s), "alice@public>")

    def test_line_editing_and_history(self):
        t = self.terminal(["--user", "alice"], env={"CHATROOM_PASSWORD": PASSWORD})
        t.wait_screen(r"^alice@public>\s*$")
        t.type("first lin")
        t.keys("Left", "Left", "Left")
        t.type("X")
        t.keys("End")
        t.type("e")
        t.keys("Enter")
        t.wait_screen(r"<alice> first Xline$")
        t.keys("Up")
        t.wait_screen(r"^alice@public> first Xline$")
        t.keys("C-u")
        t.type("/list -x")
        t.keys("Enter")
        t.wait_screen(r"^!!! usage: /list -u\|-s\|-c\|-g")
        t.type("/exit")
        t.keys("Enter")
        deadline = time.time() + 5 * SLOW
        while t.alive() and time.time() < deadline:
            time.sleep(0.05)
        self.assertFalse(t.alive(), "the client did not exit on /exit")

    def test_ctrl_c_discards_the_typed_line(self):
        t = self.terminal(["--user", "alice"], env={"CHATROOM_PASSWORD": PASSWORD})
        t.wait_screen(r"^alice@public>\s*$")
        t.type("never to be sent")
        t.wait_screen(r"^alice@public> never to be sent$")
        t.keys("C-c")
        t.wait_screen(r"^alice@public> never to be sent\^C$")
        t.type("sent instead")
        t.keys("Enter")
        s = t.wait_screen(r"<alice> sent instead$")
        self.assertNotIn("<alice> never to be sent", s)
        self.assertTrue(t.alive())

    def test_offline_prompt_and_queued_line(self):
        t = self.terminal(["--user", "alice", "--reconnect-min", "0.2", "--reconnect-max", "1"],
                          env={"CHATROOM_PASSWORD": PASSWORD})
        t.wait_screen(r"^alice@public>\s*$")
        self.srv.stop()
        t.wait_screen(r"^\(offline\) alice@public>\s*$")
        t.type("written offline")
        t.keys("Enter")
        t.wait_screen(r"^\*\*\* not connected: message queued")
        self.srv.start()
        s = t.wait_screen(r"<alice> written offline$")
        self.assertEqual(self.last_line(s), "alice@public>")
        self.assertEqual(s.count("<alice> written offline"), 1)

    def test_password_prompt_does_not_echo(self):
        t = self.terminal(["--user", "alice"])
        t.wait_screen(r"Password:\s*$")
        t.type(PASSWORD)
        t.keys("Enter")
        s = t.wait_screen(r"^\*\*\* logged in as alice")
        self.assertNotIn(PASSWORD, s)
        t.type("/login bob")
        t.keys("Enter")
        # the first prompt is still on the screen: wait for the second,
        # shown once echo is off (typed before, the password would show)
        t.wait_screen(r"Password:\s*$", count=2)
        t.type(PASSWORD)
        t.keys("Enter")
        s = t.wait_screen(r"^\*\*\* logged in as bob")
        self.assertNotIn(PASSWORD, s)

    def test_colour_on_a_terminal_unless_no_color(self):
        t = self.terminal(["--user", "alice"], env={"CHATROOM_PASSWORD": PASSWORD, "NO_COLOR": ""})
        t.wait_screen(r"^alice@public>\s*$")
        self.assertIn("\033[", t.screen(escapes=True))
        t2 = self.terminal(["--user", "bob"], env={"CHATROOM_PASSWORD": PASSWORD, "NO_COLOR": "1"})
        t2.wait_screen(r"^bob@public>\s*$")
        self.assertNotIn("\033[", t2.screen(escapes=True))


if __name__ == "__main__":
    tap.main()
