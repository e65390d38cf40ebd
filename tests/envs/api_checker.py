"""Re-export of the packaged API checker (`jaxshop.testing`) for the test modules."""

from jaxshop.testing import *  # noqa: F401,F403
from jaxshop.testing import check_env  # noqa: F401
