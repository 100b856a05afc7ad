"""Hostile uploads: legacy zip names, bombs, floods of entries, concurrent replacement, failed writes."""

from __future__ import annotations

import errno
import io
import os
import struct
import threading
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from bot.render.admin import render_upload
from bot.uploads import ZIP_MAX_ENTRIES, plan_upload, save_upload
from corpus.load import read_one
from tests.telegram_html import parse_telegram_html

PAGE = "<html><body><p>记者今天报道，台风在周三晚间登陆沿海地区，造成大范围停电。</p></body></html>".encode()
MB = 1_000_000


def make_zip(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def plan(name: str, data: bytes, page: int = 5 * MB, total: int = 200 * MB):  # type: ignore[no-untyped-def]
    return plan_upload(name, data, max_page_bytes=page, max_total_bytes=total)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".upload-*"))


def test_gbk_names_of_a_zip_without_the_utf8_flag_are_saved_readable(tmp_path: Path) -> None:
    gbk = "新闻/台风.html".encode("gbk")
    placeholder = b"X" * (len(gbk) - len(b".html")) + b".html"
    data = make_zip({placeholder.decode(): PAGE, "cafX.html": PAGE, "utf8/新闻.html": PAGE})
    # As Windows in a Chinese locale writes it: GBK bytes, general purpose bit 11 unset.
    data = data.replace(placeholder, gbk)
    data = data.replace(b"cafX", "café".encode("cp437"))  # a DOS cp437 name: not GBK, kept as it is
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist()[0] == gbk.decode("cp437")  # what Python alone would save
    planned = plan("pages.zip", data)
    assert [f.path for f in planned.files] == ["新闻/台风.html", "café.html", "utf8/新闻.html"]
    assert save_upload(tmp_path, planned) == [(f.path, "saved") for f in planned.files]
    assert (tmp_path / "新闻" / "台风.html").read_bytes() == PAGE


def test_a_high_ratio_entry_is_refused_by_its_size_without_being_inflated(tmp_path: Path) -> None:
    data = make_zip({"bomb.html": b"<p>" + b"0" * (60 * MB)})
    assert len(data) < MB // 2  # over 100:1
    tracemalloc.start()
    planned = plan("bomb.zip", data)
    outcome = save_upload(tmp_path, planned)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert planned.refused == (("bomb.html", "size"),) and outcome == []
    assert peak < 5 * MB
    assert not any(tmp_path.iterdir())


def test_an_entry_whose_declared_size_lies_is_stopped_while_writing(tmp_path: Path) -> None:
    data = bytearray(make_zip({"liar.html": b"<p>" + b"0" * (20 * MB)}))
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 1000)  # uncompressed size: "1,000 bytes"
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 1000)
    planned = plan("liar.zip", bytes(data), page=MB)
    assert [f.path for f in planned.files] == ["liar.html"]  # the declared size passes
    assert save_upload(tmp_path, planned) == [("liar.html", "zip")]  # zipfile stops at it: CRC mismatch
    assert not (tmp_path / "liar.html").exists() and leftovers(tmp_path) == []


def test_pages_that_together_inflate_past_the_total_are_refused_on_the_way(tmp_path: Path) -> None:
    data = make_zip({f"p{i}.html": b"<p>" + bytes([65 + i]) * (3 * MB) for i in range(5)})
    planned = plan("many.zip", data, total=10 * MB)
    assert [f.path for f in planned.files] == ["p0.html", "p1.html", "p2.html"]
    assert [code for _, code in planned.refused] == ["size", "size"]
    tracemalloc.start()
    outcome = save_upload(tmp_path, planned)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert outcome == [("p0.html", "saved"), ("p1.html", "saved"), ("p2.html", "saved")]
    assert peak < 2 * MB  # streamed: never a whole 3 MB entry in memory


def test_a_nested_zip_is_refused_by_name_and_not_unpacked(tmp_path: Path) -> None:
    inner = make_zip({"inner.html": PAGE})
    planned = plan("outer.zip", make_zip({"inner.zip": inner, "page.html": PAGE}))
    assert planned.refused == (("inner.zip", "kind"),)
    assert save_upload(tmp_path, planned) == [("page.html", "saved")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_a_zip_of_thousands_of_tiny_entries_is_refused_whole_with_the_reason(tmp_path: Path) -> None:
    flood = make_zip({f"t/{i}.html": b"<p>x</p>" for i in range(ZIP_MAX_ENTRIES + 1)}, zipfile.ZIP_STORED)
    planned = plan("flood.zip", flood)
    assert planned.files == () and planned.refused == (("flood.zip", "entries"),)
    reply = parse_telegram_html(render_upload(planned, save_upload(tmp_path, planned), "en", 20 * MB))[0]
    assert f"Refused flood.zip: more than {ZIP_MAX_ENTRIES} entries in one zip" in reply
    at_cap = plan("cap.zip", make_zip({f"t/{i}.html": b"<p>x</p>" for i in range(ZIP_MAX_ENTRIES)}))
    assert len(at_cap.files) == ZIP_MAX_ENTRIES


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_saved_pages_get_the_permissions_of_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        save_upload(tmp_path, plan("a.html", PAGE))
        save_upload(tmp_path, plan("z.zip", make_zip({"sub/b.html": PAGE})))
    finally:
        os.umask(old)
    for path in (tmp_path / "a.html", tmp_path / "sub" / "b.html"):
        assert path.stat().st_mode & 0o777 == mode, path


def test_saved_pages_are_fsynced_with_their_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def recording(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording)
    save_upload(tmp_path, plan("a.html", PAGE))
    assert len(synced) == 2
    assert Path(synced[0]).name.startswith(".upload-") and Path(synced[1]) == tmp_path.resolve()


def test_a_failed_write_leaves_no_temporary_file_and_the_old_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.html").write_bytes(b"<p>old</p>")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    planned = plan("z.zip", make_zip({"a.html": PAGE, "b.html": PAGE}))
    outcome = save_upload(tmp_path, planned)
    assert outcome == [("a.html", "write"), ("b.html", "write")]
    assert (tmp_path / "a.html").read_bytes() == b"<p>old</p>" and not (tmp_path / "b.html").exists()
    assert leftovers(tmp_path) == []
    reply = parse_telegram_html(render_upload(planned, outcome, "en", 20 * MB))[0]
    assert "Refused b.html: could not be written to the corpus directory" in reply


def test_a_page_replaced_while_a_reindex_reads_it_is_read_whole(tmp_path: Path) -> None:
    versions = [PAGE, PAGE.replace("台风".encode(), "暴雨".encode()) + b"<!--" + b"x" * MB + b"-->"]
    save_upload(tmp_path, plan("news.html", versions[0]))
    hashes = set()
    stop = threading.Event()

    def replace_forever() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            save_upload(tmp_path, plan("news.html", versions[n % 2]))

    writer = threading.Thread(target=replace_forever)
    writer.start()
    try:
        results = [read_one(tmp_path, "news.html", 5 * MB) for _ in range(200)]
    finally:
        stop.set()
        writer.join()
    for result in results:
        assert result.status == "ok", result.reason
        hashes.add(result.content_hash)
    import hashlib

    assert hashes <= {hashlib.sha256(v).hexdigest() for v in versions}
    assert leftovers(tmp_path) == []
