"""Real peers the tests run against: an RTSP server, the camgate daemon, ffprobe."""
