"""riskloop training package."""
