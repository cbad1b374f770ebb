"""alliance-learning data package."""
