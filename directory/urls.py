from django.urls import path

from directory import views

app_name = "directory"
urlpatterns = [
    path("api/resources/", views.resources_api, name="resources-api"),
    path("api/orientations/", views.orientations_api, name="orientations-api"),
    path("api/callbacks/", views.callbacks_api, name="callbacks-api"),
    path(
        "api/callbacks/<uuid:request_id>/",
        views.callbacks_api,
        name="callback-api",
    ),
    path("callbacks/", views.callback_queue, name="callbacks"),
    path(
        "callbacks/<str:request_id>/status/",
        views.callback_status,
        name="callback-status",
    ),
    path(
        "callbacks/<str:request_id>/reveal/",
        views.callback_reveal,
        name="callback-reveal",
    ),
]
