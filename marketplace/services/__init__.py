"""Use cases: each takes its collaborators and plain values, opens one unit of work, returns domain data."""
