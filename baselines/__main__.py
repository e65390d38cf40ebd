"""`python -m jaxshop_baselines`: the `jaxshop` command line."""

import sys

from jaxshop_baselines.cli import main

sys.exit(main())
