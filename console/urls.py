from django.urls import path

from console import views

app_name = "console"
urlpatterns = [
    path("", views.console_page, name="home"),
    path("login/", views.login_page, name="login"),
    path("logout/", views.logout_page, name="logout"),
    path("keepalive/", views.keepalive, name="keepalive"),
]
