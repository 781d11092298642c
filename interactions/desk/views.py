"""Pages of the desk: `/` sends people to it, `/desk/` serves it to a signed-in person. The page itself talks
to the REST API and the websocket with the session, like any other client."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie

from interactions.access.rules import may_have_status, may_read_measures
from interactions.agents.selectors import agent_status
from interactions.people.selectors import desk_refusal, person_principal


def home(request: HttpRequest) -> HttpResponse:
    """The front door: the desk, through the sign-in page for someone not signed in."""
    return redirect("desk")


@login_required
@ensure_csrf_cookie
def desk(request: HttpRequest) -> HttpResponse:
    principal = person_principal(request.user)
    if principal is None:
        # A Django user without a role (say, made with createsuperuser), or whose principal was revoked: the
        # page says which, with a way to sign out (the sign-in page sends a signed-in user back here).
        reason = desk_refusal(request.user)
        return render(request, "desk/refused.html", {"reason": reason, "user": request.user}, status=403)
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


@login_required
@ensure_csrf_cookie
def supervisor(request: HttpRequest) -> HttpResponse:
    """The supervisor's page: the experience measures as charts and tables, read from the REST API with the
    session. Supervisors and admins; an agent is told it is not theirs."""
    principal = person_principal(request.user)
    if principal is None or not may_read_measures(principal):
        reason = desk_refusal(request.user) or (
            "The supervisor page is for supervisors and admins. Your desk is at /desk/."
        )
        return render(request, "desk/refused.html", {"reason": reason, "user": request.user}, status=403)
    me = {"username": request.user.get_username(), "role": principal.role}
    return render(request, "desk/supervisor.html", {"me": me})
