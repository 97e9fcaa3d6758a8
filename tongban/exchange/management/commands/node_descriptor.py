import json

from django.core.management.base import BaseCommand

from tongban.exchange import service


class Command(BaseCommand):
    help = "输出本节点的描述（JSON：节点标识、名称、地址、服务区划、公钥），交给对端节点登记"

    def handle(self, *args, **options):
        self.stdout.write(json.dumps(service.descriptor(), ensure_ascii=False, indent=2))
