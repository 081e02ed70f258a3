#!/usr/bin/env python3
"""chatroom in script mode (standard input not a terminal): commands and chat
lines through pipes, the documented output format and exit statuses."""
import os
import re
import subprocess
import tempfile
import unittest

from harness import CHATROOM, PASSWORD, user
from clientlib import CHAT_RE, ClientTest, chat_lines, client_env, run_client
import tap


class ScriptMode(ClientTest):
    def test_two_clients_converse(self):
        self.register("alice", "bob")
        a = self.client("alice")
        b = self.client("bob")
        a.wait_for(r"^\*\*\* logged in as alice")
        b.wait_for(r"^\*\*\* logged in as bob")
        a.send("hello bob")
        m = b.wait_for(r"<alice> hello bob$")
        self.assertRegex(m.string, CHAT_RE)
        self.assertEqual(CHAT_RE.match(m.string).group(1), "public")
        b.send("hi alice, how are you?")
        a.wait_for(r"^\[\d\d:\d\d:\d\d\] #public <bob> hi alice, how are you\?$")
        a.send("fine")
        b.wait_for(r"#public <alice> fine$")
        self.assertEqual(a.finish(), 0, a.lines)
        self.assertEqual(b.finish(), 0, b.lines)
        # each side sees the conversation once, in order, its own lines too
        expect = [("public", "alice", "hello bob"), ("public", "bob", "hi alice, how are you?"),
                  ("public", "alice", "fine")]
        self.assertEqual(chat_lines(a.lines), expect)
        self.assertEqual(chat_lines(b.lines)[:3], expect)

    def test_one_message_one_line(self):
        """A newline inside a message is shown as \\n, a tab as a space:
        a script reading the output sees one line per message."""
        self.register("alice", "bob")
        a = self.client("alice")
        a.wait_for(r"^\*\*\* logged in as alice")
        bob = user(self.srv, "bob", protocol2=True)
        self.addCleanup(bob.close)
        bob.chat("two\nlines\tand a tab", 1, client_msg_id="nl-1")
        m = a.wait_for(r"<bob> ")
        self.assertEqual(m.string.split("> ", 1)[1], "two\\nlines and a tab")
        self.assertEqual(a.finish(), 0, a.lines)

    def test_signin_login_and_chat_commands(self):
        rc, out, err = run_client(self.srv.port, [
            "/signin carol " + PASSWORD,
            "/login carol " + PASSWORD,
            "/create_chat room1",
            "/enter_chat room1",
            "in room one",
            "/list -s",
            "/list -c",
            "/list -g",
            "/info",
            "/history 5",
        ])
        text = "\n".join(out)
        self.assertEqual(rc, 0, text + err)
        self.assertIn("*** registered carol", text)
        self.assertIn("*** logged in as carol", text)
        self.assertRegex(text, r"\*\*\* created chat room1 \(id \d+\)")
        self.assertIn("*** entered chat room1", text)
        self.assertRegex(text, r"\*\*\*   carol \(id \d+, online\)")
        self.assertRegex(text, r"\*\*\*   room1 \(id \d+, 1 member\)")
        self.assertRegex(text, r"\*\*\*   public \(id \d+")
        self.assertRegex(text, r"\*\*\* user carol \(id \d+\)")
        self.assertIn("*** current chat: room1", text)
        # the echo of the line, then the same message again from /history
        self.assertEqual(chat_lines(out), [("room1", "carol", "in room one")] * 2)

    def test_join_chat_then_talk_there(self):
        self.register("dave", "erin")
        rc, out, err = run_client(self.srv.port, ["/create_chat club"], user="dave")
        self.assertEqual(rc, 0, out)
        e = self.client("erin")
        e.send("/join_chat club", "/enter_chat club")
        e.wait_for(r"^\*\*\* entered chat club")
        rc, out, err = run_client(self.srv.port, ["/enter_chat club", "welcome to the club"], user="dave")
        self.assertEqual(rc, 0, out)
        e.wait_for(r"#club <dave> welcome to the club$")
        self.assertEqual(e.finish(), 0, e.lines)

    def test_wrong_commands_give_a_usage_line_and_status_1(self):
        self.register("frank")
        rc, out, err = run_client(self.srv.port, [
            "/list",
            "/list -x",
            "/login",
            "/history many",
            "/enter_chat",
            "/create_chat",
            "/nosuchcommand arg",
            "still here",
        ], user="frank")
        self.assertEqual(rc, 1, out)
        self.assertEqual(err, "")
        self.assertIn("!!! usage: /list -u|-s|-c|-g", out)
        self.assertIn("!!! usage: /login NAME [PASSWORD]", out)
        self.assertIn("!!! usage: /enter_chat NAME", out)
        self.assertIn("!!! usage: /create_chat NAME [USER...]", out)
        self.assertTrue(any(l.startswith("!!! usage: /history [N]") for l in out), out)
        self.assertTrue(any(re.match(r"!!! unknown command /nosuchcommand", l) for l in out), out)
        usage = [l for l in out if l.startswith("!!! usage: /list")]
        self.assertEqual(len(usage), 2, out)
        # the client carried on after every error
        self.assertEqual(chat_lines(out), [("public", "frank", "still here")])

    def test_bad_password_is_an_error_and_exit_status_1(self):
        self.register("grace")
        rc, out, err = run_client(self.srv.port, ["never sent"], user="grace", password="wrong999")
        self.assertEqual(rc, 1, out)
        self.assertTrue(any(l.startswith("!!! login failed") for l in out), out)
        self.assertEqual(chat_lines(out), [])

    def test_failed_login_command_makes_the_status_1(self):
        self.register("heidi")
        rc, out, err = run_client(self.srv.port, ["/login heidi wrong999", "/login heidi " + PASSWORD,
                                                  "ok now"], password=None)
        self.assertEqual(rc, 1, out)
        self.assertTrue(any(l.startswith("!!! login failed") for l in out), out)
        self.assertEqual(chat_lines(out), [("public", "heidi", "ok now")])

    def test_server_errors_are_shown_with_their_code(self):
        self.register("ivan")
        rc, out, err = run_client(self.srv.port, ["/enter_chat nowhere"], user="ivan")
        self.assertEqual(rc, 1, out)
        self.assertTrue(any(re.match(r"!!! (ERROR 100\d: |could not enter chat)", l) for l in out), out)

    def test_lang_asks_the_server_for_its_texts_in_that_language(self):
        self.register("ivy")
        for args, env, text in (([], None, "chat not found: nowhere"),
                                (["--lang", "zh"], None, "聊天组 'nowhere' 不存在"),
                                ([], {"CHATROOM_LANG": "zh"}, "聊天组 'nowhere' 不存在")):
            rc, out, err = run_client(self.srv.port, ["/enter_chat nowhere"], args=args, env=env,
                                      user="ivy")
            self.assertEqual(rc, 1, out)
            self.assertTrue(any(l.startswith("!!! ") and text in l for l in out), (args, env, out))
        rc, out, err = run_client(self.srv.port, [], args=["--lang", "fr"], user="ivy")
        self.assertEqual(rc, 2, err)

    def test_chat_without_login_fails(self):
        rc, out, err = run_client(self.srv.port, ["hello?"], password=None)
        self.assertEqual(rc, 1, out)
        self.assertIn("!!! not logged in: use /login NAME first", out)

    def test_password_file(self):
        self.register("judy")
        with tempfile.NamedTemporaryFile("w", suffix=".pw", delete=False) as f:
            f.write(PASSWORD + "\n")
        self.addCleanup(os.unlink, f.name)
        rc, out, err = run_client(self.srv.port, ["from a file"], user="judy", password=None,
                                  args=["--password-file", f.name])
        self.assertEqual(rc, 0, out)
        self.assertEqual(chat_lines(out), [("public", "judy", "from a file")])

    def test_host_and_port_from_the_environment(self):
        self.register("ken")
        p = subprocess.run([CHATROOM, "--user", "ken"], input=b"via env\n", capture_output=True,
                           env=client_env(extra={"CHATROOM_HOST": "127.0.0.1",
                                                 "CHATROOM_PORT": str(self.srv.port)}), timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn(b"<ken> via env", p.stdout)

    def test_configuration_file(self):
        self.register("leo")
        d = tempfile.mkdtemp()
        conf = os.path.join(d, "conf")
        with open(conf, "w") as f:
            f.write("# test\nhost = 127.0.0.1\nport = %d\nuser = leo\n" % self.srv.port)
        p = subprocess.run([CHATROOM, "--config", conf], input=b"via config\n", capture_output=True,
                           env=client_env(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn(b"<leo> via config", p.stdout)
        with open(conf, "w") as f:
            f.write("colour = purple\n")
        p = subprocess.run([CHATROOM, "--config", conf], input=b"", capture_output=True,
                           env=client_env(), timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"bad value for colour", p.stderr)
        os.unlink(conf)
        os.rmdir(d)

    def test_no_colour_in_script_mode(self):
        # --color=auto (the default) colours only a terminal
        self.register("mia")
        rc, out, err = run_client(self.srv.port, ["plain"], user="mia", env={"NO_COLOR": ""})
        self.assertEqual(rc, 0, out)
        self.assertEqual(chat_lines(out), [("public", "mia", "plain")])
        self.assertFalse(any("\033" in l for l in out), out)

    def test_color_always_never_and_no_color(self):
        self.register("mia")
        rc, out, err = run_client(self.srv.port, ["plain"], ["--color=always"], user="mia",
                                  env={"NO_COLOR": ""})
        self.assertEqual(rc, 0, out)
        self.assertIn("\033[1;32m<mia>\033[0m plain", "\n".join(out))
        for args, env in ((["--color=never"], {"NO_COLOR": ""}), (["--no-color"], {"NO_COLOR": ""}),
                          (["--color=always"], {"NO_COLOR": "1"})):
            with self.subTest(args=args, env=env):
                rc, out, err = run_client(self.srv.port, ["plain"], args, user="mia", env=env)
                self.assertEqual(rc, 0, out)
                self.assertEqual(chat_lines(out)[-1:], [("public", "mia", "plain")])
                self.assertFalse(any("\033" in l for l in out), out)

    def test_double_slash_sends_a_line_starting_with_a_slash(self):
        self.register("mia")
        rc, out, err = run_client(self.srv.port, ["//etc", "/// three"], user="mia")
        self.assertEqual(rc, 0, out)
        self.assertEqual(chat_lines(out), [("public", "mia", "/etc"), ("public", "mia", "// three")])

    def test_exit_and_quit_end_the_script_there(self):
        self.register("mia")
        for cmd in ("/exit", "/quit"):
            with self.subTest(cmd=cmd):
                rc, out, err = run_client(self.srv.port, ["before " + cmd, cmd, "after " + cmd],
                                          user="mia")
                self.assertEqual(rc, 0, out)
                self.assertEqual([c for g, s, c in chat_lines(out)], ["before " + cmd])
        # nothing after /exit or /quit was sent
        self.assertEqual([c for g, s, c in stored_lines(self.srv)], ["before /exit", "before /quit"])

    def test_list_users_logout_and_login_again(self):
        self.register("mia", "bob")
        rc, out, err = run_client(self.srv.port, ["/list -u", "/logout", "/login mia", "back"],
                                  user="mia")
        self.assertEqual(rc, 0, out)
        self.assertEqual(out, ["*** logged in as mia; current chat public",
                               "*** 3 users:",
                               "***   Admin (id 0, offline)",
                               "***   mia (id 1, online)",
                               "***   bob (id 2, offline)",
                               "*** Logged out",
                               "*** logged in as mia; current chat public"] + out[7:])
        self.assertEqual(chat_lines(out), [("public", "mia", "back")])

    def test_register_and_question_mark_are_aliases(self):
        rc, out, err = run_client(self.srv.port, ["/register newbie secret123", "/?"], user=None)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out[0], "*** registered newbie; now /login newbie")
        self.assertEqual(out[1], "*** commands:")
        self.assertIn("***   /logout                      log out", out)
        c = self.srv.connect()
        self.addCleanup(c.close)
        self.assertIs(c.login("newbie", "secret123")["success"], True)

    def test_presence_lines_and_no_presence(self):
        self.register("mia", "bob", "zed")
        shown = self.client("bob")
        hidden = self.client("zed", args=["--no-presence"])
        shown.wait_for(r"^\*\*\* logged in as bob")
        hidden.wait_for(r"^\*\*\* logged in as zed")
        rc, out, err = run_client(self.srv.port, ["hi", "/logout"], user="mia")
        self.assertEqual(rc, 0, out)
        shown.send("done")
        hidden.wait_for(r"<bob> done$")
        shown.wait_for(r"<bob> done$")
        self.assertEqual([l for l in shown.lines if l.startswith("*** mia is")], ["*** mia is online", "*** mia is offline"])
        self.assertEqual([c for g, s, c in chat_lines(hidden.lines)], ["hi", "done"])
        self.assertEqual([l for l in hidden.lines if " is online" in l or " is offline" in l], [])

    def test_cannot_connect_is_status_3(self):
        port = self.srv.port
        self.srv.stop()
        rc, out, err = run_client(port, ["hello"], user="nobody")
        self.assertEqual(rc, 3, out)
        self.assertTrue(any(l.startswith("!!! cannot connect to 127.0.0.1 port %d" % port) for l in out), out)


def stored_lines(srv):
    """(group, sender, content) of the messages stored in public, asked
    over a protocol-2 connection."""
    c = user(srv, "reader%d" % srv.port, protocol2=True)
    try:
        c.send("history_request", chat_group_id=c.group["id"], after_message_id=0, limit=500)
        hist, _ = c.read_history()
        return [(h["chat_group_name"], h["sender_username"], h["content"]) for h in hist]
    finally:
        c.close()


class Options(unittest.TestCase):
    def test_help_and_version(self):
        p = subprocess.run([CHATROOM, "--help"], capture_output=True, env=client_env())
        self.assertEqual(p.returncode, 0)
        self.assertIn(b"Usage: chatroom", p.stdout)
        self.assertIn(b"--reconnect-max", p.stdout)
        p = subprocess.run([CHATROOM, "--version"], capture_output=True, env=client_env())
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout.decode(), r"^chatroom \d+\.\d+")

    def test_bad_option_is_status_2(self):
        p = subprocess.run([CHATROOM, "--no-such-option"], capture_output=True, env=client_env())
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([CHATROOM, "--port", "99999"], capture_output=True, env=client_env())
        self.assertEqual(p.returncode, 2)
        self.assertIn(b"bad port", p.stderr)


if __name__ == "__main__":
    tap.main()
