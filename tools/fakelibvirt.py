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

"""A fake libvirt connection serving recorded bulk stats records.

The unit tests (tests/unit/fakes.py adds failures and restarts) and the
benchmark's simulated domains (tools/bench/simulated.py) both read
recorded records through this; the functional tests run the same plugin
code against a real libvirtd.  The records are the JSON files of
tests/unit/records, written by tools/record_stats.py.
"""

import json
import os

import libvirt
from ceilometer.compute import discovery
from lxml import etree

from ceilometer_perf import stats
from tools import ROOT

RECORDS = os.path.join(ROOT, 'tests', 'unit', 'records')


def load(name):
    """The domains of one bulk read of a record file."""
    with open(os.path.join(RECORDS, name)) as f:
        return json.load(f)['domains']


def load_cycles(name):
    """The successive bulk reads of a record with 'cycles'."""
    with open(os.path.join(RECORDS, name)) as f:
        return [cycle['domains'] for cycle in json.load(f)['cycles']]


class NoDomain(Exception):
    pass


def libvirt_error(code, domain, message='broken'):
    """A real libvirtError with this error code and domain."""
    err = libvirt.libvirtError(message)
    err.err = (code, domain, message, 2, None, None, None, -1, -1)
    return err


def metadata_of(xml, namespace):
    """The <metadata> element of `namespace` in a domain XML, the way
    virDomainGetMetadata returns it (the namespace stripped), or None."""
    try:
        root = etree.fromstring(xml)
    except (etree.XMLSyntaxError, ValueError):
        return None
    for element in root.iterfind('./metadata/{%s}*' % namespace):
        element = etree.fromstring(etree.tostring(element))
        for node in element.iter():
            if isinstance(node.tag, str) and node.tag.startswith('{'):
                node.tag = node.tag.split('}', 1)[1]
        etree.cleanup_namespaces(element)
        return etree.tostring(element, encoding='unicode')
    return None


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

    # What Ceilometer's libvirt_metadata discovery asks per domain.

    def metadata(self, type, uri, flags=0):
        if self.vanished:
            raise NoDomain('Domain not found')
        found = self.entry.setdefault('_metadata', {})
        if uri not in found:
            found[uri] = metadata_of(self.entry.get('xml') or '<domain/>',
                                     uri)
        if found[uri] is None:
            raise self.no_metadata()
        return found[uri]

    def no_metadata(self):
        return libvirt_error(libvirt.VIR_ERR_NO_DOMAIN_METADATA,
                             libvirt.VIR_FROM_DOMAIN,
                             'metadata not found: Requested metadata '
                             'element is not present')

    def state(self, flags=0):
        if self.vanished:
            raise NoDomain('Domain not found')
        return [self.entry['stats'].get('state.state', 1),
                self.entry['stats'].get('state.reason', 1)]


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

    def listAllDomains(self, flags=0):
        self.calls.append(('listAllDomains', flags))
        if self.fail_with is not None:
            raise self.fail_with
        return list(self.domains)

    def isAlive(self):
        return not self.closed and self.fail_with is None

    # Domain events: registered callbacks, fired by the tests.

    def domainEventRegisterAny(self, dom, event_id, callback, opaque):
        self.__dict__.setdefault('callbacks', []).append(
            (event_id, callback, opaque))
        return len(self.callbacks) - 1

    def registerCloseCallback(self, callback, opaque):
        self.close_callback = (callback, opaque)

    def close(self):
        self.closed = True


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
