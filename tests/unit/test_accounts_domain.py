"""Account rules: e-mail normalisation, the password policy, and display names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketplace.domain.accounts import (
    EMAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    clean_name,
    normalize_email,
    password_problems,
)
from marketplace.domain.errors import DomainError, ErrorCode, FieldError

EMAIL = "courier@crowdship.dev"
GOOD_PASSPHRASE = "correct horse battery staple"


def only_error(exc: DomainError) -> FieldError:
    assert len(exc.errors) == 1
    return exc.errors[0]


# --- normalize_email --------------------------------------------------------------------------------------------------


def test_normalize_email_accepts_a_plain_address() -> None:
    assert normalize_email("alice@crowdship.dev") == "alice@crowdship.dev"


def test_normalize_email_lower_cases_the_domain_but_keeps_the_local_part() -> None:
    assert normalize_email("Alice.Smith@CrowdShip.DEV") == "Alice.Smith@crowdship.dev"


def test_normalize_email_strips_surrounding_whitespace() -> None:
    assert normalize_email("  alice@crowdship.dev\n") == "alice@crowdship.dev"


@pytest.mark.parametrize(
    "raw",
    ["", "alice", "alice@", "@crowdship.dev", "alice@@crowdship.dev", "alice@crowdship", "al ice@crowdship.dev"],
)
def test_normalize_email_refuses_invalid_addresses(raw: str) -> None:
    with pytest.raises(DomainError) as caught:
        normalize_email(raw)

    error = only_error(caught.value)
    assert error.code is ErrorCode.INVALID_EMAIL
    assert error.field == "email"


def test_normalize_email_reports_the_given_field_name() -> None:
    with pytest.raises(DomainError) as caught:
        normalize_email("not-an-address", field="contactEmail")

    assert only_error(caught.value).field == "contactEmail"


def test_normalize_email_refuses_an_address_longer_than_the_maximum() -> None:
    domain = ".".join(["d" * 60] * 4) + ".dev"  # a valid domain of 247 characters
    raw = "a" * (EMAIL_MAX_LENGTH + 1 - len(domain) - 1) + "@" + domain
    assert len(raw) == EMAIL_MAX_LENGTH + 1

    with pytest.raises(DomainError) as caught:
        normalize_email(raw)

    error = only_error(caught.value)
    assert error.code is ErrorCode.INVALID_EMAIL
    assert error.message == "email address is too long"


def test_normalize_email_refuses_a_huge_input_before_parsing_it() -> None:
    with pytest.raises(DomainError) as caught:
        normalize_email("a" * 10_000 + "@crowdship.dev")

    assert only_error(caught.value).message == "email address is too long"


# --- password_problems ------------------------------------------------------------------------------------------------


def test_good_passphrase_has_no_problems() -> None:
    assert password_problems(GOOD_PASSPHRASE, EMAIL) == []


def test_password_of_exactly_the_minimum_length_is_accepted() -> None:
    password = "Tr0ub4dor&3x"
    assert len(password) == PASSWORD_MIN_LENGTH

    assert password_problems(password, EMAIL) == []


def test_password_of_exactly_the_maximum_length_is_accepted() -> None:
    password = ("abcdefghij" * 13)[:PASSWORD_MAX_LENGTH]

    assert password_problems(password, EMAIL) == []


def test_password_shorter_than_the_minimum_is_weak() -> None:
    problems = password_problems("Tr0ub4dor&3", EMAIL)

    assert [p.code for p in problems] == [ErrorCode.WEAK_PASSWORD]
    assert problems[0].field == "password"
    assert str(PASSWORD_MIN_LENGTH) in problems[0].message


def test_password_longer_than_the_maximum_is_too_long() -> None:
    problems = password_problems("abcdefghij" * 13, EMAIL)  # 130 characters

    assert [p.code for p in problems] == [ErrorCode.PASSWORD_TOO_LONG]
    assert str(PASSWORD_MAX_LENGTH) in problems[0].message


@pytest.mark.parametrize("password", ["password1234", "PasswordPassword", "QWERTY123456", "crowdship123"])
def test_common_password_is_weak_whatever_its_case(password: str) -> None:
    problems = password_problems(password, EMAIL)

    assert [p.code for p in problems] == [ErrorCode.WEAK_PASSWORD]
    assert "guess" in problems[0].message


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abababababababab", "abcdabcdabcdabcd"])
def test_password_with_fewer_than_five_distinct_characters_is_weak(password: str) -> None:
    problems = password_problems(password, EMAIL)

    assert [p.code for p in problems] == [ErrorCode.WEAK_PASSWORD]


def test_password_with_five_distinct_characters_is_not_refused_for_repetition() -> None:
    assert password_problems("abcdeabcdeabcde", EMAIL) == []


def test_password_containing_the_email_local_part_is_weak() -> None:
    problems = password_problems("my-Courier-is-the-best", EMAIL)

    assert [p.code for p in problems] == [ErrorCode.WEAK_PASSWORD]
    assert "email" in problems[0].message


def test_password_may_contain_a_local_part_shorter_than_four_characters() -> None:
    assert password_problems("bob likes long walks", "bob@crowdship.dev") == []


def test_password_problems_reports_the_given_field_name() -> None:
    problems = password_problems("short", EMAIL, field="newPassword")

    assert [p.field for p in problems] == ["newPassword"]


@given(st.text(min_size=PASSWORD_MAX_LENGTH + 1, max_size=PASSWORD_MAX_LENGTH + 50))
def test_any_overlong_password_is_reported_only_as_too_long(password: str) -> None:
    assert [p.code for p in password_problems(password, EMAIL)] == [ErrorCode.PASSWORD_TOO_LONG]


@given(st.text(max_size=PASSWORD_MIN_LENGTH - 1))
def test_any_short_password_is_weak(password: str) -> None:
    assert [p.code for p in password_problems(password, EMAIL)] == [ErrorCode.WEAK_PASSWORD]


# --- clean_name -------------------------------------------------------------------------------------------------------


def test_clean_name_collapses_inner_and_trims_outer_whitespace() -> None:
    assert clean_name("  Acme \t  Parcels\n Ltd ", "organizationName") == "Acme Parcels Ltd"


@pytest.mark.parametrize("raw", ["", "   ", "\t\n"])
def test_clean_name_refuses_empty_or_blank_names(raw: str) -> None:
    with pytest.raises(DomainError) as caught:
        clean_name(raw, "organizationName")

    error = only_error(caught.value)
    assert error.code is ErrorCode.REQUIRED
    assert error.field == "organizationName"


def test_clean_name_accepts_a_name_of_exactly_the_maximum_length() -> None:
    assert clean_name("n" * NAME_MAX_LENGTH, "name") == "n" * NAME_MAX_LENGTH


def test_clean_name_refuses_a_name_longer_than_the_maximum() -> None:
    with pytest.raises(DomainError) as caught:
        clean_name("n" * (NAME_MAX_LENGTH + 1), "name")

    error = only_error(caught.value)
    assert error.code is ErrorCode.TOO_LONG
    assert error.field == "name"


def test_clean_name_measures_length_after_collapsing_whitespace() -> None:
    raw = "n" * (NAME_MAX_LENGTH - 1) + "      "

    assert clean_name(raw, "name") == "n" * (NAME_MAX_LENGTH - 1)


@given(st.text(min_size=1))
def test_clean_name_result_has_no_leading_trailing_or_doubled_whitespace(raw: str) -> None:
    try:
        name = clean_name(raw, "name")
    except DomainError:
        return
    assert name == name.strip()
    assert "  " not in name
    assert name.split() == raw.split()
