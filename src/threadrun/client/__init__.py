"""The Assistants v2 client: the endpoints, a run's lifecycle (create, stream or poll, reply, cancel), pacing and the scratch assistant."""
