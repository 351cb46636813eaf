import pytest

from auditor.errors import ModelResolveError
from auditor.resolve.reference import parse_reference


def test_hub_ids_and_revisions(tmp_path):
    assert parse_reference("acme/model").kind == "hub"
    r = parse_reference("acme/model@v1.2")
    assert (r.value, r.revision) == ("acme/model", "v1.2")
    assert parse_reference("acme/model", "abc").revision == "abc"
    assert parse_reference(str(tmp_path)).kind == "local"


@pytest.mark.parametrize("bad", ["", "acme", "acme/../x", "acme/model@", "a/b/c", "/no/such/dir"])
def test_bad_references(bad):
    if bad == "/no/such/dir":
        assert parse_reference(bad).kind == "local"  # reported later as missing path
        return
    with pytest.raises(ModelResolveError):
        parse_reference(bad)


def test_conflicting_revisions():
    with pytest.raises(ModelResolveError, match="conflicting"):
        parse_reference("acme/m@a", "b")
