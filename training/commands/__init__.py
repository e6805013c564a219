"""CLI command families."""
