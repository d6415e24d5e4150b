"""Command lines as a user meets them: TFDS's own ``tfds build`` on every builder folder, and a
catalog with problems — one clear error, then the config that leaves those tracks out."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
TFDS = os.path.join(os.path.dirname(sys.executable), "tfds")


@pytest.mark.slow
@pytest.mark.parametrize("folder,args,prepared", [
    ("demo_catalog", ["--config=tiny"], "demo_catalog/tiny/1.2.0"),
    ("tagged_catalog", ["--config=default", "--manual_dir=datasets/tagged_catalog/dummy_data"], "tagged_catalog/default/1.0.0"),
    ("magnatagatune", ["--config=songs", "--manual_dir=datasets/magnatagatune/dummy_data"],
     "magnatagatune/songs/1.0.0"),
])
def test_tfds_build_works_on_every_builder_folder(folder, args, prepared, tmp_path):
    out = subprocess.run([TFDS, "build", os.path.join("datasets", folder), f"--data_dir={tmp_path}", *args],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert os.path.exists(os.path.join(tmp_path, prepared, "dataset_info.json"))


@pytest.mark.slow
def test_a_catalog_with_problems_is_one_error_and_skip_problems_trains(tmp_path):
    catalog = tmp_path / "catalog"
    shutil.copytree(os.path.join(ROOT, "datasets", "tagged_catalog", "dummy_data"), catalog)
    shutil.copy(catalog / "house" / "track01.ogg", catalog / "house" / "track01_copy.ogg")
    with open(catalog / "tags.csv", "a") as f:
        f.write("house/track01_copy.ogg,house\n")
    common = [sys.executable, "-m", "tfmusictag.train", f"--manual_dir={catalog}", f"--data_dir={tmp_path / 'tfds'}",
              "--steps=2", "--batch_size=2", "--noprogress", "--set=model.temporal.bof.num_clusters=8",
              "--set=model.classifier.hidden=8"]
    out = subprocess.run([*common, "--dataset=tagged_catalog", f"--model_dir={tmp_path / 'a'}"], env=ENV,
                         capture_output=True, text=True)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "duplicate track: 1" in out.stderr and "same audio as house/track01.ogg" in out.stderr
    assert "--dataset=tagged_catalog/skip_problems" in out.stderr
    out = subprocess.run([*common, "--dataset=tagged_catalog/skip_problems", f"--model_dir={tmp_path / 'b'}"],
                         env=ENV, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert os.path.exists(tmp_path / "b" / "model.keras")
