"""What training and serving share: the rulebook, the feature definition, the model and its contract.

``app`` imports nothing from ``training``; both import from here (tests/test_boundaries.py).
"""
