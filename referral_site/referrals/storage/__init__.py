"""The plugin's tables on the host's database, and how they are written."""
