"""``flowmap serve``: the FunctionGraph flow API over HTTP (extra ``server``)."""
