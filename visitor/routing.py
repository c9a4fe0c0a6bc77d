from django.urls import path

from visitor.consumers import VisitorChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", VisitorChatConsumer.as_asgi()),
]
