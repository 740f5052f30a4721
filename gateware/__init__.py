"""Amaranth 0.5 gateware: neuron engines, UART, framing and the command engine (see docs/architecture.md)."""
