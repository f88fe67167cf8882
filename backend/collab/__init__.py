"""Real-time collaboration: the y-websocket rooms, their durable log, and its REST API.

Four layers, importing only toward the core (docs/architecture.md, "Layers"; checked by
tests/test_layers.py): ``core`` (the room and what it thinks with), ``storage`` (the log in
the database), ``edge`` (sockets, the channel layer, Redis, the process's wiring) and ``api``
(REST). Models and migrations stay here, where Django expects them.
"""
