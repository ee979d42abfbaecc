from django.urls import path

from . import views

urlpatterns = [
    path("customers/", views.customer_list, name="customer-list"),
    path("customers/autocomplete", views.customer_autocomplete, name="customer-autocomplete"),
]
