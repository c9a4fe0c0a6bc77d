from django.urls import path

from stats import views

app_name = "stats"
urlpatterns = [
    path("console/statistics/", views.statistics_page, name="page"),
    path("console/statistics/<slug:slug>.csv", views.statistics_csv, name="csv"),
    path("feedback/", views.feedback, name="feedback"),
]
