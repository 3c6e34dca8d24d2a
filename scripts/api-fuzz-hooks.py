"""schemathesis hooks of scripts/api-fuzz: the false positives it drops, and nothing else.

OpenAPI 3.0 describes each parameter on its own, in one place. The PATCH
routes take their parameters from the query string *or* the body (a body
value wins; docs/api.md, "Requests that change something") and have rules
that span both: `PATCH /v0/cluster` needs trafficEnabled or
monitoringEnabled, and a non-blank message when trafficEnabled is false;
`PATCH /v0/backends/{name}` needs `state`. No schema can say "required in
the query unless the body has it", so schemathesis calls some requests
schema-valid that the API rightly refuses with 400 (ST202, "Schema-valid
request rejected"). This hook drops an ST202 only when the request really
breaks one of those rules *and* the 400 names that very rule's field; any
other refusal of schema-valid data stays a failure.

`POST /v0/reload` has no parameters: its 400 (`{"error", "problems"}`)
refuses the configuration file on disk (in `switchboard demo`, the lack of
one), not the request, so an ST202 with that answer is dropped too.

Dropped failures are listed in the run's output ("dropped by
`filter_failure`"), so nothing is hidden.
"""

import json

import schemathesis

GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def _first(value):
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _merged(case):
    """The parameters as the API reads them: the body's value, else the query's."""
    merged = {}
    for name, value in (case.query or {}).items():
        merged[name] = _first(value)
    body = case.body if isinstance(case.body, dict) else {}
    for name, value in body.items():
        if value is not None:  # JSON null counts as absent
            merged[name] = _first(value)
    return merged


def _is_false(value):
    """Whether the API reads `value` as false (Go's spellings, a JSON false or 0)."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value == 0
    return isinstance(value, str) and value in GO_FALSE


def _blank(value):
    return value is None or (isinstance(value, str) and value.strip() == "")


def _answer(response):
    try:
        return json.loads(response.content)
    except (ValueError, TypeError):
        return {}


def _breaks_a_cross_location_rule(case, answer):
    """Whether the request breaks the rule the API's 400 names."""
    params = _merged(case)
    field = answer.get("field")
    if case.method == "PATCH" and case.path == "/v0/cluster":
        if field == "trafficEnabled":
            return "trafficEnabled" not in params and "monitoringEnabled" not in params
        if field == "message":
            return _is_false(params.get("trafficEnabled")) and _blank(params.get("message"))
    if case.method == "PATCH" and case.path == "/v0/backends/{name}":
        return field == "state" and "state" not in params
    return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if getattr(failure, "code", None) != "ST202" or response.status_code != 400:
        return True
    answer = _answer(response)
    if case.method == "POST" and case.path == "/v0/reload":
        return "problems" not in answer
    return not _breaks_a_cross_location_rule(case, answer)
