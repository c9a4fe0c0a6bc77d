from django.urls import path

from chat.consumers import VisitorChatConsumer

websocket_urlpatterns = [
    path("ws/chat/", VisitorChatConsumer.as_asgi()),
]
