"""Read docker-compose.yml and the Dockerfile as Docker would, so tests check the files themselves
(never a copy of their values): services with their anchors merged, `${VAR:-default}` and
`${VAR:?message}` interpolated, the Dockerfile's ENV, USER, chowned folders and RUN lines."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's substitution: `${X:?msg}` fails without X, `${X:-d}` falls back to d."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op == ":?":
            raise LookupError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return _VARIABLE.sub(substitute, value)


def services(env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """docker-compose.yml's services, with `<<:` merges done by the YAML loader and `env` (what
    .env would hold) interpolated into every string."""
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text())

    def walk(node: Any) -> Any:
        if isinstance(node, str):
            return interpolate(node, env)
        if isinstance(node, list):
            return [walk(item) for item in node]
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        return node

    return walk(raw["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    given = service.get("environment") or {}
    if isinstance(given, list):
        given = dict(item.split("=", 1) for item in given)
    return {key: str(value) for key, value in given.items()}


def published(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) pairs of `ports:` entries like "993:993" or "0.0.0.0:443:8443"."""
    pairs = []
    for entry in service.get("ports") or []:
        parts = str(entry).split("/")[0].split(":")
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def option(command: list[str], flag: str) -> str | None:
    """The value after `flag` in an exec-form command, or None."""
    return command[command.index(flag) + 1] if flag in command else None


@dataclass
class Dockerfile:
    env: dict[str, str] = field(default_factory=dict)  # ENV in force at the end of the build
    user: str = "root"
    chowned: dict[str, str] = field(default_factory=dict)  # folder -> owner, from `chown -R`
    volumes: list[str] = field(default_factory=list)
    runs: list[tuple[dict[str, str], list[str]]] = field(default_factory=list)  # (ENV then, argv)


def dockerfile() -> Dockerfile:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = Dockerfile()
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, rest = line.strip().partition(" ")
        instruction = instruction.upper()
        if instruction == "ENV":
            found.env.update(item.split("=", 1) for item in shlex.split(rest))
        elif instruction == "USER":
            found.user = rest.strip()
        elif instruction == "VOLUME":
            found.volumes.extend(shlex.split(rest))
        elif instruction == "RUN":
            for step in re.split(r"\s*&&\s*", rest):
                argv = shlex.split(step)
                prefix = {}
                while argv and re.fullmatch(r"\w+=.*", argv[0]):  # `DEBUG=true python …`
                    key, value = argv.pop(0).split("=", 1)
                    prefix[key] = value
                found.runs.append(({**found.env, **prefix}, argv))
                if argv[:2] == ["chown", "-R"]:
                    for folder in argv[3:]:
                        found.chowned[folder] = argv[2]
    return found
