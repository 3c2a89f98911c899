"""The admin console: its navigation, the referrer directory and its actions, the blocklist."""
