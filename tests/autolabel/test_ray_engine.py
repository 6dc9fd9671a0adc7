"""The Ray Data engine on a local Ray with 2 CPUs: the same sidecars as the local engine."""

from __future__ import annotations

import os
import shutil

import pytest

from autolabel_testing import HERE, make_project

ray = pytest.importorskip("ray", reason="Ray is optional: pip install 'samlabel[cluster]' (or 'ray[data]')")
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]  # Ray's own


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray (2 CPUs) whose workers can import the tests' model factory."""
    path = os.pathsep.join([str(HERE), str(HERE.parents[1])])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


def _sidecars(root):
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.json"))}


@pytest.mark.parametrize("write", ["driver", "workers"])
def test_boxes_on_ray_equal_the_local_engine(tmp_path, local_ray, model_spec, runner, write, one_thread):
    from samlabel.autolabel.job import run, run_local
    from samlabel.autolabel.ray_engine import RayOptions
    from samlabel.autolabel.spec import AutolabelSpec

    local_root = make_project(tmp_path / "local", n_images=4, boxes_per_image=3)
    ray_root = tmp_path / "ray"
    shutil.copytree(local_root, ray_root)
    spec = AutolabelSpec(local_root, model=model_spec, keep_boxes=(write == "workers"))
    local = run_local(spec, runner=runner)
    seen = []
    report = run(spec.replace(project_dir=str(ray_root)), engine="ray",
                 ray_options=RayOptions(num_actors=2, cpus_per_actor=1, batch_size=2, write=write),
                 progress=lambda done, total, msg="": seen.append((done, total)))
    assert report.problems == [] and (report.written, report.made) == (local.written, local.made) == (4, 12)
    assert _sidecars(ray_root) == _sidecars(local_root)  # identical shapes, byte for byte
    assert seen[-1] == (4, 4)
    again = run(spec.replace(project_dir=str(ray_root)), engine="ray", ray_options=RayOptions(write=write))
    assert (again.written, again.made, again.unchanged) == (0, 0, 4)


def test_everything_on_ray_and_a_bad_image(tmp_path, local_ray, model_spec, runner, one_thread):
    from samlabel.autolabel.job import run, run_local
    from samlabel.autolabel.ray_engine import RayOptions
    from samlabel.autolabel.spec import AutolabelSpec, EverythingParams

    local_root = make_project(tmp_path / "local", n_images=3, boxes_per_image=1)
    (local_root / "img2.png").write_bytes(b"not an image")
    ray_root = tmp_path / "ray"
    shutil.copytree(local_root, ray_root)
    params = EverythingParams(points_per_side=6, pred_iou_thresh=0.0, stability_score_thresh=0.0)
    spec = AutolabelSpec(local_root, mode="everything", model=model_spec, everything=params)
    local = run_local(spec, runner=runner)
    report = run(spec.replace(project_dir=str(ray_root)), engine="ray", ray_options=RayOptions(num_actors=1))
    assert report.written == local.written == 2 and report.proposals == local.proposals > 0
    assert len(report.problems) == 1 and str(ray_root / "img2.png") in report.problems[0]
    assert _sidecars(ray_root) == _sidecars(local_root)


def test_missing_ray_address_is_a_clear_error(tmp_path, model_spec):
    from samlabel.autolabel.errors import AutolabelError
    from samlabel.autolabel.ray_engine import RayOptions, run_ray
    from samlabel.autolabel.spec import AutolabelSpec

    with pytest.raises(AutolabelError, match="write mode"):
        RayOptions(write="nowhere")
    with pytest.raises(AutolabelError, match="not a project folder"):
        run_ray(AutolabelSpec(tmp_path / "missing", model=model_spec), RayOptions())


def test_an_actor_without_a_model_is_a_clear_error(tmp_path, local_ray):
    from samlabel.autolabel.errors import AutolabelError
    from samlabel.autolabel.ray_engine import RayOptions, run_ray
    from samlabel.autolabel.spec import AutolabelSpec, ModelSpec

    root = make_project(tmp_path / "p", n_images=1, boxes_per_image=1)
    before = _sidecars(root)
    with pytest.raises(AutolabelError, match="no_such_module_xyz"):
        run_ray(AutolabelSpec(root, model=ModelSpec(factory="no_such_module_xyz:build")), RayOptions())
    assert _sidecars(root) == before
