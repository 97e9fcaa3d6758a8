"""Platform nodes and the messages between them.

The sender writes an `OutboxMessage` in the same transaction as the change it reports (transactional
outbox); the relay delivers it. The receiver keeps an `InboxMessage` per (sender, message_id), so a
message delivered twice is applied once, and a `StreamCursor` per (sender, stream), so messages of a
stream are applied in order. What the receiver refused is an append-only `Rejection`.
"""

import uuid

from django.db import models
from django.db.models import Q

from tongban.core.append_only import AppendOnly

SM2, ED25519 = "sm2", "ed25519"
ALGORITHM_CHOICES = [(SM2, "SM2（SM3摘要）"), (ED25519, "Ed25519")]


class Node(models.Model):
    """平台节点: one deployment, serving one or more regions (a subtree each)."""

    ACTIVE, SUSPENDED, RETIRED = "active", "suspended", "retired"
    STATUS_CHOICES = [(ACTIVE, "启用"), (SUSPENDED, "暂停"), (RETIRED, "停用")]

    node_id = models.SlugField("节点标识", max_length=64, unique=True)
    name = models.CharField("节点名称", max_length=120)
    base_url = models.CharField("访问地址", max_length=300, blank=True, help_text="如 https://node.example.gov.cn，消息投递到 {访问地址}/exchange/inbox/")
    regions = models.ManyToManyField("directory.Region", related_name="exchange_nodes", verbose_name="服务区划", blank=True)
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES, default=ACTIVE)
    is_self = models.BooleanField("本节点", default=False)
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        ordering = ["-is_self", "node_id"]
        verbose_name = verbose_name_plural = "平台节点"
        constraints = [models.UniqueConstraint(fields=["is_self"], condition=Q(is_self=True), name="exchange_node_one_self")]

    def __str__(self):
        return f"{self.name}（{self.node_id}）"


class NodeKey(models.Model):
    """节点公钥. A node may hold several (rotation); a revoked key never verifies again."""

    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="keys", verbose_name="节点")
    key_id = models.CharField("密钥标识", max_length=64)
    algorithm = models.CharField("算法", max_length=12, choices=ALGORITHM_CHOICES)
    public_key = models.CharField("公钥（十六进制）", max_length=200)
    created_at = models.DateTimeField("登记时间", auto_now_add=True)
    revoked_at = models.DateTimeField("吊销时间", null=True, blank=True)

    class Meta:
        ordering = ["node", "-created_at"]
        verbose_name = verbose_name_plural = "节点公钥"
        constraints = [models.UniqueConstraint(fields=["node", "key_id"], name="exchange_nodekey_unique")]

    def __str__(self):
        return f"{self.node.node_id}/{self.key_id}"


class OutboxStream(models.Model):
    """The last sequence number given out on (receiver, stream): an UPDATE on this row serialises
    concurrent senders of one stream, so seq has no gaps and no duplicates."""

    receiver = models.CharField("接收节点", max_length=64)
    stream = models.CharField("消息流", max_length=128)
    last_seq = models.PositiveBigIntegerField("最后序号", default=0)

    class Meta:
        verbose_name = verbose_name_plural = "发送消息流"
        constraints = [models.UniqueConstraint(fields=["receiver", "stream"], name="exchange_outboxstream_unique")]


class OutboxMessage(models.Model):
    PENDING, DELIVERED, DEAD = "pending", "delivered", "dead"
    STATUS_CHOICES = [(PENDING, "待发送"), (DELIVERED, "已送达"), (DEAD, "死信")]
    ACCEPTED, DUPLICATE, WAITING, LOCAL = "accepted", "duplicate", "waiting", "local"
    RESULT_CHOICES = [(ACCEPTED, "已处理"), (DUPLICATE, "重复（此前已收到）"), (WAITING, "已收到，等待前序消息"), (LOCAL, "本节点直接处理")]

    message_id = models.UUIDField("消息编号", unique=True, default=uuid.uuid4, editable=False)
    receiver = models.CharField("接收节点", max_length=64, db_index=True)
    type = models.CharField("消息类型", max_length=64)
    stream = models.CharField("消息流", max_length=128)
    seq = models.PositiveBigIntegerField("序号")
    payload = models.JSONField("消息内容", default=dict)
    payload_hash = models.CharField("内容摘要", max_length=64)
    hash_alg = models.CharField("摘要算法", max_length=8)
    blobs = models.JSONField("随附材料（SHA-256）", default=list, blank=True)
    created_at = models.DateTimeField("生成时间", auto_now_add=True)
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES, default=PENDING)
    tries = models.PositiveIntegerField("已尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试时间")
    last_error = models.TextField("最近错误", blank=True)
    delivered_at = models.DateTimeField("送达确认时间", null=True, blank=True)
    result = models.CharField("接收结果", max_length=12, choices=RESULT_CHOICES, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = verbose_name_plural = "发件箱消息"
        constraints = [models.UniqueConstraint(fields=["receiver", "stream", "seq"], name="exchange_outbox_stream_seq")]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="exchange_outbox_due")]

    def __str__(self):
        return f"{self.type} → {self.receiver} #{self.seq}"


class InboxMessage(models.Model):
    APPLIED, WAITING, FAILED = "applied", "waiting", "failed"
    STATUS_CHOICES = [(APPLIED, "已处理"), (WAITING, "等待前序消息"), (FAILED, "无法处理")]

    sender = models.CharField("发送节点", max_length=64)
    message_id = models.UUIDField("消息编号")
    type = models.CharField("消息类型", max_length=64)
    stream = models.CharField("消息流", max_length=128)
    seq = models.PositiveBigIntegerField("序号")
    payload = models.JSONField("消息内容", default=dict)
    payload_hash = models.CharField("内容摘要", max_length=64)
    blobs = models.JSONField("随附材料（SHA-256）", default=list, blank=True)
    created_at = models.DateTimeField("发送方生成时间")
    received_at = models.DateTimeField("接收时间", auto_now_add=True)
    status = models.CharField("状态", max_length=12, choices=STATUS_CHOICES)
    applied_at = models.DateTimeField("处理时间", null=True, blank=True)
    error = models.TextField("处理错误", blank=True)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = verbose_name_plural = "收件箱消息"
        constraints = [models.UniqueConstraint(fields=["sender", "message_id"], name="exchange_inbox_unique")]
        indexes = [models.Index(fields=["status", "sender", "stream", "seq"], name="exchange_inbox_waiting")]

    def __str__(self):
        return f"{self.sender} · {self.type} #{self.seq}"


class StreamCursor(models.Model):
    sender = models.CharField("发送节点", max_length=64)
    stream = models.CharField("消息流", max_length=128)
    last_seq = models.PositiveBigIntegerField("最后处理序号", default=0)
    waiting = models.PositiveIntegerField("等待中的消息数", default=0)  # lets the common case skip looking for successors

    class Meta:
        verbose_name = verbose_name_plural = "接收消息流进度"
        constraints = [models.UniqueConstraint(fields=["sender", "stream"], name="exchange_cursor_unique")]

    def __str__(self):
        return f"{self.sender}/{self.stream}: {self.last_seq}"


class Rejection(AppendOnly):
    """拒收记录: every envelope the inbox refused, with the reason, for operators and auditors."""

    history_name = "拒收记录"

    at = models.DateTimeField("时间", auto_now_add=True, db_index=True)
    sender = models.CharField("声称的发送节点", max_length=64, blank=True)
    message_id = models.CharField("消息编号", max_length=64, blank=True)
    type = models.CharField("消息类型", max_length=64, blank=True)
    reason = models.CharField("拒收原因", max_length=500)
    remote_addr = models.GenericIPAddressField("来源地址", null=True, blank=True)

    class Meta:
        ordering = ["-at"]
        verbose_name = verbose_name_plural = "拒收记录"

    def __str__(self):
        return f"{self.sender} {self.message_id}：{self.reason}"
