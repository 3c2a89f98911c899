"""Conversions, renewals, refunds and disputes taken from Stripe's signed webhooks."""
