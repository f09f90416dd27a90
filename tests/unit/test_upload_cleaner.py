"""The gradio upload cache is cleaned of old files no request holds."""
import os
import time

from backend.data.upload_cleaner import UploadCleaner


def aged(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(b"x" * 1000)
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_old_files_go_new_open_and_held_ones_stay(tmp_path):
    cache = tmp_path / "gradio"
    old = aged(cache / "aaa" / "photo.jpg", 7200)
    fresh = aged(cache / "bbb" / "photo.jpg", 60)
    held = aged(cache / "ccc" / "photo.jpg", 7200)
    opened = aged(cache / "ddd" / "photo.jpg", 7200)
    cleaner = UploadCleaner(cache, max_age_s=3600)
    with open(opened, "rb"), cleaner.holding([str(held), 3, None, "/etc/passwd"]):
        aged(opened, 7200)  # opening it touched nothing, but make sure
        removed = cleaner.sweep()
    assert removed == [old]
    assert not old.exists() and fresh.exists() and held.exists() and opened.exists()
    # Released and closed: now they go too; an old empty folder goes with them.
    aged(cache / "aaa", 7200)
    removed = set(cleaner.sweep())
    assert removed == {held, opened}
    assert not (cache / "aaa").exists() and fresh.exists()


def test_a_missing_cache_is_nothing_to_do(tmp_path):
    assert UploadCleaner(tmp_path / "none").sweep() == []
