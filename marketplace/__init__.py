"""Crowdship marketplace: domain, services, persistence, payments, wiring and CLI."""
