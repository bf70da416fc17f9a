"""meshbeam: a private WireGuard mesh for BEAM clusters, with distribution bound to it."""

__version__ = "0.1.0"
