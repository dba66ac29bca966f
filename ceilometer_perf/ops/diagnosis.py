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

"""`ceilometer-perf check`: what this host can produce, and why not.

Host capabilities are probed (hostcheck), instances are read from libvirt,
and which meters produce samples is found by a dry run of the plugin's real
pollsters through Ceilometer's polling code, so the verdicts agree with
`ceilometer-perf poll` by construction; the probes explain the gaps.
"""

import importlib.metadata
import os
import platform
import textwrap
import time
from xml.etree import ElementTree

from ceilometer_perf import stats
from ceilometer_perf import catalogue
from ceilometer_perf import hints
from ceilometer_perf.ops import hostprobe
from ceilometer_perf import reader
from ceilometer_perf.resctrl import host as resctrl_host
from ceilometer_perf.kinds import vpmu

NOVA_NAMESPACES = ('http://openstack.org/xmlns/libvirt/nova/1.1',
                   'http://openstack.org/xmlns/libvirt/nova/1.0')
# What Ceilometer's discovery asks the Nova API for when the domain XML
# lacks it, rather than skipping the instance: nova < 32 (2025.1 and older)
# writes <nova:flavor> without id.
FROM_NOVA_API = ('flavor id',)
# The first Ceilometer release that asks the Nova API only for those
# instances (before it: about every instance, with servers.get).
CEILOMETER_LOCAL_ONLY = (27, 0)


def _version(number):
    return '%d.%d.%d' % (number // 1000000, number // 1000 % 1000,
                         number % 1000)


def _nova_instance(root):
    for ns in NOVA_NAMESPACES:
        inst = root.find('./metadata/{%s}instance' % ns)
        if inst is not None:
            return inst, '{%s}' % ns
    return None, None


def nova_metadata(root):
    """(display name, [missing fields]) of the nova metadata discovery needs.

    Ceilometer's libvirt_metadata discovery needs the instance name, the
    flavor with its id (else it asks the Nova API: FROM_NOVA_API) and the
    owner ids.
    """
    for ns in NOVA_NAMESPACES:
        inst = root.find('./metadata/{%s}instance' % ns)
        if inst is None:
            continue
        q = '{%s}' % ns
        missing = []
        name = inst.find(q + 'name')
        if name is None or not name.text:
            missing.append('name')
        flavor = inst.find(q + 'flavor')
        if flavor is None:
            missing.append('flavor')
        elif not flavor.get('id'):
            missing.append('flavor id')
        for who in ('user', 'project'):
            node = inst.find('%sowner/%s%s' % (q, q, who))
            if node is None or not node.get('uuid'):
                missing.append('owner %s uuid' % who)
        return (name.text if name is not None else None), missing
    return None, ['the whole <nova:instance> block']


def nova_record(root):
    """What nova recorded beyond discovery's needs, by nova release.

    {'nova_package': version or None, 'records_request': whether nova
    wrote <nova:extraSpecs> / <nova:image> (nova >= 32), 'request': the
    vPMU request as perf.vpmu's sample metadata has it}.
    """
    inst, q = _nova_instance(root)
    if inst is None:
        return {'nova_package': None, 'records_request': False,
                'request': {}}
    package = inst.find(q + 'package')
    specs_node = inst.find('%sflavor/%sextraSpecs' % (q, q))
    image_node = inst.find(q + 'image')
    specs = props = None
    if specs_node is not None:
        specs = {e.get('name'): e.text or ''
                 for e in specs_node.findall(q + 'extraSpec')}
    if image_node is not None:
        props = {e.get('name'): e.text or ''
                 for e in image_node.findall('%sproperties/%sproperty'
                                             % (q, q))}
    return {'nova_package': (package.get('version')
                             if package is not None else None),
            'records_request': specs is not None or props is not None,
            'request': vpmu.requested(specs, props)}


def ceilometer_release():
    try:
        return importlib.metadata.version('ceilometer')
    except importlib.metadata.PackageNotFoundError:
        return None


def ceilometer_version(release):
    """(major, minor) of a Ceilometer release string, or None."""
    if not release:
        return None
    return tuple(int(x) for x in release.split('.')[:2] if x.isdigit())


def instance_facts(domain, counted):
    xml = domain.XMLDesc(0)
    root = ElementTree.fromstring(xml)  # noqa: S314 - from local libvirtd
    display_name, missing = nova_metadata(root)
    blocking = [m for m in missing if m not in FROM_NOVA_API]
    enabled = sorted(e.get('name') for e in root.findall('./perf/event')
                     if e.get('enabled') == 'yes')
    state = vpmu.parse_domain_xml(xml)
    active = bool(domain.isActive())
    return {'domain': domain.name(), 'uuid': domain.UUIDString(),
            'name': display_name or domain.name(),
            'running': active,
            'nova_metadata_missing': missing,
            'discoverable': not blocking,
            'from_nova_api': [m for m in missing if m in FROM_NOVA_API],
            'nova': nova_record(root),
            'perf_events_enabled': enabled,
            'perf_events_counted': sorted(counted) if active else [],
            'vpmu': {'enabled': state.enabled,
                     'decided_by': state.decided_by,
                     'cpu_mode': state.cpu_mode}}


def _dry_poll(conf):
    """Instance ids per meter from two real polls, a second apart."""
    from ceilometer_perf.ops import localagent
    agent = localagent.LocalAgent(
        [{'name': 'check', 'interval': 60,
          'meters': [m.name for m in catalogue.METERS]}], conf)
    produced = {m.name: set() for m in catalogue.METERS}
    try:
        for attempt in range(2):
            if attempt:
                time.sleep(1)   # derived meters need two polls
            for s in agent.poll():
                if s['counter_name'] in produced:
                    produced[s['counter_name']].add(s['resource_id'])
    finally:
        agent.close()
    return produced


def explain(meter, host, instances):
    """(reason, fix) for instances that get no sample of this meter."""
    if not instances:
        return ('no running instance with complete nova metadata',
                'start instances through nova; Ceilometer discovers them '
                'from the nova metadata in the libvirt domain XML')
    for event in meter.events:
        kind = catalogue.EVENT_CLASS.get(event)
        if kind == 'hardware' and not host['hardware_pmu']['ok']:
            return ('%s: %s' % (event, host['hardware_pmu']['detail']),
                    'hardware events need a host PMU: bare metal, or a '
                    'virtual host with a vPMU')
        if kind == 'rdt' and not host['rdt_perf_pmu']['ok']:
            if not meter.fallback:
                return ('%s: %s' % (event, host['rdt_perf_pmu']['detail']),
                        'on kernels from 4.14 on, cache and memory '
                        'bandwidth monitoring goes through resctrl')
            problems = host['resctrl_problems'][meter.fallback]
            if problems:
                return ('no perf %s (%s) and no resctrl %s: %s'
                        % (event, host['rdt_perf_pmu']['detail'],
                           meter.fallback, problems[0]),
                        'a host with Intel RDT monitoring and resctrl '
                        'mounted (see the docs, "Cache and memory bandwidth '
                        'monitors")')
            return ('no resctrl %s monitor on instance %s'
                    % (meter.fallback, ', '.join(i['name']
                                                  for i in instances)),
                    'add a <cachetune>/<memorytune> monitor to the domain '
                    '(see the docs, "Cache and memory bandwidth monitors")')
        if kind == 'rdt':
            return ('%s: not counted for instance %s' % (
                        event, ', '.join(i['name'] for i in instances)),
                    hints.ENABLE_EVENT[catalogue.RDT])
        lacking = [i['name'] for i in instances
                   if event not in i['perf_events_counted']]
        if lacking:
            return ('%s: not in nova [libvirt] enabled_perf_events for '
                    'instance %s' % (event, ', '.join(lacking)),
                    'add %s to [libvirt] enabled_perf_events in nova.conf, '
                    '%s' % (event, hints.NOVA_RESTART))
    return ('no sample from the plugin (see the polling agent log)', '')


def nova_api_use(release, instances, fetch_extra_metadata=None):
    """How Ceilometer's discovery uses the Nova API on this host, or None.

    Ceilometer 24 asks about every instance (servers.get).  From 25 on it
    does so only with [compute] fetch_extra_metadata (default on in 25
    and 26, off from 27; None here means the release's default), and
    otherwise only for instances whose XML lacks the flavor id (nova < 32
    wrote it): a flavor lookup by name.  If the call fails, Ceilometer
    discovers no instance at all on this host that cycle.
    """
    pollable = [i for i in instances if i['running'] and i['discoverable']]
    old = [i['name'] for i in pollable if i['from_nova_api']]
    ceilometer = ceilometer_version(release) or CEILOMETER_LOCAL_ONLY
    release = release or 'unknown'
    unreachable = ('If Keystone or Nova cannot be reached, Ceilometer '
                   'discovers no instance on this host.')
    if ceilometer < (25, 0):
        every, why = True, ''
    else:
        if fetch_extra_metadata is None:
            fetch_extra_metadata = ceilometer < CEILOMETER_LOCAL_ONLY
        every = fetch_extra_metadata
        why = (' ([compute] fetch_extra_metadata is on; with it off, only '
               'for instances without a flavor id)')
    if every:
        if not pollable:
            return None
        return {'instances': [i['name'] for i in pollable], 'text': (
            'Ceilometer %s asks the Nova API (servers.get, with the '
            '[service_credentials] of ceilometer.conf) about every '
            'instance, whatever nova wrote%s. %s'
            % (release, why, unreachable))}
    if not old:
        return None
    return {'instances': old, 'text': (
        'Ceilometer %s asks the Nova API (flavor lookup by name, with the '
        '[service_credentials] of ceilometer.conf) for the flavor id of %d '
        'instance(s) whose XML nova < 32 (2025.1 or older) wrote; a hard '
        'reboot under nova >= 32 writes the id. %s'
        % (release, len(old), unreachable))}


def diagnose(conf, connection):
    conn_call = connection.call
    support = resctrl_host.host_support()
    host = {
        'libvirt_uri': connection.uri,
        'libvirt_version': _version(conn_call(lambda c: c.getLibVersion())),
        'hypervisor': '%s %s' % (
            conn_call(lambda c: c.getType()),
            _version(conn_call(lambda c: c.getVersion()))),
        'kernel': platform.release(),
        'ceilometer': ceilometer_release(),
        'hardware_pmu': vars(hostprobe.hardware_pmu()),
        'software_events': vars(hostprobe.software_events()),
        'rdt_perf_pmu': vars(hostprobe.rdt_perf_pmu()),
        'resctrl': vars(hostprobe.resctrl_monitoring()),
        'resctrl_problems': {
            feature: support.problems([feature])
            for feature in stats.QUANTITIES},
    }
    snap = reader.BulkReader(connection).snapshot({}, {'perf', 'state'})
    instances = []
    for domain in conn_call(lambda c: c.listAllDomains()):
        record = snap.get(domain.UUIDString())
        counted = {k[len('perf.'):] for k in (record.stats if record else {})
                   if k.startswith('perf.')}
        try:
            instances.append(instance_facts(domain, counted))
        except Exception:  # noqa: S112 - vanished while we looked
            continue
    instances.sort(key=lambda i: (i['name'], i['uuid']))
    produced = _dry_poll(conf)
    pollable = [i for i in instances if i['running'] and i['discoverable']]
    meters = []
    for meter in catalogue.METERS:
        ids = produced[meter.name]
        lacking = [i for i in pollable if i['uuid'] not in ids]
        entry = {'meter': meter.name, 'ok': bool(ids),
                 'instances': sorted(i['name'] for i in pollable
                                     if i['uuid'] in ids),
                 'reason': None, 'fix': None}
        if lacking:
            entry['reason'], entry['fix'] = explain(meter, host, lacking)
        elif not ids:
            entry['reason'], entry['fix'] = explain(meter, host, [])
        meters.append(entry)
    nova_api = nova_api_use(
        host['ceilometer'], instances,
        getattr(conf.compute, 'fetch_extra_metadata', None))
    if nova_api and pollable and not any(produced.values()):
        for entry in meters:
            entry['reason'] = ('Ceilometer discovered no instance: its Nova '
                               'API call failed (see the log above)')
            entry['fix'] = ('check [service_credentials] in '
                            'ceilometer.conf and that Keystone and Nova '
                            'answer from this host')
    return {'host': host, 'instances': instances, 'meters': meters,
            'nova_api': nova_api, 'hostname': os.uname().nodename}


def _request(inst, release):
    """What the flavor / image asked for, as nova recorded it."""
    nova = inst.get('nova') or {}
    if not nova.get('records_request'):
        return 'hw:pmu / hw_pmu not recorded (nova < 32)'
    request = nova.get('request') or {}
    said = []
    for prefix, key in (('flavor', 'hw:pmu'), ('image', 'hw_pmu')):
        if prefix + '_hw_pmu' in request:
            said.append('%s %s=%s (%s)' % (
                prefix, key, request[prefix + '_hw_pmu_raw'],
                'true' if request[prefix + '_hw_pmu'] else 'false'))
    if said and (ceilometer_version(release) or (99,)) < (25, 0):
        said.append('not in perf.vpmu metadata: Ceilometer < 25 does not '
                    'read it')
    return '; '.join(said) or 'no hw:pmu / hw_pmu asked'


def _meta_text(inst):
    if not inst['discoverable']:
        return ('NOT discovered by Ceilometer, nova metadata lacks %s'
                % ', '.join(inst['nova_metadata_missing']))
    if inst.get('from_nova_api'):
        return ('nova metadata ok, %s from the Nova API (written by nova '
                '%s)' % (', '.join(inst['from_nova_api']),
                         (inst.get('nova') or {}).get('nova_package')
                         or '< 32'))
    return 'nova metadata ok'



def _yes(probe):
    return ('yes' if probe['ok'] else 'no') + ' - ' + probe['detail']


def render(report):
    host = report['host']
    lines = ['Host %s' % report['hostname'],
             '  libvirt %s, %s, at %s; kernel %s; Ceilometer %s' % (
                 host['libvirt_version'], host['hypervisor'],
                 host['libvirt_uri'], host['kernel'],
                 host.get('ceilometer') or 'not installed'),
             '  hardware PMU:           %s' % _yes(host['hardware_pmu']),
             '  software perf events:   %s' % _yes(host['software_events']),
             '  RDT perf (cmt/mbm):     %s' % _yes(host['rdt_perf_pmu']),
             '  resctrl monitoring:     %s' % _yes(host['resctrl']),
             '']
    problems = report.get('config_problems')
    if problems:
        lines += ['Configuration: %d problem(s)' % len(problems)]
        lines += ['  ERROR %s' % p for p in problems] + ['']
    lines += ['Instances (%d)' % len(report['instances'])]
    for inst in report['instances']:
        state = 'running' if inst['running'] else 'shut off (no samples)'
        meta = _meta_text(inst)
        v = inst['vpmu']
        lines.append('  %s (%s, %s): %s; %s' % (
            inst['name'], inst['domain'], inst['uuid'], state, meta))
        lines.append('      perf events: %s' % (
            ', '.join(inst['perf_events_enabled']) or 'none'))
        lines.append('      vPMU %s (%s, cpu mode %s); %s' % (
            'on' if v['enabled'] else 'off', v['decided_by'],
            v['cpu_mode'], _request(inst, host.get('ceilometer'))))
    if report.get('nova_api'):
        lines += ['', 'Nova API'] + textwrap.wrap(
            report['nova_api']['text'], 78, initial_indent='  ',
            subsequent_indent='  ')
    lines += ['', 'Meters']
    if not any(i['running'] and i['discoverable']
               for i in report['instances']):
        reason, fix = explain(None, report['host'], [])
        lines += ['  No meter can produce samples: %s.' % reason,
                  '  Fix: %s.' % fix]
        return '\n'.join(lines)
    width = max(len(m['meter']) for m in report['meters'])
    for m in report['meters']:
        status = 'OK' if m['ok'] else 'NO'
        detail = ('%d instance(s)' % len(m['instances'])) if m['ok'] else ''
        if m['reason']:
            detail = (detail + '; not for others: ' if detail else '') + \
                m['reason']
        lines.append('  %s  %s  %s' % (status, m['meter'].ljust(width),
                                       detail))
        if m['fix']:
            lines.append('  %s  %s  fix: %s' % (' ' * len(status),
                                                 ' ' * width, m['fix']))
    ok = sum(1 for m in report['meters'] if m['ok'])
    lines += ['', '%d of %d meters produce samples on this host.'
              % (ok, len(report['meters']))]
    return '\n'.join(lines)
