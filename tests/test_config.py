"""NetworkConfig: validation, derived widths (docs/numerics.md §2) and serialized forms."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hopfield_fpga.config import Feature, NetworkConfig, Order


def test_defaults():
    c = NetworkConfig()
    assert (c.neurons, c.weight_bits, c.bias_bits, c.lanes) == (64, 8, 16, 8)
    assert c.orders == (Order.SEQUENTIAL, Order.RANDOM, Order.REJECTION_FREE)
    assert c.weight_min == -128 and c.weight_max == 127
    assert c.bias_min == -(1 << 15) and c.bias_max == (1 << 15) - 1
    assert NetworkConfig(weight_bits=16).bias_bits == 24


@pytest.mark.parametrize("kw, match", [
    ({"neurons": 0}, "neurons"), ({"neurons": 4097}, "neurons"), ({"neurons": 2.0}, "neurons"),
    ({"weight_bits": 0}, "weight_bits"), ({"weight_bits": 17}, "weight_bits"),
    ({"bias_bits": 25}, "bias_bits"), ({"lanes": 0}, "lanes"),
    ({"neurons": 4, "lanes": 8}, "lanes"), ({"orders": ()}, "add Feature.GRADED or an order"),
    ({"orders": (), "features": Feature.GRADED | Feature.HEBBIAN}, "hebbian belong"),
    ({"orders": (), "features": Feature.ALL}, "stochastic, hebbian belong"),
    ({"orders": ("shuffle",)}, "shuffle"), ({"features": 1 << 9}, "features"),
    ({"neurons": True}, "neurons"),
    ({"features": Feature.SYMMETRIC}, "SYMMETRIC.*needs engine='column'"),
])
def test_bad_values_are_refused_by_name(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NetworkConfig(**kw)


def test_graded_only_configuration():
    c = NetworkConfig(neurons=64, lanes=1, orders=(), features=Feature.GRADED | Feature.TRACE)
    assert not c.has_binary and NetworkConfig().has_binary
    assert "orders=none" in c.describe()
    assert NetworkConfig.from_dict(c.to_dict()) == c
    assert NetworkConfig.decode(c.encode()) == c


def test_order_parse():
    assert Order.parse("rejection-free") is Order.REJECTION_FREE
    assert Order.parse("Random") is Order.RANDOM and Order.parse(0) is Order.SEQUENTIAL
    assert Order.parse("synchronous") is Order.SYNCHRONOUS and Order.parse(3) is Order.SYNCHRONOUS
    for bad in ("gibbs", 4, True, None):
        with pytest.raises(ValueError, match="sequential"):
            Order.parse(bad)


@given(n=st.integers(1, 4096), w=st.integers(1, 16), b=st.integers(1, 24))
def test_derived_widths_hold_the_bounds(n, w, b):
    c = NetworkConfig(neurons=n, weight_bits=w, bias_bits=b, lanes=1)
    # The extreme field: every weight at -2**(W-1) against a state, plus the extreme bias.
    worst_h = n * (1 << (w - 1)) + (1 << (b - 1))
    assert c.field_bound == worst_h
    assert -(1 << (c.acc_bits - 1)) <= -worst_h and worst_h <= (1 << (c.acc_bits - 1)) - 1
    assert c.acc_bits == worst_h.bit_length() + 1       # and not wider than needed
    worst_e = n * n * (1 << (w - 1)) + 2 * n * (1 << (b - 1))
    assert c.energy_bound == worst_e
    assert worst_e <= (1 << (c.energy_bits - 1)) - 1
    assert c.index_bits >= 1 and (1 << c.index_bits) >= n


def test_chunks_and_index_bits():
    assert NetworkConfig(neurons=100, lanes=8).chunks == 13
    assert NetworkConfig(neurons=64, lanes=8).chunks == 8
    assert NetworkConfig(neurons=1, lanes=1).index_bits == 1
    assert NetworkConfig(neurons=256).index_bits == 8
    assert NetworkConfig(neurons=257).index_bits == 9


def test_serialized_forms_round_trip():
    for orders, feats in itertools.product(
            [(Order.SEQUENTIAL,), (Order.RANDOM, Order.REJECTION_FREE)],
            [Feature(0), Feature.ALL, Feature.TRACE | Feature.STOCHASTIC]):
        c = NetworkConfig(neurons=300, weight_bits=5, bias_bits=11, lanes=4, orders=orders,
                          features=feats)
        assert NetworkConfig.from_dict(c.to_dict()) == c
        data = c.encode()
        assert len(data) == NetworkConfig.WIRE_SIZE
        assert NetworkConfig.decode(data) == c
    with pytest.raises(ValueError, match="bytes"):
        NetworkConfig.decode(b"\x00")
    with pytest.raises(ValueError, match="Unknown configuration keys"):
        NetworkConfig.from_dict({"neurons": 4, "size": 4})
    with pytest.raises(ValueError, match="Unknown feature"):
        NetworkConfig.from_dict({"features": ["turbo"]})


def test_with_revalidates_and_describe():
    c = NetworkConfig(neurons=16, lanes=4)
    assert c.with_(weight_bits=4).weight_max == 7
    with pytest.raises(ValueError, match="lanes"):
        c.with_(neurons=2)
    assert "N=16" in c.describe() and "acc=" in c.describe()


def test_beta_depth():
    """``beta_depth``: a power of two from 64 to 1024, in every serialized form; 1024 on the
    ECP5 boards' defaults, 64 on the iCE40's."""
    from hopfield_fpga.config import BETA_SCHEDULE_DEPTH, MAX_BETA_DEPTH
    from hopfield_fpga.hw.boards import BOARDS
    assert NetworkConfig().beta_depth == BETA_SCHEDULE_DEPTH == 64 and MAX_BETA_DEPTH == 1024
    deep = NetworkConfig(neurons=32, lanes=4, beta_depth=512)
    assert NetworkConfig.decode(deep.encode()) == deep
    assert NetworkConfig.from_dict(deep.to_dict()) == deep
    assert "beta_depth=512" in deep.describe() and "beta_depth" not in NetworkConfig().describe()
    for bad in (32, 100, 2048, True):
        with pytest.raises((ValueError, TypeError), match="beta_depth"):
            NetworkConfig(beta_depth=bad)
    depths = {b.name: b.default_config.beta_depth for b in BOARDS.values()}
    assert depths == {"icebreaker": 64, "ulx3s-85f": 1024, "ulx3s-25f": 1024,
                      "ecpix5-85f": 1024}, depths


def test_symmetric_is_a_contract_not_a_block():
    """Feature.SYMMETRIC travels with the configuration (identify, URLs) like a block, but
    Feature.ALL (every block) does not include it."""
    c = NetworkConfig(neurons=8, lanes=2, engine="column",
                      features=Feature.TRACE | Feature.SYMMETRIC)
    assert c.to_dict()["features"] == ["trace", "symmetric"]
    assert NetworkConfig.decode(c.encode()) == c == NetworkConfig.from_dict(c.to_dict())
    assert not Feature.ALL & Feature.SYMMETRIC
