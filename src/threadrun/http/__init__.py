"""The one HTTP layer the client and the runtime's engines share: sessions, retries, server-sent events and a run's clock.

Internal: the public names are ``threadrun``'s own (``threadrun.__all__``).
"""
