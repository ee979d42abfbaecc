from bench.compare import flatten, rows


def test_flatten_names_every_leaf_by_its_path():
    tree = {"a": {"b": 1, "c": [2, {"d": None}]}, "e": "x"}
    assert flatten(tree) == {"a.b": 1, "a.c.0": 2, "a.c.1.d": None, "e": "x"}


def test_rows_show_before_and_after_with_the_change():
    before = {"engine": {"f1": 0.25, "met": False, "error": None}, "gone": 1}
    after = {"engine": {"f1": 0.5, "met": True, "error": None}, "new": 2}
    assert rows(before, after) == [
        ("engine.f1", "0.25", "0.5", "+0.25"),
        ("engine.met", "NOT met", "met", ""),
        ("engine.error", "-", "-", ""),
        ("gone", "1", "absent", ""),
        ("new", "absent", "2", ""),
    ]
    assert [r[0] for r in rows(before, after, changed_only=True)] == [
        "engine.f1",
        "engine.met",
        "gone",
        "new",
    ]
