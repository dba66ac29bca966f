"""tools/bench, importable by the tests (it has no .py suffix)."""

import importlib.machinery
import importlib.util
import os

PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'tools', 'bench')


def load():
    loader = importlib.machinery.SourceFileLoader('cperf_bench', PATH)
    spec = importlib.util.spec_from_loader('cperf_bench', loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module
