"""Shared helpers of the operating-files tests (tests/ops/): the installation
directories chosen at configure time, and running make and commands.

`make check` sets the environment (tests/ops.am): CR_TOP_SRCDIR,
CR_TOP_BUILDDIR, CR_MAKE and the directories CR_PREFIX, CR_SBINDIR, ... as
make expands them, so they are absolute paths."""
import os
import shutil
import subprocess
import sys

# tap.py (the TAP runner of every test file) lives in tests/integration.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import tap  # noqa: E402
from harness import free_port  # noqa: E402,F401

TOP_SRCDIR = os.environ.get("CR_TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "../.."))
TOP_BUILDDIR = os.environ.get("CR_TOP_BUILDDIR", TOP_SRCDIR)
MAKE = os.environ.get("CR_MAKE", "make")

# What `make install` uses; each test prefixes them with its DESTDIR.
DIRS = {name: os.environ.get("CR_" + name.upper(), "")
        for name in ("prefix", "bindir", "sbindir", "sysconfdir", "localstatedir", "statedir",
                     "docdir", "mandir")}


def need_dirs():
    missing = [n for n, v in DIRS.items() if not v]
    if missing:
        tap.skip_all("run me through `make check` (missing CR_* variables: %s)" % ", ".join(missing))


def run(cmd, check=True, **kw):
    """Runs cmd (a list), returns the CompletedProcess with text output."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError("%s exited with %d:\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p


def make_env():
    """The environment for a separate make: the tests run inside `make
    check`, whose MAKEFLAGS (jobserver, -s...) must not leak into it."""
    env = dict(os.environ)
    for v in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        env.pop(v, None)
    return env


def make(args, cwd, check=True):
    return run([MAKE] + args, cwd=cwd, check=check, env=make_env())




def have(prog):
    return shutil.which(prog) is not None
