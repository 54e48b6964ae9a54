"""The GPU check: pack the data here (pack), run it there (check), compare engines (parity)."""
