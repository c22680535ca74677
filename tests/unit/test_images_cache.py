"""Cache keys: stable for the same inputs, different when anything that shapes the image changes."""

import os
import shutil

import pytest

from dunelab import PROJECT_ROOT
from dunelab.images import cache
from dunelab.images.recipe import load_recipe

MIRRORS = {"bookworm": "http://deb.example/debian", "bookworm-security": "http://deb.example/debian-security"}


@pytest.fixture
def trees(tmp_path):
    """Private copies of the builder sources and guest files, so tests can edit them."""
    pkg = tmp_path / "images"
    guest = tmp_path / "guest"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(cache.GUEST_DIR, guest)
    return pkg, guest


@pytest.fixture
def recipe_file(tmp_path):
    p = tmp_path / "r.yaml"
    shutil.copyfile(cache.PACKAGE_DIR.parents[2] / "images/bookworm.yaml", p)
    return p


def _keys(recipe_file, trees, mirrors=MIRRORS):
    r = load_recipe(recipe_file)
    return cache.image_key(r, mirrors, *trees), cache.rootfs_key(r, mirrors, *trees)


def test_key_is_stable(recipe_file, trees):
    assert _keys(recipe_file, trees) == _keys(recipe_file, trees)
    # ...and equals the key computed from the real tree (the copies are byte-identical)
    r = load_recipe(recipe_file)
    assert cache.image_key(r, MIRRORS) == _keys(recipe_file, trees)[0]


def test_comment_in_recipe_changes_nothing(recipe_file, trees):
    before = _keys(recipe_file, trees)
    recipe_file.write_text("# a new comment\n" + recipe_file.read_text())
    assert _keys(recipe_file, trees) == before


def test_recipe_field_change(recipe_file, trees):
    image0, rootfs0 = _keys(recipe_file, trees)
    recipe_file.write_text(recipe_file.read_text().replace("kernel_abi: 6.1.0-56-amd64",
                                                           "kernel_abi: 6.1.0-55-amd64"))
    image1, rootfs1 = _keys(recipe_file, trees)
    assert image1 != image0 and rootfs1 != rootfs0


def test_initramfs_field_change_keeps_the_rootfs(recipe_file, trees):
    image0, rootfs0 = _keys(recipe_file, trees)
    recipe_file.write_text(recipe_file.read_text().replace("level: 19", "level: 3"))
    image1, rootfs1 = _keys(recipe_file, trees)
    assert image1 != image0
    assert rootfs1 == rootfs0          # no debootstrap re-run for an initramfs tweak


def test_guest_file_change(recipe_file, trees):
    image0, rootfs0 = _keys(recipe_file, trees)
    init = trees[1] / "init"
    init.write_text(init.read_text() + "\n# changed\n")
    image1, rootfs1 = _keys(recipe_file, trees)
    assert image1 != image0 and rootfs1 == rootfs0


def test_new_guest_file_changes_key(recipe_file, trees):
    image0, _ = _keys(recipe_file, trees)
    (trees[1] / "motd").write_text("hi\n")
    assert _keys(recipe_file, trees)[0] != image0


def test_rootfs_source_or_dpkg_config_change_rebuilds_rootfs(recipe_file, trees):
    _, rootfs0 = _keys(recipe_file, trees)
    (trees[1] / "dpkg-nodoc").write_text("path-exclude=/usr/share/doc/*\n")
    _, rootfs1 = _keys(recipe_file, trees)
    (trees[0] / "rootfs.py").write_text((trees[0] / "rootfs.py").read_text() + "\n# x\n")
    _, rootfs2 = _keys(recipe_file, trees)
    assert len({rootfs0, rootfs1, rootfs2}) == 3


def test_mirror_change(recipe_file, trees):
    other = dict(MIRRORS, bookworm="http://other.example/debian")
    assert _keys(recipe_file, trees) != _keys(recipe_file, trees, other)


def test_cache_root_follows_dunelab_home(monkeypatch, tmp_path):
    monkeypatch.setenv("DUNELAB_HOME", str(tmp_path))
    assert cache.cache_root() == tmp_path.resolve() / "cache/images"
    monkeypatch.delenv("DUNELAB_HOME")
    assert cache.cache_root() == (PROJECT_ROOT / ".dunelab/cache/images").resolve()


def test_publish_is_atomic_and_stale_temps_are_removed(tmp_path):
    final = tmp_path / "img-0123"
    tmp = cache.temp_dir_for(final)
    assert tmp.name.startswith(".tmp-") and tmp.parent == tmp_path
    (tmp / "manifest.json").write_text("{}")
    cache.publish(tmp, final)
    assert (final / "manifest.json").is_file() and not tmp.exists()
    # a forced rebuild replaces the entry whole
    tmp2 = cache.temp_dir_for(final)
    (tmp2 / "new").write_text("")
    cache.publish(tmp2, final)
    assert sorted(p.name for p in final.iterdir()) == ["new"]
    # an interrupted build's leftovers go away, finished entries stay
    crashed = tmp_path / f".tmp-img-4567-{os.getpid() + 1}"
    (crashed / "rootfs/etc").mkdir(parents=True)
    cache.clean_stale_temps(tmp_path)
    assert not crashed.exists() and final.is_dir()


def test_lock_is_reentrant_per_process_sequence(tmp_path):
    with cache.locked(tmp_path):
        pass
    with cache.locked(tmp_path):
        assert (tmp_path / ".lock").exists()
