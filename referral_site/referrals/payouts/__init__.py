"""Payouts: what is due, batches and their files, payout details, store credit."""
