"""What admins read: counts kept per day, the report, leaderboards, exports."""
