"""How in-guest self-test programs are judged."""

from dunelab.selftest import judge


def test_pass_needs_pass_line_and_zero_status():
    assert judge("hello", 0, "hello from Dune mode\nPASS hello\n")
    assert not judge("hello", 0, "hello from Dune mode\n")          # no PASS line
    assert not judge("hello", 1, "PASS hello\n")                     # wrong status
    assert not judge("pgflt", 0, "PASS part one\nFAIL part two\n")   # any FAIL line fails


def test_exitcode_must_propagate_42():
    assert judge("exitcode", 42, "")
    assert not judge("exitcode", 0, "PASS\n")
