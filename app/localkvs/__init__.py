"""The local KVS-compatible endpoint: offline default of the app and the server every test uses."""
