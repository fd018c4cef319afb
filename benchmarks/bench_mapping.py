"""Mapping specs: flowmap against hand-written Python and the peer libraries.

Run ``python benchmarks/bench_mapping.py`` (``--quick`` for a short run). For
each workload of issue 3 it prints the time of one application and the ratio
to hand-written Python (``.get`` chains and comprehensions, written as a
person would: without the type checks that exact JSON semantics need, which
flowmap does make), all measured in one run:

- W1 the order spec on a ~1 KB document with 5 items;
- W2 the same spec with 1,000 items;
- W3 one deep path ``$.a.b.c.d.e``;
- W4 a spec of 100 simple leaves;
- W5 W1 where half of the leaves fall back to their defaults.

Peers apply the same spec leaf by leaf with the same rules (a singular path
gives its value or the default, anything else a list): jmespath compiled,
jsonpath-rfc9535 compiled, jsonpath-ng pre-parsed and jsonpath-ng parsing on
every call. The target is flowmap within 1.5x of hand-written on every
workload.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Settings, fmt_ratio, fmt_time, per_call, table, verdict

import flowmap

MISSING = object()

W1 = {
    "user": {"id": "$.order.user.id", "name": "$.order.user.name"},
    "total": "$.order.total",
    "skus": "$.order.items[*].sku",
    "first": "$.order.items[0].sku",
    "cheap": "$.order.items[?@.price < 10].sku",
    "region": "$.meta.region | 'cn-north-4'",
}
W5 = {
    "user": {"id": "$.order.user.id", "name": "$.order.user.nick | 'anonymous'"},
    "total": "$.order.discounted | 0",
    "skus": "$.order.items[*].sku",
    "first": "$.order.items[0].code | 'none'",
    "cheap": "$.order.items[?@.price < 10].sku",
    "region": "$.meta.zone | 'cn-north-4'",
}
# For the peers: jmespath spellings of the W1/W5 paths.
JMES = {
    "$.order.user.id": "order.user.id",
    "$.order.user.name": "order.user.name",
    "$.order.user.nick": "order.user.nick",
    "$.order.total": "order.total",
    "$.order.discounted": "order.discounted",
    "$.order.items[*].sku": "order.items[*].sku",
    "$.order.items[0].sku": "order.items[0].sku",
    "$.order.items[0].code": "order.items[0].code",
    "$.order.items[?@.price < 10].sku": "order.items[?price < `10`].sku",
    "$.meta.region": "meta.region",
    "$.meta.zone": "meta.zone",
    "$.a.b.c.d.e": "a.b.c.d.e",
}


def order(items: int) -> dict[str, Any]:
    return {
        "order": {
            "id": "o-1001",
            "user": {"id": 42, "name": "Ann Lee", "email": "ann@example.com"},
            "total": 99.5,
            "items": [
                {"sku": f"sku-{i:04d}", "price": (i * 7) % 40, "qty": 1 + i % 3}
                for i in range(items)
            ],
            "note": "leave at the door " * 20,
        },
        "meta": {"region": "cn-north-1", "trace": "abc123" * 8},
    }


# --- hand-written -------------------------------------------------------


def hand_w1(d: dict[str, Any]) -> dict[str, Any]:
    o = d.get("order", {})
    u = o.get("user", {})
    items = o.get("items", [])
    return {
        "user": {"id": u["id"], "name": u["name"]},
        "total": o["total"],
        "skus": [i["sku"] for i in items],
        "first": items[0]["sku"],
        "cheap": [i["sku"] for i in items if i.get("price", 0) < 10],
        "region": d.get("meta", {}).get("region", "cn-north-4"),
    }


def hand_w5(d: dict[str, Any]) -> dict[str, Any]:
    o = d.get("order", {})
    u = o.get("user", {})
    items = o.get("items", [])
    first = items[0] if items else {}
    return {
        "user": {"id": u["id"], "name": u.get("nick", "anonymous")},
        "total": o.get("discounted", 0),
        "skus": [i["sku"] for i in items],
        "first": first.get("code", "none"),
        "cheap": [i["sku"] for i in items if i.get("price", 0) < 10],
        "region": d.get("meta", {}).get("zone", "cn-north-4"),
    }


def hand_w3(d: dict[str, Any]) -> Any:
    return {"v": d.get("a", {}).get("b", {}).get("c", {}).get("d", {}).get("e")}


def hand_w4_factory(n: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    # A hand-written function of 100 lines, written out by a loop for brevity.
    lines = [f"        'k{i}': d['f{i}']," for i in range(n)]
    source = "def hand_w4(d):\n    return {\n" + "\n".join(lines) + "\n    }\n"
    namespace: dict[str, Any] = {}
    exec(source, namespace)
    fn: Callable[[dict[str, Any]], dict[str, Any]] = namespace["hand_w4"]
    return fn


# --- peers ----------------------------------------------------------------


def _leaves(spec: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], str]]:
    if isinstance(spec, dict):
        out: list[tuple[tuple[str, ...], str]] = []
        for key, value in spec.items():
            out += _leaves(value, (*path, key))
        return out
    return [(path, spec)]


def _split(leaf: str) -> tuple[str, Any]:
    """``'$.a | 'x''`` -> (path, default) for the simple specs used here."""
    if "|" in leaf and "||" not in leaf:
        path, default = (part.strip() for part in leaf.split("|"))
        value: Any = default.strip("'") if default.startswith("'") else int(default)
        return path, value
    return leaf, MISSING


def _singular(path: str) -> bool:
    return flowmap.compile(path).singular


def peer_applier(
    spec: Any, compile_leaf: Callable[[str], Callable[[Any], list[Any]]]
) -> Callable[[Any], Any]:
    """A function applying ``spec`` with a peer's per-leaf evaluator."""
    plan = []
    for where, leaf in _leaves(spec):
        path, default = _split(leaf)
        plan.append((where, compile_leaf(path), _singular(path), default))

    def apply(data: Any) -> Any:
        out: dict[str, Any] = {}
        for where, find, singular, default in plan:
            values = find(data)
            if singular:
                value = values[0] if values else default
            else:
                value = values if values or default is MISSING else default
            target = out
            for key in where[:-1]:
                target = target.setdefault(key, {})
            target[where[-1]] = value
        return out

    return apply


def peers(spec: Any) -> dict[str, Callable[[Any], Any]]:
    found: dict[str, Callable[[Any], Any]] = {}
    try:
        import jmespath

        def jmes(path: str) -> Callable[[Any], list[Any]]:
            # Plain dotted paths read the same in jmespath without the '$.'.
            expr = jmespath.compile(JMES.get(path, path[2:]))
            singular = _singular(path)

            def find(data: Any) -> list[Any]:
                value = expr.search(data)
                if singular:
                    return [] if value is None else [value]
                return value if value is not None else []

            return find

        found["jmespath (compiled)"] = peer_applier(spec, jmes)
    except ImportError:
        pass
    try:
        import jsonpath_rfc9535

        def rfc(path: str) -> Callable[[Any], list[Any]]:
            query = jsonpath_rfc9535.compile(path)
            return lambda data: query.find(data).values()

        found["jsonpath-rfc9535 (compiled)"] = peer_applier(spec, rfc)
    except ImportError:
        pass
    try:
        import jsonpath_ng.ext

        def ng(path: str) -> Callable[[Any], list[Any]]:
            expr = jsonpath_ng.ext.parse(
                path.replace("?@.", "?(@.").replace("10]", "10)]")
            )
            return lambda data: [m.value for m in expr.find(data)]

        def ng_per_call(path: str) -> Callable[[Any], list[Any]]:
            text = path.replace("?@.", "?(@.").replace("10]", "10)]")
            return lambda data: [
                m.value for m in jsonpath_ng.ext.parse(text).find(data)
            ]

        found["jsonpath-ng (pre-parsed)"] = peer_applier(spec, ng)
        found["jsonpath-ng (parse per call)"] = peer_applier(spec, ng_per_call)
    except ImportError:
        pass
    return found


# --- the run ----------------------------------------------------------------


def workloads() -> list[tuple[str, Any, Any, Callable[[Any], Any]]]:
    w4_spec = {f"k{i}": f"$.f{i}" for i in range(100)}
    w4_doc = {f"f{i}": i for i in range(100)}
    deep = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    return [
        ("W1 order spec, 5 items", W1, order(5), hand_w1),
        ("W2 order spec, 1,000 items", W1, order(1000), hand_w1),
        ("W3 one deep path", {"v": "$.a.b.c.d.e"}, deep, hand_w3),
        ("W4 100 simple leaves", w4_spec, w4_doc, hand_w4_factory(100)),
        ("W5 W1, half defaults", W5, order(5), hand_w5),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short, noisier run")
    args = parser.parse_args()
    settings = Settings(repeat=3, min_time=0.05) if args.quick else Settings(7, 0.2)
    python = platform.python_version()
    print(f"Python {python} on {platform.machine()} ({platform.system()})")
    print()
    headers = ["workload", "hand-written", "flowmap", "flowmap / hand"]
    peer_names: list[str] = []
    rows = []
    all_ok = True
    for name, spec, doc, hand in workloads():
        mapping = flowmap.compile_mapping(spec)
        expected = hand(doc)
        assert mapping.apply(doc) == expected, (name, mapping.apply(doc), expected)
        t_hand = per_call(hand, doc, settings)
        t_flow = per_call(mapping.apply, doc, settings)
        ok = t_flow / t_hand <= 1.5
        all_ok &= ok
        row = [name, fmt_time(t_hand), fmt_time(t_flow), fmt_ratio(t_flow / t_hand)]
        for peer, fn in peers(spec).items():
            if peer not in peer_names:
                peer_names.append(peer)
            assert fn(doc) == expected, (peer, name, fn(doc))
            quick = Settings(3, 0.05) if "per call" in peer else settings
            t_peer = per_call(fn, doc, quick)
            row.append(f"{fmt_time(t_peer)} ({fmt_ratio(t_peer / t_hand)})")
        rows.append(row)
    headers += [f"{p} (/ hand)" for p in peer_names]
    rows = [r + ["n/a"] * (len(headers) - len(r)) for r in rows]
    print(table(headers, rows))
    print()
    target = "flowmap within 1.5x of hand-written on every workload"
    print(f"target: {target}: {verdict(all_ok)}")
    print()
    cache_hits(settings)


def cache_hits(settings: Settings) -> None:
    """compile_mapping and apply_mapping on a spec compiled before."""
    doc = order(5)
    mapping = flowmap.compile_mapping(W1)
    t_apply = per_call(mapping.apply, doc, settings)
    t_hit = per_call(flowmap.compile_mapping, W1, settings)
    t_once = per_call(lambda d: flowmap.apply_mapping(W1, d), doc, settings)
    rows = [
        ["`compile_mapping(W1)`, cache hit", fmt_time(t_hit)],
        ["`Mapping.apply` of W1", fmt_time(t_apply)],
        ["`apply_mapping(W1, doc)`", fmt_time(t_once)],
        ["`apply_mapping` minus `apply` (its cache hit)", fmt_time(t_once - t_apply)],
    ]
    print(table(["W1, 5 items", "per call"], rows))
    print()
    ok = t_hit <= 2e-6 and t_once - t_apply <= 2e-6
    print(
        "target: compile_mapping and apply_mapping cache hits under 2 us: "
        f"{verdict(ok)}"
    )


if __name__ == "__main__":
    main()
