"""Conversions and the rewards they grant: rules, ledger, review."""
