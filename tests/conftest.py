from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.helpers import CI_EXAMPLES

# `dev` while iterating, `ci` (default) for the suite, `deep` for a long hunt before a release:
# chosen by KUBEMIG_HYPOTHESIS_PROFILE.
SLOW_OK = [HealthCheck.too_slow]
settings.register_profile("ci", max_examples=CI_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("deep", max_examples=20 * CI_EXAMPLES, deadline=None, suppress_health_check=SLOW_OK)
settings.load_profile(os.environ.get("KUBEMIG_HYPOTHESIS_PROFILE", "ci"))
