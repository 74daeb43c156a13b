"""Matroska (EBML) framing: pure bytes in, bytes or events out."""
