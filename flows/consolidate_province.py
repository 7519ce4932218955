"""The province's consolidation: the communes' latest bundles, verified, loaded, published.

Bundles are prepared in batches as Prefect tasks, spread over processes of this machine
(`fan_out="processes"`) or over the workers of a work pool (`fan_out="deployment"`: each batch
is a run of the `province-batch` deployment, which any worker of the pool may take, on any
machine that sees the staging folder). Loading stays with this flow run alone: it holds the
warehouse's writer lock from listing to publication.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any, cast

from prefect import flow, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.deployments import run_deployment
from prefect.task_runners import ProcessPoolTaskRunner

from core.settings import Settings, load_settings
from flows.dashboard import drawing, save_drawn
from flows.progress import notice
from warehouse.bundle import NATIONAL, BundleRef, latest_bundles
from warehouse.lock import writer_lock
from warehouse.province import (
    PROVINCE_MARTS,
    finish_consolidation,
    init_province,
    load_batch,
    loaded_bundles,
    prepare_batch,
    province_communes,
    read_batch,
    staging_folder,
    start_consolidation,
)
from warehouse.publish import publish

BATCH_DEPLOYMENT = "prepare-province-batch/province-batch"


def _batches(refs: list[BundleRef], size: int) -> list[list[BundleRef]]:
    return [refs[i : i + size] for i in range(0, len(refs), size)]


@task(cache_policy=NO_CACHE)
def prepare(commune_codes: list[str], bundle_ids: list[str], folder: str) -> str:
    """Fetch, verify and stage one batch of bundles; the batch's folder."""
    settings = load_settings()
    refs = [BundleRef(c, b) for c, b in zip(commune_codes, bundle_ids, strict=True)]
    prepare_batch(refs, settings, Path(folder))
    return folder


@flow(name="prepare-province-batches")
def prepare_here(batches: list[dict[str, Any]]) -> list[str]:
    """Prepare batches in this machine's processes (the task runner's pool)."""
    futures = [prepare.submit(b["commune_codes"], b["bundle_ids"], b["folder"]) for b in batches]
    return [future.result() for future in futures]


@flow(name="prepare-province-batch")
def prepare_province_batch(commune_codes: list[str], bundle_ids: list[str], folder: str) -> str:
    """One batch, as a run any worker of the pool can take (the `province-batch` deployment)."""
    return prepare.fn(commune_codes, bundle_ids, folder)


@task(cache_policy=NO_CACHE)
def prepare_on_pool(batch: dict[str, Any]) -> str:
    """Run one batch as a run of the batch deployment and wait for it."""
    run = run_deployment(BATCH_DEPLOYMENT, parameters=batch, timeout=None)
    state = getattr(run, "state", None)
    if state is None or not state.is_completed():
        raise RuntimeError(f"lô {batch['folder']} không chuẩn bị xong: {state}")
    return str(batch["folder"])


@flow(name="consolidate-province")
def consolidate_province(fan_out: str = "processes") -> dict[str, Any]:
    """List the communes' bundles, verify and load the new ones, publish the province marts.

    Args:
        fan_out: `processes` (batches in `province_workers` processes here) or `deployment`
            (each batch a run of `prepare-province-batch/province-batch`, on the pool's workers).

    Returns:
        Counts (`listed`, `unchanged`, `loaded`), the refused bundles with their reasons
        (`rejected`), and the seconds of each step.
    """
    settings = load_settings()
    if settings.level != "province" or not settings.publish_url:
        raise ValueError(
            'cần level = "province", province_code và publish_url để tổng hợp cấp tỉnh'
        )
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with writer_lock(settings.warehouse), ExitStack() as cleanup:
        init_province(settings.warehouse, settings)
        listed = latest_bundles(settings.publish_url, settings)
        known = loaded_bundles(settings.warehouse)
        fresh = [r for r in listed if (r.commune_code, r.bundle_id) not in known]
        seconds["list"] = round(time.perf_counter() - started, 3)
        notice(f"Có {len(listed)} xã đã gửi gói số liệu, {len(fresh)} gói mới.")
        run = start_consolidation(settings.warehouse, len(listed))
        staging = staging_folder(settings)
        # Staged batches are gone after the run, whether it finished or not.
        cleanup.callback(_remove, staging)
        batches = [
            {
                "commune_codes": [r.commune_code for r in part],
                "bundle_ids": [r.bundle_id for r in part],
                "folder": str(staging / f"batch-{n:05d}"),
            }
            for n, part in enumerate(_batches(fresh, settings.province_batch))
        ]
        mark = time.perf_counter()
        if not batches:
            folders: list[str] = []
        elif fan_out == "deployment":
            folders = [f.result() for f in prepare_on_pool.map(batches)]
        else:
            workers = min(settings.province_workers, len(batches))
            # Prefect types the runner by its futures; the process pool's are futures too.
            runner = cast(Any, ProcessPoolTaskRunner(max_workers=workers))
            folders = prepare_here.with_options(task_runner=runner)(batches)
        seconds["prepare"] = round(time.perf_counter() - mark, 3)
        mark = time.perf_counter()
        loaded: list[str] = []
        rejected: list[tuple[str, str]] = []
        for folder in folders:
            result = load_batch(settings.warehouse, run, read_batch(Path(folder)))
            loaded += result.loaded
            rejected += result.rejected
        seconds["load"] = round(time.perf_counter() - mark, 3)
        counts = {"loaded": len(loaded), "unchanged": len(listed) - len(fresh),
                  "rejected": len(rejected)}  # fmt: skip
        finish_consolidation(settings.warehouse, run, counts)
        mark = time.perf_counter()
        publication = publish(
            settings.warehouse,
            settings.published,
            marts=PROVINCE_MARTS,
            shared=(),
            beside=drawing(*_place(settings)),
        )
        seconds["publish"] = round(time.perf_counter() - mark, 3)
        save_drawn(publication, settings.published)
    seconds["total"] = round(time.perf_counter() - started, 3)
    for code, reason in rejected:
        notice(f"Gói của xã {code} bị từ chối: {reason}")
    if rejected:
        create_table_artifact(
            [{"commune_code": c, "reason": r} for c, r in rejected],
            key="khcn-province-rejected",
            description="Gói số liệu bị từ chối",
        )
    return {
        "consolidation_id": run,
        "listed": len(listed),
        **counts,
        "rejected_bundles": [{"commune_code": c, "reason": r} for c, r in rejected],
        "batches": len(batches),
        "mart_rows": publication.mart_rows,
        "seconds": seconds,
    }


def _place(settings: Settings) -> tuple[str, str]:
    """The dashboard's heading: the province's name (the country's) and its level."""
    if settings.province_code == NATIONAL:
        return "Việt Nam", "cả nước"
    return province_communes(str(settings.province_code))[0][3], "tỉnh"


def _remove(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
