from __future__ import annotations

from django.urls import path

from patients import views

urlpatterns = [
    path("", views.patient_list, name="patient-list"),
    path("new/", views.patient_create, name="patient-create"),
    path("<int:pk>/", views.patient_detail, name="patient-detail"),
    path("<int:pk>/edit/", views.patient_edit, name="patient-edit"),
    path("<int:pk>/ivig-reactions/", views.ivig_reaction_add, name="patient-ivig-reaction-add"),
    path("<int:pk>/labs/", views.lab_add, name="patient-lab-add"),
]
