"""The examples in the pure modules' docstrings run as written."""

from __future__ import annotations

import doctest

import pytest

from kerasopt_compat import _errors, _optional
from kerasopt_compat._cli import bulk as _fixbulk
from kerasopt_compat._config import normalize as _normalize
from kerasopt_compat._config import values as _values
from kerasopt_compat._config import write as _write
from kerasopt_compat._state import layout as _statewrite
from kerasopt_compat._state import rules as _rules


@pytest.mark.parametrize(
    "module", [_errors, _fixbulk, _normalize, _optional, _rules, _statewrite, _values, _write], ids=lambda m: m.__name__
)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
