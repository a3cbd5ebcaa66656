"""The seed's streaming system: queues, sessions, the pool, modules, traces, models, tools, agents, flows."""
