"""hw/placement_report.py: lane positions, group extents and distances from a placed netlist,
and router2's congestion grouped by net name, on small hand-made netlists."""

import json

import pytest

from hopfield_fpga.hw import placement_report as pr


def _netlists(tiles, rams, *, own_names=True):
    """A yosys netlist with one field flip-flop a lane (lane i's g bit i + 10) and the
    matching placed netlist: lane i at tiles[i], weight block RAM c at rams[c]. Without
    ``own_names`` the lanes' bits are named only by the h_j pick's input (two bits a lane,
    the second one not a flip-flop's)."""
    netnames, src_cells, dst_cells = {}, {}, {}
    if not own_names:
        netnames["core.engine.pick.fields"] = {
            "bits": [b for i in range(len(tiles)) for b in (i + 10, i + 1000)]}
        netnames["core.engine.pick.states"] = {"bits": list(range(2000, 2000 + len(tiles)))}
    for i, (x, y) in enumerate(tiles):
        if own_names:
            netnames[f"core.engine.fields$7.g{i}"] = {"bits": [i + 10]}
        name = f"core.engine.fields$7.g{i}_TRELLIS_FF_Q"
        src_cells[name] = {"type": "TRELLIS_FF", "connections": {"Q": [i + 10]}}
        dst_cells[name] = {"type": "TRELLIS_FF", "attributes": {"NEXTPNR_BEL": f"X{x}/Y{y}/SLICEA.FF0"}}
    netnames["core.engine.other"] = {"bits": [5]}
    src_cells["core.engine.other_TRELLIS_FF_Q"] = {"type": "TRELLIS_FF", "connections": {"Q": [5]}}
    dst_cells["core.engine.other_TRELLIS_FF_Q"] = {"type": "TRELLIS_FF",
                                                  "attributes": {"NEXTPNR_BEL": "X99/Y99/SLICEA.FF0"}}
    for c, (x, y) in enumerate(rams):
        dst_cells[f"core.engine.weights.memory.0.{c}"] = {
            "type": "DP16KD", "attributes": {"NEXTPNR_BEL": f"X{x}/Y{y}/EBR0"}}
    top = {"attributes": {"top": "1"}}
    return ({"modules": {"top": {**top, "netnames": netnames, "cells": src_cells}}},
            {"modules": {"top": {**top, "netnames": {}, "cells": dst_cells}}})


@pytest.mark.parametrize("own_names", [True, False])
def test_lane_placement_measures_groups_and_distances(own_names):
    # four lanes in a row 3 tiles apart, then four stacked at x = 0; two lanes a RAM
    tiles = [(0, 0), (3, 0), (6, 0), (9, 0), (0, 10), (0, 11), (0, 12), (0, 13)]
    rams = [(0, 1), (6, 1), (1, 10), (1, 12)]
    got = pr.lane_placement(*_netlists(tiles, rams, own_names=own_names), lanes_per_ram=2)
    assert got["lanes_found"] == 8 and got["rams_found"] == 4
    # pairs: extents 3, 3, 1, 1; fours: 9 and 3; eights: 9 + 13
    assert got["groups"][2] == (2.0, pytest.approx(3.0))
    assert got["groups"][4][0] == 6.0
    assert got["groups"][8] == (22.0, 22.0)
    assert 32 not in got["groups"]      # no complete group of 32
    # lane to its RAM: 1, 4, 1, 4, 1, 2, 2, 1 -> median 1.5
    assert got["lane_to_ram"][0] == 1.5
    # RAM steps: 6, 14, 2 -> median 6
    assert got["ram_to_next"][0] == 6.0


def test_lane_placement_refuses_what_it_cannot_read():
    yosys, placed = _netlists([(0, 0), (1, 0)], [(0, 1)])
    unplaced = json.loads(json.dumps(placed))
    for cell in unplaced["modules"]["top"]["cells"].values():
        cell["attributes"] = {}
    with pytest.raises(ValueError, match="no placement"):
        pr.lane_placement(yosys, unplaced, lanes_per_ram=2)
    no_lanes, _ = _netlists([], [])
    with pytest.raises(ValueError, match="column engine"):
        pr.lane_placement(no_lanes, placed, lanes_per_ram=2)


def test_congestion_groups_nets_by_name():
    rows = [("core.engine.fields$192.g17_TRELLIS_FF_Q_3", "10"),
            ("core.engine.fields$5.g2", "5"),
            ("core.engine.pick.j_next_lo12_LUT4_Z", "4"),
            ("core.engine.pick.j_next_lo3", "1"),
            ("core.engine.weights.data[40]", "7")]
    share = pr.congestion_by_name(rows)
    assert share == {"core.engine.fields": 15, "core.engine.pick.j_next_lo#": 5,
                     "core.engine.weights.data": 7}


def test_command_prints_both_reports(tmp_path, capsys):
    yosys, placed = _netlists([(0, 0), (2, 0), (4, 0), (6, 0)], [(0, 1), (4, 1)])
    (tmp_path / "top.json").write_text(json.dumps(yosys))
    (tmp_path / "placed.json").write_text(json.dumps(placed))
    (tmp_path / "hm.csv").write_text("a.b_LUT4_Z,3\na.c,1\n")
    assert pr.main(["lanes", str(tmp_path / "top.json"), str(tmp_path / "placed.json"),
                    "--lanes-per-ram", "2"]) == 0
    assert pr.main(["congestion", str(tmp_path / "hm.csv")]) == 0
    out = capsys.readouterr().out
    assert "4 lanes and 2 weight block RAMs found" in out
    assert "extent of    4 consecutive lanes      6.0" in out
    assert "4 overused wires counted" in out and "75.0%  a.b" in out
