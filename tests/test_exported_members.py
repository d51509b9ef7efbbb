"""The public surface of eventwire.api: sorted (constants, classes, functions), complete, importable."""

import inspect

import eventwire.api


def isort_style(name: str) -> tuple[int, str]:
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_importable() -> None:
    exported = eventwire.api.__all__
    assert exported == sorted(exported, key=isort_style)
    for name in exported:
        assert hasattr(eventwire.api, name), name


def test_every_public_function_and_class_is_exported() -> None:
    public = {
        name
        for name, value in vars(eventwire.api).items()
        if not name.startswith("_") and (inspect.isfunction(value) or inspect.isclass(value))
    }
    assert public <= set(eventwire.api.__all__)
