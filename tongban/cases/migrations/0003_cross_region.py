"""Cross-region handling: receiving place, joint parts, paper transfers, event duty and origin, and a
global case uid (added nullable, filled, then made unique — one default for every existing row would
collide). On SQLite adding columns rebuilds the event table, which drops its triggers: reinstalled."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from tongban.core.append_only import trigger_operation


def fill_uids(apps, schema_editor):
    Case = apps.get_model("cases", "Case")  # noqa: N806
    for pk in Case.objects.filter(uid__isnull=True).values_list("pk", flat=True):
        Case.objects.filter(pk=pk).update(uid=uuid.uuid4())


class Migration(migrations.Migration):

    dependencies = [
        ('applicants', '0002_legal_phone_unique'),
        ('cases', '0002_case_event_append_only'),
        ('catalog', '0004_applicationform_reviewprocess'),
        ('directory', '0002_history_new_code_text'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='CasePart',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('seq', models.PositiveSmallIntegerField(verbose_name='序号')),
                ('step_name', models.CharField(max_length=60, verbose_name='对应审查环节')),
                ('department_name', models.CharField(max_length=120, verbose_name='联办部门名称')),
                ('department_code', models.CharField(max_length=18, verbose_name='联办部门代码')),
                ('region_code', models.CharField(max_length=12, verbose_name='联办地区划')),
                ('region_path', models.CharField(db_index=True, max_length=80, verbose_name='联办地区划路径')),
                ('node_id', models.CharField(blank=True, max_length=40, verbose_name='联办地节点')),
                ('status', models.CharField(choices=[('waiting', '待分派'), ('active', '办理中'), ('concluded', '已办结')], default='waiting', max_length=10, verbose_name='状态')),
                ('opinion', models.TextField(blank=True, verbose_name='联办意见')),
                ('concluded_by', models.CharField(blank=True, max_length=150, verbose_name='办结人')),
                ('concluded_at', models.DateTimeField(blank=True, null=True, verbose_name='办结时间')),
            ],
            options={
                'verbose_name': '联办事项',
                'verbose_name_plural': '联办事项',
                'ordering': ['case', 'seq'],
            },
        ),
        migrations.CreateModel(
            name='PaperTransfer',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('courier', models.CharField(max_length=60, verbose_name='快递公司')),
                ('tracking_no', models.CharField(max_length=40, verbose_name='快递单号')),
                ('status', models.CharField(choices=[('sent', '已寄出'), ('received', '办理地已签收')], default='sent', max_length=10, verbose_name='状态')),
                ('sent_at', models.DateTimeField(verbose_name='寄出时间')),
                ('received_at', models.DateTimeField(blank=True, null=True, verbose_name='签收时间')),
                ('received_by', models.CharField(blank=True, max_length=150, verbose_name='签收人')),
            ],
            options={
                'verbose_name': '纸质材料流转',
                'verbose_name_plural': '纸质材料流转',
                'ordering': ['case', 'id'],
            },
        ),
        migrations.AddField(
            model_name='case',
            name='competent_node',
            field=models.CharField(blank=True, max_length=40, verbose_name='办理地节点'),
        ),
        migrations.AddField(
            model_name='case',
            name='exchange_mark',
            field=models.JSONField(blank=True, default=dict, editable=False, verbose_name='已同步标记'),
        ),
        migrations.AddField(
            model_name='case',
            name='intake_check',
            field=models.JSONField(blank=True, default=dict, verbose_name='收件核验'),
        ),
        migrations.AddField(
            model_name='case',
            name='mode',
            field=models.CharField(choices=[('online', '全程网办'), ('proxy', '异地代收代办'), ('joint', '多地联办')], default='online', max_length=8, verbose_name='业务模式'),
        ),
        migrations.AddField(
            model_name='case',
            name='receiving_basis',
            field=models.CharField(blank=True, max_length=200, verbose_name='代收依据'),
        ),
        migrations.AddField(
            model_name='case',
            name='receiving_department',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='received_cases', to='directory.department', verbose_name='收件部门'),
        ),
        migrations.AddField(
            model_name='case',
            name='receiving_node',
            field=models.CharField(blank=True, max_length=40, verbose_name='收件地节点'),
        ),
        migrations.AddField(
            model_name='case',
            name='receiving_region',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='received_cases', to='directory.region', verbose_name='收件地区划'),
        ),
        migrations.AddField(
            model_name='case',
            name='receiving_region_path',
            field=models.CharField(blank=True, editable=False, max_length=80, verbose_name='收件地区划路径'),
        ),
        migrations.AddField(
            model_name='case',
            name='receiving_window',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='received_cases', to='directory.window', verbose_name='收件窗口'),
        ),
        migrations.AddField(
            model_name='casedocument',
            name='origin',
            field=models.CharField(blank=True, max_length=60, verbose_name='来源节点记录'),
        ),
        migrations.AddField(
            model_name='caseevent',
            name='duty',
            field=models.CharField(blank=True, choices=[('receiving', '收件地'), ('competent', '办理地'), ('part', '联办地')], max_length=12, verbose_name='责任方'),
        ),
        migrations.AddField(
            model_name='caseevent',
            name='origin',
            field=models.CharField(blank=True, max_length=60, verbose_name='来源'),
        ),
        migrations.AddField(
            model_name='casematerial',
            name='origin',
            field=models.CharField(blank=True, help_text='由其他节点同步而来时：节点:编号', max_length=60, verbose_name='来源节点记录'),
        ),
        migrations.AddIndex(
            model_name='case',
            index=models.Index(fields=['receiving_region_path', 'status'], name='case_receiving_queue'),
        ),
        migrations.AddConstraint(
            model_name='caseevent',
            constraint=models.UniqueConstraint(condition=models.Q(('origin', ''), _negated=True), fields=('case', 'origin'), name='case_event_origin_unique'),
        ),
        migrations.AddField(
            model_name='casepart',
            name='case',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='parts', to='cases.case', verbose_name='办件'),
        ),
        migrations.AddField(
            model_name='casepart',
            name='department',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='case_parts', to='directory.department', verbose_name='联办部门'),
        ),
        migrations.AddField(
            model_name='papertransfer',
            name='case',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='paper_transfers', to='cases.case', verbose_name='办件'),
        ),
        migrations.AddConstraint(
            model_name='casepart',
            constraint=models.UniqueConstraint(fields=('case', 'seq'), name='case_part_seq_unique'),
        ),
        migrations.AddField(model_name="case", name="uid", field=models.UUIDField(null=True, editable=False, verbose_name="全局编号")),
        migrations.RunPython(fill_uids, migrations.RunPython.noop),
        migrations.AlterField(model_name="case", name="uid", field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True, verbose_name="全局编号")),
        trigger_operation("cases_caseevent", "办件记录", purge_switch="cases_history_purge"),
    ]
