"""image-v1-proxy: the OpenStack image API v1/v1.1 served on top of a v2 upstream."""

__version__ = "0.1.0"
