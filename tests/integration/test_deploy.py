"""deploy/install.sh as a user runs it, staged under a temporary --prefix: the release
binaries, the systemd units (checked by systemd-analyze verify where it is installed),
the CPU affinity drop-in from the config, the docs and examples, a config in
/etc/guestport; a reinstall keeps an operator's config; --uninstall removes exactly
what was installed."""
import os
import shutil
import subprocess
import tempfile

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALL = os.path.join(ROOT, "deploy", "install.sh")


def run(*cmd, **kw):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=1200, **kw)


def files_under(d):
    return sorted(os.path.relpath(os.path.join(p, f), d) for p, _, fs in os.walk(d) for f in fs)


@pytest.fixture
def stage():
    d = tempfile.mkdtemp(prefix="gpt-install-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_staged_install_then_uninstall(stage):
    r = run("bash", INSTALL, "--prefix", stage, "--no-deps")
    assert r.returncode == 0, r.stdout + r.stderr
    got = set(files_under(stage))
    for f in ["usr/local/bin/guestportd", "usr/local/bin/guestportctl",
              "usr/local/lib/systemd/system/guestportd.service",
              "usr/local/lib/systemd/system/guestport-hugepages.service",
              "etc/systemd/system/guestportd.service.d/cpus.conf",
              "etc/guestport/guestport.yaml", "usr/local/share/guestport/hugepages.sh",
              "usr/local/share/guestport/examples/nat.yaml",
              "usr/local/share/doc/guestport/security.md",
              "usr/local/share/guestport/install-manifest"]:
        assert f in got, f"{f} not installed: {sorted(got)}"
    ctl = os.path.join(stage, "usr/local/bin/guestportctl")
    # The installed binaries run, and every installed example is valid.
    for ex in os.listdir(os.path.join(stage, "usr/local/share/guestport/examples")):
        r = run(ctl, "check", "-f", os.path.join(stage, "usr/local/share/guestport/examples", ex))
        assert r.returncode == 0, r.stdout + r.stderr
    conf = os.path.join(stage, "etc/guestport/guestport.yaml")
    cpus = run(ctl, "check", "--cpus", "-f", conf).stdout.strip()
    dropin = open(os.path.join(stage, "etc/systemd/system/guestportd.service.d/cpus.conf")).read()
    assert f"CPUAffinity={cpus}\n" in dropin
    unit = open(os.path.join(stage, "usr/local/lib/systemd/system/guestportd.service")).read()
    for line in ["Restart=on-failure", "LimitMEMLOCK=infinity", "ExecReload=kill -HUP $MAINPID",
                 "Requires=guestport-hugepages.service"]:
        assert line in unit
    manifest = open(os.path.join(stage, "usr/local/share/guestport/install-manifest")).read()
    listed = {l.split(" ", 1)[1].lstrip("/") for l in manifest.splitlines()}
    assert listed == got - {"usr/local/share/guestport/install-manifest"}

    # systemd-analyze verify, with the units' paths pointed at the staged files.
    if shutil.which("systemd-analyze"):
        with tempfile.TemporaryDirectory() as units:
            for u in ["guestportd.service", "guestport-hugepages.service"]:
                text = open(os.path.join(stage, "usr/local/lib/systemd/system", u)).read()
                text = text.replace("/usr/local/", stage + "/usr/local/").replace(
                    "/etc/guestport", stage + "/etc/guestport")
                open(os.path.join(units, u), "w").write(text)
            r = run("systemd-analyze", "verify", os.path.join(units, "guestportd.service"),
                    os.path.join(units, "guestport-hugepages.service"))
            assert r.returncode == 0, r.stdout + r.stderr

    # The operator edits the config; a reinstall keeps it; uninstall keeps it too and
    # removes everything else.
    with open(conf, "a") as f:
        f.write("# edited by the operator\n")
    r = run("bash", INSTALL, "--prefix", stage, "--no-deps")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "# edited by the operator" in open(conf).read()
    r = run("bash", INSTALL, "--uninstall", "--prefix", stage)
    assert r.returncode == 0, r.stdout + r.stderr
    assert files_under(stage) == ["etc/guestport/guestport.yaml"], files_under(stage)
    os.unlink(conf)


def test_an_unchanged_config_is_removed_by_uninstall(stage):
    r = run("bash", INSTALL, "--prefix", stage, "--no-deps")
    assert r.returncode == 0, r.stdout + r.stderr
    r = run("bash", INSTALL, "--uninstall", "--prefix", stage)
    assert r.returncode == 0, r.stdout + r.stderr
    assert files_under(stage) == []
    r = run("bash", INSTALL, "--uninstall", "--prefix", stage)
    assert r.returncode != 0 and "nothing installed" in r.stderr
