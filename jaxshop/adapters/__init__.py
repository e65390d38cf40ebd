"""Adapters that expose jaxshop envs through other RL libraries' APIs.

`jaxshop.adapters.jumanji` wraps any jaxshop env as a `jumanji.Environment`; it imports
`jumanji` only when used (optional extra: `pip install 'jaxshop[bench]'`).
"""

__all__ = ["jumanji"]
