from django.urls import path

from attachments import views

app_name = "attachments"
urlpatterns = [
    path("upload/", views.upload, name="upload"),
    path("<uuid:attachment_id>/", views.download, name="file"),
    path(
        "<uuid:attachment_id>/preview/",
        views.download,
        {"part": "preview"},
        name="preview",
    ),
]
