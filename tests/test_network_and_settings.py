"""Operator input: the network file and the settings; each mistake is one line naming where it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import SettingsError, load_settings
from bot.core.network import EXAMPLE_NETWORK, NetworkError, load_network
from flows.diagrams import DOCS, document
from flows.features import FLOWS


def test_the_example_network_is_the_oldenburg_region() -> None:
    network = load_network()
    nine = {"ammerland", "cloppenburg", "friesland", "landkreis_oldenburg", "vechta", "wesermarsch",
            "delmenhorst", "stadt_oldenburg", "wilhelmshaven"}
    assert set(network.districts) == nine | {"outside"}
    assert {d for d, v in network.districts.items() if v.pilot} == {
        "ammerland", "landkreis_oldenburg", "delmenhorst", "stadt_oldenburg"}
    assert network.districts["vechta"].name["ar"] == "فيشتا (Landkreis Vechta)"
    assert {p.role for p in network.personas} == {"participant", "volunteer", "coordinator", "admin", "company"}


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "network.toml"
    text = EXAMPLE_NETWORK.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "message"), [
    ('name = "Integrationsnetzwerk', 'name = Integrationsnetzwerk', "not valid TOML: Invalid value (at line 5"),
    (', ti = "ኣመርላንድ (Landkreis Ammerland)"', "", "districts.ammerland.name: translation missing for ti"),
    ('organisation = "ihk"\ntopics', 'organisation = "ikh"\ntopics', "responsibilities[0].organisation: unknown"),
    ('districts = ["stadt_oldenburg", "landkreis_oldenburg"]', 'districts = ["oldenburgg"]',
     "unknown district 'oldenburgg'"),
    ('kind = "chamber"', 'kind = "palace"', "organisations.ihk.kind: Input should be"),
    ('locale = "de"\ndistrict', 'locale = "xx"\ndistrict', "personas[3].locale: must be one of"),
    ("[districts.cloppenburg]", "[districts.Cloppenburg]", "districts.Cloppenburg"),
])
def test_a_malformed_network_file_names_file_and_key(tmp_path: Path, old: str, new: str, message: str) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(NetworkError) as raised:
        load_network(path)
    line = str(raised.value)
    assert line.startswith(f"network file {path}: ") and message in line and "\n" not in line


def test_binary_or_missing_network_files(tmp_path: Path) -> None:
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(NetworkError, match="not UTF-8 text"):
        load_network(binary)
    with pytest.raises(NetworkError, match="cannot read it"):
        load_network(tmp_path / "missing.toml")


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("LOTSE_IDLE_MINUTES", "0", "setting LOTSE_IDLE_MINUTES: Input should be greater than or equal to 1"),
    ("LOTSE_IDLE_MINUTES", "soon", "setting LOTSE_IDLE_MINUTES: Input should be a valid integer"),
    ("LOTSE_IDLE_MINUTES", "99999999", "setting LOTSE_IDLE_MINUTES: Input should be less than or equal to"),
    ("LOTSE_DATABASE_URL", "mysql://x", "setting LOTSE_DATABASE_URL: Value error, must start with"),
    ("LOTSE_NETWORK_FILE", "/nonexistent.toml", "setting LOTSE_NETWORK_FILE: Value error, no such file"),
    ("LOTSE_LOG_LEVEL", "loud", "setting LOTSE_LOG_LEVEL: Value error, must be one of"),
])
def test_a_wrong_setting_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, variable: str, value: str,
                                               message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_settings_are_read_from_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("LOTSE_IDLE_MINUTES=15\n")
    assert load_settings().idle_minutes == 15


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_flow_diagrams_are_generated_from_the_declarations(name: str) -> None:
    committed = (DOCS / f"{name}.md").read_text(encoding="utf-8")
    assert committed == document(FLOWS[name]), "run `lotse diagrams` and commit docs/flows/"


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_declared_destination_exists(name: str) -> None:
    flow = FLOWS[name]
    steps = {step.name for step in flow.steps}
    for step in flow.steps:
        if isinstance(step.next, str):
            assert step.next in steps
        for _label, destination in step.branches:
            assert destination in steps or destination in FLOWS or destination in ("__resume__", "goodbye")


def test_telegram_settings_are_checked_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOTSE_TELEGRAM_TOKEN", "LOTSE_TELEGRAM_WEBHOOK_LISTEN", "LOTSE_TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(telegram_token=" 123456:AAE-secret_part ", telegram_webhook_listen="0.0.0.0:8088",
                             telegram_webhook_secret="s3cret-_")
    assert settings.telegram_token == "123456:AAE-secret_part"
    assert settings.telegram_webhook_address == ("0.0.0.0", 8088)
    assert load_settings(telegram_token="").telegram_token is None  # empty is unset: "no transport configured"
    for values, setting in (({"telegram_token": "AAE-secret_part"}, "LOTSE_TELEGRAM_TOKEN"),
                            ({"telegram_webhook_listen": "8443"}, "LOTSE_TELEGRAM_WEBHOOK_LISTEN"),
                            ({"telegram_webhook_listen": "localhost:99999"}, "LOTSE_TELEGRAM_WEBHOOK_LISTEN"),
                            ({"telegram_webhook_secret": "with space"}, "LOTSE_TELEGRAM_WEBHOOK_SECRET")):
        with pytest.raises(SettingsError) as wrong:
            load_settings(**values)
        assert str(wrong.value).startswith(f"setting {setting}: ") and "secret_part" not in str(wrong.value)
