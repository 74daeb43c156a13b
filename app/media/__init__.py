"""Capture and encoding (OpenCV, PyAV): no network, no Qt."""
