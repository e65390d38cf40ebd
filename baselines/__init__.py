"""jaxshop baselines: dispatching rules, NEH, iterated greedy and learning agents."""
