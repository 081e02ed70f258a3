"""The manual pages are clean under `mandoc -T lint` and `groff -ww -z -man`,
render at 80 columns without warnings, and each one names itself correctly
in its .TH line."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import TOP_SRCDIR, have, run  # noqa: E402
import tap  # noqa: E402

PAGES = ["chatroom.1", "chatroomd.8", "chatroomd.conf.5", "chatroom-protocol.7"]


def pages():
    return [os.path.join(TOP_SRCDIR, "man", p) for p in PAGES]


class ManLint(unittest.TestCase):
    def test_every_page_exists(self):
        for p in pages():
            self.assertTrue(os.path.exists(p), p)

    @unittest.skipUnless(have("mandoc"), "mandoc is not installed")
    def test_mandoc_lint_is_silent(self):
        for page in pages():
            with self.subTest(page=os.path.basename(page)):
                p = run(["mandoc", "-T", "lint", page], check=False)
                self.assertEqual(p.stdout, "", p.stdout)
                self.assertEqual(p.returncode, 0)

    @unittest.skipUnless(have("groff"), "groff is not installed")
    def test_groff_warns_nothing(self):
        for page in pages():
            with self.subTest(page=os.path.basename(page)):
                p = run(["groff", "-ww", "-z", "-man", page], check=False)
                self.assertEqual(p.stdout, "", p.stdout)
                self.assertEqual(p.returncode, 0)

    @unittest.skipUnless(have("groff"), "groff is not installed")
    def test_pages_render_at_80_columns_without_warnings(self):
        """As man(1) shows them on a terminal: a long word (the default of
        Extensions) must still break ("can't break line")."""
        import subprocess
        for page in pages():
            with self.subTest(page=os.path.basename(page)):
                p = subprocess.run(["groff", "-ww", "-man", "-Tutf8", "-rLL=80n", page],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                self.assertEqual(p.stderr, "", p.stderr)
                self.assertEqual(p.returncode, 0)

    def test_title_line_matches_file_name(self):
        for page in pages():
            name, section = os.path.basename(page).rsplit(".", 1)
            with open(page, encoding="utf-8") as f:
                th = [l for l in f if l.startswith(".TH ")]
            with self.subTest(page=os.path.basename(page)):
                self.assertEqual(len(th), 1)
                m = re.match(r'\.TH\s+"?([^\s"]+)"?\s+"?(\S+?)"?\s', th[0])
                self.assertIsNotNone(m, th[0])
                self.assertEqual(m.group(1), name.upper())
                self.assertEqual(m.group(2), section)


if __name__ == "__main__":
    if not (have("mandoc") or have("groff")):
        tap.skip_all("neither mandoc nor groff is installed")
    tap.main()
