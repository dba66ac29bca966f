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

"""The merge subcommands: `merge-polling FILE` and `gnocchi merge FILE`.

Both run through the one writer (ops/yamlfile.py) and share their
options: --check (change nothing, exit 1 when the file needs the merge),
--diff (print the change), --no-backup.
"""

import sys

from ceilometer_perf.ops import yamlfile

EXIT_OK = 0
EXIT_NEEDED = 1     # --check: the file needs the merge
EXIT_ERROR = 2      # the file cannot be read, parsed or written


def add_options(parser):
    """The options every merge subcommand has."""
    parser.add_argument('--check', action='store_true',
                        help='change nothing; exit 1 if the file needs '
                             'the merge')
    parser.add_argument('--diff', action='store_true',
                        help='print the change as a unified diff')
    parser.add_argument('--no-backup', action='store_true',
                        help='do not keep a copy FILE.<timestamp>.bak')


def _run(args, merge_file, report, out):
    try:
        outcome, info = merge_file(args.file, check=args.check,
                                   backup=not args.no_backup)
    except (yamlfile.MergeError, OSError) as exc:
        sys.stderr.write('ceilometer-perf: error: %s: %s\n'
                         % (args.file, exc))
        return EXIT_ERROR
    if args.diff:
        out.write(outcome.diff())
    for line in report(outcome, info, args.check):
        out.write('%s: %s\n' % (args.file, line))
    if getattr(info, 'rewritten', False):
        out.write('%s: its layout could not be extended in place, so it '
                  'is %s whole: comments are not kept (the backup has '
                  'them)\n' % (args.file, 'to be rewritten' if args.check
                               else 'rewritten'))
    if outcome.backup:
        out.write('%s: backup of the previous file: %s\n'
                  % (args.file, outcome.backup))
    if args.check and outcome.changed:
        return EXIT_NEEDED
    return EXIT_OK


def _verbs(check):
    """(what adding is called, what creating is called)."""
    if check:
        return 'would add', 'would be created'
    return 'added', 'created'


def _polling_report(outcome, merge, check):
    add, create = _verbs(check)
    if not outcome.changed:
        return ['already has the ceilometer-perf sources']
    if not outcome.existed:
        return ['%s with source(s) %s' % (create, ', '.join(merge.added))]
    return ['%s source(s) %s' % (add, ', '.join(merge.added))]


def merge_polling(args, out):
    from ceilometer_perf.ops import polling_yaml
    return _run(args, polling_yaml.merge_file, _polling_report, out)


def _gnocchi_report(outcome, result, check):
    from ceilometer_perf.ops import gnocchi
    from ceilometer_perf.ops import gnocchi_merge
    verb, create = _verbs(check)
    lines = []
    if not outcome.changed:
        lines.append('up to date, every ceilometer-perf meter is mapped.')
    else:
        if not outcome.existed:
            lines.append('%s from Ceilometer\'s packaged %s' % (
                create, gnocchi_merge.packaged_resources_file()))
        if result.added_resource:
            lines.append('%s an %r resource (attributes from Ceilometer\'s '
                         'packaged file)' % (verb, gnocchi.RESOURCE_TYPE))
        if result.added_metrics:
            lines.append('%s %d metrics: %s' % (
                verb, len(result.added_metrics),
                ', '.join(result.added_metrics)))
        if result.added_policies:
            lines.append('%s archive policies: %s' % (
                verb, ', '.join(p['name'] for p in result.added_policies)))
    own = gnocchi.metrics()
    for name, (rtype, policy) in sorted(result.kept.items()):
        if (rtype, policy) != (gnocchi.RESOURCE_TYPE,
                               own[name]['archive_policy_name']):
            lines.append('kept your mapping of %s (resource type %s, '
                         'archive policy %s)'
                         % (name, rtype, policy or 'default'))
    for name in sorted(result.foreign_policies):
        lines.append('archive policy %s is not defined in this file: make '
                     'sure it exists in Gnocchi' % name)
    return lines


def gnocchi_merge(args, out):
    from ceilometer_perf.ops import gnocchi
    from ceilometer_perf.ops import gnocchi_merge as merge

    wanted = gnocchi.mapping(args.rate_policy, args.gauge_policy)

    def merge_file(path, check, backup):
        return merge.merge_file(path, wanted, check=check, backup=backup)
    return _run(args, merge_file, _gnocchi_report, out)


def gnocchi_mapping(args, out):
    from ceilometer_perf.ops import gnocchi
    out.write(gnocchi.render_mapping())
    return EXIT_OK
