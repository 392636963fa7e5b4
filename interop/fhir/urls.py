"""FHIR R4 read-only API, included at ``/fhir/R4/`` (no trailing slashes, as FHIR clients send them)."""

from __future__ import annotations

from django.urls import re_path

from interop.fhir import smart, views

urlpatterns = [
    re_path(r"^metadata/?$", views.MetadataView.as_view(), name="fhir-metadata"),
    # SMART clients look for their configuration relative to the FHIR base.
    re_path(r"^\.well-known/smart-configuration/?$", smart.smart_configuration, name="fhir-smart-configuration"),
    re_path(r"^(?P<resource_type>[A-Za-z]+)/?$", views.SearchView.as_view(), name="fhir-search"),
    re_path(
        r"^(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/?$",
        views.ReadView.as_view(),
        name="fhir-read",
    ),
    re_path(
        r"^(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/_history/?$",
        views.HistoryView.as_view(),
        name="fhir-history",
    ),
    re_path(
        r"^(?P<resource_type>[A-Za-z]+)/(?P<resource_id>[A-Za-z0-9\-.]{1,64})/_history/(?P<version_id>[0-9]{1,20})/?$",
        views.HistoryView.as_view(),
        name="fhir-vread",
    ),
    re_path(r"^(?P<rest>.*)$", views.NotServedView.as_view(), name="fhir-not-served"),
]
