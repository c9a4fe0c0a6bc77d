from django.urls import path

from console.consumers import StaffConsoleConsumer

websocket_urlpatterns = [
    path("ws/console/", StaffConsoleConsumer.as_asgi()),
]
