from django.conf import settings
from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.Orders.as_view()),
    path("orders/read/", views.ReadOrders.as_view()),
    path("jwt/orders/", views.JwtOrders.as_view()),
]

if settings.MULTITOKEN_WEBHOOK_SECRET:
    from hooks.views import multitoken_events

    urlpatterns += [
        path("hooks/multitoken", multitoken_events),
        path("jwt/orders/hooked/", views.HookedJwtOrders.as_view()),
    ]
