"""Datasets on disk: one folder per dataset under ``<work>/datasets/<id>/``."""
from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from backend.data import dataset, images, limits as dataset_limits

IMAGE_NAME = "image.jpg"


@dataclass(frozen=True)
class StoredDataset:
    dataset_id: str
    folder: Path
    samples: int
    conversations: int
    repeats: int
    owner: str = ""

    @property
    def image(self) -> Path:
        return self.folder / IMAGE_NAME

    @property
    def data_file(self) -> Path:
        return self.folder / "repeated_data.json"

    @property
    def unique_file(self) -> Path:
        return self.folder / "unique_data.json"

    def questions(self) -> list[str]:
        return [t.question for c in self.load_conversations() for t in c.turns]

    def load_conversations(self) -> list[dataset.Conversation]:
        return dataset.parse_qa_json(self.unique_file.read_text(encoding="utf-8"))


class DatasetStore:
    def __init__(self, root: Path, model_tokens: Callable[[], Iterable[str]] = tuple,
                 admit: Callable[[str, int], None] = lambda owner, size: None):
        # Refuses a new dataset of `size` bytes for owner: full disk, quota
        # (backend/services.py wires it).
        self.admit = admit
        # The model tokenizer's special tokens, refused in Q&A (empty while
        # the models are still being prepared: a run's start checks again).
        self.model_tokens = model_tokens
        self.root = root / "datasets"
        self.root.mkdir(parents=True, exist_ok=True)

    def create(self, image_path: str | Path, conversations: list[dataset.Conversation],
               repeats: int, owner: str = "") -> StoredDataset:
        """Validate the image, write unique and repeated JSON; return the handle."""
        dataset.refuse_model_tokens(conversations, self.model_tokens())
        image = images.open_checked(image_path)
        records = dataset.build_records(conversations, IMAGE_NAME, repeats)
        repeated = json.dumps(records, ensure_ascii=False).encode("utf-8")
        dataset_limits.check_size(len(repeated))
        self.admit(owner, len(repeated) + Path(image_path).stat().st_size)
        dataset_id = "ds-" + secrets.token_hex(6)
        folder = self.root / dataset_id
        with dataset_limits.removed_on_failure(folder):
            images.save_normalized(image, folder / IMAGE_NAME)
            (folder / "unique_data.json").write_text(
                dataset.conversations_to_json(conversations, IMAGE_NAME), encoding="utf-8")
            (folder / "repeated_data.json").write_bytes(repeated)
            meta = {"samples": len(records), "conversations": len(conversations),
                    "repeats": repeats, "owner": owner}
            (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        return StoredDataset(dataset_id, folder, **meta)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset's folder. Runs keep their own copy of the data, so
        no run (queued, training or done) depends on it."""
        stored = self.get(dataset_id)
        # meta.json first: a half-deleted folder is no longer a dataset.
        try:
            stored.folder.joinpath("meta.json").unlink()
        except OSError as error:
            raise dataset.DatasetError(f"{dataset_id} could not be removed: "
                                       f"{error.strerror}") from None
        shutil.rmtree(stored.folder, ignore_errors=True)

    def get(self, dataset_id: str) -> StoredDataset:
        if not isinstance(dataset_id, str) or not dataset_id.startswith("ds-") \
                or not dataset_id[3:].isalnum():
            raise KeyError(f"Unknown dataset id: {dataset_id!r}")
        folder = self.root / dataset_id
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            raise KeyError(f"Unknown dataset id: {dataset_id!r}")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        return StoredDataset(dataset_id, folder, **meta)
