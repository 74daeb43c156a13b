"""The PySide6 window. Only this package imports Qt; it talks to the engine through signals."""
