"""Test sessions. They run in the environment scripts/bootstrap made (.venv), not in fresh venvs,
so a session starts in seconds and tests exactly what the CLI uses.

    nox -s lint      ruff over the Python code
    nox -s tests     unit tests: fast, no VM
    nox -s lab       boot the default lab (Bochs here): integration + testinfra checks, then install Dune
                     and run the in-guest Dune tests in the same VM
    nox -s dune      only the Dune tests (boots its own VM)
    nox -s kvmlab    libdune on /dev/kvm, no dune.ko, Intel: the bochs-kvm lab (Bochs, the guest's kvm_intel)
                     runs the selftest and hostile scenarios; fails on any failed row
    nox -s tcgkvm    the same on AMD: the tcg-kvm lab (QEMU TCG, the guest's kvm_amd), selftest, hostile and
                     trap
    nox -s fleet     the fleet tests: two QEMU TCG guests as hosts, one killed mid-run; the remote build
    nox -s vagrant   the box, `vagrant up` under libvirt, `vagrant destroy` (needs scripts/vagrant-host)
    nox -s nightly   every scenario on every backend this host can run, compared with the previous night
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.default_venv_backend = "none"

PYTEST = [sys.executable, "-m", "pytest"]


@nox.session
def lint(session: nox.Session) -> None:
    # Python lives in these trees; scenarios/ joins once its workloads have Python drivers.
    paths = [p for p in ("src", "tests", "noxfile.py", "provision", "scenarios") if Path(p).exists()]
    session.run(sys.executable, "-m", "ruff", "check", *paths, external=True)


@nox.session
def tests(session: nox.Session) -> None:
    session.run(*PYTEST, "tests/unit", *session.posargs, external=True)


@nox.session
def lab(session: nox.Session) -> None:
    """The lab proof: a VMX guest boots, answers SSH, passes the testinfra checks, runs Dune, is torn down."""
    session.run(*PYTEST, "-m", "vm and not fleet and not vagrant", "tests/integration", *session.posargs,
                external=True)


@nox.session
def dune(session: nox.Session) -> None:
    """Dune itself in a VMX guest: module load, libdune programs, hostile programs, clean dmesg, rmmod."""
    session.run(*PYTEST, "-m", "dune", "tests/integration", *session.posargs, external=True)


def _lab_run(session: nox.Session, lab: str, *scenarios: str) -> None:
    session.run(sys.executable, "-m", "dunelab.cli", "lab", "run", "--lab", lab, *session.posargs, *scenarios,
                external=True)


@nox.session
def kvmlab(session: nox.Session) -> None:
    """libdune's KVM back end on Intel, no dune.ko: labs/bochs-kvm.yaml (Bochs VT-x, the guest's own
    kvm_intel) runs the selftest and hostile rows: image -> up -> build -> rows -> down. Rows that test
    dune.ko itself (needs: dune-ko) are skipped there; any failed or errored row fails the session.
    Extra arguments go to `dunelab lab run`."""
    _lab_run(session, "labs/bochs-kvm.yaml", "selftest", "hostile")


@nox.session
def tcgkvm(session: nox.Session) -> None:
    """libdune's KVM back end on AMD, no dune.ko: labs/tcg-kvm.yaml (QEMU TCG -cpu max, the guest's own
    kvm_amd nested) runs the selftest, hostile and trap rows, like kvmlab. In CI since its guest runs
    single-threaded TCG: under multi-threaded TCG it froze (both vCPUs busy, no console output, SSH
    gone) in 2 of about 10 lab runs; single-threaded, every run since has been clean (src/libdune/README.md)."""
    _lab_run(session, "labs/tcg-kvm.yaml", "selftest", "hostile", "trap")


@nox.session
def fleet(session: nox.Session) -> None:
    """dunelab run --hosts against two local QEMU TCG guests acting as hosts (one killed mid-run), and
    the remote build's script proven in a chroot of the image."""
    session.run(*PYTEST, "-m", "fleet", "tests/integration", *session.posargs, external=True)


@nox.session
def vagrant(session: nox.Session) -> None:
    """The project's box and Vagrantfile under libvirt: dunelab image box, vagrant up (provisioned by
    dunelab), the guest checked, vagrant destroy leaving nothing behind. Needs scripts/vagrant-host;
    skips (with the reason) where vagrant or libvirtd is missing, unless DUNELAB_REQUIRE_VAGRANT=1."""
    session.run(*PYTEST, "-m", "vagrant", "tests/integration", *session.posargs, external=True)


@nox.session
def nightly(session: nox.Session) -> None:
    """Every scenario on every backend this host can run (Bochs, QEMU TCG, qemu-kvm where available,
    Vagrant/libvirt where set up); results kept in $DUNELAB_NIGHTLY_DIR (default results/nightly), each
    backend compared with its previous night; fails on a failed run or a regression.
    `nox -s nightly -- --backend qemu-tcg selftest` narrows it."""
    session.run(sys.executable, "-m", "dunelab.cli", "nightly", *session.posargs, external=True)
