from django.http import HttpResponse


def appointment_list(request):
    return HttpResponse("todo")


appointment_create = appointment_detail = appointment_reschedule_view = appointment_cancel_view = (
    appointment_list
)
appointment_attendance_view = appointment_confirm_view = appointment_list
