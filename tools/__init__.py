"""The project's tools, importable by one another and by the tests.

Modules here serve the benchmark, the demo and the tests alike:
localguests (TCG guests that look like nova instances), fakelibvirt (a
libvirt connection serving recorded stats records) and libvirtcalls
(counting libvirt API calls).  The plugin (ceilometer_perf) never imports
anything from here.
"""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
