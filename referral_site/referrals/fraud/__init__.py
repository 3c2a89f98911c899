"""Suspicious referrals: signals, flags and the admins' review of them."""
