"""The package works from any folder: package data, the user cache, the command table."""

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from hopfield_fpga import protocol as P
from hopfield_fpga.cache import CACHE_ENV, cache_dir, locked


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir("cocotb") == tmp_path / "mine" / "cocotb"
    monkeypatch.delenv(CACHE_ENV)
    assert cache_dir("a", "b") == tmp_path / "xdg" / "hopfield-fpga" / "a" / "b"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "hopfield-fpga"


def test_builds_go_to_the_cache_not_the_package():
    from hopfield_fpga.sim import rtl_runner
    import hopfield_fpga
    assert rtl_runner.BUILD_ROOT.parent == cache_dir()
    package = Path(hopfield_fpga.__file__).resolve().parent
    assert package not in rtl_runner.BUILD_ROOT.resolve().parents


def test_locked_excludes_another_process(tmp_path):
    probe = ("import fcntl, sys; f = open(sys.argv[1], 'w')\n"
             "try:\n    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n"
             "except BlockingIOError:\n    print('held')")
    lock = tmp_path / "entry" / ".lock"
    with locked(tmp_path / "entry"):
        held = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True,
                              text=True, check=True).stdout.strip()
    free = subprocess.run([sys.executable, "-c", probe, str(lock)], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert (held, free) == ("held", "free")


def test_harness_and_testbenches_are_package_data():
    from importlib import resources
    from hopfield_fpga.host import simboard
    tb = resources.files("hopfield_fpga.sim.tb")
    assert "module simboard_harness" in (tb / "simboard_harness.v").read_text()
    assert (tb / "bench_engine_tb.py").is_file()
    digest = simboard._source_digest()
    assert len(digest) == 12 and int(digest, 16) >= 0


def test_sources_edited_under_a_running_process_are_not_cached(monkeypatch, tmp_path):
    """A board built after its sources changed holds the design as imported, so it must not be
    filed under the digest of the files as they are now (where later processes would take it)."""
    import warnings
    import hopfield_fpga
    from hopfield_fpga.host import simboard
    from hopfield_fpga.sim import rtl_runner
    if not rtl_runner.simulator_available("icarus"):
        pytest.fail("Icarus Verilog is part of the set-up (make setup)")
    assert simboard._sources_changed_since_import() == []
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    # every source file is now newer than the import, as after an edit
    monkeypatch.setattr(hopfield_fpga, "IMPORT_TIME", 0.0)
    changed = simboard._sources_changed_since_import()
    assert "protocol.py" in changed and "board_top.py" in changed
    opts = simboard.parse_sim_url("sim://?neurons=4&lanes=2&weight_bits=2")
    def open_board():
        return simboard.RtlBoard(opts["config"], clk=opts["clk"], baud=opts["baud"],
                                 simulator="icarus")
    with pytest.warns(UserWarning, match="changed after this process imported them"):
        board = open_board()
    scratch = Path(board._scratch.name)
    try:
        assert (scratch / "simboard.vvp").exists() and board.proc.poll() is None
    finally:
        board.close()
    assert not scratch.exists()
    assert not (tmp_path / "cache" / "simboard").exists()
    monkeypatch.setattr(hopfield_fpga, "IMPORT_TIME", simboard.time.time())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        board = open_board()
    board.close()
    assert board._scratch is None
    assert len(list((tmp_path / "cache" / "simboard").iterdir())) == 1


def test_command_table_covers_every_request():
    board_only = {P.Command.TRACE, P.Command.GRADED_TRACE}
    assert set(P.COMMANDS) == set(P.Command) - board_only
    for command, spec in P.COMMANDS.items():
        assert spec.command is command
        assert spec.header_size == (0 if spec.header is None else spec.header.size)
    assert P.READ_COMMANDS == {P.Command.IDENTIFY, P.Command.STOP, P.Command.READ_STATUS,
                               P.Command.READ_GRADED_STATUS}
    assert P.GRADED_COMMANDS.isdisjoint(P.BINARY_COMMANDS)


@pytest.mark.parametrize("command", [c for c, s in P.COMMANDS.items() if s.header])
def test_header_pack_round_trips(command, rng):
    spec = P.COMMANDS[command]
    values = {}
    for name, (_, size) in spec.field_slices().items():
        values[name] = int(rng.integers(0, 1 << (8 * size), dtype="uint64"))
    packed = spec.pack(**values)
    assert len(packed) == spec.header_size
    assert spec.header.unpack(packed) == tuple(values[f] for f in spec.fields)
    # the slices are where the bytes are
    for name, (offset, size) in spec.field_slices().items():
        assert int.from_bytes(packed[offset:offset + size], "little") == values[name]


def test_header_pack_names_bad_fields():
    with pytest.raises(ValueError, match=r"WRITE_BETA takes the header fields \('first', "
                                         r"'count'\), not \('first',\)"):
        P.COMMANDS[P.Command.WRITE_BETA].pack(first=1)
    with pytest.raises(ValueError, match="2 field names"):
        P.CommandSpec(P.Command.STORE, struct.Struct("<H"), ("a", "b"), P.WordKind.STATE,
                      P.Target.BINARY)


def test_every_subpackage_is_in_the_wheel():
    """pyproject.toml lists the packages explicitly: a new folder with an __init__.py must be
    listed too, or the wheel silently leaves it out."""
    import tomllib
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {"hopfield_fpga"}
    for top in ("gateware", "sim", "host", "hw"):
        for init in (root / top).rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            found.add(".".join(("hopfield_fpga", *rel)))
    assert found == listed, f"packages on disk but not listed: {sorted(found - listed)}; " \
                            f"listed but not on disk: {sorted(listed - found)}"
