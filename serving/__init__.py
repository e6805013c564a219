"""riskloop serving package."""
