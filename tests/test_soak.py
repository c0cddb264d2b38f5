"""Issue 26 item 3: `spakg soak` fails (exit 1) when a promise it measures breaks, and names each one."""

from __future__ import annotations

from spakg.soak import Tally, broken_promises

GOOD = {"5xx": 0, "uncoded": 0, "dropped": 0, "healthz_failed": 0, "healthz_p99_ms": 40.0, "healthz_max_ms": 120.0,
        "distinct_documents": 1000, "rss_growth_mib_over_distinct_documents": 30.0}


def test_a_soak_that_keeps_every_promise_breaks_none():
    assert broken_promises(GOOD) == []


def test_each_broken_promise_is_named():
    report = {**GOOD, "5xx": 2, "uncoded": 1, "healthz_p99_ms": 374.0, "healthz_max_ms": 900.0,
              "rss_growth_mib_over_distinct_documents": 190.0}
    broken = broken_promises(report)
    assert len(broken) == 5
    text = " | ".join(broken)
    for words in ("2 answers were 5xx", "1 errors had no extensions.code", "p99 374.0 ms", "max 900.0 ms",
                  "RSS grew 190.0 MiB"):
        assert words in text, words


def test_the_tally_counts_uncoded_errors_and_5xx_but_not_sparql_refusals():
    tally = Tally()
    tally.record(503, b'{"errors": [{"message": "busy", "extensions": {"code": "SPARQL_BUSY"}}]}')
    tally.record(500, b'{"errors": [{"message": "x", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}')
    tally.record(400, b"Invalid HTTP request received.")
    tally.record(400, b"<p>[TOO_MANY_FIELDS] The form holds more than 10 fields</p>", html=True)
    tally.record(400, b"<p>Something went wrong</p>", html=True)
    assert (tally.server_errors, tally.uncoded, tally.tried) == (1, 2, 5)
    assert tally.codes["TOO_MANY_FIELDS"] == 1 and tally.codes["SPARQL_BUSY"] == 1
