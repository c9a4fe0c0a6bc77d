from django.urls import path

from escalation import views

app_name = "escalation"
urlpatterns = [
    path("", views.escalation_list, name="list"),
    path("audit/", views.audit_page, name="audit"),
    path(
        "conversation/<uuid:conversation_id>/",
        views.conversation_page,
        name="conversation",
    ),
    path(
        "conversation/<uuid:conversation_id>/export/",
        views.export_page,
        name="export",
    ),
    path(
        "conversation/<uuid:conversation_id>/export.json",
        views.export_json,
        name="export_json",
    ),
    path("disclosure/<uuid:request_id>/", views.disclosure_page, name="disclosure"),
]
