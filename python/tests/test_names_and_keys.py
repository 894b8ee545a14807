import pytest

from larder import errors
from larder.names import check_name
from larder.server.security import apikeys


@pytest.mark.parametrize("name", ["ab", "fraud_detection", "p" + "x" * 62])
def test_valid_project_names(name):
    assert check_name("project", name) == name


@pytest.mark.parametrize(
    "name", ["a", "Fraud", "1abc", "with space", "dash-ed", "p" + "x" * 63, "", None, "ä_bc"]
)
def test_invalid_project_names_name_the_value_and_the_rule(name):
    with pytest.raises(errors.InvalidArgumentError) as exc:
        check_name("project", name)
    assert "lowercase letters" in exc.value.message
    assert exc.value.http_status == 400


def test_api_key_secret_is_stored_only_as_salted_hash():
    new = apikeys.generate()
    prefix, secret = apikeys.split(new.plaintext)
    assert prefix == new.prefix and len(prefix) == 16
    assert secret not in new.secret_hash and new.plaintext not in repr(new)
    assert apikeys.matches(new.salt, new.secret_hash, secret)
    assert not apikeys.matches(new.salt, new.secret_hash, secret + "x")
    other = apikeys.generate()
    # the same secret under another salt hashes differently
    assert apikeys.hash_secret(other.salt, secret) != new.secret_hash


@pytest.mark.parametrize(
    "bad", ["", "nodot", "zz" * 8 + ".abc", "abc.def", "0123456789abcdef.", "0123456789abcdef." + "a" * 200]
)
def test_malformed_keys_are_rejected(bad):
    assert apikeys.split(bad) is None


def test_error_bodies_round_trip_to_the_same_class():
    for cls in (
        errors.NotFoundError,
        errors.PermissionDeniedError,
        errors.AuthenticationError,
        errors.AlreadyExistsError,
    ):
        e = cls("boom", {"k": "v"})
        back = errors.from_response_body(e.http_status, e.to_body())
        assert type(back) is cls and back.message == "boom" and back.details == {"k": "v"}
    fallback = errors.from_response_body(502, "<html>bad gateway</html>")
    assert isinstance(fallback, errors.ServerError) and "502" in fallback.message
