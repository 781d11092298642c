"""Pages of the desk: `/` sends people to it, `/desk/` serves it to a signed-in person. The page itself talks
to the REST API and the websocket with the session, like any other client."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from interactions.access.rules import may_have_status
from interactions.agents.selectors import agent_status
from interactions.people.selectors import person_principal


def home(request: HttpRequest) -> HttpResponse:
    """The front door: the desk, through the sign-in page for someone not signed in."""
    return redirect("desk")


@login_required
@ensure_csrf_cookie
def desk(request: HttpRequest) -> HttpResponse:
    principal = person_principal(request.user)
    if principal is None:
        # A Django user without a role (say, made with createsuperuser): the desk needs an agent identity.
        return HttpResponseForbidden(
            "This account has no role on the desk; create one with manage.py create_user.",
            content_type="text/plain; charset=utf-8",
        )
    me = {
        "username": request.user.get_username(),
        "agent_id": str(principal.pk),
        "role": principal.role,
        "skills": principal.skills,
        "has_status": may_have_status(principal),
        # What a new tab shows until this tab sets one (another tab may have made them available).
        "status": agent_status(str(principal.pk)) if may_have_status(principal) else None,
    }
    return render(request, "desk/desk.html", {"me": me})
