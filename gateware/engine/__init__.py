"""Building blocks of the column-parallel binary engine (issue 13; ``docs/engine.md``,
"Column-parallel engine (in progress)").

Each module is one ``wiring.Component`` with its own simulator test against a numpy model
(``tests/test_engine_blocks.py``):

- :mod:`.weight_store`: the weights by column, one whole column per read, K-lane words for
  the host;
- :mod:`.field_array`: N lanes holding h_i and s_i, all updated in one cycle by a flip, with
  the unstable flags s_i h_i < 0;
- :mod:`.select_sequential`: the next unstable neuron at or after a position, and the visits
  skipped to reach it;
- :mod:`.select_rejection_free`: the k-th unstable neuron by a parallel count tree;
- :mod:`.select_random`: several generator words tested per cycle.

The engine that composes them (same signature as
:class:`~hopfield_fpga.gateware.binary_engine.BinaryEngine`) is the next step; the board
still uses ``BinaryEngine``.
"""
