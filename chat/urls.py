from django.urls import path

from chat import views

app_name = "chat"
urlpatterns = [
    path("", views.visitor_page, name="visitor"),
    path("s/<slug:slug>/", views.service_page, name="service"),
    path("api/communes/", views.commune_search, name="commune-search"),
    path("favicon.ico", views.favicon, name="favicon"),
]
