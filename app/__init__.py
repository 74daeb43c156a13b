"""KVS Studio: stream a camera or a video file live into Amazon Kinesis Video Streams."""

import os

__version__ = "0.1.0"

# OpenCV prints "[ WARN:0@0.021] ... can't open camera by index" and the like on its own stderr for
# every probe of a missing camera; we report those failures ourselves. It reads this once, at import,
# so it is set before anything imports cv2. A user's own OPENCV_LOG_LEVEL wins (e.g. DEBUG to debug).
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
