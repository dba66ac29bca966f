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

"""The one table renderer of the operator tooling.

Three shapes of the same rows: an RST list-table for the docs (it reads on
a phone: no fixed column widths), an RST simple table (the benchmark's
output, pasteable into doc/source as is) and plain aligned text for a terminal
(`ceilometer-perf poll`).  Cells are strings; callers format numbers.
"""


def _aligned(header, rows, gap):
    widths = [max(len(str(r[i])) for r in [header] + list(rows))
              for i in range(len(header))]

    def line(cells):
        return gap.join(str(c).ljust(w) for c, w in
                        zip(cells, widths, strict=True)).rstrip()
    return widths, line


def text_table(header, rows):
    """Columns aligned with one space, the header first, no rules."""
    _widths, line = _aligned(header, rows, ' ')
    return '\n'.join([line(header)] + [line(r) for r in rows])


def simple_table(header, rows):
    """An RST simple table, readable as plain text too."""
    widths, line = _aligned(header, rows, '  ')
    rule = '  '.join('=' * w for w in widths)
    return '\n'.join([rule, line(header), rule] + [line(r) for r in rows] +
                     [rule])


def list_table(header, rows, title='', widths=None):
    """An RST list-table; a cell may hold inline markup."""
    lines = ['.. list-table:: %s' % title if title else '.. list-table::',
             '   :header-rows: 1']
    if widths:
        lines.append('   :widths: %s' % ' '.join(str(w) for w in widths))
    lines.append('')
    for row in [header] + list(rows):
        for i, cell in enumerate(row):
            text = str(cell) if str(cell) else r'\ '
            lines.append('   %s %s' % ('* -' if i == 0 else '  -', text))
    return '\n'.join(lines)
