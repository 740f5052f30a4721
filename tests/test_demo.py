"""The demo (``hopfield demo``), its text rendering and the glyph set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hopfield_fpga.host import cli, glyphs, learning, textart
from hopfield_fpga.host.demo import GoldenBackend, format_demo, run_demo
from hopfield_fpga.sim import golden


def test_glyphs():
    assert len(glyphs.names()) >= 6
    for name in glyphs.names():
        g = glyphs.glyph(name)
        assert g.shape == (256,) and set(np.unique(g)) == {-1, 1}
    assert glyphs.glyph("a").tolist() == glyphs.GLYPHS["A"].tolist()
    with pytest.raises(ValueError, match="available"):
        glyphs.glyph("?")
    # The demo set is stored as fixed points by the Hebbian rule.
    x = glyphs.stack(glyphs.DEMO_SET).astype(np.int64)
    w = learning.hebbian(x)
    assert all(golden.is_fixed_point(w, None, p) for p in x)


def test_textart():
    s = -np.ones(4, dtype=int)
    s[1] = 1
    assert textart.render(s).splitlines() == [" .##", " . ."]
    lines = textart.side_by_side([s, s], ["a", "bb"], gap=1).splitlines()
    assert lines == ["a    bb", " .##  .##", " . .  . ."]
    with pytest.raises(ValueError, match="square"):
        textart.render([1, 1, 1])
    with pytest.raises(ValueError, match=r"\+1/-1"):
        textart.render([0, 1, 1, 1])


@pytest.mark.parametrize("order", ["sequential", "random", "rejection_free"])
def test_run_demo_recalls(order):
    d = run_demo("H", noise=0.2, seed=3, order=order)
    assert d.success and d.overlap_final == 1.0 and d.result.converged
    assert d.corrupted == round(0.2 * 256)
    # Frames replay the trace: the last frame is the final state, energies fall.
    assert (d.frames[-1].state == d.result.state).all()
    assert d.frames[-1].energy2 == d.result.energy2
    assert all(a.energy2 > b.energy2 for a, b in zip(d.frames, d.frames[1:]))
    text = format_demo(d, width=80)
    assert "Recalled H exactly" in text and "never rose" in text


def test_backend_contract():
    b = GoldenBackend()
    with pytest.raises(RuntimeError, match="load"):
        b.recall(glyphs.glyph("A"))
    with pytest.raises(ValueError, match="does not fit"):
        b.load(np.full((256, 256), 1000), np.zeros(256, dtype=int))


def test_cli_demo_text(capsys):
    assert cli.main(["demo", "--golden", "--seed", "2", "--glyph", "x"]) == 0
    out = capsys.readouterr().out
    assert "Recalled X exactly" in out and "Energy per flip" in out


def test_cli_demo_json(capsys):
    assert cli.main(["demo", "--json", "--noise", "0.25", "--order", "rejection_free"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["glyph"] == "A" and d["noise"] == 0.25 and d["corrupted_pixels"] == 64
    assert d["result"]["visits"] == d["result"]["flips"] == len(d["result"]["trace"])
    assert d["recalled"] == "A" and d["success"] is True
    assert d["frames"][-1]["energy2"] == d["result"]["energy2"]
    # The demo ran on the simulated board (the default); the golden model must agree bit for bit.
    assert cli.main(["demo", "--golden", "--json", "--noise", "0.25",
                     "--order", "rejection_free"]) == 0
    g = json.loads(capsys.readouterr().out)
    assert d["result"]["cycles"] is not None and g["result"]["cycles"] is None
    for key in ("state", "visits", "flips", "energy2", "converged", "trace"):
        assert d["result"][key] == g["result"][key], key


def test_cli_demo_errors(capsys):
    assert cli.main(["demo", "--glyph", "Q"]) == 2
    assert "not among the stored glyphs" in capsys.readouterr().err
    assert cli.main(["demo", "--store", "AZ"]) == 2
    assert "unknown glyph" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["demo", "--noise", "1.5"])
