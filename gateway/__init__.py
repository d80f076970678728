"""camgate: an edge camera gateway."""

__version__ = "0.1.0"
