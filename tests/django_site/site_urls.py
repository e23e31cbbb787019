"""The site's pages: Django's own login, logout and password change views."""
from django.contrib.auth import views
from django.urls import path

urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/password_change/", views.PasswordChangeView.as_view(),
         name="password_change"),
    path("accounts/password_change/done/", views.PasswordChangeDoneView.as_view(),
         name="password_change_done"),
]


def whoami(request):
    """Who Django sees: the username, or nothing for the anonymous user."""
    from django.http import HttpResponse
    return HttpResponse(request.user.username, content_type="text/plain")


urlpatterns.append(path("whoami/", whoami))
