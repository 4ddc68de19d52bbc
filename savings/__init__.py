"""Verified savings: weather-normalised baselines for retrofits and energy contracts (docs/savings.md)."""
