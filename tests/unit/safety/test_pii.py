"""PII detection and masking: each type in Chinese and English, what must stay readable
(order ids, tracking numbers, prices, dates), the vault and the log filter."""

from __future__ import annotations

import itertools
import json
import logging

import pytest

from kefu.safety.pii import (
    PiiDetector,
    PiiLogFilter,
    PiiType,
    PiiVault,
    default_detector,
    mask_text,
)


def found(text: str) -> list[tuple[str, str]]:
    return [(s.type.value, s.value) for s in default_detector().find(text)]


def assert_only(text: str, type_: str, value: str) -> None:
    assert found(text) == [(type_, value)], found(text)


# -- phones -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我的手机是13945671234，麻烦快点发货", "13945671234"),
        ("手机 +86 139 4567 1234", "+86 139 4567 1234"),
        ("打0086-139-4567-1234也行", "0086-139-4567-1234"),
        ("座机010-12345678", "010-12345678"),
        ("电话(0755)12345678", "(0755)12345678"),
        ("电话 021 1234 5678 转 123", "021 1234 5678 转 123"),
        ("手机１３９４５６７１２３４", "１３９４５６７１２３４"),  # full-width digits
        ("call me at (555) 123-4567 tomorrow", "(555) 123-4567"),
        ("my cell is 555.123.4567", "555.123.4567"),
        ("reach me on +44 20 7946 0958", "+44 20 7946 0958"),
        ("whatsapp +91-39941 98087 please", "+91-39941 98087"),
        ("my number is 0475 442 979", "0475 442 979"),
    ],
)
def test_phone_numbers_zh_and_en(text: str, value: str) -> None:
    assert_only(text, "phone", value)


def test_a_quantity_after_an_international_number_is_left_out() -> None:
    assert_only("+86 13945671234 20 pieces", "phone", "+86 13945671234")


def test_hotline_numbers_and_short_numbers_are_not_phones() -> None:
    assert found("客服热线400-820-8820，库存还有12345678件") == []


# -- ID numbers ---------------------------------------------------------------------------


def test_id_with_valid_checksum_zh() -> None:
    assert_only("身份证11010519491231002X", "id", "11010519491231002X")
    assert_only("110101199003074477 是我的证件号", "id", "110101199003074477")


def test_id_with_wrong_checksum_but_real_birth_date_is_still_an_id() -> None:
    # 110101199003074471: last digit should be 7; a typo is still personal data.
    assert_only("我的身份证号110101199003074471", "id", "110101199003074471")


def test_eighteen_digits_without_birth_date_checksum_or_cue_are_not_an_id() -> None:
    assert found("编号110101199013324471") == []
    assert_only("身份证110101199013324471", "id", "110101199013324471")


def test_old_fifteen_digit_id() -> None:
    assert_only("老身份证110105491231002", "id", "110105491231002")


def test_english_id_numbers_ssn_and_passport() -> None:
    assert_only("ID card number 116726199508279319.", "id", "116726199508279319")
    assert_only("my SSN is 123-45-6789", "id", "123-45-6789")
    assert_only("passport number E12345678", "id", "E12345678")
    assert found("serial 000-12-3456") == []  # not a valid SSN, and not a phone either


# -- bank cards ---------------------------------------------------------------------------


def test_luhn_valid_cards_zh_and_en() -> None:
    assert_only("退款到6222021234567890128", "card", "6222021234567890128")
    assert_only("card 4111 1111 1111 1111 exp 12/28", "card", "4111 1111 1111 1111")


def test_luhn_invalid_long_run_is_a_card_only_after_a_card_cue() -> None:
    # Marketplace order numbers are 18-19 digits: without a cue they stay readable.
    assert found("1234567890123456789 这个是淘宝的单号") == []
    assert_only("卡号：6222 0212 3456 7890 123", "card", "6222 0212 3456 7890 123")
    assert_only("中国工商银行6222020200001234567", "card", "6222020200001234567")


def test_the_nearest_cue_decides_between_id_and_card() -> None:
    assert_only("ID card numbered 7011931194401098617", "id", "7011931194401098617")
    assert found("身份证号110101199003074477，银行卡6222020200001234567") == [
        ("id", "110101199003074477"),
        ("card", "6222020200001234567"),
    ]


def test_luhn_valid_number_with_a_non_card_first_digit_is_not_a_card() -> None:
    assert found("单据 1234567890123456785") == []


# -- e-mail -------------------------------------------------------------------------------


def test_email_local_part_may_hold_an_apostrophe() -> None:
    assert_only("mail o'donnell@example.com", "email", "o'donnell@example.com")


def test_email_zh_and_en() -> None:
    assert_only("邮箱是zhang.san@example.com谢谢", "email", "zhang.san@example.com")
    assert_only(
        "email me at john.doe+shop@mail.example.co.uk.", "email", "john.doe+shop@mail.example.co.uk"
    )


# -- addresses ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            "收货地址：浙江省杭州市西湖区文三路398号2幢301室",
            "浙江省杭州市西湖区文三路398号2幢301室",
        ),
        (
            "请帮我改成北京市海淀区中关村大街27号院3号楼1单元501",
            "北京市海淀区中关村大街27号院3号楼1单元501",
        ),
        ("寄到广东深圳南山区科技园", "广东深圳南山区科技园"),
        ("送到中山北路1890号，谢谢", "中山北路1890号"),
        ("我住在上海市浦东新区张江镇，发顺丰几号能到", "上海市浦东新区张江镇"),
        ("新地址是阳光小区5栋302，麻烦改一下", "阳光小区5栋302"),
        ("江苏省南京市鼓楼区北京西路18号", "江苏省南京市鼓楼区北京西路18号"),
        ("ship to 123 Main St, Springfield, IL 62704 please", "123 Main St, Springfield, IL 62704"),
        ("I live at 1309 Southwest 71st Terrace.", "1309 Southwest 71st Terrace"),
        ("send it to 0075 Carlos Views Apt. 521", "0075 Carlos Views Apt. 521"),
        ("my zip code is 62704", "62704"),
    ],
)
def test_addresses_zh_and_en(text: str, value: str) -> None:
    assert_only(text, "address", value)


def test_a_single_place_name_is_not_an_address() -> None:
    assert found("我在北京，几天能到？") == []
    assert found("北京上海都有货吗") == []  # not nested in each other
    assert found("I am in London, how long is shipping?") == []


def test_two_nested_divisions_are_an_address() -> None:
    assert_only("我在江苏南京", "address", "江苏南京")


# -- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("我叫王小明，想查一下订单", "王小明"),
        ("收件人：李娜", "李娜"),
        ("你好我叫陈静", "陈静"),
        ("联系人欧阳娜娜", "欧阳娜娜"),
        ("经王丽华医生诊断", "王丽华"),
        ("麻烦转告张先生", "张"),
        ("白雅宁是一位老客户", "白雅宁"),
        ("约翰·史密斯买的", "约翰·史密斯"),
        ("my name is john smith and I want a refund", "john smith"),
        ("Hi, this is Sarah Lee from accounting", "Sarah Lee"),
        ("Please ask Dr. Brown", "Brown"),
        ("the parcel is for Matthew Smith", "Matthew Smith"),
        ("Name: Ana de la Cruz", "Ana de la Cruz"),
    ],
)
def test_names_zh_and_en(text: str, value: str) -> None:
    assert_only(text, "name", value)


def test_other_mentions_of_a_found_name_are_masked_too() -> None:
    text = "Bobby Jackson ordered it. Later Bobby asked for a refund."
    assert found(text) == [("name", "Bobby Jackson"), ("name", "Bobby")]


def test_demonstratives_before_a_title_are_not_surnames() -> None:
    assert found("这位先生你好，那位女士也在") == []


def test_title_words_and_cue_words_are_not_read_as_names() -> None:
    assert found("师傅刚刚给我电话说来送货") == []  # 傅 ends 师傅, 刚刚 is an adverb
    assert found("帅哥你好") == []
    assert found("是买家 方便联系啊") == []  # a space is no separator after a cue
    assert found("客户申请换货") == []


# -- what stays readable ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "我的订单KF20260101001什么时候发货",
        "I want to return the blue mug from order #W1234567",
        "Order KF2026010100113 arrived damaged",
        "运单号SF1234567890123到哪了",
        "京东物流JD0012345678901，圆通YT1234567890123",
        "订单号 13945671234 还没发货",  # said to be an order number
        "my tracking number is 773012345678901",
        "这件衣服多少钱？¥199.00，2026-01-01下单的，买了3件",
        "It costs $45.99 and I ordered 2 of them on 2026-01-05 at 10:30",
        "总价 1,299.50 元，满 300 减 50，12/25 前发货",
        "我很高兴，安全吗，周三能到吗，明天发货吗，黄色的有货吗，白色M码，马上发货",
        "金额不对，高清版本，请问这个保温杯保修多久",
        "李宁的鞋子有货吗，我想买李宁的鞋，周大福的项链，马克杯多少钱",
        "地址写错了怎么改",
        "I have been waiting 2 days on the way",
        "Rose Gold iPhone case, Jordan Shoes size 10",
        "Can I get a refund for the 64 GB USB Drive",
        "Will you ship to Canada? May I change my address?",
        "Mark as received. Grace period for returns is 30 days",
    ],
)
def test_no_false_positives_in_ordinary_customer_sentences(text: str) -> None:
    assert found(text) == []


# -- detector -----------------------------------------------------------------------------


def test_spans_are_sorted_non_overlapping_and_index_the_original_text() -> None:
    text = "我叫王小明，手机１３９４５６７１２３４，邮箱 wang@example.com，住北京市朝阳区建国路88号"
    spans = default_detector().find(text)
    assert [s.type for s in spans] == [PiiType.NAME, PiiType.PHONE, PiiType.EMAIL, PiiType.ADDRESS]
    assert all(text[s.start : s.end] == s.value for s in spans)
    assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_more_specific_type_wins_an_overlap() -> None:
    # An e-mail whose local part is a phone number is one e-mail, not a phone.
    assert_only("13945671234@163.com", "email", "13945671234@163.com")


def test_detector_restricted_to_some_types() -> None:
    detector = PiiDetector(types=["phone", PiiType.EMAIL])
    spans = detector.find("我叫王小明，手机13945671234，a@b.com")
    assert [s.type for s in spans] == [PiiType.PHONE, PiiType.EMAIL]


def test_detector_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="unknown PII type"):
        PiiDetector(types=["passport"])
    with pytest.raises(ValueError, match="bad protected pattern"):
        PiiDetector(protected_patterns=["(unclosed"])


def test_extra_protected_pattern_keeps_a_shop_specific_id_readable() -> None:
    detector = PiiDetector(protected_patterns=[r"(?<!\d)1[3-9]\d{9}(?!\d)"])
    assert detector.find("内部单号13945671234") == []


def test_empty_and_odd_text() -> None:
    assert default_detector().find("") == []
    assert found("\x00\u200b😀 [PHONE_1] 【】") == []


# -- vault --------------------------------------------------------------------------------


def test_vault_placeholders_are_typed_stable_and_reversible() -> None:
    vault = PiiVault()
    first = vault.mask("我叫王小明，手机13945671234，邮箱 Wang@Example.com")
    assert first == "我叫[NAME_1]，手机[PHONE_1]，邮箱 [EMAIL_1]"
    second = vault.mask("换个号 139 4567 1234 还是 wang@example.com，另一个 13800001111")
    assert second == "换个号 [PHONE_1] 还是 [EMAIL_1]，另一个 [PHONE_2]"
    assert vault.unmask(first) == "我叫王小明，手机13945671234，邮箱 Wang@Example.com"


def test_vault_unmasks_a_reply_written_from_masked_text() -> None:
    vault = PiiVault()
    vault.mask("please call me at (555) 123-4567, I'm at 12 Main St")
    reply = "OK, we will call [PHONE_1] and ship to 【address_1】; [PHONE_9] is unknown."
    assert vault.unmask(reply) == (
        "OK, we will call (555) 123-4567 and ship to 12 Main St; [PHONE_9] is unknown."
    )


def test_vault_is_bounded_and_never_reuses_a_number() -> None:
    vault = PiiVault(max_entries=2)
    vault.mask("a@x.com b@x.com")
    vault.mask("a@x.com")  # a is now the most recently used
    assert vault.mask("c@x.com") == "[EMAIL_3]"
    assert len(vault) == 2
    assert dict(vault.placeholders) == {"[EMAIL_1]": "a@x.com", "[EMAIL_3]": "c@x.com"}
    assert vault.unmask("[EMAIL_2]") == "[EMAIL_2]"  # evicted: left as written
    assert vault.mask("b@x.com") == "[EMAIL_4]"


def test_vault_round_trips_through_a_json_dict() -> None:
    vault = PiiVault(max_entries=10)
    masked = vault.mask("收件人：李娜，电话13945671234")
    state = json.loads(json.dumps(vault.to_dict()))
    again = PiiVault.from_dict(state)
    assert again.unmask(masked) == "收件人：李娜，电话13945671234"
    assert again.mask("13945671234 和 a@b.com") == "[PHONE_1] 和 [EMAIL_1]"
    assert again.max_entries == 10


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"version": 2, "max_entries": 5, "counters": {}, "entries": []},
        {"version": 1, "max_entries": 5, "counters": {"FOO": 1}, "entries": []},
        {"version": 1, "max_entries": 5, "counters": {"PHONE": 1}, "entries": [["[PHONE_2]", "1"]]},
        {"version": 1, "max_entries": 5, "counters": {"PHONE": 1}, "entries": [["PHONE_1", "1"]]},
        {"version": 1, "max_entries": 0, "counters": {}, "entries": []},
    ],
)
def test_vault_rejects_malformed_state(state: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        PiiVault.from_dict(state)


def test_mask_text_keeps_nothing_between_calls() -> None:
    assert mask_text("a@x.com") == "[EMAIL_1]"
    assert mask_text("b@x.com, a@x.com") == "[EMAIL_1], [EMAIL_2]"


# -- log filter ---------------------------------------------------------------------------


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> tuple[logging.Logger, _Capture]:
    logger = logging.getLogger("kefu.test.pii")
    handler = _Capture()
    handler.addFilter(PiiLogFilter())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, handler
    logger.removeHandler(handler)


def test_log_filter_masks_message_and_arguments(captured: tuple[logging.Logger, _Capture]) -> None:
    logger, handler = captured
    logger.info("user %s phone %s order %s", "a@b.com", 13945671234, "KF20260101001")
    logger.info("地址：%(addr)s", {"addr": "北京市朝阳区建国路88号"})
    assert handler.lines == [
        "user [EMAIL_1] phone [PHONE_1] order KF20260101001",
        "地址：[ADDRESS_1]",
    ]


def test_log_filter_masks_exception_text(captured: tuple[logging.Logger, _Capture]) -> None:
    logger, handler = captured
    try:
        raise ValueError("bad phone 13945671234")
    except ValueError:
        logger.exception("lookup failed for %s", "a@b.com")
    assert "13945671234" not in handler.lines[0] and "a@b.com" not in handler.lines[0]
    assert "ValueError: bad phone [PHONE_1]" in handler.lines[0]


def test_log_filter_masks_the_parts_of_a_broken_format_string() -> None:
    record = logging.LogRecord(
        "kefu", logging.INFO, __file__, 1, "phone %d", ("13945671234",), None
    )
    assert PiiLogFilter().filter(record)
    assert record.msg == "phone %d" and record.args == ("[PHONE_1]",)  # logging reports it
