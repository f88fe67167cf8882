"""Tandem: a collaborative document editor backend speaking the Yjs protocol."""
