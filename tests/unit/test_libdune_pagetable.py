"""Property-based tests for libdune's page-table API (src/libdune/vm.c + pt.c).

The C code is built for the host as build/libdune_host.so (make target of the
same name) and driven through ctypes.  Random sequences of map / unmap /
mprotect over random ranges are applied both to a real page table and to a
trivial Python model (a dict: page -> (frame, W, X, U)); afterwards every
present leaf must agree with the model, unmapped pages must be absent, and
unmapping everything then freeing the root must give back every page-table
page.  Needs only gcc and make; does not import dunelab.
"""
import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
LIBDIR = REPO / "src" / "libdune"
SO = LIBDIR / "build" / "libdune_host.so"

PGSIZE = 4096
BIG = 512  # pages in a 2 MiB page
VA_USER_LIMIT = 1 << 47

PTE_P, PTE_W, PTE_U, PTE_PS = 0x1, 0x2, 0x4, 0x80
PTE_NX = 1 << 63
PTE_ADDR = 0x000FFFFFFFFFF000
PTE_BIG_ADDR = 0x000FFFFFFFE00000

PERM_R, PERM_W, PERM_X, PERM_U, PERM_BIG = 0x1, 0x2, 0x4, 0x8, 0x100

# Windows (in pages) that straddle a 1 GiB and a 512 GiB (PML4 entry) boundary,
# so ranges cross every table level; the first is 2 MiB aligned.
WINDOWS = [(0x40000000 >> 12) - 2 * BIG, (0x8000000000 >> 12) - 700]
WINDOW_PAGES = 4 * BIG
REGION_PAGES = 16384

WALK_CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p)


@pytest.fixture(scope="module")
def lib():
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("gcc is not installed: cannot build src/libdune/build/libdune_host.so")
    subprocess.run(["make", "-s", "-C", str(LIBDIR), "build/libdune_host.so"], check=True)
    so = ctypes.CDLL(str(SO))
    P, u64, i = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
    so.dunehost_setup.argtypes, so.dunehost_setup.restype = [ctypes.c_size_t], i
    so.dune_vm_new.argtypes, so.dune_vm_new.restype = [], P
    so.dune_vm_free.argtypes, so.dune_vm_free.restype = [P], None
    so.dune_vm_map_phys.argtypes, so.dune_vm_map_phys.restype = [P, P, ctypes.c_size_t, u64, i], i
    so.dune_vm_unmap.argtypes, so.dune_vm_unmap.restype = [P, P, ctypes.c_size_t], i
    so.dune_vm_mprotect.argtypes, so.dune_vm_mprotect.restype = [P, P, ctypes.c_size_t, i], i
    so.dune_vm_lookup.argtypes = [P, P, i, ctypes.POINTER(ctypes.POINTER(u64))]
    so.dune_vm_lookup.restype = i
    so.dune_vm_page_walk.argtypes, so.dune_vm_page_walk.restype = [P, P, P, WALK_CB, P], i
    so.dune_page_nr_used.argtypes, so.dune_page_nr_used.restype = [], ctypes.c_size_t
    return so


def leaves(lib, root):
    """Every present leaf as {page number: (frame page number, W, X, U)}; 2 MiB leaves expanded."""
    found = {}

    def cb(_arg, pte, va):
        e = pte[0]
        assert e & PTE_P
        flags = (bool(e & PTE_W), not (e & PTE_NX), bool(e & PTE_U))
        page = (va or 0) >> 12
        if e & PTE_PS:
            assert page % BIG == 0
            frame = (e & PTE_BIG_ADDR) >> 12
            for k in range(BIG):
                found[page + k] = (frame + k, *flags)
        else:
            found[page] = ((e & PTE_ADDR) >> 12, *flags)
        return 0

    assert lib.dune_vm_page_walk(root, 0, VA_USER_LIMIT, WALK_CB(cb), None) == 0
    return found


def perm_flags(perm):
    return (bool(perm & PERM_W), bool(perm & PERM_X), bool(perm & PERM_U))


@st.composite
def ranges(draw):
    base = WINDOWS[draw(st.integers(0, len(WINDOWS) - 1))]
    if draw(st.booleans()):  # 2 MiB aligned start and length: big pages possible
        start = draw(st.integers(0, WINDOW_PAGES // BIG - 1)) * BIG
        npages = draw(st.integers(1, 2)) * BIG
    else:
        start = draw(st.integers(0, WINDOW_PAGES - 1))
        npages = draw(st.integers(1, BIG + 40))
    npages = min(npages, WINDOW_PAGES - start)
    return base + start, npages


perms = st.sampled_from([PERM_R, PERM_R | PERM_W, PERM_R | PERM_X, PERM_R | PERM_W | PERM_U,
                         PERM_R | PERM_W | PERM_X | PERM_U, PERM_X | PERM_U])

ops = st.one_of(
    st.tuples(st.just("map"), ranges(), st.integers(0, (1 << 24) - 1), perms, st.booleans(), st.booleans()),
    st.tuples(st.just("unmap"), ranges()),
    st.tuples(st.just("mprotect"), ranges(), st.one_of(perms, st.just(0))),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=12))
def test_map_unmap_mprotect_match_model(lib, seq):
    assert lib.dunehost_setup(REGION_PAGES) == 0
    root = lib.dune_vm_new()
    assert root
    model = {}
    for op in seq:
        kind, (page, n) = op[0], op[1]
        va, length = page << 12, n << 12
        if kind == "map":
            _, _, frame, perm, big, align = op
            if align:  # frame congruent to va modulo 2 MiB, so PERM_BIG can use big pages
                frame = frame - frame % BIG + page % BIG
            perm |= PERM_BIG if big else 0
            assert lib.dune_vm_map_phys(root, va, length, frame << 12, perm) == 0
            for k in range(n):
                model[page + k] = (frame + k, *perm_flags(perm))
        elif kind == "unmap":
            assert lib.dune_vm_unmap(root, va, length) == 0
            for k in range(n):
                model.pop(page + k, None)
        else:
            perm = op[2]
            assert lib.dune_vm_mprotect(root, va, length, perm) == 0
            for k in range(n):
                if page + k in model:
                    if perm == 0:
                        del model[page + k]
                    else:
                        model[page + k] = (model[page + k][0], *perm_flags(perm))

    assert leaves(lib, root) == model

    # point lookups agree too, including unmapped neighbours of each op's range
    pte = ctypes.POINTER(ctypes.c_uint64)()
    probes = {p for op in seq for p in (op[1][0] - 1, op[1][0], op[1][0] + op[1][1] - 1, op[1][0] + op[1][1])}
    for p in probes:
        r = lib.dune_vm_lookup(root, p << 12, 0, ctypes.byref(pte))
        present = r == 0 and bool(pte[0] & PTE_P)
        assert present == (p in model), hex(p << 12)
        if present:
            e = pte[0]
            frame = ((e & PTE_BIG_ADDR) >> 12) + p % BIG if e & PTE_PS else (e & PTE_ADDR) >> 12
            assert frame == model[p][0]

    # no leaks: unmap everything, nothing is left, and freeing returns every table page
    assert lib.dune_vm_unmap(root, 0, VA_USER_LIMIT) == 0
    assert leaves(lib, root) == {}
    lib.dune_vm_free(root)
    assert lib.dune_page_nr_used() == 0


def test_clone_is_independent(lib):
    assert lib.dunehost_setup(REGION_PAGES) == 0
    root = lib.dune_vm_new()
    assert lib.dune_vm_map_phys(root, 0x400000, 8 * PGSIZE, 0x9000000, PERM_R | PERM_W | PERM_U) == 0
    lib.dune_vm_clone.argtypes, lib.dune_vm_clone.restype = [ctypes.c_void_p], ctypes.c_void_p
    copy = lib.dune_vm_clone(root)
    before = leaves(lib, root)
    assert leaves(lib, copy) == {p: (f, False, x, u) for p, (f, _w, x, u) in before.items()}
    assert lib.dune_vm_unmap(copy, 0x400000, 8 * PGSIZE) == 0
    assert leaves(lib, root) == before
    lib.dune_vm_free(copy)
    lib.dune_vm_free(root)
    assert lib.dune_page_nr_used() == 0
