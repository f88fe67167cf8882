"""Where the core meets the outside: sockets, the handshake, the channel layer, Redis, metrics.

Also the process's wiring (``runtime``) and its ASGI lifespan.
"""
