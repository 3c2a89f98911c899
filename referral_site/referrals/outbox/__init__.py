"""The durable outbox: events written with the changes they announce, then consumed."""
