"""API keys from AWS Secrets Manager and SSM Parameter Store, on a real moto_server and a real platform.

The role comes from STS: each test assumes an IAM role on moto (``assumed-role/<role>/<session>``
ARN) and stores the key under that role's name.
"""

from __future__ import annotations

import logging
import sys

import pytest
from aws_fixtures import Aws, aws, moto_server
from test_connection import Team, assert_no_secret, error_text, isolated, team

import larder
from larder.client.apikey import parameter_name, secret_name
from larder.errors import ApiKeyNotFoundError, ConfigurationError

FIXTURES = (aws, moto_server, isolated, team)  # shared fixtures, used by name below


def test_secrets_manager_key(team: Team, aws: Aws) -> None:
    role = aws.new_role()
    aws.put_secret(secret_name(role), {"api-key": team.bob.key, "note": "for the nightly job"})
    aws.run_as_role(role)
    with larder.connection(**team.opts(secrets_store="secretsmanager")) as conn:
        assert conn.user == team.bob.name
        assert conn.api_key_source == (
            f"AWS Secrets Manager secret 'larder/role/{role}' (field 'api-key', role {role}, region eu-west-1)"
        )


def test_parameter_store_key(team: Team, aws: Aws) -> None:
    role = aws.new_role()
    aws.put_parameter(parameter_name(role), team.carol.key)
    aws.run_as_role(role)
    with larder.connection(**team.opts(secrets_store="parameterstore")) as conn:
        assert conn.user == team.carol.name
        assert f"/larder/role/{role}/type/api-key" in conn.api_key_source


def test_region_name_picks_the_region(team: Team, aws: Aws) -> None:
    role = aws.new_role()
    aws.put_secret(secret_name(role), {"api-key": team.bob.key}, region="eu-central-1")
    aws.run_as_role(role)
    with larder.connection(**team.opts(secrets_store="secretsmanager", region_name="eu-central-1")) as conn:
        assert conn.user == team.bob.name
    with pytest.raises(ApiKeyNotFoundError) as info:  # "default" = boto3's default region, eu-west-1
        larder.connection(**team.opts(secrets_store="secretsmanager"))
    assert "region eu-west-1" in str(info.value)


def test_the_aws_store_wins_over_env_and_the_file_over_both(
    team: Team, aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An explicit secrets_store wins over a stray LARDER_API_KEY (issue 18); api_key_file, an
    explicit argument too, wins over both."""
    role = aws.new_role()
    aws.put_secret(secret_name(role), {"api-key": team.bob.key})
    aws.put_parameter(parameter_name(role), team.bob.key)
    aws.run_as_role(role)
    monkeypatch.setenv("LARDER_API_KEY", team.carol.key)
    for store in ("secretsmanager", "parameterstore"):
        with larder.connection(**team.opts(secrets_store=store)) as conn:
            assert conn.user == team.bob.name
            assert conn.api_key_source.startswith(("AWS Secrets Manager", "AWS SSM parameter"))
        with larder.connection(
            **team.opts(secrets_store=store, api_key_file=str(team.dave.key_file))
        ) as conn:
            assert conn.user == team.dave.name


def test_missing_secret_names_secret_role_and_region(team: Team, aws: Aws) -> None:
    role = aws.new_role("nokey")
    aws.run_as_role(role)
    with pytest.raises(ApiKeyNotFoundError) as info:
        larder.connection(**team.opts(secrets_store="secretsmanager"))
    msg = str(info.value)
    assert f"secret 'larder/role/{role}'" in msg
    assert f"role {role}" in msg and "region eu-west-1" in msg
    assert "no such secret" in msg
    assert (
        "1) api_key_value (not given)" in msg and "4) env LARDER_API_KEY (not set)" in msg
    )  # the store first


def test_missing_parameter_names_parameter_role_and_region(team: Team, aws: Aws) -> None:
    role = aws.new_role("nokey")
    aws.run_as_role(role)
    with pytest.raises(ApiKeyNotFoundError) as info:
        larder.connection(**team.opts(secrets_store="parameterstore"))
    msg = str(info.value)
    assert f"parameter '/larder/role/{role}/type/api-key'" in msg
    assert f"role {role}" in msg and "region eu-west-1" in msg


def test_secret_without_the_api_key_field(team: Team, aws: Aws) -> None:
    role = aws.new_role()
    aws.put_secret(secret_name(role), {"apikey": team.bob.key})  # a typo in the field name
    aws.run_as_role(role)
    with pytest.raises(ConfigurationError) as info:
        larder.connection(**team.opts(secrets_store="secretsmanager"))
    msg = str(info.value)
    assert "has no field 'api-key' (fields: apikey)" in msg and f"larder/role/{role}" in msg
    assert_no_secret(error_text(info.value), team.bob)


def test_secret_that_is_not_json(team: Team, aws: Aws) -> None:
    role = aws.new_role()
    aws.put_secret(secret_name(role), team.bob.key)  # the bare key, not JSON
    aws.run_as_role(role)
    with pytest.raises(ConfigurationError, match="is not a JSON object") as info:
        larder.connection(**team.opts(secrets_store="secretsmanager"))
    assert_no_secret(error_text(info.value), team.bob)


def test_caller_that_is_not_a_role(team: Team, aws: Aws) -> None:
    # the fixture's static credentials are an IAM user: arn:aws:sts::123456789012:user/moto
    with pytest.raises(ConfigurationError) as info:
        larder.connection(**team.opts(secrets_store="parameterstore"))
    msg = str(info.value)
    assert "arn:aws:sts::123456789012:user/moto" in msg and "not an assumed role" in msg


def test_no_default_region(team: Team, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigurationError) as info:
        larder.connection(**team.opts(secrets_store="secretsmanager"))
    assert "AWS_DEFAULT_REGION" in str(info.value) and "region_name=" in str(info.value)


def test_no_aws_credentials(team: Team, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConfigurationError) as info:
        larder.connection(**team.opts(secrets_store="secretsmanager"))
    assert "No AWS credentials" in str(info.value) and "region eu-west-1" in str(info.value)


def test_missing_boto3_names_the_extra(team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    for store in ("secretsmanager", "parameterstore"):
        with pytest.raises(ConfigurationError) as info:
            larder.connection(**team.opts(secrets_store=store))
        assert "pip install 'larder-platform[aws]'" in str(info.value) and store in str(info.value)


def test_secret_values_never_reach_the_logs(team: Team, aws: Aws, caplog: pytest.LogCaptureFixture) -> None:
    """botocore logs response bodies at DEBUG; the provider keeps the secret's out."""
    role = aws.new_role()
    aws.put_secret(secret_name(role), {"api-key": team.bob.key})
    aws.put_parameter(parameter_name(role), team.carol.key)
    aws.run_as_role(role)
    caplog.set_level(logging.DEBUG)
    for store in ("secretsmanager", "parameterstore"):
        larder.connection(**team.opts(secrets_store=store)).close()
    assert "Response body" in caplog.text  # botocore did log bodies (of STS), just not the secret's
    assert_no_secret(caplog.text, team.bob, team.carol)
