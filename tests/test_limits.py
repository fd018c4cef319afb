"""Size limits give a FlowmapError, the same on both evaluation tiers."""

from __future__ import annotations

import pytest

from flowmap.errors import EvaluationLimitError
from flowmap.jsonpath._runtime import MAX_NODES
from flowmap.jsonpath.query import Query


@pytest.mark.parametrize("text", ["$..*", "$..[*]", "$[*]..*"])
def test_descendants_past_the_node_limit(text: str) -> None:
    document = [[0] * (MAX_NODES + 1)]
    first_tier = Query(text)
    generated = Query(text).prepare()
    for query in (first_tier, generated):
        with pytest.raises(EvaluationLimitError) as info:
            query.find(document)
        assert str(MAX_NODES // 1000) in str(info.value).replace(",", "")
