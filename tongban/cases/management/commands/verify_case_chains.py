from django.core.management.base import BaseCommand, CommandError

from tongban.cases.events import verify_chain
from tongban.cases.models import CaseEvent


class Command(BaseCommand):
    help = "校验每个办件过程记录的哈希链（任何被修改、删除或重排的记录都会被发现）"

    def handle(self, *args, **options):
        broken, cases, current, batch = [], 0, None, []
        for event in CaseEvent.objects.order_by("case_id", "seq").iterator(chunk_size=5000):
            if event.case_id != current:
                if batch and (bad := verify_chain(batch)):
                    broken.append(bad)
                current, batch, cases = event.case_id, [], cases + 1
            batch.append(event)
        if batch and (bad := verify_chain(batch)):
            broken.append(bad)
        for e in broken:
            self.stderr.write(f"办件#{e.case_id} 第{e.seq}条记录（{e.label}）哈希链断裂")
        if broken:
            raise CommandError(f"{len(broken)}个办件的过程记录哈希链断裂（共校验{cases}个办件）")
        self.stdout.write(f"已校验{cases}个办件的过程记录哈希链，全部完好")
