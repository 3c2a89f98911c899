"""Emails: to referrers on their program's events, to admins, to account owners."""
