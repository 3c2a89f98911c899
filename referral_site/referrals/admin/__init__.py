"""The admin console: navigation, the referrer directory and actions, blocklist."""
