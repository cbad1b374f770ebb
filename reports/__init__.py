"""alliance-learning reports package."""
