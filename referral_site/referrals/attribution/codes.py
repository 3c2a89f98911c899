"""Referral codes: drawn from an unambiguous alphabet; input normalised."""

import re
import secrets

#: No 0/O, 1/I/L: a code read aloud or copied by hand survives.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
#: What a code may look like at all; anything else is rejected before any query.
_CODE_SHAPE = re.compile(r"[A-Za-z0-9]{4,32}")


def generate_code(length: int = CODE_LENGTH) -> str:
    """Return a new random code (uniqueness is the database's job)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def normalize_code(raw: object) -> str | None:
    """Return the canonical (upper-case) form of a code, or None if it cannot be one."""
    if not isinstance(raw, str):
        return None
    candidate = raw.strip()
    if not _CODE_SHAPE.fullmatch(candidate):
        return None
    return candidate.upper()
