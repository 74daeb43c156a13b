"""KVS Studio: stream a camera or a video file live into Amazon Kinesis Video Streams."""

__version__ = "0.1.0"
