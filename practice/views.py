from django.http import HttpResponse


def client_list(request):
    return HttpResponse("todo")


client_create = client_detail = client_edit = client_list
