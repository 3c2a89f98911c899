"""Codes and signups: who referred whom, decided once."""
