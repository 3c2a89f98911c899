"""Signed webhooks (Standard Webhooks) from the outbox: endpoints, deliveries."""
