"""E-mail addresses and phone numbers in free text, found and replaced by placeholders.

Reviews are written by customers, who paste contact details into them ("call me on ..."). Silver
keeps the text for analysis and the model, never the contact details: each match becomes
`[email]` or `[phone]`, so the sentence still reads and a reader can see something was removed.
"""

from __future__ import annotations

import polars as pl

EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
#: A phone number: an optional +country code, then an area code in parentheses and two groups,
#: or three to five groups of digits separated by spaces, dots or dashes, or + and 8-14 digits.
#: Plain numbers in prose ("2 of them", "in 2024", "order 12345678") do not look like that.
PHONE = (
    r"(?:\+\d{1,3}[\s.-]?)?"
    r"(?:\(\d{2,5}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}|\d{2,4}(?:[\s.-]\d{2,4}){2,4})"
    r"|\+\d{8,14}"
)
EMAIL_PLACEHOLDER = "[email]"
PHONE_PLACEHOLDER = "[phone]"


def has_pii(text: pl.Expr) -> pl.Expr:
    """True where the text holds an e-mail address or a phone number (False for NULL)."""
    return (text.str.contains(EMAIL) | text.str.contains(PHONE)).fill_null(False)


def redact(text: pl.Expr) -> pl.Expr:
    """The text with every e-mail address and phone number replaced by its placeholder."""
    return text.str.replace_all(EMAIL, EMAIL_PLACEHOLDER).str.replace_all(PHONE, PHONE_PLACEHOLDER)
