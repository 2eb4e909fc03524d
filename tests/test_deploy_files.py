"""deploy/ holds what a movement needs to go live: each file is checked by the tool that will read it,
where that tool is installed here (else the test says which tool is missing)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT

DEPLOY = ROOT / "deploy"
VENV_CLI = "/opt/interpeople/.venv/bin/interpeople"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(
            f"{tool} is not installed here (Debian: apt-get install "
            f"{ {'systemd-analyze': 'systemd', 'nginx': 'nginx-light'}.get(tool, tool) })"
        )
    return path


def installed_unit(name: str, unit_name: str, tmp_path: Path) -> Path:
    """The unit as it would be installed, its ExecStart pointing at this checkout's command instead of
    /opt/interpeople (systemd-analyze checks that the program exists)."""
    cli = ROOT / ".venv" / "bin" / "interpeople"
    if not cli.exists():
        pytest.skip(f"{cli} is missing: run deploy/bootstrap.sh first")
    text = (DEPLOY / name).read_text()
    assert VENV_CLI in text
    path = tmp_path / unit_name
    path.write_text(text.replace(VENV_CLI, str(cli)))
    return path


@pytest.mark.parametrize(
    "name, unit_name",
    [("interpeople.service", "interpeople.service"), ("interpeople@.service", "interpeople@8001.service")],
)
def test_the_systemd_units_pass_systemd_analyze_verify(name, unit_name, tmp_path):
    tool = need("systemd-analyze")
    result = subprocess.run(
        [tool, "verify", str(installed_unit(name, unit_name, tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr.strip(), result.stderr


@pytest.mark.parametrize("name", ["interpeople.service", "interpeople@.service"])
def test_the_systemd_units_restart_on_failure_and_are_hardened(name):
    text = (DEPLOY / name).read_text()
    for line in (
        "Restart=on-failure",
        "User=interpeople",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/interpeople",
        "PrivateTmp=yes",
    ):
        assert re.search(rf"^{re.escape(line)}$", text, re.M), line


def test_the_nginx_site_passes_nginx_t(tmp_path):
    tool = need("nginx")
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=forum.example.org",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    site = (DEPLOY / "nginx.conf").read_text()
    site = (
        site.replace("/etc/letsencrypt/live/forum.example.org/fullchain.pem", str(cert))
        .replace("/etc/letsencrypt/live/forum.example.org/privkey.pem", str(key))
        .replace("/var/cache/nginx/interpeople", str(tmp_path / "cache"))
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [tool, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


def test_the_nginx_site_passes_the_host_limits_bodies_caches_static_files_and_hides_metrics():
    site = (DEPLOY / "nginx.conf").read_text()
    for needed in (
        "proxy_set_header Host $host;",
        "client_max_body_size 1m;",
        "proxy_cache interpeople_static;",
        "location = /metrics { return 404; }",
    ):
        assert needed in site, needed


@pytest.mark.parametrize("name", ["Caddyfile", "Caddyfile.compose"])
def test_the_caddyfiles_pass_caddy_validate(name, tmp_path):
    tool = need("caddy")
    result = subprocess.run(
        [tool, "validate", "--adapter", "caddyfile", "--config", str(DEPLOY / name)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0 and "Valid configuration" in result.stdout + result.stderr, result.stderr


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def test_compose_runs_several_serve_processes_on_postgresql_behind_caddy():
    services = compose()["services"]
    assert {"db", "init", "web", "proxy"} <= set(services)
    assert services["db"]["image"].startswith("postgres") and "healthcheck" in services["db"]
    assert any(v.startswith("pgdata:") for v in services["db"]["volumes"])
    web = services["web"]
    assert web["command"][0] == "serve" and "healthcheck" in web
    assert web["deploy"]["replicas"] == "${INTERPEOPLE_REPLICAS:-3}"
    assert web["environment"]["INTERPEOPLE_DATABASE_URL"].startswith("postgresql://")
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert web["depends_on"]["init"]["condition"] == "service_completed_successfully"
    mounted = services["proxy"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).exists() and "dynamic a web 8000" in (DEPLOY / mounted).read_text()
    assert set(compose()["volumes"]) >= {"pgdata", "data"}


def test_the_dockerfile_copies_and_runs_what_exists():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    context = (DEPLOY / compose()["services"]["init"]["build"]["context"]).resolve()
    assert context == ROOT
    copied = [line.split()[1:-1] for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert copied
    for sources in copied:
        for source in sources:
            assert (context / source).exists(), f"COPY {source}: no such file in the build context"
    entrypoint = (DEPLOY / "docker-entrypoint.sh").read_text()
    commands = set(re.findall(r"interpeople --data \"\$data\" (\w+)", entrypoint))
    from server.cli import build_parser

    known = set(build_parser()._subparsers._group_actions[0].choices)
    assert commands <= known and "init" in commands
    assert set(re.findall(r'CMD \["(\w+)"', dockerfile)) <= known


def test_the_compose_file_builds_and_starts(tmp_path):
    docker = need("docker")
    if subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip(
            "no docker engine is running here (`docker info` fails): the compose file was only checked "
            "for structure (test_compose_*) and its Dockerfile for paths"
        )
    if subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here")
    project = ["--project-name", f"iptest{tmp_path.name[-6:].lower()}", "-f", str(DEPLOY / "compose.yaml")]
    env = {**os.environ, "INTERPEOPLE_DOMAIN": "localhost", "INTERPEOPLE_REPLICAS": "2"}
    try:
        subprocess.run(
            [docker, "compose", *project, "up", "-d", "--build", "--wait", "web"],
            check=True,
            env=env,
            timeout=900,
        )
        ps = subprocess.run(
            [docker, "compose", *project, "ps", "--format", "{{.Service}} {{.Health}}"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        assert ps.count("web healthy") == 2, ps
    finally:
        subprocess.run([docker, "compose", *project, "down", "-v"], env=env, timeout=300)
