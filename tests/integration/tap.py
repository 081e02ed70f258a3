"""Run a unittest file and report every test in TAP, which the Automake TAP
driver (build-aux/tap-driver.sh, see tests/Makefile.am) turns into one result
per test: a skip inside a file counts as SKIP, a failure as FAIL, and the
totals of `make check` count test methods, not files.

    if __name__ == "__main__":
        tap.main()

TAP goes to the original standard output; while the tests run, file
descriptor 1 is pointed at standard error, so nothing a test or a process
it starts prints can be read as a TAP line (all of it ends in the log)."""
import os
import sys
import traceback
import unittest


class TapResult(unittest.TestResult):
    def __init__(self, out):
        super().__init__()
        self.out = out
        self.n = 0

    def _line(self, ok, test, directive=""):
        self.n += 1
        desc = test.id() if hasattr(test, "id") else str(test)
        desc = desc.replace("#", "_")  # '#' starts a TAP directive
        self.out.write("%s %d - %s%s\n" % ("ok" if ok else "not ok", self.n, desc, directive))
        self.out.flush()

    def _explain(self, test, err):
        # The traceback goes to the log (stderr), the first line also to
        # the TAP stream as a diagnostic, so the failure shows beside it.
        text = "".join(traceback.format_exception(*err))
        sys.stderr.write("\n=== FAIL: %s\n%s\n" % (test, text))
        sys.stderr.flush()
        last = text.strip().splitlines()[-1] if text.strip() else ""
        self.out.write("# %s\n" % last[:300])

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(True, test)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._line(False, test)
        self._explain(test, err)

    def addError(self, test, err):
        super().addError(test, err)
        self._line(False, test)
        self._explain(test, err)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(True, test, " # SKIP %s" % reason.replace("\n", " "))

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(True, test, " # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        # An expected failure that passed is a failure: the expectation
        # in the test is wrong.
        super().addUnexpectedSuccess(test)
        self._line(False, test)
        self.out.write("# passed, but was marked as an expected failure\n")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self._line(False, subtest)
            self._explain(subtest, err)


class TapRunner:
    def __init__(self, out):
        self.out = out

    def run(self, test):
        result = TapResult(self.out)
        test(result)
        self.out.write("1..%d\n" % result.n)
        self.out.flush()
        return result


def skip_all(reason):
    """Skip the whole file (TAP "1..0 # SKIP"), e.g. when there is nothing
    to test with; counted as one SKIP."""
    sys.stdout.write("1..0 # SKIP %s\n" % reason)
    sys.stdout.flush()
    sys.exit(0)


def main():
    sys.stdout.flush()
    tap_fd = os.dup(1)
    os.dup2(2, 1)
    out = os.fdopen(tap_fd, "w")
    sys.stdout = sys.stderr
    prog = unittest.main(testRunner=TapRunner(out), exit=False)
    result = prog.result
    # unittest.main exits 5 when nothing ran; here an empty file is a
    # failure too (TAP: a plan of 1..0 without a SKIP is an error).
    sys.exit(0 if result.wasSuccessful() and result.testsRun > 0 else 1)
