"""The JSON API for billing systems: conversions and refunds."""
