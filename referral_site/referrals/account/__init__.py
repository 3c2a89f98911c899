"""A user's own referral account: vanity codes, QR codes, export, deletion."""
