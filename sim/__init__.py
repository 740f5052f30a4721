"""Golden models (integer-exact to docs/numerics.md), float references, cocotb runner and testbenches."""
