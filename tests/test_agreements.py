"""Four instances draft, amend, co-sign, verify, withdraw from and renew an agreement.

A movement on A ("rivers") proposes to movements on B ("fishers") and C ("farmers"), with the movement
on M ("council") as mediator. B amends; every party signs the amended version; the agreement is in
force everywhere with one canonical document, which `interpeople verify` checks offline with the key
bundle and refuses once a character or a proof changes. B withdraws; a renewal supersedes it.
"""

import json

from tests.harness import wait_for

TEXT = "# Shared rivers\n\nWe keep the river **clean** and share the water fairly.\n"
AMENDED = TEXT + "\nFishing stops during the spawning season.\n"


def charter(instance, movement):
    return instance.cli("agreement", "list", movement, "--json").lines


def verify(instance, path):
    """`interpeople verify` with no instance folder, as anyone would run it."""
    import contextlib
    import io

    from server.cli import main
    from tests.harness import CliResult

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["verify", str(path)])
    return CliResult(code, out.getvalue(), err.getvalue())


def test_four_instances_agree_verify_withdraw_and_renew(instances, tmp_path):
    a, b, c, m = (instances.new(name) for name in "abcm")
    rivers, fishers, farmers, council = (
        a.movement("rivers"),
        b.movement("fishers"),
        c.movement("farmers"),
        m.movement("council"),
    )
    parties = [rivers, fishers, farmers]
    text = tmp_path / "text.md"
    text.write_text(TEXT)

    url = a.cli(
        "proposal",
        "create",
        "rivers",
        "--title",
        "Shared rivers",
        "--text-file",
        str(text),
        "--party",
        b.handle("fishers"),
        "--party",
        c.handle("farmers"),
        "--mediator",
        m.handle("council"),
        "--ends",
        "2099-12-31",
    ).out.strip()
    assert url.startswith(a.base_url + "/proposals/")
    for instance in (a, b, c, m):
        seen = wait_for(lambda: instance.proposal(url), what=f"the proposal on {instance.host}")
        assert seen["status"] == "open" and seen["parties"] == parties and seen["mediator"] == council
    first = a.proposal(url)["current_version"]

    text.write_text(AMENDED)
    amended = b.cli("proposal", "amend", url, "--as", "fishers", "--text-file", str(text)).out.strip()
    assert len(amended) == 64 and amended != first
    for instance in (a, b, c, m):
        wait_for(
            lambda: (instance.proposal(url) or {}).get("current_version") == amended,
            what=f"the amendment on {instance.host}",
        )
    assert [v["version"] for v in c.proposal(url)["versions"]] == [first, amended]

    a.cli("proposal", "sign", url, "--as", "rivers")
    b.cli("proposal", "sign", url, "--as", "fishers")
    c.cli("proposal", "sign", url, "--as", "farmers")
    agreement = a.proposal(url)["agreement"]
    for instance in (a, b, c, m):
        state = wait_for(
            lambda: (s := instance.proposal(url)) and s["status"] == "agreed" and s,
            what=f"the agreement in force on {instance.host}",
        )
        assert state["agreed_version"] == amended and sorted(state["signatures"][amended]) == sorted(parties)
    exports = {i.host: i.cli("agreement", "export", agreement).out for i in (a, b, c, m)}
    assert len(set(exports.values())) == 1, "every instance holds the same canonical document"
    for instance, movement in ((a, "rivers"), (b, "fishers"), (c, "farmers")):
        [row] = charter(instance, movement)
        assert row["url"] == agreement and row["status"] == "in_force" and row["version"] == amended
        assert row["parties"] == parties and row["withdrawn_by"] == []

    bundle = tmp_path / "bundle.json"
    bundle.write_text(b.cli("agreement", "export", agreement, "--with-keys").out)
    checked = verify(None, bundle)
    assert checked.code == 0, checked
    assert checked.out.splitlines() == [f"verified  {p}" for p in parties]
    online = verify(None, agreement)
    assert online.code == 0, online

    tampered = json.loads(bundle.read_text())
    tampered["agreement"]["source"]["content"] = tampered["agreement"]["source"]["content"].replace(
        "clean", "clear"
    )
    (tmp_path / "text-changed.json").write_text(json.dumps(tampered))
    refused = verify(None, tmp_path / "text-changed.json")
    assert refused.code == 1 and refused.out.count("invalid") == 3
    tampered = json.loads(bundle.read_text())
    proof = tampered["agreement"]["proof"][1]
    proof["proofValue"] = (
        proof["proofValue"][:-2] + ("A" if proof["proofValue"][-2] != "A" else "B") + proof["proofValue"][-1]
    )
    (tmp_path / "proof-changed.json").write_text(json.dumps(tampered))
    refused = verify(None, tmp_path / "proof-changed.json")
    assert (
        refused.code == 1
        and refused.out.splitlines()[1].startswith("invalid")
        and refused.out.count("verified") == 2
    )

    b.cli("agreement", "withdraw", agreement, "--as", "fishers")
    for instance in (a, b, c, m):
        wait_for(
            lambda: instance.proposal(url)["withdrawn_by"] == [fishers],
            what=f"B's withdrawal on {instance.host}",
        )
    assert charter(b, "fishers")[0]["status"] == "withdrawn"
    [row] = charter(a, "rivers")
    assert row["status"] == "in_force" and row["withdrawn_by"] == [fishers]

    text.write_text(TEXT + "\nRenewed for the next decade, between the two of us.\n")
    renewal = a.cli(
        "proposal",
        "create",
        "rivers",
        "--title",
        "Shared rivers, renewed",
        "--text-file",
        str(text),
        "--party",
        c.handle("farmers"),
        "--renews",
        agreement,
    ).out.strip()
    wait_for(lambda: c.proposal(renewal), what="the renewal on C")
    a.cli("proposal", "sign", renewal, "--as", "rivers")
    c.cli("proposal", "sign", renewal, "--as", "farmers")
    new_agreement = a.proposal(renewal)["agreement"]
    for instance, movement in ((a, "rivers"), (c, "farmers")):
        rows = wait_for(
            lambda: {
                r["url"]: r
                for r in charter(instance, movement)
                if r["status"] == "superseded" or r["url"] == new_agreement
            },
            what="the renewal",
        )
        wait_for(
            lambda: [r["status"] for r in charter(instance, movement)] == ["in_force", "superseded"],
            what=f"the old agreement superseded on {instance.host}",
        )
        rows = charter(instance, movement)
        assert rows[0]["url"] == new_agreement and rows[0]["renews"] == agreement
        assert rows[1]["url"] == agreement and rows[1]["superseded_by"] == new_agreement
