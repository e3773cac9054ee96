"""Neural-network building blocks (layer 4 of DESIGN.md)."""
from . import functional
