"""UCN and FIN check characters catch the typos a clerk makes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from securecomm.domain.identifiers import is_valid_ucn, make_ucn
from securecomm.domain.identifiers import is_valid_fin, make_fin

SEQ = st.integers(min_value=1, max_value=99_999_999)


@given(SEQ, st.integers(0, 7), st.integers(1, 9))
def test_ucn_detects_any_single_wrong_digit(n, pos, delta):
    ucn = make_ucn(n)
    assert is_valid_ucn(ucn) and len(ucn) == 9
    wrong = ucn[:pos] + str((int(ucn[pos]) + delta) % 10) + ucn[pos + 1:]
    assert not is_valid_ucn(wrong)


@given(SEQ, st.integers(0, 6))
def test_ucn_detects_adjacent_swaps(n, pos):
    ucn = make_ucn(n)
    swapped = ucn[:pos] + ucn[pos + 1] + ucn[pos] + ucn[pos + 2:]
    assert swapped == ucn or not is_valid_ucn(swapped)


@given(SEQ, st.integers(0, 8), st.integers(1, 9))
def test_fin_detects_any_single_wrong_digit(n, pos, delta):
    fin = make_fin(n)
    assert is_valid_fin(fin) and len(fin) == 10
    wrong = fin[:pos] + str((int(fin[pos]) + delta) % 10) + fin[pos + 1:]
    assert not is_valid_fin(wrong)
