from __future__ import annotations

from django.urls import path

from monitoring import views

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/<int:pk>/read/", views.mark_read, name="notification-read"),
    path("inbox/badge/", views.notifications_badge, name="notification-badge"),
    path("orders/<int:order_id>/", views.order_panel, name="order-monitoring"),
    path("orders/<int:order_id>/result/", views.record_result, name="order-result"),
    path("checks/<int:check_id>/worklist-result/", views.worklist_result, name="worklist-result"),
    path("results/<int:result_id>/worklist-bleeding/", views.worklist_bleeding, name="worklist-bleeding"),
    path("orders/<int:order_id>/repeat-decision/", views.repeat_decision, name="order-repeat-decision"),
    path("infusions/<int:infusion_id>/day2/", views.day2_prompt, name="day2-prompt"),
    path("infusions/<int:infusion_id>/withhold/", views.withhold, name="infusion-withhold"),
]
