"""Where the property tests' reference implementation departs from RFC 9535.

test_jsonpath_properties.py compares flowmap with jsonpath-rfc9535, pinned in
pyproject.toml to ``ORACLE_VERSION``. The reference is strict but not
perfect; its known departures are listed here by name, each with the RFC
sections it departs from and the test that pins it
(``test_oracle_departure_*``). A disagreement with the reference is excused
only when the input shows one of these patterns.

``corrected`` departures are patched away (in ``corrected_oracle``) and the
reference is asked again; the others cannot be corrected, and only the
verdict (accepted or rejected) or nothing is compared.

When upgrading the reference, run the departure tests: a departure that no
longer holds fails its test and comes off this list; a new one goes on it.
"""

from __future__ import annotations

from dataclasses import dataclass

ORACLE = "jsonpath-rfc9535"
ORACLE_VERSION = "1.0.1"


@dataclass(frozen=True)
class Departure:
    name: str
    sections: tuple[str, ...]
    summary: str
    test: str
    corrected: bool


KNOWN_DEPARTURES: tuple[Departure, ...] = (
    Departure(
        "equality",
        ("2.3.5.2.2",),
        "compares arrays and objects with Python's ==, where [1] == [true]",
        "test_oracle_departure_nested_equality",
        corrected=True,
    ),
    Departure(
        "name",
        ("2.5.1.1",),
        "rejects shorthand names with a later character in U+1100-U+D7FF",
        "test_oracle_departure_member_name_shorthand",
        corrected=True,
    ),
    Departure(
        "current node",
        ("2.3.5.2.1", "2.4.4"),
        "evaluates @ on a primitive to the bare value (?@ tests truthiness)",
        "test_oracle_departure_bare_current_node",
        corrected=True,
    ),
    Departure(
        "filter list",
        ("2.4.1", "2.5.1.1"),
        "rejects a filter selector followed by ',' inside a function argument",
        "test_oracle_departure_filter_list_in_function_argument",
        corrected=False,
    ),
    Departure(
        "slice step",
        ("2.3.4.1",),
        "accepts a slice step without its ':' ($[1:2 3])",
        "test_oracle_departure_slice_step_without_colon",
        corrected=False,
    ),
    Departure(
        "chained comparison",
        ("2.3.5.1",),
        "accepts chained comparisons (@.a == 1 == true)",
        "test_oracle_departure_chained_comparison",
        corrected=False,
    ),
    Departure(
        "double negation",
        ("2.3.5.1",),
        "accepts !! before a test expression",
        "test_oracle_departure_double_negation",
        corrected=False,
    ),
    Departure(
        "negative leading zeros",
        ("2.3.5.1",),
        "accepts leading zeros after a minus sign in a number literal (-007)",
        "test_oracle_departure_negative_leading_zeros",
        corrected=False,
    ),
)

DEPARTURE_NAMES: frozenset[str] = frozenset(d.name for d in KNOWN_DEPARTURES)
CORRECTED: frozenset[str] = frozenset(d.name for d in KNOWN_DEPARTURES if d.corrected)
