"""URLs of the desk and of signing in and out."""

from django.contrib.auth import views as auth_views
from django.urls import path

from interactions.desk import views
from interactions.desk.forms import SignInForm

urlpatterns = [
    path("", views.home, name="home"),
    path("desk/", views.desk, name="desk"),
    path("supervisor/", views.supervisor, name="supervisor"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(
            template_name="desk/login.html", authentication_form=SignInForm, redirect_authenticated_user=True
        ),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
