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

"""The shared tools: libvirt call counting, venv re-exec, bench imports."""

import os
import subprocess
import sys

import libvirt
import pytest

from tools import ROOT
from tools import libvirtcalls
from tools import venvexec

# libvirt's in-process test driver: one running domain, no libvirtd.
TEST_URI = 'test:///default'


def test_counter_counts_calls_that_reach_libvirtd_and_restores():
    real = libvirt.libvirtmod.virConnectGetAllDomainStats
    counter = libvirtcalls.CallCounter()
    counts = counter.start()
    try:
        conn = libvirt.openReadOnly(TEST_URI)
        conn.getAllDomainStats(1, 0)
        for dom in conn.listAllDomains():
            dom.UUIDString()
            dom.info()
        assert counts['virDomainGetUUIDString'] == 1
    finally:
        calls = counter.stop()
    assert calls == {'virConnectOpenReadOnly': 1,
                     'virConnectGetAllDomainStats': 1,
                     'virConnectListAllDomains': 1, 'virDomainGetInfo': 1}
    assert libvirt.libvirtmod.virConnectGetAllDomainStats is real


def test_counter_refuses_read_write_connections():
    counter = libvirtcalls.CallCounter(refuse=libvirtcalls.READ_WRITE_OPENS)
    counter.start()
    try:
        with pytest.raises(AssertionError, match='virConnectOpen'):
            libvirt.open(TEST_URI)
    finally:
        counter.stop()
    libvirt.open(TEST_URI).close()


def test_reexec_goes_on_when_the_modules_import():
    assert venvexec.reexec(('json', 'libvirt')) is None


def test_reexec_does_not_loop(monkeypatch):
    monkeypatch.setenv(venvexec.GUARD, '1')
    with pytest.raises(SystemExit) as exc:
        venvexec.reexec(('json', 'cperf_no_such_module'))
    assert 'needs cperf_no_such_module in ' in str(exc.value.code)


def test_bench_imports_nothing_from_tests():
    code = ('import sys\n'
            'from tools.bench import cli  # noqa: F401\n'
            'print(sorted(m for m in sys.modules\n'
            '             if m.split(".")[0] == "tests"))\n')
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == '[]'
