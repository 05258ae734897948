"""The book: running the chapters, glued numbers and prose, figures."""
