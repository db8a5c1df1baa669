"""The upstream side of the translation, pure: what to ask v2, and what its answers mean; no I/O."""
