from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def login(request):
    request.session.cycle_key()  # what django.contrib.auth.login does: a new id at login
    request.session["user"] = request.GET.get("user", "anonymous")
    return JsonResponse({"user": request.session["user"]})


@csrf_exempt
def incr(request):
    request.session["count"] = request.session.get("count", 0) + 1
    return JsonResponse({"count": request.session["count"], "user": request.session.get("user")})


def whoami(request):
    return JsonResponse({"user": request.session.get("user"), "count": request.session.get("count")})


@csrf_exempt
def logout(request):
    request.session.flush()  # what django.contrib.auth.logout does
    return JsonResponse({"user": None})


urlpatterns = [path("login", login), path("incr", incr), path("whoami", whoami), path("logout", logout)]
