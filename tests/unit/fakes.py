"""A fake libvirt connection serving recorded bulk stats records.

Only for unit tests of parsing and edge cases; the functional tests run the
same code against a real libvirtd.
"""

import errno
import json
import os

import libvirt
from ceilometer.compute import discovery

from ceilometer_perf import stats

RECORDS = os.path.join(os.path.dirname(__file__), 'records')


def load(name):
    with open(os.path.join(RECORDS, name)) as f:
        return json.load(f)['domains']


def load_cycles(name):
    """The successive bulk reads of a record with 'cycles'."""
    with open(os.path.join(RECORDS, name)) as f:
        return [cycle['domains'] for cycle in json.load(f)['cycles']]


def libvirt_error(code, domain, message='broken'):
    err = libvirt.libvirtError(message)
    err.err = (code, domain, message, 2, None, None, None, -1, -1)
    return err


def broken_pipe():
    """What a call on a connection to a restarted libvirtd raises."""
    return libvirt_error(errno.EPIPE, libvirt.VIR_FROM_RPC,
                         'Cannot write data: Broken pipe')


class NoDomain(Exception):
    pass


class FakeDomain:
    def __init__(self, entry):
        self.entry = entry
        self.xml_reads = 0
        self.vanished = False
        # virDomainGetControlInfo: [state, details, milliseconds in it].
        self.control = [0, 0, 0]

    def UUIDString(self):
        return self.entry['uuid']

    def name(self):
        return self.entry['name']

    def ID(self):
        return self.entry['id']

    def controlInfo(self, flags=0):
        if self.vanished:
            raise NoDomain('Domain not found')
        return list(self.control)

    def XMLDesc(self, flags=0):
        if self.vanished:
            raise NoDomain('Domain not found')
        self.xml_reads += 1
        return self.entry.get('xml') or '<domain/>'


class FakeConnection:
    """Answers getAllDomainStats from records; counts every call."""

    def __init__(self, entries):
        self.domains = [FakeDomain(e) for e in entries]
        self.calls = []
        self.closed = False
        self.fail_with = None

    def getAllDomainStats(self, stats_flags, flags):
        self.calls.append((stats_flags, flags))
        if self.fail_with is not None:
            raise self.fail_with
        wanted = {name for name, flag in stats.FLAGS.items()
                  if stats_flags & flag}
        result = []
        for dom in self.domains:
            picked = {k: v for k, v in dom.entry['stats'].items()
                      if _group(k) in wanted}
            result.append((dom, picked))
        return result

    def close(self):
        self.closed = True


class Hypervisor:
    """A libvirtd serving successive bulk reads, and restarting.

    Pass `opener` to a HostState; show() sets what the next read returns;
    restart_libvirtd() breaks the current connection, as a real restart
    does, so the plugin reconnects to a fresh one.
    """

    def __init__(self, entries=()):
        self.connections = [FakeConnection(entries)]

    def opener(self, uri):
        return self.connections[-1]

    def show(self, entries):
        self.connections[-1].domains = [FakeDomain(e) for e in entries]

    def restart_libvirtd(self, entries):
        self.connections[-1].fail_with = broken_pipe()
        self.connections.append(FakeConnection(entries))


def _group(key):
    for prefix, group in stats.GROUP_OF_PREFIX:
        if key.startswith(prefix):
            return group
    return None


def instance(uuid, name='vm', extra_specs=None, image_meta=None):
    """An instance the way Ceilometer's libvirt_metadata discovery makes."""
    flavor = {'id': 'f1', 'name': 'm1.small', 'vcpus': 1, 'ram': 512,
              'disk': 1, 'ephemeral': 0, 'swap': 0}
    if extra_specs is not None:
        flavor['extra_specs'] = extra_specs
    data = {'id': uuid, 'name': name, 'flavor': flavor, 'image': None,
            'os_type': 'hvm', 'architecture': 'x86_64',
            'OS-EXT-SRV-ATTR:instance_name': 'instance-0001',
            'OS-EXT-SRV-ATTR:host': 'compute-1',
            'OS-EXT-STS:vm_state': 'running', 'tenant_id': 'p1',
            'user_id': 'u1', 'hostId': 'h1', 'status': 'active',
            'metadata': {}}
    if image_meta is not None:
        data['image_meta'] = image_meta
    return discovery.NovaLikeServer(**data)


def instances_for(entries):
    return [instance(e['uuid'], name=e['name']) for e in entries]
