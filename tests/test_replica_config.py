"""``NetworkConfig.replicas``: its checks, its wire form, the URL key and the fit estimate."""

from __future__ import annotations

import pytest

from hopfield_fpga.config import NetworkConfig, Order
from hopfield_fpga.host.errors import BoardURLError
from hopfield_fpga.host.urls import board_url, parse_cpu_url, parse_sim_url
from hopfield_fpga.hw import fit
from hopfield_fpga.hw.boards import get_board

COLUMN = NetworkConfig(neurons=12, weight_bits=3, lanes=5, engine="column", replicas=2,
                       orders=tuple(Order))


def test_replicas_need_the_column_engine():
    assert NetworkConfig().replicas == 1
    with pytest.raises(ValueError, match=r"replicas=2 needs engine='column' \(not 'lanes'\)"):
        NetworkConfig(replicas=2)
    for bad in (0, 3):
        with pytest.raises(ValueError, match=f"replicas must be between 1 and 2, not {bad}"):
            COLUMN.with_(replicas=bad)


def test_wire_dict_and_url_forms_carry_replicas():
    assert NetworkConfig.decode(COLUMN.encode()) == COLUMN
    assert NetworkConfig.from_dict(COLUMN.to_dict()) == COLUMN
    assert "replicas=2" in COLUMN.describe() and "replicas" not in NetworkConfig().describe()
    assert parse_sim_url(board_url("sim", COLUMN))["config"] == COLUMN
    assert parse_cpu_url(board_url("cpu", COLUMN))["config"] == COLUMN
    with pytest.raises(BoardURLError, match="replicas=2 needs engine='column'"):
        parse_sim_url("sim://?neurons=8&replicas=2")


def test_fit_counts_the_second_chain_and_port():
    board = get_board("ecpix5-85f")
    one = board.default_config
    two = one.with_(replicas=2)
    # each replica reads 18 bits a DP16KD port (not the one-port store's 36): 43 blocks at
    # N = 256 (docs/engine.md, "Replicas"), and the engine's logic again less the store (built
    # once) plus the store's second port
    assert fit.check_fit(board, one).blocks == 22 and fit.check_fit(board, two).blocks == 43
    engine = (fit.column_logic_estimate(one) - fit.COLUMN_LUTS_FIXED) / 256
    second = (fit.column_logic_estimate(two) - fit.column_logic_estimate(one)) / 256
    shared = fit.COLUMN_STORE_LUTS_PER_NEURON - fit.COLUMN_STORE_PORT_LUTS_PER_NEURON
    assert second == pytest.approx(engine - shared, abs=0.1), (engine, second)
    big = one.with_(neurons=384)          # fits with one chain, not with two
    fit.check_fit(board, big)
    with pytest.raises(fit.FitError, match="lanes in each of 2 replicas need about"):
        fit.check_fit(board, big.with_(replicas=2))


def test_bench_refuses_replicas_on_the_lanes_engine_at_once():
    from hopfield_fpga.sim.bench_engine import run_engine_bench
    with pytest.raises(ValueError, match="replicas=2 needs engine='column'"):
        run_engine_bench(board="ulx3s-25f", replicas=2)     # before any simulation
