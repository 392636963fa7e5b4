from __future__ import annotations

from django.urls import path

from interop.hl7.api import OruView

urlpatterns = [
    path("oru/", OruView.as_view(), name="hl7-oru"),
]
