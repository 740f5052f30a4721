"""The column-parallel binary engine (issue 13; ``docs/engine.md``, "Column-parallel engine
(in progress)").

Each block is one ``wiring.Component`` with its own simulator test against a numpy or Python
model (``tests/test_engine_blocks.py``):

- :mod:`.weight_store`: the weights by column, one whole column per read, K-lane words for
  the host;
- :mod:`.field_array`: N lanes holding h_i and s_i, all updated in one cycle by a flip, with
  the unstable flags s_i h_i < 0;
- :mod:`.column_sum` and :mod:`.energy_unit`: the column field c_j and the exact 2E;
- :mod:`.select_sequential`: the next unstable neuron at or after a position, and the visits
  skipped to reach it;
- :mod:`.select_rejection_free`: the k-th unstable neuron by a parallel count tree;
- :mod:`.select_random`: several generator words tested per cycle;
- :mod:`.glauber_unit` and :mod:`.glauber_run`: the stochastic visits, one per cycle;
- :mod:`.hebbian_column`: the on-chip Hebbian store's column update.

:mod:`.column_engine` composes them (with :mod:`.run_status`, shared with ``BinaryEngine``)
into a single-replica engine with ``BinaryEngine``'s signature and features, and the clamp
mask and synchronous order of ``docs/numerics.md`` §12-§13 (``tests/test_column_engine.py``,
``tests/test_column_engine_cocotb.py``). ``BoardTop`` builds it for a configuration with
``engine="column"`` (``sim://...&engine=column``). :mod:`.replicas` builds two of them on one
weight store with a port each (``tests/test_replicas.py``).
"""
