"""The ad server's side of the floors table: read a floor by key, with fallback and expiry."""

from serving.floor_reader import FloorReader

__all__ = ["FloorReader"]
