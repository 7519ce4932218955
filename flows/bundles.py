"""The commune's side of the province level: its bundle, sent after each publication."""

from __future__ import annotations

from core.settings import Settings
from flows.progress import notice
from warehouse.bundle import BundleRef, publish_bundle
from warehouse.publish import Publication


def send_bundle(publication: Publication, settings: Settings) -> BundleRef | None:
    """Write the commune's bundle to the publish URL, when one is set.

    The load and the local publication stand whatever happens here: a publish URL that cannot
    be reached costs only this bundle, and the next publication writes a whole new one.
    """
    if settings.level != "commune" or not settings.publish_url:
        return None
    notice("Đang gửi gói số liệu của xã lên tỉnh.")
    try:
        ref = publish_bundle(publication, settings)
    # fsspec backends raise their own errors (paramiko's SSHException, botocore's…): any of
    # them means "not sent this time", said in one line.
    except Exception as error:  # noqa: BLE001
        reason = f"{type(error).__name__}: {error}"
        notice(f"Chưa gửi được gói số liệu lên tỉnh ({reason}); kho vẫn giữ nguyên.")
        return None
    if ref is not None:
        notice(f"Đã gửi gói số liệu {ref.bundle_id} lên tỉnh.")
    return ref
