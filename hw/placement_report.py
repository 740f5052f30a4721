"""Where nextpnr put the column engine's lanes, and which nets its router found congested.

Two reports for the ECP5 builds of the column engine (docs/boards.md, "The ULX3S 85F's
default"), read from the files a build leaves:

- ``lanes YOSYS.json PLACED.json``: each lane's position (the mean tile of its field
  flip-flops, found through the yosys netlist's ``fields...g<i>`` nets and the h_j pick's
  input ``pick.fields``, since nextpnr renames the nets), the extent of groups of consecutive lanes, each lane's distance to the
  block RAM that holds its weights (``weights.memory.0.<c>``: chunk c, lanes c K .. c K + K -
  1) and the distance between consecutive block RAMs. PLACED.json is nextpnr's ``--write``
  output (with ``--no-route`` after placement); its cells carry ``NEXTPNR_BEL``.
- ``congestion HM.csv``: router2's ``--router2-heatmap`` file ``*_congestion_by_net_<i>.csv``
  summed over nets grouped by name (the part before yosys' cell suffixes, indices folded).

``python -m hopfield_fpga.hw.placement_report lanes top.json placed.json --lanes-per-ram 6``
"""

from __future__ import annotations

import argparse
import collections
import csv
import json
import re
from pathlib import Path

import numpy as np

__all__ = ["lane_placement", "congestion_by_name", "main"]

_FIELD_NET = re.compile(r".*\.fields(?:\$\d+)?\.g(\d+)")
_WEIGHT_RAM = re.compile(r".*\.weights\.memory\.0\.(\d+)")
_TILE = re.compile(r"X(\d+)/Y(\d+)/")
_CELL_SUFFIX = re.compile(r"_TRELLIS|_LUT4|_CCU2C|\$|_DP16KD|_PFUMX|_L6MUX")
#: Group sizes of consecutive lanes whose extent is reported.
GROUPS = (2, 4, 8, 32, 128)


def _top(netlist: dict) -> dict:
    modules = netlist["modules"]
    tops = [m for m in modules.values() if m.get("attributes", {}).get("top")]
    return tops[0] if len(tops) == 1 else modules["top"]


def _tile(cell: dict) -> tuple[int, int]:
    bel = cell["attributes"].get("NEXTPNR_BEL")
    match = _TILE.match(bel or "")
    if match is None:
        raise ValueError(f"a cell has no placement (NEXTPNR_BEL {bel!r}): give nextpnr's "
                         f"--write output of a placed design")
    return int(match.group(1)), int(match.group(2))


def lane_placement(yosys: dict, placed: dict, *, lanes_per_ram: int) -> dict:
    """The lanes' and weight block RAMs' positions and their spread (see the module
    docstring); distances are dx + dy in tiles, medians and 90th percentiles."""
    src, dst = _top(yosys), _top(placed)
    bit_lane = {}
    nets = src["netnames"]
    for name, net in nets.items():
        match = _FIELD_NET.fullmatch(name)
        if match:
            bit_lane.update((b, int(match.group(1))) for b in net["bits"] if isinstance(b, int))
        elif name.endswith(".pick.fields") and name[:-7] + ".states" in nets:
            # the h_j pick's input, every lane's g side by side: yosys keeps a lane's own
            # name for some lanes only
            bits = net["bits"]
            width = len(bits) // len(nets[name[:-7] + ".states"]["bits"])
            bit_lane.update((b, k // width) for k, b in enumerate(bits) if isinstance(b, int))
    lane_tiles = collections.defaultdict(list)
    ram_tile = {}
    for name, cell in dst["cells"].items():
        ram = _WEIGHT_RAM.fullmatch(name)
        if cell["type"] == "DP16KD" and ram:
            ram_tile[int(ram.group(1))] = _tile(cell)
        elif cell["type"] == "TRELLIS_FF" and name in src["cells"]:
            q = src["cells"][name]["connections"].get("Q", [None])[0]
            if q in bit_lane:
                lane_tiles[bit_lane[q]].append(_tile(cell))
    if not lane_tiles or not ram_tile:
        raise ValueError("no field flip-flops or no weight block RAMs found: is this a build "
                         "of the column engine, and are the netlists the same build's?")
    lanes = sorted(lane_tiles)
    pos = np.array([np.mean(lane_tiles[i], axis=0) for i in lanes])
    index = np.array(lanes)
    out = {"lanes_found": len(lanes), "rams_found": len(ram_tile), "groups": {}}
    for size in GROUPS:
        # groups of lanes i with the same i // size, all of whose lanes were found
        extents = []
        for g in np.unique(index // size):
            members = pos[index // size == g]
            if len(members) == size:
                extents.append(np.ptp(members, axis=0).sum())
        if extents:
            out["groups"][size] = (float(np.median(extents)), float(np.percentile(extents, 90)))
    to_ram = [np.abs(p - ram_tile[i // lanes_per_ram]).sum()
              for i, p in zip(lanes, pos) if i // lanes_per_ram in ram_tile]
    out["lane_to_ram"] = (float(np.median(to_ram)), float(np.percentile(to_ram, 90)))
    rams = np.array([ram_tile[c] for c in sorted(ram_tile)])
    steps = np.abs(np.diff(rams, axis=0)).sum(axis=1) if len(rams) > 1 else np.zeros(1)
    out["ram_to_next"] = (float(np.median(steps)), float(np.percentile(steps, 90)))
    return out


def congestion_by_name(rows) -> collections.Counter:
    """Overused wires per net group from router2's ``(net, count)`` rows."""
    share = collections.Counter()
    for net, count in rows:
        name = _CELL_SUFFIX.split(net)[0]
        share[re.sub(r"\d+", "#", re.sub(r"\[\d+\]", "", name))] += int(count)
    return share


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hopfield_fpga.hw.placement_report",
                                     description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="report", required=True)
    p = sub.add_parser("lanes", help="where the lanes and weight block RAMs were placed")
    p.add_argument("yosys", type=Path, help="yosys' netlist (top.json)")
    p.add_argument("placed", type=Path, help="nextpnr's --write output")
    p.add_argument("--lanes-per-ram", type=int, default=6,
                   help="lanes a weight block RAM serves (K when K W_BITS = 18; default 6)")
    p = sub.add_parser("congestion", help="router2's overused wires by net group")
    p.add_argument("heatmap", type=Path, help="an *_congestion_by_net_<i>.csv")
    p.add_argument("--top", type=int, default=12, help="groups to print (default 12)")
    args = parser.parse_args(argv)
    if args.report == "lanes":
        r = lane_placement(json.loads(args.yosys.read_text()),
                           json.loads(args.placed.read_text()),
                           lanes_per_ram=args.lanes_per_ram)
        print(f"{r['lanes_found']} lanes and {r['rams_found']} weight block RAMs found "
              f"(distances in tiles, dx + dy: median, 90%)")
        for size, (med, p90) in r["groups"].items():
            print(f"  extent of {size:4d} consecutive lanes   {med:6.1f} {p90:6.1f}")
        print(f"  lane to its block RAM           {r['lane_to_ram'][0]:6.1f} "
              f"{r['lane_to_ram'][1]:6.1f}")
        print(f"  block RAM c to c + 1            {r['ram_to_next'][0]:6.1f} "
              f"{r['ram_to_next'][1]:6.1f}")
    else:
        with open(args.heatmap, newline="") as f:
            share = congestion_by_name(csv.reader(f))
        total = sum(share.values())
        print(f"{total} overused wires counted")
        for name, count in share.most_common(args.top):
            print(f"  {100 * count / total:5.1f}%  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
