from django.http import HttpResponse


def login_view(request):
    return HttpResponse("todo")


logout_view = two_factor_verify = two_factor_setup = backup_codes = login_view
