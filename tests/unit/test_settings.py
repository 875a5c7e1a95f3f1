import pytest

from equitr.config.settings import Settings, load
from equitr.errors import ConfigError

APP_ENV = ("GH_APP_ID", "GH_PRIVATE_KEY", "GH_PRIVATE_KEY_PATH", "GH_SECRET", "GITHUB_TOKEN", "EQUITR_QUEUE_URL")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in APP_ENV:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_local_mode() -> None:
    settings = Settings()
    assert settings.mode == "local"
    assert settings.github_api_url == "https://api.github.com"
    assert settings.sandbox == "bwrap"
    assert settings.redis_url is None


def test_empty_secret_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_APP_ID", "123")
    monkeypatch.setenv("GH_PRIVATE_KEY", "-----BEGIN " + "RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----")
    monkeypatch.setenv("GH_SECRET", "")
    with pytest.raises(ConfigError) as info:
        load().require_server()
    assert "GH_SECRET is set but empty" in info.value.message
    assert "Webhook secret" in info.value.message


def test_missing_secret_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_APP_ID", "123")
    with pytest.raises(ConfigError, match="GH_SECRET is not set"):
        load().require_server()
    monkeypatch.setenv("GH_SECRET", "whsec-value")
    with pytest.raises(ConfigError, match="GH_PRIVATE_KEY is not set"):
        load().require_server()


def test_private_key_path(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "app.pem"
    key.write_text("PEM TEXT")
    monkeypatch.setenv("GH_APP_ID", "123")
    monkeypatch.setenv("GH_SECRET", "whsec-value")
    monkeypatch.setenv("GH_PRIVATE_KEY_PATH", str(key))
    settings = load()
    settings.require_server()
    assert settings.private_key().get_secret_value() == "PEM TEXT"
    monkeypatch.setenv("GH_PRIVATE_KEY_PATH", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError, match="cannot be read"):
        load().private_key()


def test_local_mode_serve_says_how(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_SECRET", "whsec-value")
    with pytest.raises(ConfigError) as info:
        load().require_server()
    assert "equitr run" in (info.value.hint or "")


def test_token_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghs_" + "a" * 36)
    monkeypatch.setenv("GITHUB_API_URL", "http://127.0.0.1:9/api/v3/")
    settings = load()
    assert settings.mode == "token"
    assert settings.github_api_url == "http://127.0.0.1:9/api/v3"


def test_secrets_never_print(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GH_SECRET", "very-secret-value")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_secretsecretsecretsecret")
    settings = load()
    for text in (str(settings), repr(settings), settings.model_dump_json()):
        assert "very-secret-value" not in text
        assert "ghp_secretsecret" not in text


def test_bad_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EQUITR_QUEUE_URL", "amqp://x")
    with pytest.raises(ConfigError, match="EQUITR_QUEUE_URL"):
        load()
    monkeypatch.delenv("EQUITR_QUEUE_URL")
    monkeypatch.setenv("EQUITR_SANDBOX", "docker")
    with pytest.raises(ConfigError, match="EQUITR_SANDBOX"):
        load()
    monkeypatch.setenv("EQUITR_SANDBOX", "none")  # the one other mode, only when set explicitly
    assert load().sandbox == "none"


def test_timeouts_and_the_shutdown_grace_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from equitr.config import settings as settings_mod

    monkeypatch.setenv("EQUITR_MODEL_TIMEOUT", "45")
    monkeypatch.setenv("EQUITR_GITHUB_TIMEOUT", "12.5")
    monkeypatch.setenv("EQUITR_SHUTDOWN_GRACE", "8")
    loaded = settings_mod.load()
    assert (loaded.model_timeout_s, loaded.github_timeout_s, loaded.shutdown_grace_s) == (45, 12.5, 8)
    monkeypatch.setenv("EQUITR_MODEL_TIMEOUT", "0")
    with pytest.raises(ConfigError, match="EQUITR_MODEL_TIMEOUT"):
        settings_mod.load()
