"""The legacy side of the translation, pure: v1 requests in, v1 answers out; no I/O."""
