"""The command line: one module per command, the bulk runner."""
