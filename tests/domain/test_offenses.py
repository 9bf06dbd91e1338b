"""NCIC uniform offense code table."""

import pytest

from securecomm.domain import offenses


def test_known_codes_describe_and_categorise():
    assert offenses.is_valid("0901")
    assert offenses.category("0901") == "09"
    assert offenses.category_name("0901") == "HOMICIDE"
    assert offenses.describe("5404") == "DRIVING UNDER INFLUENCE LIQUOR"
    assert offenses.category("3562") == "35"
    assert offenses.category("1313") == "13"


@pytest.mark.parametrize("bad", ["", "12", "12345", "ABCD", "9999", "0000", "5400", None, 5404])
def test_invalid_codes_rejected(bad):
    assert not offenses.is_valid(bad)
    with pytest.raises(offenses.UnknownOffenseCode):
        offenses.describe(bad)
    with pytest.raises(ValueError):
        offenses.category(bad)


def test_every_category_has_general_code():
    cats = offenses.categories()
    for cat in ("01", "03", "09", "10", "11", "12", "13", "22", "23", "35", "36", "50", "52", "54", "73"):
        assert cat in cats
    for cat in cats:
        assert offenses.is_valid(cat + "99"), cat
    assert len(offenses.all_codes()) > 300
