"""A movement with many agreements: its charter is read page by page, in the browser (plain links, no
JavaScript) and as a paged ActivityPub collection, and every agreement is on exactly one page."""

from __future__ import annotations

import asyncio
import re

import pytest
import requests

from tests.bench.bench_agreements import seed_charter

AGREEMENTS = 120  # 50 a page: three pages, the last one of 20


@pytest.fixture(scope="module")
def charter(module_instances):
    a = module_instances.new("a", start=False)
    movement = a.movement("bench", "Bench Movement")
    asyncio.run(seed_charter(a.effective_database_url, movement, AGREEMENTS))
    a.start()
    return a


def titles(html: str) -> list[str]:
    return re.findall(r'<a class="t" href="[^"]+">([^<]+)</a>', html)


def test_a_reader_follows_the_next_links_and_meets_every_agreement_once(charter):
    seen, url, pages = [], charter.url("/actors/bench/charter"), 0
    while url:
        page = requests.get(url, timeout=30)
        assert page.status_code == 200
        seen += titles(page.text)
        pages += 1
        found = re.search(r'<a rel="next" href="([^"]+)"', page.text)
        url = charter.url("/actors/bench/charter") + found.group(1).replace("&amp;", "&") if found else None
    assert pages == 3 and len(seen) == AGREEMENTS == len(set(seen))


def test_every_page_shows_the_counts_and_the_bound_with_graph_of_the_whole_charter(charter):
    first = requests.get(charter.url("/actors/bench/charter"), timeout=30).text
    last = requests.get(charter.url("/actors/bench/charter?page=3"), timeout=30).text
    counts = re.findall(r'<div class="stats">(.*?)</div>', first)
    assert counts and counts == re.findall(r'<div class="stats">(.*?)</div>', last)
    assert sum(int(n) for n in re.findall(r"<b>(\d+)</b>", counts[0])) == AGREEMENTS
    assert "agreement(s) in force" in first and "agreement(s) in force" in last  # the graph's partners
    assert "page 3 of 3 (20 of 120 agreements)" in last and 'rel="prev" href="?page=2"' in last


def test_a_page_past_the_last_or_not_a_number_is_not_found(charter):
    assert requests.get(charter.url("/actors/bench/charter?page=4"), timeout=30).status_code == 404
    assert requests.get(charter.url("/actors/bench/charter?page=x"), timeout=30).status_code == 404


def test_the_json_ld_charter_is_a_paged_collection_walked_through_next(charter):
    collection = charter.get_json("/actors/bench/charter").json()
    assert collection["type"] == "OrderedCollection" and collection["totalItems"] == AGREEMENTS
    assert collection["last"].endswith("/charter?page=3")
    page, ids = collection["first"], []
    while True:
        assert page["type"] == "OrderedCollectionPage" and page["partOf"] == collection["id"]
        ids += [item["id"] for item in page["orderedItems"]]
        if "next" not in page:
            break
        page = charter.get_json(page["next"]).json()
    assert len(ids) == AGREEMENTS == len(set(ids))
    assert page["prev"].endswith("/charter?page=2")
