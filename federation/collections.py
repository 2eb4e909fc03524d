"""OrderedCollection and OrderedCollectionPage documents with page links."""

from __future__ import annotations

from federation.vocabulary import AS

PAGE_SIZE = 50


def ordered_collection(collection_id: str, total: int) -> dict:
    return {
        "@context": AS,
        "id": collection_id,
        "type": "OrderedCollection",
        "totalItems": total,
        "first": f"{collection_id}?page=1",
        "last": f"{collection_id}?page={max(1, -(-total // PAGE_SIZE))}",
    }


def ordered_page(collection_id: str, page: int, items: list, total: int) -> dict:
    document = {
        "@context": AS,
        "id": f"{collection_id}?page={page}",
        "type": "OrderedCollectionPage",
        "partOf": collection_id,
        "totalItems": total,
        "orderedItems": items,
    }
    if page * PAGE_SIZE < total:
        document["next"] = f"{collection_id}?page={page + 1}"
    if page > 1:
        document["prev"] = f"{collection_id}?page={page - 1}"
    return document
