"""The phone app (a PWA at /app/): its page, service worker, manifest, scripts and icons."""

from dashboards.phone.views import phone

__all__ = ["phone"]
