"""alliance-learning analysis package."""
