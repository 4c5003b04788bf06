"""The endpoint families, each a table of (method, path pattern, handler)."""
