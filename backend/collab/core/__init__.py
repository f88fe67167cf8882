"""The transport-free core: rooms, the sync and awareness protocol, update integration.

Imports nothing from Django, Channels, DRF or Redis; what it needs from outside is typed in
``ports``.
"""
