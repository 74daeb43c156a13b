"""Orchestration: threads and the event loop live here; Qt does not."""
