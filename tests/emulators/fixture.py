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

"""pytest fixtures that mount the resctrl emulator (tests/conftest.py
exposes them to every suite).

    def test_x(resctrl_emulator):             # default configuration
        os.mkdir(resctrl_emulator.path('mon_groups', 'g'))

    @pytest.mark.resctrl(num_rmids=4, domains=(0, 2))
    def test_y(resctrl_emulator): ...          # configured by the marker

    def test_z(mount_resctrl):                 # several, or mid-test
        emu = mount_resctrl(num_rmids=2)

Each mount is at a fresh temporary directory and is unmounted when the
test ends, whether it passed or not.  Without root or /dev/fuse the
tests skip with the reason; under CI=true as root a missing FUSE piece
fails the test instead (CI must run them).
"""

import os

import pytest

from tests.emulators import resctrlfs


def _require_fuse():
    problem = resctrlfs.fuse_problem()
    if problem is None:
        return
    if os.environ.get('CI') == 'true' and os.geteuid() == 0:
        pytest.fail(problem)
    pytest.skip(problem)


@pytest.fixture
def mount_resctrl(tmp_path):
    """mount_resctrl(**config) -> a mounted ResctrlEmulator; every one
    is unmounted at teardown."""
    _require_fuse()
    resctrlfs.sweep_stale_mounts()
    mounts = []

    def make(**config):
        point = tmp_path / ('resctrl%d' % len(mounts))
        point.mkdir()
        m = resctrlfs.mount(str(point), **config)
        mounts.append(m)
        return m.emu

    try:
        yield make
    finally:
        errors = []
        for m in mounts:
            try:
                m.unmount()
            except RuntimeError as e:
                errors.append(e)
        if errors:
            raise errors[0]


@pytest.fixture
def resctrl_emulator(mount_resctrl, request):
    """A mounted ResctrlEmulator; @pytest.mark.resctrl(**config) sets
    its configuration."""
    marker = request.node.get_closest_marker('resctrl')
    return mount_resctrl(**(marker.kwargs if marker else {}))
