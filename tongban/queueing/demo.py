"""Demo of 主题叫号 in 莒南县政务服务中心: window 18 (where demo_clerk sits) also serves as the “一件事一次办”
service zone, so it calls every queue; and a few of today's tickets wait (one in the green channel).
Idempotent: the tickets carry a token per day, so a re-run the same day creates nothing new."""

from django.utils import timezone

from tongban.directory.models import Hall, Window

from . import services
from .models import Queue, QueueTicket, WindowQueue

HALL = ("371327", "莒南县政务服务中心")
ZONE_WINDOW = "18"
# (token suffix, bundle name or None, queue, green reason, phone)
TICKETS = [
    ("g1", "新生儿出生", Queue.PERSONAL, "", "13800000001"),
    ("q1", "开办餐饮店", Queue.ENTERPRISE, "", ""),
    ("g2", "残疾人服务", Queue.PERSONAL, "disabled", ""),
    ("a1", None, Queue.ORDINARY, "", ""),
]


def load_queue_demo(created):
    hall = Hall.objects.filter(region__code=HALL[0], name=HALL[1]).first()
    if hall is None:
        return
    window = Window.objects.filter(hall=hall, number=ZONE_WINDOW).first()
    if window is not None and not WindowQueue.objects.filter(window=window).exists():
        WindowQueue.objects.bulk_create([WindowQueue(window=window, queue=q) for q in Queue.values])
        created["window_queues"] += len(Queue.values)
    offered = {b.name: b for b in services.kiosk_bundles(hall)}
    day = timezone.localdate()
    for suffix, bundle_name, queue, green_reason, phone in TICKETS:
        token = f"demo-{day:%Y%m%d}-{suffix}"
        if QueueTicket.objects.filter(token=token).exists():
            continue
        bundle = offered.get(bundle_name) if bundle_name else None
        services.take_ticket(hall, bundle=bundle, theme=queue, green=bool(green_reason), green_reason=green_reason, phone=phone,
                             client_key="demo-loader", token=token)
        created["queue_tickets"] += 1
