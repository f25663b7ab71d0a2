"""The inference hot path: authenticate, apply policy, (cache,) route, account.

One process composes these modules; each is small and named for what it does.
"""
