"""cocotb testbenches: drivers, monitors and scoreboards run against the emitted Verilog.

Each module here is a cocotb test module started by a pytest launcher in ``tests/`` through
:func:`hopfield_fpga.sim.rtl_runner.run_cocotb`; parameters arrive via ``tb_params()``.
"""
