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

"""Count the libvirt API calls this process makes, by name.

One counter for the benchmark (calls per cycle of each case) and the
functional tests (one bulk stats call per polling task; no read-write
connection).  It wraps the functions of libvirt's C module, so calls on
domains (info, memoryStats, ...) count as well as those on connections,
whoever makes them: the plugin, Ceilometer's discovery, its own perf
pollsters.  Opening a read-only connection counts as
virConnectOpenReadOnly, a read-write one as virConnectOpen or
virConnectOpenAuth.
"""

import libvirt

# libvirt API entry points answered inside the client, without a round
# trip to libvirtd; stop() leaves them out.
LOCAL_CALLS = frozenset((
    'virDomainGetUUIDString', 'virDomainGetUUID', 'virDomainGetName',
    'virDomainGetID', 'virConnectIsAlive', 'virDomainFree',
    'virGetLastError', 'virResetLastError', 'virRegisterErrorHandler',
    'virConnGetLastError', 'virConnResetLastError', 'virGetLastErrorCode',
    'virGetLastErrorDomain', 'virGetLastErrorMessage',
    # The event loop's own turns (local_instances_cached runs libvirt's
    # default event loop in a thread): dispatching, not a request.
    'virEventRunDefaultImpl'))

# What opening a read-write connection calls.
READ_WRITE_OPENS = frozenset(('virConnectOpen', 'virConnectOpenAuth'))


class CallCounter:
    """Counts calls between start() and stop(), into `counts`.

    The wrappers are in place only between start() and stop(): timed
    cycles run libvirt's own functions.  A function named in `refuse`
    raises AssertionError instead of running while counting.
    """

    def __init__(self, refuse=()):
        self.counts = {}
        self.refuse = frozenset(refuse)
        mod = libvirt.libvirtmod
        self._real = {name: getattr(mod, name) for name in dir(mod)
                      if name.startswith('vir')
                      and callable(getattr(mod, name))}

    def close(self):
        """Put libvirt's own functions back."""
        for name, func in self._real.items():
            setattr(libvirt.libvirtmod, name, func)

    def _wrap(self, name, func):
        if name in self.refuse:
            def refused(*args, **kwargs):
                raise AssertionError('libvirt %s called' % name)
            return refused

        def counted(*args, **kwargs):
            self.counts[name] = self.counts.get(name, 0) + 1
            return func(*args, **kwargs)
        return counted

    def start(self):
        """Count from zero; `counts` fills as the calls are made."""
        self.counts = {}
        for name, func in self._real.items():
            setattr(libvirt.libvirtmod, name, self._wrap(name, func))
        return self.counts

    def stop(self):
        """libvirt's own functions back; the calls that reach libvirtd."""
        self.close()
        return {k: v for k, v in self.counts.items() if k not in LOCAL_CALLS}
