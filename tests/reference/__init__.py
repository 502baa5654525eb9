"""Slow, obvious reference implementations that the fast code is checked against."""
