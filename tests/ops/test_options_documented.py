"""Every option of chatroomd is documented where an operator looks for it,
with the daemon's own names, defaults and reload behaviour: `chatroomd
--help` is checked against chatroomd(8), and against chatroomd.conf(5) and
the sample configuration (whose values must be the defaults); the names
`chatroomd --configtest` prints must be the same. The ranges documented in
chatroomd.conf(5) are tried on the daemon."""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import DIRS, TOP_BUILDDIR, TOP_SRCDIR  # noqa: E402
import tap  # noqa: E402

CHATROOMD = os.environ.get("CHATROOMD", os.path.join(TOP_BUILDDIR, "server", "chatroomd"))
MAN = os.path.join(TOP_SRCDIR, "man")
SAMPLE = os.path.join(TOP_BUILDDIR, "contrib", "chatroomd.conf.sample.subst")
# The manual pages show the paths of a build with --localstatedir=/var.
MAN_STATEDIR = "/var/lib/chatroomd"

# Options that constrain each other: each is tried with a partner value
# that lets its own range show.
PARTNER = {("Timeouts", "HeartbeatInterval"): "HeartbeatTimeout = 86400",
           ("Timeouts", "HeartbeatTimeout"): "HeartbeatInterval = 1"}


def daemon(*args):
    p = subprocess.run([CHATROOMD] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, stdin=subprocess.DEVNULL, timeout=30)
    return p


def parse_help():
    """(general, table): general is a list of (short, long); table a list of
    dicts: short, long, section, name, default, reload."""
    out = daemon("--help")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    split = next(i for i, l in enumerate(lines) if l.startswith("Options also settable"))
    general = []
    for l in lines[:split]:
        m = re.match(r"^\s+(?:-(\w), )?--([\w-]+)", l)
        if m:
            general.append((m.group(1), m.group(2)))
    table = []
    body = lines[split + 1:]
    for first, second in zip(body, body[1:]):
        m1 = re.match(r"^\s+(?:-(\w), )?\s*--([\w-]+)", first)
        m2 = re.match(r"^\s+\[(\w+)\] (\w+), default: (.*?)(; SIGHUP reloads)?$", second)
        if m1 and m2:
            table.append({"short": m1.group(1), "long": m1.group(2), "section": m2.group(1),
                          "name": m2.group(2), "default": m2.group(3),
                          "reload": bool(m2.group(4))})
    return general, table


def man_flat(text):
    """Man source to plain words: escapes and macro names removed."""
    text = re.sub(r"\\f[BIRP]", "", text)
    for esc, rep in (("\\-", "-"), ("\\&", ""), ("\\(dq", '"'), ("\\~", " "), ("\\e", "\\"),
                     ("\\|", ""), ("\\:", "")):
        text = text.replace(esc, rep)
    words = []
    for line in text.splitlines():
        if line.startswith(".\\\""):
            continue
        if line.startswith("."):
            line = re.sub(r"^\.\w+\s*", "", line).replace('"', "")
        words.append(line)
    return re.sub(r"\s+", " ", " ".join(words)).strip()


def man_entries(path):
    """The .TP entries of a page: list of (section heading, tag, body)."""
    with open(path, encoding="utf-8") as f:
        src = f.read()
    entries = []
    for sh in re.split(r"(?m)^\.SH ", src)[1:]:
        heading, _, rest = sh.partition("\n")
        heading = heading.strip('"')
        for tp in re.split(r"(?m)^\.TP\n", rest)[1:]:
            tag, _, body = tp.partition("\n")
            entries.append((heading, man_flat(tag), man_flat(re.split(r"(?m)^\.(?:SS|PP)", body)[0])))
    return entries


def man_default(value):
    if value == "(none)":
        return "none"
    return value.replace(DIRS["statedir"], MAN_STATEDIR) if DIRS["statedir"] else value


class OptionsDocumented(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.general, cls.table = parse_help()
        with open(os.path.join(MAN, "chatroomd.8"), encoding="utf-8") as f:
            cls.man8 = man_flat(f.read())
        cls.man8_entries = man_entries(os.path.join(MAN, "chatroomd.8"))
        cls.conf5 = {}
        for heading, tag, body in man_entries(os.path.join(MAN, "chatroomd.conf.5")):
            m = re.match(r"\[(\w+)\] SECTION$", heading)
            if m:
                cls.conf5[(m.group(1), tag)] = body

    def test_help_lists_options(self):
        self.assertGreater(len(self.table), 20)
        self.assertIn(("f", "config"), self.general)

    def test_configtest_prints_the_options_of_help(self):
        p = daemon("-f", "/dev/null", "--configtest")
        self.assertEqual(p.returncode, 0, p.stderr)
        names, section = [], None
        for line in p.stdout.splitlines():
            m = re.match(r"^\[(\w+)\]$", line)
            if m:
                section = m.group(1)
            m = re.match(r"^(\w+) = ", line)
            if m:
                names.append((section, m.group(1)))
        self.assertEqual(names, [(o["section"], o["name"]) for o in self.table])

    # chatroomd(8)

    def test_every_option_is_in_chatroomd_8(self):
        for short, long_ in self.general + [(o["short"], o["long"]) for o in self.table]:
            with self.subTest(option=long_):
                self.assertTrue(re.search(r"(?<![\w-])--%s(?![\w-])" % re.escape(long_), self.man8),
                                "--%s is not in chatroomd.8" % long_)
                if short:
                    self.assertTrue(re.search(r"(?<![\w-])-%s(?![\w-])" % short, self.man8),
                                    "-%s is not in chatroomd.8" % short)

    def test_chatroomd_8_names_no_other_option(self):
        known = {l for _, l in self.general} | {o["long"] for o in self.table}
        # configure options (--sysconfdir=/etc) are followed by "=".
        for opt in set(re.findall(r"(?<![\w-])--([a-z][\w-]*)(?![\w=-])", self.man8)):
            with self.subTest(option=opt):
                self.assertIn(opt, known)

    def test_chatroomd_8_gives_each_option_its_setting_and_default(self):
        for o in self.table:
            entry = [body for _, tag, body in self.man8_entries
                     if re.search(r"(?<![\w-])--%s(?![\w-])" % re.escape(o["long"]), tag)]
            with self.subTest(option=o["long"]):
                self.assertEqual(len(entry), 1, "no single entry for --" + o["long"])
                self.assertIn("[%s] %s" % (o["section"], o["name"]), entry[0])
                self.assertIn(man_default(o["default"]), entry[0])

    # chatroomd.conf(5)

    def test_chatroomd_conf_5_documents_exactly_the_options(self):
        self.assertEqual(sorted(self.conf5), sorted((o["section"], o["name"]) for o in self.table))

    def test_chatroomd_conf_5_gives_default_and_reload(self):
        for o in self.table:
            body = self.conf5.get((o["section"], o["name"]), "")
            with self.subTest(option=o["name"]):
                self.assertIn("default: %s;" % man_default(o["default"]), body)
                self.assertIn("reload: %s." % ("yes" if o["reload"] else "no"), body)

    def test_chatroomd_conf_5_ranges_are_the_daemons(self):
        tried = 0
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            def accepts(o, value):
                f.seek(0)
                f.truncate()
                f.write("[%s]\n%s = %s\n%s\n" % (o["section"], o["name"], value,
                                                  PARTNER.get((o["section"], o["name"]), "")))
                f.flush()
                return daemon("-f", f.name, "--configtest").returncode == 0
            for o in self.table:
                body = self.conf5.get((o["section"], o["name"]), "")
                m = re.match(r"Integer, (\d+) to (\d+);", body)
                if not m:
                    continue
                lo, hi = int(m.group(1)), int(m.group(2))
                with self.subTest(option=o["name"], range=(lo, hi)):
                    self.assertTrue(accepts(o, lo))
                    self.assertTrue(accepts(o, hi))
                    self.assertFalse(accepts(o, lo - 1))
                    self.assertFalse(accepts(o, hi + 1))
                tried += 1
        self.assertGreater(tried, 15)

    # The sample configuration

    def sample(self):
        """{(section, name): (value, comment above)} of the built sample."""
        opts, section, comment = {}, None, []
        with open(SAMPLE, encoding="utf-8") as f:
            for line in f:
                line = line.rstrip("\n")
                m = re.match(r"^\[(\w+)\]$", line)
                if m:
                    section, comment = m.group(1), []
                    continue
                m = re.match(r"^#(\w+) =(?: (.*))?$", line)
                if m and section:
                    opts[(section, m.group(1))] = (m.group(2) or "", " ".join(comment))
                    comment = []
                elif line.startswith("#"):
                    comment.append(line)
                else:
                    comment = []
        return opts

    def test_sample_lists_exactly_the_options_with_their_defaults(self):
        sample = self.sample()
        self.assertEqual(sorted(sample), sorted((o["section"], o["name"]) for o in self.table))
        for o in self.table:
            with self.subTest(option=o["name"]):
                value, comment = sample[(o["section"], o["name"])]
                self.assertEqual(value, "" if o["default"] == "(none)" else o["default"])
                self.assertEqual("(reload)" in comment, o["reload"], comment)

    def test_sample_with_everything_uncommented_is_the_default_configuration(self):
        with open(SAMPLE, encoding="utf-8") as f:
            text = re.sub(r"(?m)^#(\w+ =)", r"\1", f.read())
        with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
            f.write(text)
            f.flush()
            mine = daemon("-f", f.name, "--configtest")
        defaults = daemon("-f", "/dev/null", "--configtest")
        self.assertEqual(mine.returncode, 0, mine.stderr)
        strip = lambda s: [l for l in s.splitlines() if not l.startswith("# chatroomd ")]
        self.assertEqual(strip(mine.stdout), strip(defaults.stdout))


if __name__ == "__main__":
    if not os.path.exists(SAMPLE):
        tap.skip_all("%s is not built" % SAMPLE)
    tap.main()
