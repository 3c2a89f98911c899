"""Post-login redirect targets: only paths on this site are followed."""

from urllib.parse import urlsplit


def safe_next_path(target: str | None, default: str) -> str:
    """Return target if it is a local path, else default.

    Browsers treat backslashes as slashes and ignore tabs and newlines inside URLs,
    so "/\\evil.example" or "/\t/evil.example" would leave the site; refuse them.
    """
    if not target or any(ord(ch) < 32 or ch == "\\" for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return default
    if target.startswith("//"):
        return default
    return target
