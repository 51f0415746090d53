"""Testing helpers (work in progress)."""
