"""Every YAML example in the documentation is a valid configuration: `guestportctl
check` accepts it (what a user copying it would run first)."""
import os
import re
import subprocess
import tempfile

import pytest

from conftest import GUESTPORTCTL

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
DOCS = ["docs/config.md", "README.md"]


def examples():
    for doc in DOCS:
        text = open(os.path.join(ROOT, doc)).read()
        for i, block in enumerate(re.findall(r"```yaml\n(.*?)```", text, re.S)):
            yield pytest.param(block, id=f"{doc}#{i}")


@pytest.mark.parametrize("block", list(examples()))
def test_documented_config_is_accepted(block):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(block)
        f.flush()
        r = subprocess.run([GUESTPORTCTL, "check", "-f", f.name], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr + block


EXAMPLES = sorted(os.path.join("deploy", "examples", n)
                  for n in os.listdir(os.path.join(ROOT, "deploy", "examples"))
                  if n.endswith(".yaml"))


def test_there_is_an_example_per_mode():
    names = {os.path.basename(p)[:-5] for p in EXAMPLES}
    assert {"nat", "natnetwork", "bridged", "internal", "hostonly", "not-attached"} <= names


@pytest.mark.parametrize("path", EXAMPLES)
def test_deploy_example_is_accepted(path):
    r = subprocess.run([GUESTPORTCTL, "check", "-f", os.path.join(ROOT, path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
