"""The canonical event schema and the book's vocabulary, named once.

Every module and chapter takes the event types, their funnel order, the canonical
columns and the reasons a row can be dropped from here, so a new event type or column
is one edit. This module imports nothing of the package: everything may depend on it.
"""

from __future__ import annotations

# The event types of the canonical log, in funnel order of a visit.
CANONICAL_EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
# The steps a session's funnel counts (remove_from_cart is a leak, not a step).
FUNNEL_STEPS = ("view", "cart", "purchase")
# how finely a log records times, finest first
TIME_RESOLUTIONS = ("second", "minute", "hour", "day")
# Plural names of the event types, as feature names use them (views_30d, ...).
EVENT_SHORT = {
    "view": "views",
    "cart": "carts",
    "remove_from_cart": "removes",
    "purchase": "purchases",
}

# The canonical schema: name, engine type, meaning (also the book's column dictionary).
CANONICAL_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("event_time", "timestamp", "When the event happened, in UTC (naive timestamp)."),
    ("event_type", "string", "One of view, cart, remove_from_cart, purchase."),
    ("product_id", "string", "Product identifier, kept as text so long ids stay exact."),
    ("category_id", "string", "Category identifier, text (REES46 ids have 19 digits)."),
    ("category_code", "string", "Category path such as electronics.smartphone; may be missing."),
    ("brand", "string", "Brand name, lower case; may be missing."),
    ("price", "float64", "Price at the event (an invoice line's value); may be missing."),
    ("user_id", "string", "User identifier, text."),
    ("user_session", "string", "Session identifier: from the log, or derived from a gap."),
)
CANONICAL_NAMES = tuple(name for name, _, _ in CANONICAL_COLUMNS)
REQUIRED = ("event_time", "event_type", "user_id")

DROP_REASONS = {
    "malformed_line": "Malformed line (wrong number of fields, broken quoting)",
    "event_type_dropped": "Event type mapped to drop",
    "return_line": "Quantity of zero or less (a return or cancellation line)",
    "cancelled_purchase": "Purchase line netted against a later cancellation of it",
    "incomplete_row": "Missing time, user or event type",
    "invalid_price": "Price is not a number or is infinite",
    "before_study_window": "Before the study window",
    "after_study_window": "After the study window",
    "duplicate_row": "Exact duplicate of another row (every column of the file)",
}
