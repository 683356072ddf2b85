"""Staff pages of the tenant app: clients (practice/views.py) and API tokens (token_views.py)."""

from django.urls import path

from practice import token_views, views

urlpatterns = [
    path("clients/", views.client_list, name="client_list"),
    path("clients/new/", views.client_create, name="client_create"),
    path("clients/<int:pk>/", views.client_detail, name="client_detail"),
    path("clients/<int:pk>/edit/", views.client_edit, name="client_edit"),
    path("settings/api-tokens/", token_views.api_tokens, name="api_tokens"),
    path("settings/api-tokens/<int:pk>/revoke/", token_views.api_token_revoke_view, name="api_token_revoke"),
]
