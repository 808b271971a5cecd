"""The MovieLens-100K item schema that models read: its 19 genre flags, in the file's order."""
from __future__ import annotations

__all__ = ["GENRES"]

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western"]
