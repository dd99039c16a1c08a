"""The `chat-platform` command as a user runs it: keys, migrate, and a served process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import start_server, stop_server


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAT_PLATFORM_DATA_DIR": str(data_dir)}
    env.pop("CHAT_PLATFORM_DATABASE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "chat_platform.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_keys_create_prints_only_the_key_and_list_hides_it(tmp_path: Path) -> None:
    created = cli(tmp_path, "keys", "create", "--role", "builder", "--name", "ci")
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"
    assert key.startswith("nl_sk_") and len(key) == len("nl_sk_") + 40

    listed = cli(tmp_path, "keys", "list")
    assert listed.returncode == 0
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(rows) == 1
    assert rows[0]["role"] == "builder" and rows[0]["name"] == "ci"
    assert rows[0]["prefix"] == key[:12]
    assert key not in listed.stdout

    # The embedded defaults were created: SQLite file and a 0600 secret key.
    assert (tmp_path / "chat-platform.sqlite3").exists()
    mode = stat.S_IMODE((tmp_path / "secret.key").stat().st_mode)
    assert mode == 0o600


def test_keys_create_rejects_unknown_project_and_role(tmp_path: Path) -> None:
    bad_project = cli(tmp_path, "keys", "create", "--role", "admin", "--project", "proj_nope")
    assert bad_project.returncode != 0 and bad_project.stdout == ""
    assert "Project does not exist" in bad_project.stderr
    bad_role = cli(tmp_path, "keys", "create", "--role", "root")
    assert bad_role.returncode != 0 and bad_role.stdout == ""


def test_migrate_is_idempotent(tmp_path: Path) -> None:
    assert cli(tmp_path, "migrate").returncode == 0
    assert cli(tmp_path, "migrate").returncode == 0


def test_revoked_key_is_refused_by_a_running_server(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    try:
        headers = {"Authorization": f"Bearer {server.admin_key}"}
        ok = httpx.get(server.base_url + "/api/v1/projects", headers=headers)
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit"] == "100000"
        key_id = json.loads(server.cli("keys", "list").splitlines()[0])["id"]
        server.cli("keys", "revoke", key_id)
        refused = httpx.get(server.base_url + "/api/v1/projects", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "API_KEY_REVOKED"
        missing = httpx.get(server.base_url + "/api/v1/projects")
        assert missing.status_code == 401
        assert missing.json()["error"]["code"] == "INVALID_API_KEY"
    finally:
        stop_server(server)


def serve_banner(data_dir: Path) -> str:
    """What `serve` prints on stderr before it starts answering (then it is stopped)."""
    from tests.conftest import free_port

    env = {**os.environ, "CHAT_PLATFORM_DATA_DIR": str(data_dir)}
    env.pop("CHAT_PLATFORM_DATABASE_URL", None)
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY"):
        env.pop(name, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "chat_platform.cli", "serve", "--port", str(free_port())],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("Demo workflow:"):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return "".join(lines)


def test_serve_creates_a_demo_with_a_hosted_chat_link_once(tmp_path: Path) -> None:
    first = serve_banner(tmp_path)
    link = next(w for w in first.split() if "/chat/wgt_" in w)
    again = serve_banner(tmp_path)
    assert link.rsplit("/", 1)[1] in again  # the same widget, not a second one
    server = start_server(tmp_path)
    try:
        widget_id = link.rsplit("/", 1)[1]
        page = httpx.get(f"{server.base_url}/chat/{widget_id}")
        assert page.status_code == 200 and 'data-mode="page"' in page.text
        widgets = httpx.get(
            f"{server.base_url}/api/v1/widgets",
            headers={"Authorization": f"Bearer {server.admin_key}"},
        ).json()["data"]
        assert [(w["id"], w["title"], w["allowed_origins"]) for w in widgets] == [
            (widget_id, "Demo assistant", [])
        ]
    finally:
        stop_server(server)
