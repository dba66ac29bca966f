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

"""local_instances_cached: Ceilometer's local_instances, parsed once per boot.

Ceilometer's `local_instances` discovery with `instance_discovery_method =
libvirt_metadata` asks libvirt three things per domain and cycle (nova's
metadata, the domain XML, the state) and parses both XML documents, for
instances that have not changed.  This discovery returns the same
NovaLikeServer objects (same fields, same values, shut-off domains
included, domains without nova metadata left out) from:

- one libvirt call per cycle: getAllDomainStats(STATE) of every domain,
  which lists them and gives their states in bulk (the UUID, name and id
  of each domain come with the listing, no call);
- a parse of a domain's metadata and XML only when its boot is new (UUID
  and domain id; a shut-off domain has id -1) or libvirt said it changed:
  lifecycle events (defined, started, stopped, ...) and metadata-change
  events on the read-only connection, dispatched by libvirt's default
  event loop in a daemon thread.  Without events (the loop cannot be
  registered) every cycle reads each domain's metadata and parses again
  the ones whose metadata changed;
- a libvirtd restart or reconnect drops everything learned.

The Nova API lookups (flavor id of metadata without one, server metadata
with fetch_extra_metadata) are Ceilometer's own methods and LRU caches:
this class is Ceilometer's InstanceDiscovery with another discover().
They happen only when an instance is parsed, so never more often than
Ceilometer makes them.  A failed lookup loses that instance only (one log
line; it is parsed again next cycle), where Ceilometer loses the host's
whole discovery for the cycle.
"""

import hashlib
import threading
import time

from ceilometer.compute import discovery as ceilometer_discovery
from ceilometer.compute.virt.libvirt import utils as libvirt_utils
from lxml import etree
from oslo_log import log

from ceilometer_perf import reader

try:
    import libvirt
except ImportError:  # pragma: no cover - libvirt-python is a dependency
    libvirt = None

LOG = log.getLogger(__name__)

NovaLikeServer = ceilometer_discovery.NovaLikeServer

STATS_STATE = 1                 # VIR_DOMAIN_STATS_STATE
NOVA_NAMESPACES = libvirt_utils.NOVA_METADATA_VERSIONS
METADATA_ELEMENT = 2            # VIR_DOMAIN_METADATA_ELEMENT
ERR_NO_DOMAIN_METADATA = 80     # VIR_ERR_NO_DOMAIN_METADATA
EVENT_ID_LIFECYCLE = 0          # VIR_DOMAIN_EVENT_ID_LIFECYCLE
EVENT_ID_METADATA_CHANGE = 23   # VIR_DOMAIN_EVENT_ID_METADATA_CHANGE

_LOOP_LOCK = threading.Lock()
_LOOP = []


def event_loop():
    """libvirt's default event loop, running in a daemon thread.

    Registered once per process, before the connections that want events
    are opened (nova-compute does the same).  Returns False if it cannot
    be registered.
    """
    with _LOOP_LOCK:
        if not _LOOP:
            try:
                libvirt.virEventRegisterDefaultImpl()
            except Exception as exc:
                LOG.warning('ceilometer-perf: no libvirt event loop (%s); '
                            'local_instances_cached reads every domain\'s '
                            'metadata each cycle', exc)
                _LOOP.append(None)
                return False
            thread = threading.Thread(target=_run_event_loop, daemon=True,
                                      name='ceilometer-perf-libvirt-events')
            thread.start()
            _LOOP.append(thread)
        return _LOOP[0] is not None


def _run_event_loop():
    while True:
        try:
            if libvirt.virEventRunDefaultImpl() < 0:
                time.sleep(0.1)
        except Exception:
            LOG.exception('ceilometer-perf: libvirt event loop')
            time.sleep(1.0)


class Unparsable(Exception):
    """Nova metadata this discovery (like Ceilometer's) cannot use."""


class LookupFailed(Exception):
    """A Nova API lookup failed: retried next cycle."""


class _Entry:
    """What one domain boot gave: the state-independent fields."""
    __slots__ = ('domain_id', 'fields', 'metadata')

    def __init__(self, domain_id, fields, metadata):
        self.domain_id = domain_id
        self.fields = fields        # None: not an instance (no metadata)
        self.metadata = metadata    # the metadata XML it was parsed from


class CachedInstanceDiscovery(ceilometer_discovery.InstanceDiscovery):
    """Ceilometer's local_instances (libvirt_metadata), cached per boot."""

    method = 'libvirt_metadata'

    def __init__(self, conf, opener=None, events=True):
        super().__init__(conf)
        self.uri = reader.libvirt_uri(conf)
        self._opener = opener or self._open_read_only
        self._want_events = events
        self._connection = reader.Connection(self.uri, self._open)
        self._lock = threading.Lock()
        self._cycle_lock = threading.Lock()
        self._entries = {}
        self._dirty = set()
        self._lost = False
        self._generation = None
        self._events = False
        self._complained = set()
        self._unavailable = False
        # For tests and the benchmark.
        self.parsed = 0
        self.cycles = 0
        self.events = 0

    # -- connection and events --------------------------------------------

    def _open_read_only(self, uri):
        if self._want_events:
            event_loop()
        return libvirt.openReadOnly(uri)

    def _open(self, uri):
        conn = self._opener(uri)
        events = False
        if conn is not None and self._want_events:
            try:
                for event_id in (EVENT_ID_LIFECYCLE,
                                 EVENT_ID_METADATA_CHANGE):
                    conn.domainEventRegisterAny(None, event_id,
                                                self._on_event, None)
                conn.registerCloseCallback(self._on_close, None)
                events = True
            except Exception as exc:
                LOG.warning('ceilometer-perf: no libvirt domain events on '
                            '%s (%s); local_instances_cached reads every '
                            'domain\'s metadata each cycle', uri,
                            reader._one_line(exc))
        with self._lock:
            self._events = events
            self._lost = False
        return conn

    def _on_event(self, conn, domain, *args):
        # In the event loop's thread: note it, nothing more.
        try:
            uuid = domain.UUIDString()
        except Exception:  # noqa: S110 - the domain is gone: relisted
            return
        with self._lock:
            self._dirty.add(uuid)
            self.events += 1

    def _on_close(self, conn, reason, opaque):
        with self._lock:
            self._lost = True

    # -- discovery --------------------------------------------------------

    def discover(self, manager, param=None):
        with self._cycle_lock:
            try:
                return self._discover()
            except Exception as exc:
                if not reader._is_disconnect(exc):
                    raise
                # libvirtd went away between the listing and a parse.
                self._connection.close()
                return self._discover()

    def _discover(self):
        with self._lock:
            lost = self._lost
        if lost:
            self._connection.close()
        try:
            listing, generation = self._connection.call(
                lambda conn: conn.getAllDomainStats(STATS_STATE, 0),
                with_generation=True)
        except Exception as exc:
            if not self._unavailable:
                LOG.error('ceilometer-perf: local_instances_cached cannot '
                          'list the domains at %s: %s', self.uri,
                          reader._one_line(exc))
            self._unavailable = True
            return []
        if self._unavailable:
            LOG.info('ceilometer-perf: local_instances_cached lists the '
                     'domains at %s again', self.uri)
            self._unavailable = False
        with self._lock:
            if generation != self._generation:
                # A new connection: libvirtd restarted, or we reconnected
                # and may have missed events.
                self._entries = {}
                self._generation = generation
                self._dirty = set()
            dirty, self._dirty = self._dirty, set()
            events = self._events
            entries = self._entries
        for uuid in dirty:
            entries.pop(uuid, None)
        self.cycles += 1
        return self._instances(listing, entries, events)

    def _instances(self, listing, entries, events):
        host = self.conf.host
        power_states = libvirt_utils.LIBVIRT_POWER_STATE
        statuses = libvirt_utils.LIBVIRT_STATUS
        instances = []
        seen = set()
        for domain, domain_stats in listing:
            uuid = domain.UUIDString()
            domain_id = domain.ID()
            seen.add(uuid)
            entry = entries.get(uuid)
            if entry is not None and not events:
                entry = self._still_valid(domain, entry)
            if entry is None or entry.domain_id != domain_id:
                entry = self._parse(domain, uuid, domain_id)
                if entry is None:
                    continue
                entries[uuid] = entry
            if entry.fields is None:
                continue
            state = domain_stats.get('state.state')
            if state is None:
                state = domain.state()[0]
            server = NovaLikeServer.__new__(NovaLikeServer)
            data = server.__dict__
            data.update(entry.fields)
            data['OS-EXT-SRV-ATTR:instance_name'] = domain.name()
            data['OS-EXT-SRV-ATTR:host'] = host
            data['OS-EXT-STS:vm_state'] = power_states.get(state)
            data['status'] = statuses.get(state)
            instances.append(server)
        if len(entries) > len(seen) or len(self._complained) > len(seen):
            for uuid in [u for u in entries if u not in seen]:
                del entries[uuid]
            self._complained &= seen
        return instances

    def _still_valid(self, domain, entry):
        """Without events: the entry, if the metadata is what it was."""
        try:
            metadata = self._metadata(domain)
        except Exception:
            return None
        return entry if metadata == entry.metadata else None

    def _metadata(self, domain):
        """nova's metadata XML of the domain, or None if it has none."""
        for namespace in NOVA_NAMESPACES:
            try:
                return domain.metadata(METADATA_ELEMENT, namespace)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == ERR_NO_DOMAIN_METADATA:
                    continue
                raise
        return None

    def _parse(self, domain, uuid, domain_id):
        """A new _Entry for this boot; None to try again next cycle."""
        try:
            metadata = self._metadata(domain)
            if metadata is None:
                self._complain(uuid, 'has no nova metadata: not an '
                               'instance')
                return _Entry(domain_id, None, None)
            xml = domain.XMLDesc(0)
            self.parsed += 1
            fields = self.instance_fields(uuid, metadata, xml)
        except LookupFailed as exc:
            self._complain(uuid, 'left out this cycle, its Nova API lookup '
                           'failed: %s' % exc)
            return None
        except Unparsable as exc:
            self._complain(uuid, 'left out: %s' % exc)
            return _Entry(domain_id, None, metadata)
        except libvirt.libvirtError as exc:
            if reader._is_disconnect(exc):
                raise
            # Gone between the listing and now, most likely.
            LOG.debug('domain %s skipped this cycle: %s', uuid, exc)
            return None
        self._complained.discard(uuid)
        return _Entry(domain_id, fields, metadata)

    def _complain(self, uuid, text):
        if uuid not in self._complained:
            self._complained.add(uuid)
            LOG.error('ceilometer-perf: domain %s %s', uuid, text)

    # -- Nova API lookups: Ceilometer's, with its caches --------------------

    def get_flavor_id(self, name):
        try:
            return super().get_flavor_id(name)
        except Exception as exc:
            raise LookupFailed('flavor %s: %s' % (
                name, reader._one_line(exc))) from exc

    def get_server(self, uuid):
        try:
            return super().get_server(uuid)
        except Exception as exc:
            raise LookupFailed('server %s: %s' % (
                uuid, reader._one_line(exc))) from exc

    # -- parsing: what Ceilometer's discover_libvirt_polling builds --------

    def instance_fields(self, uuid, metadata, xml):
        """The state-independent NovaLikeServer fields of one domain."""
        try:
            full_xml = etree.fromstring(xml)
            metadata_xml = etree.fromstring(metadata)
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise Unparsable('XML: %s' % exc) from exc
        os_type_xml = full_xml.find('./os/type')
        try:
            flavor_xml = metadata_xml.find('./flavor')
            user_id = metadata_xml.find('./owner/user').attrib['uuid']
            project_id = metadata_xml.find('./owner/project').attrib['uuid']
            instance_name = metadata_xml.find('./name').text
            arch = os_type_xml.attrib['arch']
            server = None
            if not hasattr(ceilometer_discovery.InstanceDiscovery,
                           "get_flavor_id"):
                # Ceilometer 24: flavor id and metadata from servers.get.
                server = self.get_server(uuid)
            flavor = self._flavor(flavor_xml, uuid, server)
            image_xml = metadata_xml.find("./root[@type='image']")
            image = ({'id': image_xml.attrib['uuid']}
                     if image_xml is not None else None)
            image_meta = _image_meta(metadata_xml.find('./image'))
            # (An option of Ceilometer 26 and later.)
            if server is None and getattr(self.conf.compute,
                                          'fetch_extra_metadata', False):
                server = self.get_server(uuid)
            server_metadata = (server.metadata if server is not None
                               else {})
        except LookupFailed:
            raise
        except AttributeError as exc:
            # Ceilometer: "metadata was missing expected attributes".
            raise Unparsable('metadata was missing expected attributes '
                             '(%s)' % exc) from exc
        except (KeyError, ValueError, TypeError) as exc:
            # Ceilometer fails the whole host's discovery on these.
            raise Unparsable('unusable metadata (%s: %s)' % (
                type(exc).__name__, exc)) from exc
        fields = {
            'id': uuid,
            'name': instance_name,
            'flavor': flavor,
            'image': image,
            'os_type': os_type_xml.text,
            'architecture': arch,
            'tenant_id': project_id,
            'user_id': user_id,
            'hostId': hashlib.sha224(
                (project_id + self.conf.host).encode('utf-8')).hexdigest(),
            'metadata': server_metadata,
        }
        # Ceilometer 25 and later read <nova:image> (and extra specs).
        if image_meta is not None and hasattr(self,
                                              '_get_flavor_extra_specs'):
            fields['image_meta'] = image_meta
        return fields

    def _flavor(self, flavor_xml, uuid, server=None):
        find_int = self._safe_find_int
        if hasattr(self, '_get_flavor_id'):
            flavor_id = self._get_flavor_id(flavor_xml, uuid)
        elif hasattr(ceilometer_discovery.InstanceDiscovery,
                           "get_flavor_id"):
            # Ceilometer 25 and 26: always from the Nova API, by name.
            flavor_id = self.get_flavor_id(flavor_xml.attrib['name'])
        else:
            # Ceilometer 24: the server's flavor, else the name.
            flavor_id = (server.flavor['id'] if server is not None
                         else flavor_xml.attrib['name'])
        flavor = {
            'id': flavor_id,
            'name': flavor_xml.attrib['name'],
            'vcpus': find_int(flavor_xml, 'vcpus'),
            'ram': find_int(flavor_xml, 'memory'),
            'disk': find_int(flavor_xml, 'disk'),
            'ephemeral': find_int(flavor_xml, 'ephemeral'),
            'swap': find_int(flavor_xml, 'swap'),
        }
        extra_specs_of = getattr(self, '_get_flavor_extra_specs', None)
        extra_specs = extra_specs_of(flavor_xml) if extra_specs_of else None
        if extra_specs is not None:
            flavor['extra_specs'] = extra_specs
        return flavor


def _image_meta(image_meta_xml):
    """nova's <image> element as Ceilometer reads it; None if absent."""
    if image_meta_xml is None:
        return None
    image_meta = {}
    base_image_ref = image_meta_xml.attrib.get('uuid')
    if base_image_ref is not None:
        image_meta['base_image_ref'] = base_image_ref
    for tag, key in (('containerFormat', 'container_format'),
                     ('diskFormat', 'disk_format'),
                     ('minDisk', 'min_disk'), ('minRam', 'min_ram')):
        element = image_meta_xml.find('./' + tag)
        if element is not None:
            image_meta[key] = element.text
    properties_xml = image_meta_xml.find('./properties')
    if properties_xml is not None:
        for prop in properties_xml.findall('./property'):
            image_meta[prop.attrib['name']] = prop.text
    return image_meta
