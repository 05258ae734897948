"""shoplog: churn and purchase analysis of e-commerce event logs, published as a book."""

# one source for the version; CHANGELOG.md says what changed in each
__version__ = "0.6.0"
