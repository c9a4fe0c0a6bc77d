"""Models of the anonymity app (built in its own issue)."""
