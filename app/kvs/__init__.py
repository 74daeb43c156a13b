"""Kinesis Video Streams protocol pieces: pure, no sockets, threads or wall clock."""
