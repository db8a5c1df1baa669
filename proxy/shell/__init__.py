"""The aiohttp shell: the only code that does HTTP, server side (routes, handlers) and client side (the upstream, Keystone)."""
