from django.apps import AppConfig


class ApplicantsConfig(AppConfig):
    name = "tongban.applicants"
    label = "applicants"
    verbose_name = "申请人"
