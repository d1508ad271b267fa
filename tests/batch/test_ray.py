"""The Ray engine on a local two-CPU cluster gives the local run's rows, journalled in per-actor shards."""
from __future__ import annotations

import pytest

from echoseg.batch import journal as jr
from echoseg.batch.run import BatchRequest, run_batch
from echoseg.synth.dicom_writer import write_case
from echoseg.synth.doppler import generate_doppler
from echoseg.vocab import SITES

from .conftest import needs_weights

ray = pytest.importorskip("ray")


@pytest.fixture
def ray_cluster(tmp_path_factory):
    temp = tmp_path_factory.mktemp("r")  # short: Ray's socket paths live under it
    ray.init(num_cpus=2, _temp_dir=str(temp), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@needs_weights
def test_ray_rows_equal_the_local_rows_and_resume_the_same_way(tmp_path, ray_cluster):
    src = tmp_path / "in"
    for i in range(20):
        write_case(generate_doppler(9_500_000 + i, site=SITES[i % len(SITES)]), src, f"f{i:02d}", save_masks=False)
    for extra in src.glob("*.json"):
        extra.unlink()
    local = run_batch(BatchRequest(inputs=(str(src),), out=tmp_path / "local", jobs=1))
    out = tmp_path / "ray"
    s = run_batch(BatchRequest(inputs=(str(src),), out=out, engine="ray"))
    assert s.files == s.measured == 20
    for key in ("measurements", "beats", "studies"):
        assert s.paths[key].read_text() == local.paths[key].read_text(), key
    shards = jr.shards(out / "journal")
    assert len(shards) == 2 and all(p.name.startswith("ray-") for p in shards)  # one per actor
    assert len(list(jr.read_records(out / "journal"))) == 20
    again = run_batch(BatchRequest(inputs=(str(src),), out=out, engine="ray", resume=True))
    assert (again.measured, again.reused) == (0, 20)
    assert again.paths["measurements"].read_text() == local.paths["measurements"].read_text()
