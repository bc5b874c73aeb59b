from django.urls import path

from . import views

urlpatterns = [
    path("orders/", views.Orders.as_view()),
    path("orders/read/", views.ReadOrders.as_view()),
    path("jwt/orders/", views.JwtOrders.as_view()),
]
