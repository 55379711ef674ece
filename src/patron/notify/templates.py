"""Message templates in zh-CN and en, filled with `string.Template`: placeholders such as
`$name` are replaced by plain text and nothing in a template can run code or reach attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from string import Template
from typing import Literal

from patron.errors import InvalidInput

Locale = Literal["zh_CN", "en"]
LOCALES: tuple[Locale, ...] = ("zh_CN", "en")


@dataclass(frozen=True)
class MessageTemplate:
    """A subject and a body with `$placeholders`."""

    subject: str
    body: str


TEMPLATES: dict[str, dict[Locale, MessageTemplate]] = {
    "rule_notice": {
        "zh_CN": MessageTemplate("规则提醒：$rule", "客户 $customer：$message"),
        "en": MessageTemplate("Rule notice: $rule", "Customer $customer: $message"),
    },
    "customer_message": {
        "zh_CN": MessageTemplate("$subject", "$customer，您好：\n\n$message"),
        "en": MessageTemplate("$subject", "Dear $customer,\n\n$message"),
    },
    "relay_to_customer": {
        "zh_CN": MessageTemplate("请通过$channel转告客户 $customer", "$message"),
        "en": MessageTemplate("Please pass this on to $customer by $channel", "$message"),
    },
    "sla_breach": {
        "zh_CN": MessageTemplate(
            "工单 $ticket 已超时", "工单 $ticket（客户 $customer）已超过处理时限 $due。"
        ),
        "en": MessageTemplate(
            "Ticket $ticket is overdue",
            "Ticket $ticket (customer $customer) passed its deadline $due.",
        ),
    },
    "points_expiring": {
        "zh_CN": MessageTemplate("积分即将过期", "$customer，您的 $points 积分将于 $date 过期。"),
        "en": MessageTemplate(
            "Points about to expire", "$customer, your $points points expire on $date."
        ),
    },
    "csat_invitation": {
        "zh_CN": MessageTemplate(
            "请评价我们的服务：$subject",
            "$customer，您好：\n\n您的工单 #$ticket（$subject）已处理完毕。"
            "请花一分钟告诉我们您是否满意：\n\n$link\n\n链接仅可使用一次，$expires 前有效。",
        ),
        "en": MessageTemplate(
            "How did we do? $subject",
            "Dear $customer,\n\nYour ticket #$ticket ($subject) has been resolved. Please take a "
            "minute to tell us how satisfied you are:\n\n$link\n\n"
            "The link works once and until $expires.",
        ),
    },
    "delivery_dead": {
        "zh_CN": MessageTemplate(
            "通知发送失败", "发往 $recipient 的通知（$channel）多次失败后已放弃：$error"
        ),
        "en": MessageTemplate(
            "A notification could not be delivered",
            "The $channel notification to $recipient was given up after repeated failures: $error",
        ),
    },
}


def fill(text: str, values: Mapping[str, object]) -> str:
    """`text` with each `$name` replaced by str(values[name]); a missing name is an error."""
    try:
        return Template(text).substitute({key: str(value) for key, value in values.items()})
    except KeyError as exc:
        raise InvalidInput(f"the template needs a value for {exc.args[0]!r}") from exc
    except ValueError as exc:
        raise InvalidInput(
            f"the template is malformed ({exc}); write $$ for a dollar sign"
        ) from exc


def render(name: str, locale: str, values: Mapping[str, object]) -> tuple[str, str]:
    """The (subject, body) of template `name` in `locale`, filled with `values`."""
    versions = TEMPLATES.get(name)
    if versions is None:
        known = ", ".join(sorted(TEMPLATES))
        raise InvalidInput(f"there is no message template '{name}'; known: {known}")
    if locale not in LOCALES:
        raise InvalidInput(f"'{locale}' is not a message locale; use zh_CN or en")
    template = versions[locale]
    return fill(template.subject, values), fill(template.body, values)
