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

"""`ceilometer-perf`: see what the plugin reports here, and why not.

    ceilometer-perf poll [--meter PATTERN ...] [--format table|json]
                         [--interval S --count N] [--libvirt-uri URI]
    ceilometer-perf check [--format text|json] [--libvirt-uri URI]
    ceilometer-perf merge-polling FILE [--check] [--diff] [--no-backup]
    ceilometer-perf gnocchi merge FILE [--check] [--diff] [--no-backup]
                                       [--rate-policy P] [--gauge-policy P]
    ceilometer-perf gnocchi mapping
    ceilometer-perf perf-events
    ceilometer-perf resctrl-sync [--loop [--interval S]]

poll and check read the same ceilometer.conf as the polling agent
(oslo.config options such as --config-file pass through) and run the
plugin's real pollsters through Ceilometer's own discovery and polling
code.  The others are offline: they import neither libvirt nor
Ceilometer's polling machinery.  `ceilometer-perf-gnocchi` is the
deprecated alias of `ceilometer-perf gnocchi`.
"""

import argparse
import fnmatch
import json
import logging
import sys
import time
import warnings

from oslo_config import cfg

from ceilometer_perf import catalogue
from ceilometer_perf.cmd import merge as cmd_merge
from ceilometer_perf.ops import gnocchi as gnocchi_mapping
from ceilometer_perf.ops import tables
from ceilometer_perf import rates

EXIT_OK = 0
EXIT_NOTHING = 1      # check: nothing at all can be collected here
EXIT_ERROR = 2        # bad usage, bad config, libvirt unreachable


class CommandError(Exception):
    """A problem the operator can fix; printed without a traceback."""


def select_meters(patterns):
    """Catalogue meter names matching the shell-style patterns."""
    if not patterns:
        return [m.name for m in catalogue.METERS]
    chosen = []
    for pattern in patterns:
        matched = [m.name for m in catalogue.METERS
                   if fnmatch.fnmatchcase(m.name, pattern)]
        if not matched:
            raise CommandError(
                "unknown meter pattern '%s'; meters are: %s"
                % (pattern, ', '.join(m.name for m in catalogue.METERS)))
        chosen.extend(n for n in matched if n not in chosen)
    return chosen


def load_conf(oslo_args, libvirt_uri=None):
    """Ceilometer's configuration, as the polling agent would read it."""
    from ceilometer import service
    from oslo_log import log
    conf = cfg.ConfigOpts()
    log.register_options(conf)
    # stdout is for the report (and JSON): logs go to stderr.
    conf.set_default('use_stderr', True)
    try:
        conf = service.prepare_service(['ceilometer-perf'] + oslo_args,
                                       conf=conf)
    except cfg.Error as exc:
        raise CommandError('bad configuration: %s' % exc) from exc
    except SystemExit as exc:
        raise CommandError('bad configuration arguments: %s'
                           % ' '.join(oslo_args)) from exc
    if libvirt_uri:
        conf.set_override('libvirt_uri', libvirt_uri)
    if not conf.debug:
        # The agent's per-pollster INFO lines would drown the output, and
        # stevedore complains about cache backends the agent never uses.
        for name in ('ceilometer', 'oslo_messaging'):
            logging.getLogger(name).setLevel(logging.WARNING)
        logging.getLogger('stevedore').setLevel(logging.CRITICAL)
    return conf


def require_libvirt(conf):
    """Fail early and clearly when libvirt cannot be reached."""
    from ceilometer_perf import reader
    uri = reader.libvirt_uri(conf)
    connection = reader.Connection(uri)
    try:
        return connection, connection.call(lambda c: c.getLibVersion())
    except reader.HypervisorUnavailable as exc:
        raise CommandError(str(exc)) from exc
    except Exception as exc:
        raise CommandError('libvirt at %s refused: %s' % (uri, exc)) from exc


def _agent(conf, meters):
    from ceilometer_perf.ops import localagent
    return localagent.LocalAgent(
        [{'name': 'ceilometer-perf', 'interval': 60, 'meters': meters}],
        conf)


def sample_row(sample, cycle, rate=None):
    """The stable JSON shape of one sample."""
    meta = sample.get('resource_metadata') or {}
    return {'cycle': cycle,
            'timestamp': sample.get('timestamp'),
            'instance_id': sample['resource_id'],
            'instance_name': meta.get('display_name'),
            'meter': sample['counter_name'],
            'volume': sample['counter_volume'],
            'unit': sample['counter_unit'],
            'type': sample['counter_type'],
            'rate_per_second': rate,
            'metadata': meta}


class SampleRates:
    """Per-second rates of cumulative meters between two polls.

    The product's one rate rule (ceilometer_perf.rates): no rate on the
    first poll or across a counter reset.
    """

    def __init__(self):
        self._tracker = rates.RateTracker()

    def rate(self, sample, now):
        if sample['counter_type'] != catalogue.CUMULATIVE:
            return None
        key = (sample['counter_name'], sample['resource_id'])
        reading = rates.CounterReading(None, now, {
            'volume': sample['counter_volume']})
        per_second, _elapsed = self._tracker.update(key, reading)
        return None if per_second is None else per_second['volume']


def _table(rows, with_rate):
    header = ['INSTANCE', 'ID', 'METER', 'VOLUME', 'UNIT', 'TYPE']
    if with_rate:
        header.append('RATE/s')
    lines = []
    for r in rows:
        line = [str(r['instance_name']), r['instance_id'], r['meter'],
                _number(r['volume']), r['unit'], r['type']]
        if with_rate:
            rate = r['rate_per_second']
            line.append('' if rate is None else _number(round(rate, 2)))
        lines.append(line)
    return tables.text_table(header, lines)


def _number(value):
    if isinstance(value, float) and not value.is_integer():
        return '{:,.2f}'.format(value)
    return '{:,}'.format(int(value))


def cmd_poll(args, conf, out):
    meters = select_meters(args.meter)
    require_libvirt(conf)
    agent = _agent(conf, meters)
    sample_rates = SampleRates()
    count = args.count if args.count else (2 if args.interval else 1)
    produced = 0
    try:
        for cycle in range(1, count + 1):
            if cycle > 1:
                time.sleep(args.interval)
            samples = [s for s in agent.poll()
                       if s['counter_name'] in catalogue.BY_NAME]
            now = time.monotonic()
            rows = [sample_row(s, cycle, sample_rates.rate(s, now))
                    for s in sorted(samples, key=_order)]
            produced += len(rows)
            if args.format == 'json':
                for row in rows:
                    out.write(json.dumps(row, sort_keys=True) + '\n')
            else:
                if count > 1:
                    out.write('-- cycle %d of %d\n' % (cycle, count))
                out.write((_table(rows, count > 1) if rows else
                           '(no samples: try `ceilometer-perf check`)')
                          + '\n')
            out.flush()
    finally:
        agent.close()
    return EXIT_OK if produced else EXIT_NOTHING


def _order(sample):
    meta = sample.get('resource_metadata') or {}
    return (str(meta.get('display_name')), sample['resource_id'],
            sample['counter_name'])


def config_problems(conf):
    """What the agent would log as bad configuration, read up front."""
    from ceilometer_perf.ops import polling_yaml
    from ceilometer_perf import opts
    _values, problems = opts.read(conf)
    polling = conf.find_file(conf.polling.cfg_file)
    if polling:
        problems += polling_yaml.polling_file_problems(polling)
    return problems


def cmd_check(args, conf, out):
    from ceilometer_perf.ops import diagnosis
    problems = config_problems(conf)
    try:
        connection, _version = require_libvirt(conf)
    except CommandError:
        for problem in problems:
            sys.stderr.write('ceilometer-perf: bad configuration: %s\n'
                             % problem)
        raise
    if not conf.debug:
        # The report explains every missing meter; the dry run's
        # once-per-host warnings would only repeat it.
        logging.getLogger('ceilometer_perf').setLevel(logging.ERROR)
        logging.getLogger('ceilometer.compute').setLevel(logging.CRITICAL)
    report = diagnosis.diagnose(conf, connection)
    report['config_problems'] = problems
    if args.format == 'json':
        out.write(json.dumps(report, indent=2, sort_keys=True) + '\n')
    else:
        out.write(diagnosis.render(report) + '\n')
    if problems:
        return EXIT_ERROR
    return EXIT_OK if any(m['ok'] for m in report['meters']) \
        else EXIT_NOTHING


def cmd_perf_events(args, out):
    from ceilometer_perf.ops import hostprobe
    out.write(','.join(hostprobe.countable_perf_events()) + '\n')
    return EXIT_OK


def cmd_resctrl_sync(args, conf, out):
    from ceilometer_perf import opts
    from ceilometer_perf.ops import resctrlsync
    settings, problems = opts.read(conf)
    if problems:
        raise CommandError('; '.join(problems))
    try:
        result = resctrlsync.run(conf, settings, out, loop=args.loop,
                                 interval=args.interval)
    except PermissionError as exc:
        raise CommandError(str(exc)) from exc
    return EXIT_OK if result and not result['problem'] else EXIT_ERROR


def build_parser():
    parser = argparse.ArgumentParser(
        prog='ceilometer-perf',
        description='See what ceilometer-perf reports on this host, and '
                    'why a meter is missing.',
        epilog='Other options of poll and check (--config-file, '
               "--config-dir, --debug) are passed to Ceilometer's "
               'configuration.')
    sub = parser.add_subparsers(dest='command')
    sub.required = True
    poll = sub.add_parser('poll', help='poll the local instances and print '
                                       'the samples')
    poll.add_argument('--meter', action='append', metavar='PATTERN',
                      help='meter name or shell pattern (repeatable); '
                           'default: every meter')
    poll.add_argument('--format', choices=['table', 'json'], default='table')
    poll.add_argument('--interval', type=float, default=0, metavar='S',
                      help='seconds between polls; rates of cumulative '
                           'meters are shown from the second poll on')
    poll.add_argument('--count', type=int, default=0, metavar='N',
                      help='number of polls (default 1, or 2 with '
                           '--interval)')
    check = sub.add_parser('check', help='report what this host and its '
                                         'instances can produce, and why not')
    check.add_argument('--format', choices=['text', 'json'], default='text')
    merge = sub.add_parser(
        'merge-polling', help="add the plugin's missing sources to a "
                              'polling.yaml (idempotent; keeps your edits, '
                              'comments, mode and owner; backs up)')
    merge.add_argument('file', help='e.g. /etc/ceilometer/polling.yaml '
                                    '(created if missing)')
    cmd_merge.add_options(merge)
    merge.set_defaults(offline=cmd_merge.merge_polling)
    gnocchi = sub.add_parser('gnocchi', help='the Gnocchi mapping of the '
                                             'meters')
    gnocchi_sub = gnocchi.add_subparsers(dest='gnocchi_command')
    gnocchi_sub.required = True
    gnocchi_sub.add_parser(
        'mapping', help='print the mapping derived from the meter '
                        'catalogue').set_defaults(
        offline=cmd_merge.gnocchi_mapping)
    gnocchi_merge = gnocchi_sub.add_parser(
        'merge', help='merge the mapping into a gnocchi_resources.yaml '
                      '(idempotent; keeps your edits, comments, mode and '
                      'owner; backs up)')
    gnocchi_merge.add_argument(
        'file', help='e.g. /etc/ceilometer/gnocchi_resources.yaml (created '
                     "from Ceilometer's packaged one if missing)")
    cmd_merge.add_options(gnocchi_merge)
    gnocchi_merge.add_argument(
        '--rate-policy', metavar='POLICY',
        help='archive policy of every cumulative meter (default: ours, '
             'by polling interval: %s)' % ', '.join(
            n for n in gnocchi_mapping.ARCHIVE_POLICIES
            if n.startswith(gnocchi_mapping.RATE_POLICY)))
    gnocchi_merge.add_argument(
        '--gauge-policy', metavar='POLICY',
        help='archive policy of every gauge (default: ours, by polling '
             'interval and whether the gauge adds up over a host: %s)'
             % ', '.join(n for n in gnocchi_mapping.ARCHIVE_POLICIES
                         if not n.startswith(gnocchi_mapping.RATE_POLICY)))
    gnocchi_merge.set_defaults(offline=cmd_merge.gnocchi_merge)
    sub.add_parser('perf-events',
                   help='print the perf events this host can count, for '
                        'nova.conf [libvirt] enabled_perf_events'
                   ).set_defaults(offline=cmd_perf_events)
    sync = sub.add_parser(
        'resctrl-sync',
        help='as root on the host: keep one resctrl monitoring group per '
             'running instance, for agents that cannot (containers, '
             'non-root)')
    sync.add_argument('--loop', action='store_true',
                      help='keep going (the systemd unit), printing what '
                           'changes')
    sync.add_argument('--interval', type=float, default=15.0, metavar='S',
                      help='seconds between reconciles with --loop '
                           '(default 15)')
    for p in (poll, check, sync):
        p.add_argument('--libvirt-uri', metavar='URI',
                       help="override Ceilometer's libvirt_uri")
    return parser


def main(argv=None, out=None):
    out = out or sys.stdout
    parser = build_parser()
    args, oslo_args = parser.parse_known_args(argv)
    if getattr(args, 'count', 0) < 0 or getattr(args, 'interval', 0) < 0:
        parser.error('--count and --interval must not be negative')
    # Ceilometer still imports eventlet, which warns about itself.
    warnings.filterwarnings('ignore', message=r'(?s).*eventlet')
    try:
        # Offline subcommands: no libvirt, no Ceilometer configuration.
        offline = getattr(args, 'offline', None)
        if offline:
            if oslo_args:
                parser.error('unrecognized arguments: %s'
                             % ' '.join(oslo_args))
            return offline(args, out)
        import libvirt
        # Errors are reported here, once; keep libvirt from printing too.
        libvirt.registerErrorHandler(lambda ctx, err: None, None)
        conf = load_conf(oslo_args, args.libvirt_uri)
        if args.command == 'resctrl-sync':
            return cmd_resctrl_sync(args, conf, out)
        command = cmd_poll if args.command == 'poll' else cmd_check
        return command(args, conf, out)
    except CommandError as exc:
        sys.stderr.write('ceilometer-perf: error: %s\n' % exc)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_ERROR


def gnocchi_alias(argv=None, out=None):
    """`ceilometer-perf-gnocchi ...`, deprecated: `ceilometer-perf gnocchi
    ...` after a warning.  Kept for one release."""
    sys.stderr.write('ceilometer-perf-gnocchi is deprecated and will be '
                     'removed: use `ceilometer-perf gnocchi merge` (or '
                     '`ceilometer-perf gnocchi mapping`)\n')
    argv = sys.argv[1:] if argv is None else list(argv)
    return main(['gnocchi'] + argv, out)


if __name__ == '__main__':
    sys.exit(main())
