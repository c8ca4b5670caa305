"""Region codes are ISO's (through pycountry), named in German and English."""

from __future__ import annotations

import pytest

from actors.regions import (
    InvalidRegionError,
    parse_region,
    parse_region_code,
    region_label,
    region_name,
)


def test_codes_are_checked_against_iso_and_made_upper_case() -> None:
    assert parse_region_code(" de-by ") == "DE-BY"
    assert parse_region_code("at") == "AT"
    for bad in ("DE-XX", "ZZ", "deu", "", "DE-", "DE-BE-1", "<b>"):
        with pytest.raises(InvalidRegionError):
            parse_region_code(bad)


def test_names_come_in_german_and_english() -> None:
    assert region_name("DE", "de") == "Deutschland"
    assert region_name("DE", "en") == "Germany"
    assert region_name("GB", "de") == "Vereinigtes Königreich"
    assert region_name("AT-9", "de") == "Wien"
    assert region_name("XX-YY") == "XX-YY"  # a peer's unknown code still displays


def test_a_region_has_an_optional_town_and_postal_prefix() -> None:
    region = parse_region("de-be", "  Pankow  ", " 10 ")
    assert (region.code, region.country, region.subdivision) == ("DE-BE", "DE", "DE-BE")
    assert (region.locality, region.postal_prefix) == ("Pankow", "10")
    assert region_label(region) == "Pankow, Berlin (DE-BE)"
    assert parse_region("FR").subdivision is None
    with pytest.raises(InvalidRegionError):
        parse_region("DE", postal_prefix="10115-12345")
    with pytest.raises(InvalidRegionError):
        parse_region("DE", postal_prefix="1;0")
    with pytest.raises(InvalidRegionError):
        parse_region("DE", locality="x" * 101)
