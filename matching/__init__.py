"""Matching engine: pure PuLP, plain data in, plain data out (see issue 5)."""
