"""Top-level URLs: the API, its OpenAPI schema and docs, the providers' hooks, health checks, the admin,
the desk and signing in."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from interactions.api import health

urlpatterns = [
    path("api/v1/", include("interactions.api.urls")),
    path("hooks/", include("interactions.adapters.urls")),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", include("interactions.desk.urls")),
]

handler400 = "interactions.api.problems.bad_request"
handler404 = "interactions.api.problems.not_found"
handler500 = "interactions.api.problems.server_error"
