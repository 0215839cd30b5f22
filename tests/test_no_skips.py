"""tests/support/no_skips.py: under CI a skip or an xfail fails the run; elsewhere it stays a skip."""

import pytest

SUITE = """
import pytest

def test_skipped():
    pytest.skip("no widget here")

@pytest.mark.skip(reason="marked")
def test_marked():
    pass

@pytest.mark.xfail(reason="known broken")
def test_xfailed():
    assert False

def test_passes():
    pass
"""


@pytest.mark.parametrize("ci", ["1", ""])
def test_a_skip_fails_in_ci_only(pytester, monkeypatch, ci):
    monkeypatch.setenv("CI", ci)
    pytester.makepyfile(SUITE)
    result = pytester.runpytest_inprocess("-p", "tests.support.no_skips", "-p", "no:cacheprovider")
    if ci:
        # a skip mark ends the setup phase, so pytest counts that one as an error: still not a pass
        result.assert_outcomes(passed=1, failed=2, errors=1)
        result.stdout.fnmatch_lines(["*skipped in CI, where nothing may be skipped: no widget here*"])
    else:
        result.assert_outcomes(passed=1, skipped=2, xfailed=1)
