"""alliance-learning models package."""
