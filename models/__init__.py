"""riskloop models package."""
