"""Endpoints (to be written)."""

routes: list = []
