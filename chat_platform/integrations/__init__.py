"""Channel integrations: adapters that speak a foreign chat protocol (Teams / Bot Framework)
and call the services for the use cases. Nothing here is imported by services or the engine."""
