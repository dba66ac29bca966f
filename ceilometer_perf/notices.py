# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

"""Log lines an operator can act on, once per host rather than per cycle."""

import threading

from oslo_log import log

LOG = log.getLogger('ceilometer_perf')


class Notices:
    """Remembers which conditions were already reported by this process."""

    def __init__(self, logger=LOG):
        self._log = logger
        self._seen = set()
        self._lock = threading.Lock()

    def once(self, key, level, msg, *args):
        """Log msg unless a line with this key was logged before."""
        if key in self._seen:
            return False      # The common case, and a set lookup is atomic.
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
        self._log.log(level, msg, *args)
        return True

    def clear(self, key):
        """Forget key; returns whether it had been reported."""
        if key not in self._seen:
            return False      # Every cycle, for every pollster: no lock.
        with self._lock:
            if key in self._seen:
                self._seen.discard(key)
                return True
            return False

    def seen(self, key):
        return key in self._seen      # A set lookup is atomic.
