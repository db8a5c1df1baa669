"""The aiohttp shell: v1's routes and handlers, and the only code that calls the upstream
(and Keystone)."""
