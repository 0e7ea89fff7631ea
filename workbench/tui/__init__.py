"""The workbench TUI (Textual): the tuning screen over the core; the only package importing textual."""
