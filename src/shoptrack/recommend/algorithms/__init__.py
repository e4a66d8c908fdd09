"""Recommendation algorithms: pure numpy/scipy over item-index arrays, no store."""
