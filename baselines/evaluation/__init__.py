"""Evaluation of methods, the one library behind `jaxshop eval` and the study scripts.

- `suite`: a benchmark suite or a folder of files, gaps to the best-known bounds
  (`evaluate_suite`);
- `generated`: a generator-defined suite of random instances in bounded memory
  (`evaluate_generated`), through a method's pure batched solver;
- `fab`: a fab policy over simulated fabs (`evaluate_fab`, `fab_run`).

Solvers (`Method.solve`, and `Method.batch_makespans` for generated suites) take the
first two paths, policies of envs without instances (`Method.policy`) the third.
"""
