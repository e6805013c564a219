"""riskloop features package."""
