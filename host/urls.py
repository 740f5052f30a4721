"""Board URLs: strict parsing of ``sim://?key=value&...`` and ``cpu://?key=value&...``.

No Amaranth here: the driver parses a URL before it opens anything, so a bad URL fails at
once with :class:`~hopfield_fpga.host.errors.BoardURLError` naming the expected form and the
bad key or value, and never a value the user did not pass.

Parameters of both schemes: ``neurons``, ``weight_bits``, ``bias_bits``, ``lanes``, ``orders``
(comma list; ``none``: no binary engine), ``features`` (comma list; ``none``: no feature),
``engine`` (``lanes`` or ``column``, the binary engine's design), ``store_patterns`` (P_MAX of the
quantized store, engine=column), ``replicas`` (R chains on one weight store, engine=column),
``beta_depth`` (entries of the beta schedule memory).
``lanes`` defaults to min(8, neurons). ``sim://`` also takes ``clk`` (Hz), ``baud``, ``uart``
(``bytes`` or ``bits``) and ``backend`` (``amaranth``, ``icarus``, ``verilator``). ``cpu://``
also takes ``cycles=column`` with ``clk`` (Hz): its runs then carry the column engine's cycles
from its cycle accounting (``gateware/engine_cycles.py``), at that clock.
"""

from __future__ import annotations

import shutil
import urllib.parse

from hopfield_fpga.baud import FT2232H, fastest_baud
from hopfield_fpga.config import NetworkConfig
from .errors import BoardURLError

__all__ = ["board_url", "parse_sim_url", "parse_cpu_url", "default_sim_url", "DEFAULT_SIM_URL",
           "DEFAULT_CLK", "DEFAULT_BAUD", "BACKENDS", "DEFAULT_BACKEND", "CONFIG_KEYS",
           "CYCLE_MODELS"]

DEFAULT_CLK = 12_000_000
#: sim:// speaks at the rate a board at its clock would (``hw/boards.py``: the fastest rate of
#: its bridge, here an FT2232H, that the UART serves): 3 Mbaud at the default 12 MHz.
DEFAULT_BAUD = fastest_baud(DEFAULT_CLK, FT2232H)
#: Simulators behind sim://: Amaranth's (in process), or the emitted Verilog compiled by
#: Icarus Verilog or Verilator.
BACKENDS = ("amaranth", "icarus", "verilator")
DEFAULT_BACKEND = "amaranth"
DEFAULT_SIM_URL = "sim://?neurons=256&weight_bits=8&lanes=8"
#: The NetworkConfig keys a URL may give.
CONFIG_KEYS = ("neurons", "weight_bits", "bias_bits", "lanes", "orders", "features", "engine",
               "store_patterns", "replicas", "beta_depth")
_SIM_KEYS = ("clk", "baud", "uart", "backend")
_CPU_KEYS = ("cycles", "clk")
#: The cycle models ``cpu://?cycles=`` takes: the engine design whose cycles its runs carry.
CYCLE_MODELS = ("column",)
_FORM = "{scheme}://?key=value&key=value (keys: {keys})"


def default_sim_url() -> str:
    """The default board of the CLI and the demo: N = 256, 8-bit weights, 8 lanes, compiled by
    Icarus Verilog when it is installed (about 15k cycles/s here, against about 2k for
    Amaranth's simulator at this size), else in Amaranth's simulator."""
    backend = "icarus" if shutil.which("iverilog") else "amaranth"
    return f"{DEFAULT_SIM_URL}&backend={backend}"


def _query(url: str, scheme: str, keys: tuple[str, ...]) -> dict[str, str]:
    form = _FORM.format(scheme=scheme, keys=", ".join(keys))
    if not isinstance(url, str):
        raise BoardURLError(f"a board URL is a string, not {url!r}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != scheme:
        raise BoardURLError(f"not a {scheme}:// URL: {url!r}; expected {form}")
    if parts.netloc or parts.path or parts.fragment:
        raise BoardURLError(f"{url!r} is not of the form {form}: the parameters follow '?'")
    out: dict[str, str] = {}
    for item in parts.query.split("&") if parts.query else []:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise BoardURLError(f"{url!r}: {item!r} is not key=value; expected {form}")
        if key not in keys:
            raise BoardURLError(f"{url!r}: unknown parameter {key!r}; known: {', '.join(keys)}")
        if key in out:
            raise BoardURLError(f"{url!r}: parameter {key!r} given twice")
        out[key] = urllib.parse.unquote(value)
    return out


def _int(url: str, key: str, value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise BoardURLError(f"{url!r}: {key}={value!r} is not an integer") from None


def _config(url: str, query: dict[str, str]) -> NetworkConfig:
    cfg: dict = {}
    for key in CONFIG_KEYS:
        if key not in query:
            continue
        value = query[key]
        if key in ("orders", "features"):
            cfg[key] = [v for v in value.split(",") if v and v != "none"]
        elif key == "engine":
            cfg[key] = value
        else:
            cfg[key] = _int(url, key, value)
    if "lanes" not in cfg and "neurons" in cfg and isinstance(cfg["neurons"], int) \
            and cfg["neurons"] >= 1:
        # the default K = 8 must not be blamed for a small N the user asked for
        cfg["lanes"] = min(NetworkConfig.lanes, cfg["neurons"])
    try:
        return NetworkConfig.from_dict(cfg)
    except (TypeError, ValueError) as exc:
        given = ", ".join(f"{k}={query[k]}" for k in CONFIG_KEYS if k in query) or "no parameter"
        raise BoardURLError(f"{url!r} ({given}): {exc}") from None


def board_url(scheme: str, config: NetworkConfig, **extra) -> str:
    """The ``cpu://`` or ``sim://`` URL of a board in ``config`` (``extra``: further ``sim://``
    keys such as ``backend``); parsing it gives ``config`` back."""
    if scheme not in ("cpu", "sim"):
        raise ValueError(f"scheme must be 'cpu' or 'sim', not {scheme!r}")
    query = {}
    for key, value in config.to_dict().items():
        query[key] = ",".join(value) or "none" if isinstance(value, list) else str(value)
    query.update({k: str(v) for k, v in extra.items()})
    return f"{scheme}://?{urllib.parse.urlencode(query, safe=',')}"


def _rate(url: str, key: str, value: str) -> int:
    """A clock or baud rate (Hz) of a URL: an integer in [1, 2**32)."""
    rate = _int(url, key, value)
    if not 0 < rate < 2**32:
        raise BoardURLError(f"{url!r}: {key} must be in [1, 2**32), not {rate}")
    return rate


def parse_cpu_url(url: str) -> dict:
    """``cpu://?...`` -> ``{"config": NetworkConfig, "cycles": None or a model of
    CYCLE_MODELS, "clk": Hz (0 without cycles)}``."""
    query = _query(url, "cpu", CONFIG_KEYS + _CPU_KEYS)
    config = _config(url, query)
    cycles, clk = query.get("cycles"), 0
    if cycles is None:
        if "clk" in query:
            raise BoardURLError(f"{url!r}: clk is the clock of cycles=column's runs; cpu:// "
                                f"has no clock without cycles=")
    else:
        if cycles not in CYCLE_MODELS:
            raise BoardURLError(f"{url!r}: cycles must be one of {', '.join(CYCLE_MODELS)}, "
                                f"not {cycles!r}")
        if config.engine != cycles:
            raise BoardURLError(f"{url!r}: cycles={cycles} gives the {cycles} engine's cycles: "
                                f"give engine={cycles} too (the configuration has "
                                f"engine={config.engine})")
        if "clk" not in query:
            raise BoardURLError(f"{url!r}: cycles={cycles} needs clk (Hz), the clock at which "
                                f"the cycles are timed, e.g. clk=40000000")
        clk = _rate(url, "clk", query["clk"])
    return {"config": config, "cycles": cycles, "clk": clk}


def parse_sim_url(url: str) -> dict:
    """Split a ``sim://?key=value&...`` URL into ``config`` (NetworkConfig), ``clk``, ``baud``,
    ``uart`` and ``backend``; a bad form, key or value raises BoardURLError naming it."""
    query = _query(url, "sim", CONFIG_KEYS + _SIM_KEYS)
    out = {"clk": DEFAULT_CLK, "baud": None, "uart": "bytes", "backend": DEFAULT_BACKEND}
    for key in ("clk", "baud"):
        if key in query:
            out[key] = _rate(url, key, query[key])
    for key, allowed in (("uart", ("bytes", "bits")), ("backend", BACKENDS)):
        if key in query:
            if query[key] not in allowed:
                raise BoardURLError(f"{url!r}: {key} must be one of {', '.join(allowed)}, "
                                    f"not {query[key]!r}")
            out[key] = query[key]
    if out["baud"] is None:
        try:
            out["baud"] = fastest_baud(out["clk"], FT2232H)
        except ValueError as exc:
            raise BoardURLError(f"{url!r}: no default baud at clk={out['clk']}: {exc}; "
                                f"give baud=") from None
    if out["uart"] == "bits" and out["backend"] != "amaranth":
        raise BoardURLError(f"{url!r}: uart=bits needs backend=amaranth (the RTL back ends "
                            f"feed bytes)")
    out["config"] = _config(url, query)
    return out
