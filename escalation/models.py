"""Models of the escalation app (built in its own issue)."""
