"""The BPMN review process (tongban.cases.workflow): generation, validation, running, safe conditions."""

import json
import random

import pytest

from tongban.cases import workflow as wf
from tongban.cases.workflow import Step, WorkflowError

STEPS = [{"name": "审核", "role": "approver"}, {"name": "审批", "role": "approver"}]


def roundtrip(state):
    """What the database does to the state between requests."""
    return json.loads(json.dumps(state, ensure_ascii=False))


def jsonb_like(state):
    """PostgreSQL jsonb does not keep key order: scramble the task mapping."""
    state = roundtrip(state)
    items = list(state["tasks"].items())
    random.Random(4).shuffle(items)
    state["tasks"] = dict(sorted(items, reverse=True))
    return state


def complete(xml, state, name, data=None):
    """Complete the single ready step called `name`; returns (state, finished)."""
    ready = [step for step in wf.ready_steps(xml, state) if step.name == name]
    assert len(ready) == 1, wf.ready_steps(xml, state)
    new_state, finished = wf.complete_step(xml, state, ready[0].id, data or {"opinion": "同意", "result": "pass"})
    assert finished == wf.is_finished(xml, new_state)
    return roundtrip(new_state), finished


def names(xml, state):
    return [step.name for step in wf.ready_steps(xml, state)]


def bpmn(body, lanes=None, process_attrs='id="review" isExecutable="true"', extra=""):
    """A hand-written (uploaded-style) BPMN document; `lanes` maps lane name -> node ids."""
    lane_xml = ""
    if lanes:
        lane_xml = "<bpmn:laneSet id='ls'>"
        for i, (lane, refs) in enumerate(lanes.items()):
            lane_xml += f"<bpmn:lane id='lane{i}' name='{lane}'>" + "".join(f"<bpmn:flowNodeRef>{r}</bpmn:flowNodeRef>" for r in refs)
            lane_xml += "</bpmn:lane>"
        lane_xml += "</bpmn:laneSet>"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="defs" targetNamespace="http://example.com/review">
  <bpmn:process {process_attrs}>{lane_xml}{body}</bpmn:process>{extra}
</bpmn:definitions>"""


def flow(fid, source, target, condition=None):
    if condition is None:
        return f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}"/>'
    return (
        f'<bpmn:sequenceFlow id="{fid}" sourceRef="{source}" targetRef="{target}">'
        f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{condition}</bpmn:conditionExpression>'
        "</bpmn:sequenceFlow>"
    )


# Exclusive gateway: big amounts get an extra review. Note the XML escaping of ">".
AMOUNT_XML = bpmn(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:userTask id="check" name="审核"/>'
    '<bpmn:exclusiveGateway id="big" default="small"/>'
    '<bpmn:userTask id="recheck" name="复核"/>'
    '<bpmn:endEvent id="end"/>'
    + flow("f1", "start", "check")
    + flow("f2", "check", "big")
    + flow("large", "big", "recheck", "amount &gt; 10000")
    + flow("small", "big", "end")
    + flow("f3", "recheck", "end"),
    lanes={"approver": ["check"], "审批人员": ["recheck"]},
)

# A loop: "return" sends the case back to the first step.
LOOP_XML = bpmn(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:manualTask id="accept" name="受理"/>'
    '<bpmn:userTask id="approve" name="审批"/>'
    '<bpmn:exclusiveGateway id="decide" default="ok"/>'
    '<bpmn:endEvent id="end"/>'
    + flow("f1", "start", "accept")
    + flow("f2", "accept", "approve")
    + flow("f3", "approve", "decide")
    + flow("back", "decide", "accept", "result == 'return'")
    + flow("ok", "decide", "end"),
    lanes={"clerk": ["accept"], "approver": ["approve"]},
)

PARALLEL_XML = bpmn(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:parallelGateway id="fork"/>'
    '<bpmn:userTask id="a" name="业务审核"/>'
    '<bpmn:userTask id="b" name="材料审核"/>'
    '<bpmn:parallelGateway id="join"/>'
    '<bpmn:userTask id="c" name="审批"/>'
    '<bpmn:endEvent id="end"/>'
    + flow("f1", "start", "fork")
    + flow("f2", "fork", "a")
    + flow("f3", "fork", "b")
    + flow("f4", "a", "join")
    + flow("f5", "b", "join")
    + flow("f6", "join", "c")
    + flow("f7", "c", "end"),
    lanes={"approver": ["a", "b", "c"]},
)


# --- generated linear process -------------------------------------------------------------------


def test_generated_linear_process_runs_step_by_step():
    xml = wf.generate_bpmn(STEPS)
    assert wf.parse_definition(xml) == wf.GENERATED_PROCESS_ID
    state = roundtrip(wf.start(xml, {"applicant": "张三", "amount": 100}))
    assert not wf.is_finished(xml, state)

    [first] = wf.ready_steps(xml, state)
    assert isinstance(first, Step) and (first.name, first.role) == ("审核", "approver")
    assert wf.ready_steps(xml, roundtrip(state)) == [first]  # stable across reloads

    state, finished = complete(xml, state, "审核")
    assert not finished
    [second] = wf.ready_steps(xml, state)
    assert (second.name, second.role) == ("审批", "approver") and second.id != first.id

    with pytest.raises(WorkflowError, match="该审查环节已完成或不存在，请刷新后重试"):
        wf.complete_step(xml, state, first.id, {"opinion": "重复提交"})

    state, finished = complete(xml, state, "审批", {"opinion": "准予许可"})
    assert finished and wf.is_finished(xml, state) and wf.ready_steps(xml, state) == []
    assert state["data"]["opinion"] == "准予许可" and state["data"]["applicant"] == "张三"


def test_generated_bpmn_keeps_order_roles_and_escapes_names():
    steps = [{"name": "  受理 <初审> & 登记 ", "role": "clerk"}, {"name": "审批", "role": "approver"}, {"name": "办结", "role": "clerk"}]
    xml = wf.generate_bpmn(steps)
    assert "&lt;初审&gt; &amp;" in xml and "bpmndi:BPMNDiagram" in xml
    state = wf.start(xml, {})
    seen = []
    while not wf.is_finished(xml, state):
        [step] = wf.ready_steps(xml, state)
        seen.append((step.name, step.role))
        state, _ = wf.complete_step(xml, state, step.id, {"opinion": "同意"})
        state = roundtrip(state)
    assert seen == [("受理 <初审> & 登记", "clerk"), ("审批", "approver"), ("办结", "clerk")]


@pytest.mark.parametrize(
    "steps, message",
    [
        ("审核", "必须是列表"),
        ({"name": "审核", "role": "approver"}, "必须是列表"),
        ([], "1 到 20"),
        ([{"name": f"环节{i}", "role": "approver"} for i in range(21)], "1 到 20"),
        (["审核"], "第 1 个审查环节格式不正确"),
        ([{"name": "审核", "role": "approver"}, {"role": "approver"}], "第 2 个审查环节的名称不能为空"),
        ([{"name": "   ", "role": "approver"}], "第 1 个审查环节的名称不能为空"),
        ([{"name": 5, "role": "approver"}], "名称不能为空"),
        ([{"name": "审" * 31, "role": "approver"}], "第 1 个审查环节的名称不能超过 30 个字"),
        ([{"name": "审核\x00", "role": "approver"}], "控制字符"),
        ([{"name": "审核", "role": "approver"}, {"name": "审批", "role": "boss"}], "第 2 个审查环节的角色无效"),
        ([{"name": "审核"}], "第 1 个审查环节的角色无效"),
        ([{"name": "审核", "role": "approver", "days": 3}], "第 1 个审查环节包含不支持的字段：days"),
    ],
)
def test_generate_bpmn_refuses_bad_steps(steps, message):
    with pytest.raises(WorkflowError, match=message):
        wf.generate_bpmn(steps)


def test_thirty_char_names_and_twenty_steps_are_fine():
    xml = wf.generate_bpmn([{"name": f"{i:02d}" + "审" * 28, "role": "clerk"} for i in range(20)])  # names must be unique
    assert len(wf.ready_steps(xml, wf.start(xml, {}))) == 1


# --- uploaded BPMN ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount, expected", [(20000, ["审核", "复核"]), (10000, ["审核"]), (5, ["审核"])])
def test_exclusive_gateway_routes_on_start_data(amount, expected):
    assert wf.parse_definition(AMOUNT_XML) == "review"
    state = roundtrip(wf.start(AMOUNT_XML, {"amount": amount}))
    seen = []
    while not wf.is_finished(AMOUNT_XML, state):
        [step] = wf.ready_steps(AMOUNT_XML, state)
        assert step.role == "approver"  # the lane "审批人员" is the label of approver
        seen.append(step.name)
        state, _ = complete(AMOUNT_XML, state, step.name)
    assert seen == expected


def test_loop_back_to_first_step_uses_completed_step_data():
    state = roundtrip(wf.start(LOOP_XML, {}))
    assert [(s.name, s.role) for s in wf.ready_steps(LOOP_XML, state)] == [("受理", "clerk")]
    state, _ = complete(LOOP_XML, state, "受理", {"opinion": "材料齐全"})
    state, finished = complete(LOOP_XML, state, "审批", {"opinion": "请补正", "result": "return"})
    assert not finished and names(LOOP_XML, state) == ["受理"]
    state, _ = complete(LOOP_XML, jsonb_like(state), "受理", {"opinion": "已补正"})
    # A later step overwrites the earlier "result": this time it passes.
    state, finished = complete(LOOP_XML, jsonb_like(state), "审批", {"opinion": "同意", "result": "pass"})
    assert finished


def test_state_survives_key_reordering_like_jsonb():
    state = wf.start(AMOUNT_XML, {"amount": 50000})
    state, _ = complete(AMOUNT_XML, jsonb_like(state), "审核")
    assert names(AMOUNT_XML, jsonb_like(state)) == ["复核"]


def test_parallel_gateway_needs_both_branches():
    state = roundtrip(wf.start(PARALLEL_XML, {}))
    assert sorted(names(PARALLEL_XML, state)) == sorted(["业务审核", "材料审核"])
    state, finished = complete(PARALLEL_XML, state, "材料审核", {"material": "ok"})
    assert not finished and names(PARALLEL_XML, state) == ["业务审核"]
    state, finished = complete(PARALLEL_XML, state, "业务审核", {"business": "ok"})
    assert not finished and names(PARALLEL_XML, state) == ["审批"]
    state, finished = complete(PARALLEL_XML, state, "审批")
    assert finished and {"material", "business"} <= set(state["data"])


def test_gateway_without_matching_branch_fails_without_touching_state():
    xml = bpmn(
        '<bpmn:startEvent id="start"/><bpmn:userTask id="t" name="审核"/><bpmn:exclusiveGateway id="g"/>'
        '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        + flow("f1", "start", "t")
        + flow("f2", "t", "g")
        + flow("yes", "g", "e1", "result == 'pass'")
        + flow("no", "g", "e2", "result == 'fail'"),
        lanes={"approver": ["t"]},
    )
    state = roundtrip(wf.start(xml, {}))
    [step] = wf.ready_steps(xml, state)
    with pytest.raises(WorkflowError, match="条件表达式引用了不存在的数据项：result"):
        wf.complete_step(xml, state, step.id, {"opinion": "同意"})
    with pytest.raises(WorkflowError, match="分支条件都不满足"):
        wf.complete_step(xml, state, step.id, {"result": "maybe"})
    assert wf.ready_steps(xml, state) == [step]  # the caller's state is still usable
    assert wf.complete_step(xml, state, step.id, {"result": "fail"})[1]


def test_running_case_keeps_its_definition():
    v1 = wf.generate_bpmn(STEPS)
    state = roundtrip(wf.start(v1, {}))
    state, _ = complete(v1, state, "审核")
    v2 = wf.generate_bpmn([{"name": "受理", "role": "clerk"}])
    assert v2 != v1
    assert names(v1, state) == ["审批"]
    state, finished = complete(v1, state, "审批")
    assert finished
    fresh = wf.start(v2, {})
    assert names(v2, fresh) == ["受理"]


def test_state_must_match_its_definition():
    state = wf.start(AMOUNT_XML, {"amount": 1})
    with pytest.raises(WorkflowError, match="不匹配"):
        wf.ready_steps(wf.generate_bpmn(STEPS), state)
    for bad in (None, [], {}, {"spec": {"name": "review"}}):
        with pytest.raises(WorkflowError):
            wf.ready_steps(AMOUNT_XML, bad)


def test_complete_step_refuses_unknown_ids_and_bad_data():
    xml = wf.generate_bpmn(STEPS)
    state = wf.start(xml, {})
    [step] = wf.ready_steps(xml, state)
    for step_id in ("", "not-a-uuid", "00000000-0000-0000-0000-000000000000", state["root"], None):
        with pytest.raises(WorkflowError, match="该审查环节已完成或不存在，请刷新后重试"):
            wf.complete_step(xml, state, step_id, {})
    with pytest.raises(WorkflowError, match="JSON"):
        wf.complete_step(xml, state, step.id, {"when": object()})
    with pytest.raises(WorkflowError, match="字典"):
        wf.start(xml, ["not", "a", "dict"])


# --- refusals -----------------------------------------------------------------------------------

SIMPLE = '<bpmn:startEvent id="start"/><bpmn:userTask id="t" name="审核"/><bpmn:endEvent id="end"/>'


def gateway_xml(condition):
    return bpmn(
        '<bpmn:startEvent id="start"/><bpmn:userTask id="t" name="审核"/><bpmn:exclusiveGateway id="g" default="f4"/>'
        '<bpmn:endEvent id="e1"/><bpmn:endEvent id="e2"/>'
        + flow("f1", "start", "t")
        + flow("f2", "t", "g")
        + flow("f3", "g", "e1", condition)
        + flow("f4", "g", "e2"),
        lanes={"approver": ["t"]},
    )


REFUSED = {
    "script task": (
        bpmn(
            '<bpmn:startEvent id="start"/><bpmn:scriptTask id="s"><bpmn:script>import os</bpmn:script></bpmn:scriptTask>'
            '<bpmn:userTask id="t" name="审核"/><bpmn:endEvent id="end"/>'
            + flow("f1", "start", "s")
            + flow("f2", "s", "t")
            + flow("f3", "t", "end"),
            lanes={"approver": ["t"]},
        ),
        "脚本任务",
    ),
    "unreachable script task": (
        bpmn(SIMPLE + '<bpmn:scriptTask id="s"/>' + flow("f1", "start", "t") + flow("f2", "t", "end"), lanes={"approver": ["t"]}),
        "脚本任务",
    ),
    "service task": (
        bpmn(
            '<bpmn:startEvent id="start"/><bpmn:serviceTask id="s"/><bpmn:userTask id="t" name="审核"/><bpmn:endEvent id="end"/>'
            + flow("f1", "start", "s")
            + flow("f2", "s", "t")
            + flow("f3", "t", "end"),
            lanes={"approver": ["t"]},
        ),
        "服务任务",
    ),
    "sub process": (
        bpmn(SIMPLE + '<bpmn:subProcess id="sp"/>' + flow("f1", "start", "t") + flow("f2", "t", "end"), lanes={"approver": ["t"]}),
        "子流程",
    ),
    "call activity": (
        bpmn(
            SIMPLE + '<bpmn:callActivity id="ca" calledElement="x"/>' + flow("f1", "start", "t") + flow("f2", "t", "end"),
            lanes={"approver": ["t"]},
        ),
        "调用活动",
    ),
    "script hidden in extension elements": (
        bpmn(
            '<bpmn:startEvent id="start"><bpmn:extensionElements><bpmn:scriptTask id="s"/></bpmn:extensionElements></bpmn:startEvent>'
            '<bpmn:userTask id="t" name="审核"/><bpmn:endEvent id="end"/>' + flow("f1", "start", "t") + flow("f2", "t", "end"),
            lanes={"approver": ["t"]},
        ),
        "脚本任务",
    ),
    "timer start event": (
        bpmn(
            '<bpmn:startEvent id="start"><bpmn:timerEventDefinition id="td"/></bpmn:startEvent>'
            '<bpmn:userTask id="t" name="审核"/><bpmn:endEvent id="end"/>' + flow("f1", "start", "t") + flow("f2", "t", "end"),
            lanes={"approver": ["t"]},
        ),
        "timerEventDefinition",
    ),
    "import call": (gateway_xml("__import__('os').system('id')"), "顺序流 f3 的条件表达式"),
    "class escape": (gateway_xml("().__class__"), "不允许访问属性"),
    "attribute": (gateway_xml("amount.real &gt; 1"), "不允许访问属性"),
    "other call": (gateway_xml("open('/etc/passwd')"), "只允许调用 len"),
    "syntax error": (gateway_xml("amount &gt;"), "语法错误"),
    "empty condition": (gateway_xml(""), "不能为空"),
    "xxe": (
        bpmn(SIMPLE.replace("审核", "&xxe;") + flow("f1", "start", "t") + flow("f2", "t", "end"), lanes={"approver": ["t"]}).replace(
            "?>", '?><!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1
        ),
        "DOCTYPE",
    ),
    "billion laughs": ('<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>', "DOCTYPE"),
    "not xml": ("这不是 XML <bpmn:definitions", "不是有效的 XML"),
    "not bpmn": ("<html><body/></html>", "不是 BPMN 2.0"),
    "empty": ("", "不是有效的 XML"),
    "too big": ("<a>" + "x" * (200 * 1024) + "</a>", "200 KB"),
    "two processes": (
        bpmn(
            SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "end"),
            lanes={"approver": ["t"]},
            extra='<bpmn:process id="other" isExecutable="true"><bpmn:startEvent id="s2"/></bpmn:process>',
        ),
        "只能包含一个流程",
    ),
    "no process": (bpmn("").replace('<bpmn:process id="review" isExecutable="true"></bpmn:process>', ""), "没有流程"),
    "not executable": (
        bpmn(
            SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "end"),
            lanes={"approver": ["t"]},
            process_attrs='id="review" isExecutable="false"',
        ),
        "可执行",
    ),
    "user task without role": (bpmn(SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "end")), "审查环节“审核”未指定角色"),
    "user task in an unknown lane": (
        bpmn(SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "end"), lanes={"科长": ["t"]}),
        "未指定角色",
    ),
    "user task in two role lanes": (
        bpmn(SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "end"), lanes={"clerk": ["t"], "approver": ["t"]}),
        "同时属于多个角色",
    ),
    "no user task": (bpmn('<bpmn:startEvent id="start"/><bpmn:endEvent id="end"/>' + flow("f1", "start", "end")), "至少需要一个用户任务"),
    "plain task": (
        bpmn(SIMPLE + '<bpmn:task id="x"/>' + flow("f1", "start", "t") + flow("f2", "t", "end"), lanes={"approver": ["t"]}),
        "普通任务",
    ),
    "unreachable user task": (
        bpmn(
            SIMPLE + '<bpmn:userTask id="u" name="孤立"/>' + flow("f1", "start", "t") + flow("f2", "t", "end") + flow("f3", "u", "end"),
            lanes={"approver": ["t", "u"]},
        ),
        "“孤立”无法从开始事件到达",
    ),
    "condition on a task flow": (
        bpmn(SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "end", "1 == 1"), lanes={"approver": ["t"]}),
        "条件只能设置在排他网关或包容网关的出口上",
    ),
    "dangling flow": (
        bpmn(SIMPLE + flow("f1", "start", "t") + flow("f2", "t", "nowhere"), lanes={"approver": ["t"]}),
        "起点或终点不存在",
    ),
    "gateway only loop": (
        bpmn(
            SIMPLE
            + '<bpmn:exclusiveGateway id="g1"/><bpmn:exclusiveGateway id="g2" default="x2"/>'
            + flow("f1", "start", "t")
            + flow("f2", "t", "g1")
            + flow("x1", "g1", "g2")
            + flow("x2", "g2", "g1")
            + flow("x3", "g2", "end", "1 == 1"),
            lanes={"approver": ["t"]},
        ),
        "不经过任何审查环节的循环",
    ),
    "branch without condition": (
        bpmn(
            SIMPLE
            + '<bpmn:exclusiveGateway id="g"/><bpmn:endEvent id="e2"/>'
            + flow("f1", "start", "t")
            + flow("f2", "t", "g")
            + flow("x1", "g", "end")
            + flow("x2", "g", "e2", "1 == 1"),
            lanes={"approver": ["t"]},
        ),
        "既没有条件也不是默认出口",
    ),
}


@pytest.mark.parametrize("xml, message", REFUSED.values(), ids=REFUSED.keys())
def test_parse_definition_refuses(xml, message):
    with pytest.raises(WorkflowError, match=message) as info:
        wf.parse_definition(xml)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(info.value))
    with pytest.raises(WorkflowError):
        wf.start(xml, {})


def test_non_string_definition_is_refused():
    with pytest.raises(WorkflowError, match="必须是文本"):
        wf.parse_definition(b"<bpmn:definitions/>")


def test_encoding_declaration_does_not_matter():
    xml = AMOUNT_XML.replace('encoding="UTF-8"', 'encoding="GBK"')
    assert wf.parse_definition(xml) == "review"
    assert [s.name for s in wf.ready_steps(xml, wf.start(xml, {"amount": 1}))] == ["审核"]


def test_nested_lanes_and_modeler_extras_are_accepted():
    xml = bpmn(
        '<bpmn:laneSet id="outer"><bpmn:lane id="dept" name="审批科"><bpmn:flowNodeRef>t</bpmn:flowNodeRef>'
        '<bpmn:childLaneSet id="inner"><bpmn:lane id="l" name=" approver "><bpmn:flowNodeRef>t</bpmn:flowNodeRef></bpmn:lane>'
        "</bpmn:childLaneSet></bpmn:lane></bpmn:laneSet>"
        '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
        '<bpmn:userTask id="t" name="审核"><bpmn:documentation>说明</bpmn:documentation>'
        '<bpmn:extensionElements><camunda:properties xmlns:camunda="http://camunda.org/schema/1.0/bpmn"/></bpmn:extensionElements>'
        "</bpmn:userTask>"
        '<bpmn:endEvent id="end"/><!-- a comment -->' + flow("f1", "start", "t") + flow("f2", "t", "end"),
    )
    assert wf.parse_definition(xml) == "review"
    assert [(s.name, s.role) for s in wf.ready_steps(xml, wf.start(xml, {}))] == [("审核", "approver")]


def test_parsed_specs_are_cached_by_content():
    xml = wf.generate_bpmn([{"name": "缓存测试", "role": "clerk"}])
    wf.parse_definition(xml)
    hits = wf._compile_definition.cache_info().hits
    wf.parse_definition(xml)
    assert wf._compile_definition.cache_info().hits == hits + 1


# --- safe_eval ----------------------------------------------------------------------------------

CONTEXT = {
    "amount": 12000,
    "items": [1, 2, 3],
    "tags": ["a", "b"],
    "x": {"k": 1, "nested": {"n": [5]}},
    "name": "张三",
    "none": None,
    "flag": True,
}


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("len(items) > 2", True),
        ("'a' in tags", True),
        ("'c' not in tags", True),
        ("x['k'] == 1", True),
        ("x['nested']['n'][0] == 5", True),
        ("items[-1]", 3),
        ("amount > 10000 and flag", True),
        ("amount > 20000 or name == '张三'", True),
        ("not flag", False),
        ("1 < amount <= 12000 < 99999", True),
        ("0 < amount < 10", False),
        ("amount * 2 - 1000 + 10 / 4 % 3", 23002.5),
        ("-amount", -12000),
        ("none is None", True),
        ("none is not None", False),
        ("name + '先生'", "张三先生"),
        ("[1, 2] == [1, 2]", True),
        ("(1, 'a')", (1, "a")),
        ("'k' in x", True),
        ("'张' in name", True),
        ("len(x) == 2 and len(name) == 2", True),
        ("0 or ''", ""),
        ("3 and 0", 0),
        ("True == 1", True),
        ("  amount  ", 12000),
    ],
)
def test_safe_eval_allowed(expression, expected):
    assert wf.safe_eval(expression, CONTEXT) == expected


@pytest.mark.parametrize(
    "expression, message",
    [
        ("__import__('os').system('id')", "只允许调用 len|属性"),
        ("().__class__", "不允许访问属性"),
        ("name.upper()", "只允许调用 len"),
        ("amount.real", "不允许访问属性"),
        ("__builtins__", "双下划线"),
        ("open('x')", "只允许调用 len"),
        ("len(items, 2)", "只允许调用 len"),
        ("len(x=items)", "只允许调用 len"),
        ("len(*items)", "Starred"),
        ("(lambda: 1)()", "只允许调用 len|lambda"),
        ("lambda: 1", "lambda"),
        ("[i for i in items]", "推导式"),
        ("{i for i in items}", "推导式"),
        ("(i for i in items)", "推导式"),
        ("f'{amount}'", "f-字符串"),
        ("(y := 1)", "赋值表达式"),
        ("2 ** 10", r"乘方"),
        ("9 ** 9 ** 9", r"乘方"),
        ("items[0:2]", "下标只能是"),
        ("x[name]", "下标只能是"),
        ("x[1 + 1]", "下标只能是"),
        ("{'a': 1}", "Dict"),
        ("1 if flag else 2", "IfExp"),
        ("amount << 2", "LShift"),
        ("amount // 2", "FloorDiv"),
        ("~amount", "Invert"),
        ("missing > 1", "不存在的数据项：missing"),
        ("a = 1", "语法错误"),
        ("import os", "语法错误"),
        ("", "不能为空"),
        ("1" * 16, "数字过大"),
        ("1e999 > 1", "数字过大"),
        ("amount " + "+ 1 " * 250, "不能超过 500 个字符"),
        ("amount / 0", "除数不能为零"),
        ("'a' * 100000000", "类型不匹配"),
        ("'%s' % name", "类型不匹配"),
        ("999999999999999 * 999999999999999 * 999999999999999", "结果过大"),
        ("name > 1", "无法比较"),
        ("1 in amount", "in 的右边"),
        ("x['missing']", "没有键"),
        ("items[9]", "超出范围"),
        ("amount[0]", "只能对字典或列表取下标"),
        ("len(amount)", "len\\(\\) 只能用于"),
        ("-name", "只能对数字取负"),
        ("b'bytes'", "常量"),
        ("...", "常量"),
        ("1j", "常量"),
    ],
)
def test_safe_eval_refused(expression, message):
    with pytest.raises(WorkflowError, match=message):
        wf.safe_eval(expression, CONTEXT)


def test_safe_eval_never_uses_context_callables_or_python_builtins():
    with pytest.raises(WorkflowError, match="不存在的数据项：print"):
        wf.safe_eval("print", {})
    # len is the evaluator's own, even if the data has a key called "len"
    assert wf.safe_eval("len(items)", {"items": [1], "len": "shadow"}) == 1
    with pytest.raises(WorkflowError, match="必须是文本"):
        wf.safe_eval(["amount"], CONTEXT)
    with pytest.raises(WorkflowError, match="必须是字典"):
        wf.safe_eval("1", None)


def test_restored_workflows_use_the_safe_engine():
    # A condition only Python's eval could run: if the deserialised workflow fell back to Spiff's default
    # engine, this would evaluate instead of raising.
    state = wf.start(LOOP_XML, {})
    state["spec"]["task_specs"]["decide"]["cond_task_specs"][0]["condition"] = "__import__('os').getpid() > 0"
    state, _ = complete(LOOP_XML, state, "受理")
    [step] = wf.ready_steps(LOOP_XML, state)
    with pytest.raises(WorkflowError, match="条件表达式"):
        wf.complete_step(LOOP_XML, state, step.id, {"result": "pass"})


def test_inclusive_gateway_runs_every_matching_branch():
    xml = bpmn(
        '<bpmn:startEvent id="start"/><bpmn:inclusiveGateway id="fork" default="d"/><bpmn:userTask id="a" name="A"/>'
        '<bpmn:userTask id="b" name="B"/><bpmn:userTask id="c" name="C"/><bpmn:inclusiveGateway id="join"/><bpmn:endEvent id="end"/>'
        + flow("f1", "start", "fork")
        + flow("fa", "fork", "a", "amount &gt; 10")
        + flow("fb", "fork", "b", "urgent")
        + flow("d", "fork", "c")
        + flow("ja", "a", "join")
        + flow("jb", "b", "join")
        + flow("jc", "c", "join")
        + flow("fe", "join", "end"),
        lanes={"approver": ["a", "b", "c"]},
    )
    for data, expected in [
        ({"amount": 20, "urgent": True}, [["A", "B"], ["B"]]),
        ({"amount": 20, "urgent": False}, [["A"]]),
        ({"amount": 1, "urgent": False}, [["C"]]),
    ]:
        state, seen = roundtrip(wf.start(xml, data)), []
        while not wf.is_finished(xml, state):
            seen.append(names(xml, state))
            state, _ = complete(xml, state, seen[-1][0])
        assert seen == expected


# --- generated parallel steps (多地联办) ------------------------------------------------------------

PARALLEL_STEPS = [
    {"name": "受理", "role": "clerk"},
    {
        "parallel": [
            {"name": "甲地审核", "role": "approver"},
            {"name": " 乙地审核 ", "role": "approver"},
            {"name": "材料核验", "role": "clerk"},
        ]
    },
    {"name": "审批", "role": "approver"},
]


def test_generated_parallel_group_runs_side_by_side():
    xml = wf.generate_bpmn(PARALLEL_STEPS)
    assert wf.parse_definition(xml) == wf.GENERATED_PROCESS_ID
    assert xml.count("<bpmn:parallelGateway") == 2
    state = roundtrip(wf.start(xml, {"applicant": "张三"}))
    assert [(s.name, s.role) for s in wf.ready_steps(xml, state)] == [("受理", "clerk")]
    state, finished = complete(xml, state, "受理")

    # After the fork every parallel step is ready at once, each with its own role.
    ready = {(s.name, s.role) for s in wf.ready_steps(xml, state)}
    assert not finished and ready == {("甲地审核", "approver"), ("乙地审核", "approver"), ("材料核验", "clerk")}
    state, finished = complete(xml, jsonb_like(state), "乙地审核", {"b": "ok"})
    assert not finished and sorted(names(xml, state)) == sorted(["甲地审核", "材料核验"])  # 审批 waits for the join
    state, finished = complete(xml, state, "材料核验", {"m": "ok"})
    assert not finished and names(xml, state) == ["甲地审核"]
    state, finished = complete(xml, jsonb_like(state), "甲地审核", {"a": "ok"})
    assert not finished and [(s.name, s.role) for s in wf.ready_steps(xml, state)] == [("审批", "approver")]
    state, finished = complete(xml, state, "审批")
    assert finished and wf.is_finished(xml, state) and wf.ready_steps(xml, state) == []
    assert {"a", "b", "m", "applicant"} <= set(state["data"])


def test_generated_parallel_groups_at_start_end_and_back_to_back():
    group1 = {"parallel": [{"name": "一", "role": "clerk"}, {"name": "二", "role": "approver"}]}
    group2 = {"parallel": [{"name": "三", "role": "approver"}, {"name": "四", "role": "approver"}]}
    xml = wf.generate_bpmn([group1, group2])
    assert wf.parse_definition(xml) == wf.GENERATED_PROCESS_ID
    state, seen = roundtrip(wf.start(xml, {})), []
    while not wf.is_finished(xml, state):
        ready = sorted(names(xml, state))
        seen.append(ready)
        state, _ = complete(xml, state, ready[0])
    assert seen == [["一", "二"], ["二"], ["三", "四"], ["四"]]


@pytest.mark.parametrize(
    "steps, message",
    [
        ([{"parallel": [{"name": "甲地审核", "role": "approver"}]}], "第 1 个审查环节的并行环节数量必须在 2 到 8 个之间"),
        ([{"parallel": []}], "第 1 个审查环节的并行环节数量必须在 2 到 8 个之间"),
        ([{"parallel": [{"name": f"地{i}", "role": "approver"} for i in range(9)]}], "并行环节数量必须在 2 到 8 个之间"),
        ([{"name": "受理", "role": "clerk"}, {"parallel": "甲地、乙地"}], "第 2 个审查环节的并行环节（parallel）必须是列表"),
        (
            [
                {
                    "parallel": [
                        {"name": "甲", "role": "approver"},
                        {"parallel": [{"name": "乙", "role": "approver"}, {"name": "丙", "role": "approver"}]},
                    ]
                }
            ],
            "第 1 个审查环节中的第 2 个并行环节无效：并行环节内不能再嵌套并行",
        ),
        (
            [{"name": "受理", "role": "clerk"}, {"parallel": [{"name": "甲", "role": "boss"}, {"name": "乙", "role": "approver"}]}],
            "第 2 个审查环节中的第 1 个并行环节的角色无效",
        ),
        (
            [{"parallel": [{"name": "甲", "role": "approver"}, {"name": " ", "role": "approver"}]}],
            "第 1 个审查环节中的第 2 个并行环节的名称不能为空",
        ),
        ([{"parallel": [{"name": "甲", "role": "approver"}, "乙"]}], "第 1 个审查环节中的第 2 个并行环节格式不正确"),
        (
            [{"parallel": [{"name": "甲", "role": "approver"}, {"name": "乙", "role": "approver", "days": 3}]}],
            "第 1 个审查环节中的第 2 个并行环节包含不支持的字段：days",
        ),
        (
            [{"parallel": [{"name": "甲", "role": "approver"}, {"name": "乙", "role": "approver"}], "name": "联审"}],
            "第 1 个审查环节包含不支持的字段：name",
        ),
        ([{"name": "审核", "role": "approver"}, {"name": " 审核 ", "role": "clerk"}], "审查环节名称不能重复：审核"),
        (
            [
                {"name": "甲地审核", "role": "clerk"},
                {"parallel": [{"name": "甲地审核", "role": "approver"}, {"name": "乙", "role": "approver"}]},
            ],
            "审查环节名称不能重复：甲地审核",
        ),
        ([{"parallel": [{"name": "甲", "role": "approver"}, {"name": "甲", "role": "clerk"}]}], "审查环节名称不能重复：甲"),
        (
            [{"parallel": [{"name": f"{g}-{i}", "role": "approver"} for i in range(8)]} for g in range(3)],
            "审查环节总数（含并行环节）不能超过 20 个",
        ),
    ],
)
def test_generate_bpmn_refuses_bad_parallel_steps(steps, message):
    with pytest.raises(WorkflowError, match=message) as info:
        wf.generate_bpmn(steps)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(info.value))


def test_largest_parallel_process_is_accepted():
    steps = [{"parallel": [{"name": f"{g}-{i}", "role": "approver"} for i in range(8)]} for g in range(2)]
    steps += [{"name": f"环节{i}", "role": "clerk"} for i in range(4)]
    xml = wf.generate_bpmn(steps)
    assert len(wf.ready_steps(xml, wf.start(xml, {}))) == 8


def _bounds(element):
    b = element.find("dc:Bounds", wf._DI_NS)
    return tuple(int(b.get(k)) for k in ("x", "y", "width", "height"))


def _inside(inner, outer):
    (x, y, w, h), (ox, oy, ow, oh) = inner, outer
    return ox <= x and oy <= y and x + w <= ox + ow and y + h <= oy + oh


def _touches(point, box):
    (px, py), (x, y, w, h) = point, box
    return x <= px <= x + w and y <= py <= y + h and (px in (x, x + w) or py in (y, y + h))


@pytest.mark.parametrize(
    "steps",
    [
        PARALLEL_STEPS,
        [{"parallel": [{"name": f"地{i}", "role": "approver"} for i in range(8)]}, {"name": "审批", "role": "clerk"}],
        [{"name": "受理", "role": "clerk"}, {"parallel": [{"name": "甲", "role": "clerk"}, {"name": "乙", "role": "approver"}]}],
        STEPS,
    ],
)
def test_generated_diagram_covers_every_node_and_flow(steps):
    from lxml import etree

    root = etree.fromstring(wf.generate_bpmn(steps).encode())
    ns = {"bpmn": wf.BPMN_NS, **wf._DI_NS}
    process = root.find("bpmn:process", ns)
    flow_nodes = {el.get("id"): etree.QName(el).localname for el in process if etree.QName(el).localname in wf._FLOW_NODES}
    flows = {el.get("id"): (el.get("sourceRef"), el.get("targetRef")) for el in process.findall("bpmn:sequenceFlow", ns)}
    shapes = {el.get("bpmnElement"): _bounds(el) for el in root.iter(f"{{{wf._DI_NS['bpmndi']}}}BPMNShape")}
    edges = {el.get("bpmnElement"): el for el in root.iter(f"{{{wf._DI_NS['bpmndi']}}}BPMNEdge")}
    assert set(flow_nodes) <= set(shapes) and set(edges) == set(flows)

    pool = shapes["Participant_review"]
    lanes = {lane.get("id"): [ref.text for ref in lane.findall("bpmn:flowNodeRef", ns)] for lane in process.iter(f"{{{wf.BPMN_NS}}}lane")}
    assert sorted(ref for refs in lanes.values() for ref in refs) == sorted(flow_nodes)  # every node in exactly one lane
    assert sum(shapes[lane][3] for lane in lanes) == pool[3]
    for lane, refs in lanes.items():
        assert _inside(shapes[lane], pool)
        for node_id in refs:
            assert _inside(shapes[node_id], shapes[lane]), (node_id, lane)
    for node_id, kind in flow_nodes.items():
        if kind == "parallelGateway":
            assert shapes[node_id][2:] == (50, 50)
    boxes = list(shapes[node_id] for node_id in flow_nodes)
    for i, (x, y, w, h) in enumerate(boxes):  # no two nodes overlap
        for ox, oy, ow, oh in boxes[i + 1 :]:
            assert x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y

    for flow_id, (source, target) in flows.items():
        points = [(int(p.get("x")), int(p.get("y"))) for p in edges[flow_id].findall("di:waypoint", ns)]
        assert len(points) >= 2
        assert _touches(points[0], shapes[source]) and _touches(points[-1], shapes[target]), flow_id
        assert all(a[0] == b[0] or a[1] == b[1] for a, b in zip(points, points[1:]))  # orthogonal


def test_review_process_clean_accepts_parallel_steps():
    from django.core.exceptions import ValidationError

    from tongban.catalog.models import ReviewProcess

    process = ReviewProcess(steps=PARALLEL_STEPS)
    process.clean()
    assert wf.parse_definition(process.bpmn_xml) == wf.GENERATED_PROCESS_ID and "parallelGateway" in process.bpmn_xml
    process.steps = [{"name": "审核", "role": "approver"}, {"name": "审核", "role": "approver"}]
    with pytest.raises(ValidationError) as info:
        process.clean()
    assert info.value.message_dict == {"steps": ["审查环节名称不能重复：审核"]}
