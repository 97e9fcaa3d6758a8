"""Per-item-version review process of a case (办件), run as BPMN with SpiffWorkflow.

A definition is either generated from an ordered list of steps (`generate_bpmn`) or uploaded.
Uploaded BPMN must follow the same conventions as the generated one:

* exactly one ``bpmn:process``, executable (``isExecutable`` absent or ``"true"``);
* only startEvent (exactly one), endEvent, userTask / manualTask (both are staff steps),
  exclusiveGateway, parallelGateway, inclusiveGateway and sequenceFlow; plus lanes, documentation,
  text annotations and diagram (DI) data. Anything else (script/service tasks, sub-processes, call
  activities, event definitions, loops, data objects...) is refused;
* **roles are lanes**: every userTask/manualTask must be referenced (``bpmn:flowNodeRef``) by a
  lane whose ``name`` is a role code from ``ROLES`` ("clerk", "approver") or its Chinese label
  ("窗口受理人员", "审批人员"). Lanes with other names are ignored (so they can group role lanes);
* conditions (``bpmn:conditionExpression`` on the outgoing flows of exclusive/inclusive gateways)
  are expressions for `safe_eval`, e.g. ``amount > 10000`` or ``result == 'return'``.

Conditions see the task data: the initial data given to `start` plus whatever each completed step
added; a later step overwrites keys set earlier (so after a loop ``result`` is the latest one).
Where parallel branches join, their data are merged, so parallel steps should not rely on writing
the same key.

State is SpiffWorkflow's JSON serialisation (it embeds the parsed spec, so a running case is
independent of later edits to the definition); the XML is still required to check the pair matches.
Every call works on a fresh copy of the state, so a failing call leaves the stored state untouched.
"""

import ast
import hashlib
import json
import math
import operator
import threading
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from functools import lru_cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState


class WorkflowError(Exception):
    """A problem the user can fix or should be told about; str() is a Chinese message."""


ROLES = {"clerk": "窗口受理人员", "approver": "审批人员"}
_ROLE_BY_NAME = {**{code: code for code in ROLES}, **{label: code for code, label in ROLES.items()}}


@dataclass(frozen=True)
class Step:
    id: str
    name: str
    role: str


# ---------------------------------------------------------------------------------------------
# Restricted expression evaluator
# ---------------------------------------------------------------------------------------------

MAX_EXPRESSION = 500
_MAX_INT = 10**15  # literal bound
_MAX_RESULT = 10**18  # arithmetic result bound: keeps numbers (and their str()) small
_MAX_SEQ = 10_000  # str/list concatenation bound

_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv, ast.Mod: operator.mod}
_CMPOPS = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ALLOWED = (
    ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Compare, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp,
    ast.Not, ast.USub, ast.BinOp, ast.Subscript, ast.List, ast.Tuple, ast.Call, *_BINOPS, *_CMPOPS,
)  # fmt: skip
_REFUSED_MESSAGES = {
    ast.Attribute: "不允许访问属性（.）",
    ast.Pow: "不允许使用乘方运算（**）",
    ast.Call: "只允许调用 len(x)",
    ast.Lambda: "不允许使用 lambda",
    ast.JoinedStr: "不允许使用 f-字符串",
    ast.NamedExpr: "不允许使用赋值表达式（:=）",
    ast.Slice: "不允许使用切片",
}
_NUMBER = (int, float)  # bool is an int: True + 1 is harmless
_SIZED = (str, list, tuple, dict)


def _refuse(node):
    message = _REFUSED_MESSAGES.get(type(node))
    if message is None:
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            message = "不允许使用推导式"
        else:
            message = f"不允许使用此语法（{type(node).__name__}）"
    raise WorkflowError(f"条件表达式{message}")


def _constant_key(node):
    """Subscript keys must be literal: a str, an int, or a negative int."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        value = node.operand.value
        if type(value) is int:
            return -value
    elif isinstance(node, ast.Constant) and type(node.value) in (str, int):
        return node.value
    raise WorkflowError("条件表达式的下标只能是字符串或整数常量")


def _compile(expression):
    if not isinstance(expression, str):  # before the cache: it needs a hashable key
        raise WorkflowError("条件表达式必须是文本")
    return _compile_text(expression.strip())


@lru_cache(maxsize=256)
def _compile_text(text):
    """Parse and statically check an expression once; evaluation then trusts the tree."""
    if not text:
        raise WorkflowError("条件表达式不能为空")
    if len(text) > MAX_EXPRESSION:
        raise WorkflowError(f"条件表达式不能超过 {MAX_EXPRESSION} 个字符")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise WorkflowError(f"条件表达式语法错误：{text}")
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            _refuse(node)
        if isinstance(node, ast.Constant):
            value = node.value
            if value is not None and type(value) not in (str, int, float, bool):
                raise WorkflowError("条件表达式只能使用字符串、数字、True、False 和 None 常量")
            if type(value) in (int, float) and not (math.isfinite(value) and abs(value) <= _MAX_INT):
                raise WorkflowError("条件表达式中的数字过大")
        elif isinstance(node, ast.Name) and node.id.startswith("__"):
            raise WorkflowError("条件表达式不允许使用以双下划线开头的名称")
        elif isinstance(node, ast.Subscript):
            _constant_key(node.slice)
        elif isinstance(node, ast.Call):
            if not (isinstance(node.func, ast.Name) and node.func.id == "len" and len(node.args) == 1 and not node.keywords):
                _refuse(node)
    return tree.body


def _arith(op, left, right):
    if isinstance(left, _NUMBER) and isinstance(right, _NUMBER):
        try:
            result = _BINOPS[type(op)](left, right)
        except ZeroDivisionError:
            raise WorkflowError("条件表达式计算出错：除数不能为零")
        if isinstance(result, float) and not math.isfinite(result) or abs(result) > _MAX_RESULT:
            raise WorkflowError("条件表达式计算结果过大")
        return result
    if isinstance(op, ast.Add) and type(left) is type(right) and isinstance(left, (str, list, tuple)):
        if len(left) + len(right) > _MAX_SEQ:
            raise WorkflowError("条件表达式计算结果过长")
        return left + right
    raise WorkflowError("条件表达式计算出错：运算的数据类型不匹配")


def _eval(node, context):
    match node:
        case ast.Constant():
            return node.value
        case ast.Name():
            if node.id not in context:
                raise WorkflowError(f"条件表达式引用了不存在的数据项：{node.id}")
            return context[node.id]
        case ast.List():
            return [_eval(item, context) for item in node.elts]
        case ast.Tuple():
            return tuple(_eval(item, context) for item in node.elts)
        case ast.UnaryOp(op=ast.Not()):
            return not _eval(node.operand, context)
        case ast.UnaryOp():  # unary minus
            value = _eval(node.operand, context)
            if not isinstance(value, _NUMBER):
                raise WorkflowError("条件表达式计算出错：只能对数字取负")
            return -value
        case ast.BinOp():
            return _arith(node.op, _eval(node.left, context), _eval(node.right, context))
        case ast.BoolOp():
            want = isinstance(node.op, ast.Or)  # `or` stops at the first truthy value, `and` at the first falsy
            for item in node.values:
                value = _eval(item, context)
                if bool(value) is want:
                    return value
            return value
        case ast.Compare():
            left = _eval(node.left, context)
            for op, item in zip(node.ops, node.comparators):
                right = _eval(item, context)
                if isinstance(op, (ast.In, ast.NotIn)) and not isinstance(right, _SIZED):
                    raise WorkflowError("条件表达式计算出错：in 的右边必须是文本、列表或字典")
                try:
                    if not _CMPOPS[type(op)](left, right):
                        return False
                except TypeError:
                    raise WorkflowError("条件表达式计算出错：无法比较不同类型的数据")
                left = right
            return True
        case ast.Subscript():
            container, key = _eval(node.value, context), _constant_key(node.slice)
            if isinstance(container, dict):
                if key not in container:
                    raise WorkflowError(f"条件表达式计算出错：数据中没有键 {key!r}")
                return container[key]
            if isinstance(container, (list, tuple, str)) and type(key) is int:
                if not -len(container) <= key < len(container):
                    raise WorkflowError(f"条件表达式计算出错：下标 {key} 超出范围")
                return container[key]
            raise WorkflowError("条件表达式计算出错：只能对字典或列表取下标")
        case ast.Call():  # only len(x), checked by _compile
            value = _eval(node.args[0], context)
            if not isinstance(value, _SIZED):
                raise WorkflowError("条件表达式计算出错：len() 只能用于文本、列表或字典")
            return len(value)
    _refuse(node)  # unreachable for compiled trees


def safe_eval(expression, context):
    """Evaluate a gateway condition against `context` (the task data) without eval()."""
    tree = _compile(expression)
    if not isinstance(context, dict):
        raise WorkflowError("条件表达式的数据必须是字典")
    return _eval(tree, context)


class _SafeEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff's default environment eval()s conditions and exec()s scripts; ours does neither."""

    def evaluate(self, expression, context, external_context=None):
        return safe_eval(expression, context)

    def execute(self, script, context, external_context=None):
        raise WorkflowError("不支持脚本任务")

    def call_service(self, context, **kwargs):
        raise WorkflowError("不支持服务任务")


_ENGINE = PythonScriptEngine(environment=_SafeEnvironment())


# ---------------------------------------------------------------------------------------------
# BPMN generation
# ---------------------------------------------------------------------------------------------

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
_DI_NS = {
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
MAX_STEPS, MAX_STEP_NAME = 20, 30
GENERATED_PROCESS_ID = "Process_review"


def _bpmn(tag):
    return f"{{{BPMN_NS}}}{tag}"


def _di(prefix, tag):
    return f"{{{_DI_NS[prefix]}}}{tag}"


_MIN_PARALLEL, _MAX_PARALLEL = 2, 8  # steps in one parallel group (多地联办)
_PARALLEL_KEY = "parallel"


def _check_step(step, prefix):
    """One plain step {"name", "role"}; returns (name, role) with the name stripped."""
    if not isinstance(step, dict):
        raise WorkflowError(f"{prefix}格式不正确，应包含名称（name）和角色（role）")
    extra = set(step) - {"name", "role"}
    if extra:
        raise WorkflowError(f"{prefix}包含不支持的字段：{'、'.join(sorted(map(str, extra)))}")
    name, role = step.get("name"), step.get("role")
    if not isinstance(name, str) or not name.strip():
        raise WorkflowError(f"{prefix}的名称不能为空")
    name = name.strip()
    if len(name) > MAX_STEP_NAME:
        raise WorkflowError(f"{prefix}的名称不能超过 {MAX_STEP_NAME} 个字")
    if any(ord(ch) < 32 or 0xD800 <= ord(ch) <= 0xDFFF or ch in "\ufffe\uffff" for ch in name):
        raise WorkflowError(f"{prefix}的名称包含不允许的控制字符")
    if role not in ROLES:
        raise WorkflowError(f"{prefix}的角色无效，应为：{'、'.join(f'{code}（{label}）' for code, label in ROLES.items())}")
    return name, role


def _check_parallel(group, prefix):
    """A parallel group {"parallel": [step, step, ...]}; returns the list of (name, role)."""
    extra = set(group) - {_PARALLEL_KEY}
    if extra:
        raise WorkflowError(f"{prefix}包含不支持的字段：{'、'.join(sorted(map(str, extra)))}（并行环节只能包含 parallel）")
    members = group[_PARALLEL_KEY]
    if not isinstance(members, list):
        raise WorkflowError(f"{prefix}的并行环节（parallel）必须是列表")
    if not _MIN_PARALLEL <= len(members) <= _MAX_PARALLEL:
        raise WorkflowError(f"{prefix}的并行环节数量必须在 {_MIN_PARALLEL} 到 {_MAX_PARALLEL} 个之间")
    cleaned = []
    for number, member in enumerate(members, start=1):
        member_prefix = f"{prefix}中的第 {number} 个并行环节"
        if isinstance(member, dict) and _PARALLEL_KEY in member:
            raise WorkflowError(f"{member_prefix}无效：并行环节内不能再嵌套并行")
        cleaned.append(_check_step(member, member_prefix))
    return cleaned


def _check_steps(steps):
    """Returns one item per element of `steps`: (name, role) for a step, a list of them for a
    parallel group. Step names are unique across the whole process (steps are addressed by name)."""
    if not isinstance(steps, list):
        raise WorkflowError("审查环节必须是列表")
    if not 1 <= len(steps) <= MAX_STEPS:
        raise WorkflowError(f"审查环节数量必须在 1 到 {MAX_STEPS} 个之间")
    cleaned = []
    for number, step in enumerate(steps, start=1):
        prefix = f"第 {number} 个审查环节"
        if isinstance(step, dict) and _PARALLEL_KEY in step:
            cleaned.append(_check_parallel(step, prefix))
        else:
            cleaned.append(_check_step(step, prefix))
    flat = [name for item in cleaned for name, _ in (item if isinstance(item, list) else [item])]
    if len(flat) > MAX_STEPS:
        raise WorkflowError(f"审查环节总数（含并行环节）不能超过 {MAX_STEPS} 个，当前为 {len(flat)} 个")
    repeated = [name for name, count in Counter(flat).items() if count > 1]
    if repeated:
        raise WorkflowError(f"审查环节名称不能重复：{'、'.join(repeated)}")
    return cleaned


def _edge_points(source, target):
    """Waypoints of a flow between two boxes (x, y, w, h, kind). By default right side → left side
    with an orthogonal bend halfway; a parallel fork leaves by its top/bottom corner and a join is
    entered by its top/bottom corner, like a modeler draws them."""
    (sx, sy, sw, sh, skind), (tx, ty, tw, th, tkind) = source, target
    (x1, y1), (x2, y2) = (sx + sw, sy + sh // 2), (tx, ty + th // 2)
    if y1 == y2:
        return [(x1, y1), (x2, y2)]
    if skind == "fork":
        cx = sx + sw // 2
        return [(cx, sy if y2 < y1 else sy + sh), (cx, y2), (x2, y2)]
    if tkind == "join":
        cx = tx + tw // 2
        return [(x1, y1), (cx, y1), (cx, ty if y1 < y2 else ty + th)]
    mid = (x1 + x2) // 2
    return [(x1, y1), (mid, y1), (mid, y2), (x2, y2)]


def generate_bpmn(steps):
    """A process start → step 1 → … → step n → end, one lane per role, with a diagram so the result
    opens in a BPMN modeler (for administrators who start from a generated definition). A parallel
    group becomes parallelGateway fork → its steps side by side → parallelGateway join."""
    cleaned = _check_steps(steps)
    lane_h, task_w, task_h, gap, ev, gw = 130, 100, 80, 60, 36, 50
    pad = (lane_h - task_h) // 2  # above/below/between tasks in a lane

    # Columns left to right, each a list of nodes (id, tag, name, role, width, height, kind); the
    # flows as (source id, target id), numbered in that order.
    first = cleaned[0][0] if isinstance(cleaned[0], list) else cleaned[0]
    columns = [[("StartEvent_1", "startEvent", "开始", first[1], ev, ev, "event")]]
    flows, last, number, groups = [], "StartEvent_1", 0, 0
    for item in cleaned:
        if not isinstance(item, list):
            number += 1
            node = (f"Task_{number}", "userTask", item[0], item[1], task_w, task_h, "task")
            flows.append((last, node[0]))
            columns.append([node])
            last = node[0]
            continue
        groups += 1
        role = item[0][1]
        fork = (f"Gateway_{groups}_fork", "parallelGateway", None, role, gw, gw, "fork")
        join = (f"Gateway_{groups}_join", "parallelGateway", None, role, gw, gw, "join")
        branch = []
        for name, step_role in item:
            number += 1
            branch.append((f"Task_{number}", "userTask", name, step_role, task_w, task_h, "task"))
        flows.append((last, fork[0]))
        flows += [(fork[0], node[0]) for node in branch]
        flows += [(node[0], join[0]) for node in branch]
        columns += [[fork], branch, [join]]
        last = join[0]
    columns.append([("EndEvent_1", "endEvent", "结束", columns[-1][0][3], ev, ev, "event")])
    flows.append((last, "EndEvent_1"))
    nodes = [node for column in columns for node in column]
    roles = list(dict.fromkeys(node[3] for node in nodes if node[1] == "userTask"))

    root = etree.Element(
        _bpmn("definitions"), nsmap={"bpmn": BPMN_NS, **_DI_NS}, id="Definitions_review", targetNamespace="https://tongban/review"
    )
    collab = etree.SubElement(root, _bpmn("collaboration"), id="Collaboration_review")
    etree.SubElement(collab, _bpmn("participant"), id="Participant_review", name="审查流程", processRef=GENERATED_PROCESS_ID)
    process = etree.SubElement(root, _bpmn("process"), id=GENERATED_PROCESS_ID, name="审查流程", isExecutable="true")
    lane_set = etree.SubElement(process, _bpmn("laneSet"), id="LaneSet_review")
    lanes = {role: etree.SubElement(lane_set, _bpmn("lane"), id=f"Lane_{role}", name=role) for role in roles}
    for node_id, tag, name, role, *_ in nodes:
        etree.SubElement(lanes[role], _bpmn("flowNodeRef")).text = node_id
        attrs = {"id": node_id} if name is None else {"id": node_id, "name": name}
        etree.SubElement(process, _bpmn(tag), **attrs)
    for i, (source, target) in enumerate(flows, start=1):
        etree.SubElement(process, _bpmn("sequenceFlow"), id=f"Flow_{i}", sourceRef=source, targetRef=target)

    # Diagram: lanes stacked vertically, columns left to right; a lane grows when several parallel
    # tasks share it, and the nodes of a column in one lane are stacked and centred in it.
    per_lane = {role: max(sum(node[3] == role for node in column) for column in columns) for role in roles}
    heights = {role: max(lane_h, count * task_h + (count + 1) * pad) for role, count in per_lane.items()}
    tops, y = {}, 0
    for role in roles:
        tops[role], y = y, y + heights[role]
    pool_x, lane_x = 0, 30
    widths = [max(node[4] for node in column) for column in columns]
    width = lane_x + gap + sum(w + gap for w in widths)
    diagram = etree.SubElement(root, _di("bpmndi", "BPMNDiagram"), id="Diagram_review")
    plane = etree.SubElement(diagram, _di("bpmndi", "BPMNPlane"), id="Plane_review", bpmnElement="Collaboration_review")

    def shape(element, x, y, w, h, **attrs):
        s = etree.SubElement(plane, _di("bpmndi", "BPMNShape"), id=f"{element}_di", bpmnElement=element, **attrs)
        etree.SubElement(s, _di("dc", "Bounds"), x=str(x), y=str(y), width=str(w), height=str(h))

    shape("Participant_review", pool_x, 0, width, y, isHorizontal="true")
    for role in roles:
        shape(f"Lane_{role}", lane_x, tops[role], width - lane_x, heights[role], isHorizontal="true")
    boxes, x = {}, lane_x + gap
    for column, column_w in zip(columns, widths):
        for role in roles:
            stack = [node for node in column if node[3] == role]
            top = tops[role] + (heights[role] - sum(node[5] for node in stack) - pad * (len(stack) - 1)) // 2
            for node_id, _, _, _, w, h, kind in stack:
                boxes[node_id] = (x + (column_w - w) // 2, top, w, h, kind)
                top += h + pad
        for node in column:
            shape(node[0], *boxes[node[0]][:4])
        x += column_w + gap
    for i, (source, target) in enumerate(flows, start=1):
        edge = etree.SubElement(plane, _di("bpmndi", "BPMNEdge"), id=f"Flow_{i}_di", bpmnElement=f"Flow_{i}")
        for px, py in _edge_points(boxes[source], boxes[target]):
            etree.SubElement(edge, _di("di", "waypoint"), x=str(px), y=str(py))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True).decode("utf-8")


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------

MAX_XML_BYTES = 200 * 1024
MAX_FLOW_NODES = 200  # Spiff parses recursively along the flow
_FLOW_NODES = {"startEvent", "endEvent", "userTask", "manualTask", "exclusiveGateway", "parallelGateway", "inclusiveGateway"}
_STAFF_NODES = {"userTask", "manualTask"}
_CONDITIONAL = {"exclusiveGateway", "inclusiveGateway"}
_OTHER_ALLOWED = {
    "definitions", "process", "collaboration", "participant", "sequenceFlow", "conditionExpression", "incoming",
    "outgoing", "laneSet", "lane", "childLaneSet", "flowNodeRef", "documentation", "extensionElements",
    "textAnnotation", "text", "association",
}  # fmt: skip
_ELEMENT_LABELS = {
    "scriptTask": "脚本任务", "serviceTask": "服务任务", "callActivity": "调用活动", "subProcess": "子流程",
    "transaction": "事务子流程", "adHocSubProcess": "自由子流程", "task": "普通任务（请改为用户任务）",
    "sendTask": "发送任务", "receiveTask": "接收任务", "businessRuleTask": "业务规则任务",
    "boundaryEvent": "边界事件", "intermediateCatchEvent": "中间捕获事件", "intermediateThrowEvent": "中间抛出事件",
    "eventBasedGateway": "事件网关", "complexGateway": "复杂网关",
}  # fmt: skip
_XML_PARSER_OPTIONS = dict(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False, remove_comments=True, remove_pis=True
)


@dataclass(frozen=True)
class _Definition:
    process_id: str
    spec: object  # BpmnProcessSpec, shared read-only between workflows


def _parse_xml(xml):
    if not isinstance(xml, str):
        raise WorkflowError("流程定义必须是文本")
    data = xml.encode("utf-8", "surrogatepass")
    if len(data) > MAX_XML_BYTES:
        raise WorkflowError("流程定义不能超过 200 KB")
    upper = xml.upper()
    if "<!DOCTYPE" in upper or "<!ENTITY" in upper:
        raise WorkflowError("流程定义不能包含 DOCTYPE 或实体声明")
    # The text is already decoded: force UTF-8 whatever the declaration says.
    parser = etree.XMLParser(encoding="utf-8", **_XML_PARSER_OPTIONS)
    try:
        root = etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        raise WorkflowError("流程定义不是有效的 XML 文档")
    if root is None:
        raise WorkflowError("流程定义不是有效的 XML 文档")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise WorkflowError("流程定义不能包含 DOCTYPE 或实体声明")
    if root.tag != _bpmn("definitions"):
        raise WorkflowError("流程定义不是 BPMN 2.0 文档（根元素应为 bpmn:definitions）")
    return root


def _local(element):
    return etree.QName(element).localname


def _check_document(root):
    """Structural checks on the raw XML; returns (process element, {staff node id: (role, name)})."""
    processes = root.findall(_bpmn("process"))
    if not processes:
        raise WorkflowError("流程定义中没有流程（bpmn:process）")
    if len(processes) > 1 or len(root.findall(f".//{_bpmn('process')}")) > 1:
        raise WorkflowError("流程定义只能包含一个流程")
    process = processes[0]
    if not process.get("id"):
        raise WorkflowError("流程缺少 id")
    if process.get("isExecutable", "true") != "true":
        raise WorkflowError('流程未设置为可执行（isExecutable="true"）')

    # Every BPMN element anywhere (also inside extensionElements or vendor elements, which Spiff's
    # id index would still find) must be on the allowlist.
    for element in root.iter(f"{{{BPMN_NS}}}*"):
        tag = _local(element)
        if tag in _FLOW_NODES or tag == "sequenceFlow":
            if element.getparent() is not process:
                raise WorkflowError(f"流程元素 {tag}（id={element.get('id')}）必须直接位于流程中")
        elif tag not in _OTHER_ALLOWED:
            label = _ELEMENT_LABELS.get(tag, tag)
            raise WorkflowError(
                f"不支持的流程元素：{label}（id={element.get('id') or '无'}）。"
                "仅支持开始事件、结束事件、用户任务、人工任务、排他网关、并行网关、包容网关和顺序流"
            )

    nodes = {}
    for element in process:
        if isinstance(element.tag, str) and _local(element) in _FLOW_NODES:
            node_id = element.get("id")
            if not node_id or node_id in nodes:
                raise WorkflowError(f"流程节点 {_local(element)} 缺少 id 或 id 重复")
            nodes[node_id] = element
    if len(nodes) > MAX_FLOW_NODES:
        raise WorkflowError(f"流程节点不能超过 {MAX_FLOW_NODES} 个")
    kinds = {node_id: _local(element) for node_id, element in nodes.items()}
    if list(kinds.values()).count("startEvent") != 1:
        raise WorkflowError("流程必须有且只有一个开始事件")
    if "endEvent" not in kinds.values():
        raise WorkflowError("流程至少需要一个结束事件")
    staff = [node_id for node_id, kind in kinds.items() if kind in _STAFF_NODES]
    if not staff:
        raise WorkflowError("流程中至少需要一个用户任务（审查环节）")

    def label(node_id):
        return nodes[node_id].get("name") or node_id

    # Sequence flows: endpoints exist, conditions only where Spiff honours them, and they compile.
    outgoing = {node_id: [] for node_id in nodes}
    for flow in process.findall(_bpmn("sequenceFlow")):
        flow_id, source, target = flow.get("id"), flow.get("sourceRef"), flow.get("targetRef")
        if source not in nodes or target not in nodes:
            raise WorkflowError(f"顺序流 {flow_id} 的起点或终点不存在")
        condition = flow.find(_bpmn("conditionExpression"))
        if condition is not None:
            if kinds[source] not in _CONDITIONAL:
                raise WorkflowError(f"顺序流 {flow_id} 的条件无效：条件只能设置在排他网关或包容网关的出口上")
            try:
                _compile(condition.text or "")
            except WorkflowError as exc:
                raise WorkflowError(f"顺序流 {flow_id} 的{exc}")
        outgoing[source].append((flow_id, target, condition is not None))
    for node_id, flows in outgoing.items():
        kind = kinds[node_id]
        if len(flows) > 1 and not kind.endswith("Gateway"):
            raise WorkflowError(f"节点“{label(node_id)}”有多条出口顺序流，请使用网关分支")
        if kind == "endEvent" and flows:
            raise WorkflowError("结束事件不能有出口顺序流")
        if kind != "endEvent" and not flows:
            raise WorkflowError(f"节点“{label(node_id)}”没有出口顺序流")
        if kind in _CONDITIONAL and len(flows) > 1:
            default = nodes[node_id].get("default")
            for flow_id, _, conditional in flows:
                if not conditional and flow_id != default:
                    raise WorkflowError(f"网关“{label(node_id)}”的出口 {flow_id} 既没有条件也不是默认出口")

    # A cycle through gateways/events only would make the engine loop forever.
    state = {}
    for first in nodes:
        if kinds[first] in _STAFF_NODES or first in state:
            continue
        stack = [(first, iter(outgoing[first]))]
        state[first] = "active"
        while stack:
            node_id, flows = stack[-1]
            for _, target, _ in flows:
                if kinds[target] in _STAFF_NODES:
                    continue
                if state.get(target) == "active":
                    raise WorkflowError("流程中存在不经过任何审查环节的循环")
                if target not in state:
                    state[target] = "active"
                    stack.append((target, iter(outgoing[target])))
                    break
            else:
                state[node_id] = "done"
                stack.pop()

    # Roles: lanes named after a role code (or its label) that reference the node.
    roles = {node_id: set() for node_id in staff}
    for lane in root.iter(_bpmn("lane")):
        role = _ROLE_BY_NAME.get((lane.get("name") or "").strip())
        for ref in lane.findall(_bpmn("flowNodeRef")):
            node_id = (ref.text or "").strip()
            if role and node_id in roles:
                roles[node_id].add(role)
    names = "、".join(f"{code}（{label}）" for code, label in ROLES.items())
    for node_id, found in roles.items():
        if len(found) != 1:
            problem = "未指定角色" if not found else "同时属于多个角色"
            raise WorkflowError(f"审查环节“{label(node_id)}”{problem}：请把它放进且只放进一个名称为 {names} 的泳道")
    return process, {node_id: (found.pop(), label(node_id)) for node_id, found in roles.items()}


@lru_cache(maxsize=64)
def _compile_definition(digest, xml):
    root = _parse_xml(xml)
    process, roles = _check_document(root)
    process_id = process.get("id")
    parser = BpmnParser()
    try:
        parser.add_bpmn_xml(root)
        spec = parser.get_spec(process_id)
    except WorkflowError:
        raise
    except Exception as exc:  # Spiff's ValidationException and whatever its recursive parser hits
        raise WorkflowError(f"流程定义无法解析：{exc}")
    for node_id, (role, name) in roles.items():
        task_spec = spec.task_specs.get(node_id)
        if task_spec is None:  # Spiff only parses what is reachable from the start event
            raise WorkflowError(f"审查环节“{name}”无法从开始事件到达")
        task_spec.lane = role  # normalised role code, serialised with the spec
    return _Definition(process_id, spec)


def _definition(xml):
    if not isinstance(xml, str):
        raise WorkflowError("流程定义必须是文本")
    digest = hashlib.sha256(xml.encode("utf-8", "surrogatepass")).hexdigest()
    return _compile_definition(digest, xml)


def parse_definition(xml):
    """Validate a BPMN document; returns the process id."""
    return _definition(xml).process_id


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------

MAX_ENGINE_STEPS = 1000
_SERIALIZER = BpmnWorkflowSerializer()
_SERIALIZER_LOCK = threading.Lock()  # serialize_json toggles a flag on the shared registry
NOT_READY = "该审查环节已完成或不存在，请刷新后重试"


def _json_data(data):
    if not isinstance(data, dict):
        raise WorkflowError("流程数据必须是字典")
    try:
        return json.loads(json.dumps(data, ensure_ascii=False, allow_nan=False))
    except (TypeError, ValueError):
        raise WorkflowError("流程数据必须能转换为 JSON")


def _run_engine(workflow):
    """Run gateways/events until only staff tasks are ready, translating engine errors."""
    count = 0

    def guard(_task):
        nonlocal count
        count += 1
        if count > MAX_ENGINE_STEPS:
            raise WorkflowError("流程自动执行的步骤过多，请检查流程定义")

    try:
        workflow.do_engine_steps(did_complete_task=guard)
    except SpiffWorkflowException as exc:
        cause = exc
        while cause is not None and not isinstance(cause, WorkflowError):
            cause = cause.__cause__ or cause.__context__
        if cause is not None:
            raise cause
        if "No conditions satisfied" in str(exc):
            raise WorkflowError("网关的分支条件都不满足且没有默认出口，流程无法继续，请联系管理员检查流程定义") from exc
        raise WorkflowError("流程执行出错，请联系管理员检查流程定义") from exc


def _dump(workflow):
    with _SERIALIZER_LOCK:
        return json.loads(_SERIALIZER.serialize_json(workflow))


def _parents_first(state):
    """Spiff stores each task's data as a delta against its parent and silently drops it when the
    parent has not been restored yet, i.e. it depends on the key order of state["tasks"]. PostgreSQL
    jsonb does not keep key order, so put parents before children again."""
    tasks, root = state.get("tasks"), state.get("root")
    if not isinstance(tasks, dict) or root not in tasks:
        return state
    ordered, queue = {}, deque([root])
    while queue:
        task_id = queue.popleft()
        if task_id in tasks and task_id not in ordered:
            ordered[task_id] = tasks[task_id]
            queue.extend(tasks[task_id].get("children") or [])
    ordered.update((task_id, task) for task_id, task in tasks.items() if task_id not in ordered)
    return {**state, "tasks": ordered}


def _load(xml, state):
    definition = _definition(xml)
    if not isinstance(state, dict) or not isinstance(state.get("spec"), dict):
        raise WorkflowError("流程状态无效")
    if state["spec"].get("name") != definition.process_id:
        raise WorkflowError("流程状态与流程定义不匹配")
    try:
        workflow = _SERIALIZER.deserialize_json(json.dumps(_parents_first(state)))
    except Exception as exc:
        raise WorkflowError("流程状态已损坏，无法恢复") from exc
    workflow.script_engine = _ENGINE  # restored workflows get Spiff's eval()-based engine otherwise
    return workflow


def start(xml, data):
    """Start an instance with initial task data; returns the JSON-serialisable state."""
    definition = _definition(xml)
    data = _json_data(data)
    workflow = BpmnWorkflow(definition.spec, script_engine=_ENGINE)
    workflow.task_tree.data.update(data)  # the root task's data flows down to every task
    _run_engine(workflow)
    return _dump(workflow)


def _ready_tasks(workflow):
    return workflow.get_tasks(state=TaskState.READY, manual=True)


def ready_steps(xml, state):
    workflow = _load(xml, state)
    return [Step(str(task.id), task.task_spec.bpmn_name or task.task_spec.bpmn_id, task.task_spec.lane) for task in _ready_tasks(workflow)]


def complete_step(xml, state, step_id, data):
    """Complete a ready step with `data` merged into its task data; returns (new state, finished)."""
    workflow = _load(xml, state)
    data = _json_data(data)
    try:
        task_id = uuid.UUID(str(step_id))
    except ValueError:
        raise WorkflowError(NOT_READY)
    task = next((task for task in _ready_tasks(workflow) if task.id == task_id), None)
    if task is None:
        raise WorkflowError(NOT_READY)
    task.data.update(data)
    task.run()
    _run_engine(workflow)
    return _dump(workflow), workflow.is_completed()


def is_finished(xml, state):
    return _load(xml, state).is_completed()
