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

"""Where the resctrl reconcile runs, and our privsep context.

Three ways, chosen per agent process:

in-process   the agent is root in the host's PID namespace (devstack as
             root, a package install running ceilometer-polling as root):
             reconcile.run() is called directly; no sudo needed.
privsep      the agent is not root (devstack's stack user, a package
             install as user ceilometer): reconcile.run() runs in the
             daemon of our own context, ``resctrl_pctxt``, started
             through ceilometer-polling's root helper (sudo
             ceilometer-rootwrap, filter etc/ceilometer/rootwrap.d/
             ceilometer-perf.filters).  It keeps uid 0 (writing ``tasks``
             is checked against the euid) and only CAP_DAC_OVERRIDE
             (mkdir/rmdir in the kernel's read-only ``mon_groups``, the
             root-only pid files); that is the least that works.
none         the agent is root but not in the host's PID namespace (kolla's
             ceilometer_compute): thread ids would name other processes,
             so it writes nothing and reads the groups that
             ``ceilometer-perf resctrl-sync`` keeps on the host.

The privileged side trusts nothing it is handed: reconcile.run()
validates the request (root path, names, uuids) and finds each
instance's threads itself from its verified QEMU.
"""

import os

from ceilometer_perf.resctrl import reconcile

IN_PROCESS = 'in-process'
PRIVSEP = 'privsep'
NONE = 'none'

CONTEXT_PATH = __name__ + '.resctrl_pctxt'
CFG_SECTION = 'ceilometer_perf_privsep_resctrl'

_context = None


def in_host_pid_namespace(proc='/proc'):
    """True unless this process sits in a nested PID namespace.

    /proc/self/status NSpid lists the pid in each namespace from the
    host's down; one number means the host's namespace.
    """
    try:
        with open(os.path.join(proc, 'self', 'status')) as f:
            for line in f:
                if line.startswith('NSpid:'):
                    return len(line.split()) == 2
    except OSError:
        pass
    return True       # kernels before 4.1 have no NSpid: no way to tell


# The operator commands (poll, check) never start a privsep daemon: sudo
# could prompt on their terminal.  As root they reconcile in-process.
PRIVSEP_ALLOWED = True


def how(euid=None, host_ns=None):
    """IN_PROCESS, PRIVSEP or NONE for this process."""
    euid = os.geteuid() if euid is None else euid
    host_ns = in_host_pid_namespace() if host_ns is None else host_ns
    if euid == 0:
        return IN_PROCESS if host_ns else NONE
    return PRIVSEP if host_ns and PRIVSEP_ALLOWED else NONE


def context():
    """Our PrivContext (made on first use: privsep pulls in eventlet)."""
    global _context
    if _context is None:
        from oslo_privsep import capabilities
        from oslo_privsep import priv_context
        _context = priv_context.PrivContext(
            'ceilometer_perf', cfg_section=CFG_SECTION,
            pypath=CONTEXT_PATH,
            capabilities=[capabilities.CAP_DAC_OVERRIDE])
    return _context


ENTRYPOINT = 'reconcile_request'
_entrypoint = None


def _reconcile(request):
    return reconcile.run(request)


# The daemon imports '<module>.<function name>' and checks it is an
# entrypoint of our context: the name resolves to the wrapped function
# through __getattr__ below.
_reconcile.__name__ = ENTRYPOINT


def _wrapped():
    global _entrypoint
    if _entrypoint is None:
        _entrypoint = context().entrypoint(_reconcile)
    return _entrypoint


def __getattr__(name):
    # privsep-helper --privsep_context ceilometer_perf.resctrl.privileged.
    # resctrl_pctxt imports the context by this attribute, the daemon the
    # entrypoint by its name.
    if name == 'resctrl_pctxt':
        return context()
    if name == ENTRYPOINT:
        return _wrapped()
    raise AttributeError(name)


def run_privileged(request):
    """reconcile.run(request) in our privsep daemon."""
    return _wrapped()(request)


def runner(method):
    """The callable doing reconcile.run(request) for a method, or None."""
    if method == IN_PROCESS:
        return reconcile.run
    if method == PRIVSEP:
        return run_privileged
    return None
