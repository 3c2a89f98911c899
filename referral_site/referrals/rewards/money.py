"""Money shown from integer minor units: no floats anywhere between storage and text."""

from referral_site.referrals.rewards.currencies import exponent

#: Symbols for the currencies a reader recognises without a code.
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}


def format_money(amount_minor: int, currency: str) -> str:
    """Format e.g. (1000, "USD") as "$10.00" and (1000, "CHF") as "CHF 10.00"."""
    currency = (currency or "").upper()
    digits = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(int(amount_minor)), 10**digits)
    number = f"{units:,}" + (f".{minor:0{digits}d}" if digits else "")
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency} {number}"


def format_plain(amount_minor: int, currency: str) -> str:
    """The amount as a plain decimal string for CSV files: (1000, "USD") -> "10.00"."""
    digits = exponent((currency or "").upper())
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(int(amount_minor)), 10**digits)
    return f"{sign}{units}" + (f".{minor:0{digits}d}" if digits else "")


def to_minor(text: str, currency: str) -> int:
    """A typed decimal amount in minor units: ("12.5", "USD") -> 1250.

    ValueError when it is not a plain number with at most the currency's decimals.
    """
    digits = exponent((currency or "").upper())
    cleaned = (text or "").strip().replace(",", "")
    whole, _, fraction = cleaned.partition(".")
    if not whole.isdigit() and not (whole == "" and fraction.isdigit()):
        raise ValueError("a number such as 12.50")
    if not (fraction == "" or fraction.isdigit()) or len(fraction) > digits:
        raise ValueError(f"a number with at most {digits} decimals")
    return int(whole or "0") * 10**digits + int(fraction.ljust(digits, "0") or "0")
