"""Offline evaluation on real logs: next-item and next-basket protocols, tuning."""
