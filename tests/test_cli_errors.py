"""Every bad CLI argument ends in one line on stderr naming it and a non-zero exit, before any
run starts (no traceback, no hang)."""

from __future__ import annotations

import pytest

from hopfield_fpga.host.cli import main

CPU = "cpu://?neurons=16&lanes=4&weight_bits=4"


@pytest.mark.parametrize("argv,names", [
    (["recall", "--random", "0"], "--random"),
    (["recall", "--random", "-3"], "--random"),
    (["store", "--random", "-1"], "--random"),
    (["recall", "--max-sweeps", "-1"], "--max-sweeps"),
    (["recall", "--seed", "-1"], "--seed"),
    (["recall", "--seed", "1099511627776"], "--seed"),
    (["recall", "--probes", "0"], "--probes"),
    (["recall", "--timeout", "nan"], "--timeout"),
    (["recall", "--timeout", "inf"], "--timeout"),
    (["recall", "--noise", "2"], "--noise"),
    (["demo", "--golden", "--plot", "/nonexistent/x.png"], "--plot"),
    (["graded", "--figure3", "/nonexistent/f.png"], "--figure3"),
    (["info", "--url", "sim://neurons=16"], "sim://?key=value"),
    (["info", "--url", "sim://?neurons=abc"], "neurons='abc'"),
    (["info", "--url", "sim://?neurons=0"], "neurons"),
    (["info", "--url", "sim://?colour=red"], "'colour'"),
    (["info", "--url", "sim://?backend=vcs"], "backend"),
    (["info", "--url", "bogus://x"], "bogus://x"),
    (["info", "--url", "/dev/no-such-hopfield-port"], "/dev/no-such-hopfield-port"),
    (["recall", "--url", CPU, "--glyphs", "A"], "256 pixels"),
])
def test_bad_argument_is_one_line(argv, names, capsys):
    try:
        code = main(argv)
    except SystemExit as exc:     # argparse's own exit
        code = exc.code
    out, err = capsys.readouterr()
    assert code not in (0, None), f"{argv}: exit {code}"
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"{argv}: stderr is {err!r}"
    assert names in lines[0] and "Traceback" not in err, lines[0]
    assert out == "", f"{argv}: the command ran ({out!r})"


def test_cpu_url_runs_the_cli(capsys):
    assert main(["recall", "--url", CPU, "--random", "2", "--json"]) == 0
    assert '"matches_golden": true' in capsys.readouterr().out
