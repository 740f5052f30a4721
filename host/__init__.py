"""Host side: learning rules, the Board driver over UART or sim://, the simulated board and the CLI."""
