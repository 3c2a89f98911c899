"""Following referral links: bots, signed cookies, code lookups, visits."""
