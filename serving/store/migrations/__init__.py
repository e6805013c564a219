"""Alembic environment of the warnings store (a package so the migrations ship with riskloop)."""
