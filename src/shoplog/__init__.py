"""shoplog: churn and purchase analysis of e-commerce event logs, published as a book."""

__version__ = "0.1.0"
