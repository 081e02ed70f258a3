"""`make install DESTDIR=...` puts every file where an operator expects it,
with the configured paths substituted; it never overwrites an existing
configuration; `make uninstall` removes what it installed."""
import filecmp
import os
import shutil
import stat
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import DIRS, TOP_BUILDDIR, make, need_dirs  # noqa: E402
import tap  # noqa: E402

# Installed from these directories only: installing from the top would
# recurse into tests/, which is running this very test.
SUBDIRS = ["server", "client", "man", "contrib"]


def install(dest, target="install"):
    for d in SUBDIRS:
        make([target, "DESTDIR=" + dest], cwd=os.path.join(TOP_BUILDDIR, d))


def files_under(root):
    out = []
    for dirpath, _, names in os.walk(root):
        out += [os.path.relpath(os.path.join(dirpath, n), root) for n in names]
    return sorted(out)


class InstallTree(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="chatroom-destdir-")
        self.addCleanup(shutil.rmtree, self.dest, True)
        install(self.dest)

    def path(self, dirname, *rest):
        return self.dest + os.path.join(DIRS[dirname], *rest)

    def assertExecutable(self, path):
        self.assertTrue(os.path.isfile(path), path + " is not installed")
        self.assertTrue(os.stat(path).st_mode & stat.S_IXUSR, path + " is not executable")

    def read(self, path):
        with open(path, encoding="utf-8") as f:
            return f.read()

    def test_programs_are_in_sbindir_and_bindir(self):
        self.assertExecutable(self.path("sbindir", "chatroomd"))
        self.assertExecutable(self.path("bindir", "chatroom"))

    def test_manual_pages_are_in_their_sections(self):
        for page in ("man1/chatroom.1", "man8/chatroomd.8", "man5/chatroomd.conf.5",
                     "man7/chatroom-protocol.7"):
            self.assertTrue(os.path.isfile(self.path("mandir", page)), page)

    def test_configuration_is_the_sample(self):
        conf = self.path("sysconfdir", "chatroomd.conf")
        sample = self.path("docdir", "chatroomd.conf.sample")
        self.assertTrue(os.path.isfile(conf))
        self.assertTrue(os.path.isfile(sample))
        self.assertTrue(filecmp.cmp(conf, sample, shallow=False))
        text = self.read(sample)
        self.assertNotIn("@statedir@", text)
        self.assertIn(DIRS["statedir"], text)

    def test_init_script_runs_the_installed_daemon(self):
        script = self.path("sysconfdir", "init.d", "chatroomd")
        self.assertExecutable(script)
        text = self.read(script)
        self.assertIn("### BEGIN INIT INFO", text)
        self.assertIn("DAEMON=%s/chatroomd\n" % DIRS["sbindir"], text)
        self.assertIn("%s/chatroomd.conf" % DIRS["sysconfdir"], text)
        self.assertNotRegex(text, r"@[a-zA-Z_]+@")

    def test_systemd_unit_runs_the_installed_daemon(self):
        unit = self.dest + DIRS["prefix"] + "/lib/systemd/system/chatroomd.service"
        self.assertTrue(os.path.isfile(unit), unit)
        text = self.read(unit)
        self.assertIn("ExecStart=%s/chatroomd --foreground -f %s/chatroomd.conf"
                      % (DIRS["sbindir"], DIRS["sysconfdir"]), text)
        self.assertIn("ReadWritePaths=%s\n" % DIRS["statedir"], text)
        self.assertNotRegex(text, r"@[a-zA-Z_]+@")

    def test_state_directory_exists_closed_to_others(self):
        statedir = self.dest + DIRS["statedir"]
        self.assertTrue(os.path.isdir(statedir))
        self.assertEqual(stat.S_IMODE(os.stat(statedir).st_mode) & 0o007, 0)

    def test_existing_configuration_is_not_overwritten(self):
        conf = self.path("sysconfdir", "chatroomd.conf")
        with open(conf, "a") as f:
            f.write("\n[Server]\nPort = 9999\n")
        edited = self.read(conf)
        install(self.dest)
        self.assertEqual(self.read(conf), edited)
        self.assertFalse(filecmp.cmp(conf, self.path("docdir", "chatroomd.conf.sample"),
                                     shallow=False))

    def test_uninstall_removes_everything_it_installed(self):
        install(self.dest, "uninstall")
        self.assertEqual(files_under(self.dest), [])

    def test_uninstall_keeps_an_edited_configuration(self):
        conf = self.path("sysconfdir", "chatroomd.conf")
        with open(conf, "a") as f:
            f.write("\n[Server]\nPort = 9999\n")
        install(self.dest, "uninstall")
        self.assertEqual(files_under(self.dest), [os.path.relpath(conf, self.dest)])


if __name__ == "__main__":
    need_dirs()
    tap.main()
