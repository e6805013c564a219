"""riskloop data_samples package."""
