"""Background jobs on Huey: outbox dispatch, webhook deliveries, periodic commands."""
