"""French first: the browser's Accept-Language does not pick the language.

French is the platform's default; English is chosen explicitly (the
language form, which sets Django's language cookie, or the visitor page's
``?lang=``). A staff member on an English-language browser still gets
French unless they ask.
"""

from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware


class FrenchFirstLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        request.META.pop("HTTP_ACCEPT_LANGUAGE", None)
        super().process_request(request)
