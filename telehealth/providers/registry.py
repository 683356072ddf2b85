"""Provider name -> adapter class, by dotted path, so an adapter's dependencies are only
imported when a practice uses it."""

from __future__ import annotations

from django.utils.module_loading import import_string

from telehealth.providers.base import ProviderError, TelehealthProvider

PROVIDERS: dict[str, str] = {
    "jitsi": "telehealth.providers.jitsi.JitsiProvider",
    "zoom": "telehealth.providers.zoom.ZoomProvider",
    "doxy": "telehealth.providers.doxy.DoxyProvider",
    "manual": "telehealth.providers.manual.ManualProvider",
    "fake": "telehealth.providers.fake.FakeProvider",
}


def get_provider(name: str, config: dict | None = None) -> TelehealthProvider:
    path = PROVIDERS.get(name)
    if path is None:
        raise ProviderError(f"Unknown telehealth provider {name!r}.", permanent=True)
    return import_string(path)(config or {})
