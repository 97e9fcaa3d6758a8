import logging
import signal
import threading

from django.core.management.base import BaseCommand

from tongban.exchange import relay


class Command(BaseCommand):
    help = "投递发件箱中到期的消息（持续运行；--once 只执行一轮）"

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="执行一轮后退出")
        parser.add_argument("--interval", type=float, default=0.2, help="空闲时的轮询间隔（秒，默认 0.2）")

    def handle(self, *args, once, interval, **options):
        stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        logging.getLogger("tongban.exchange").info("exchange relay started (interval %.2fs)", interval)
        relay.run(interval=max(0.01, interval), once=once, stop=stop)
