"""The header names who is logged in, with a logout link for this browser."""
from types import SimpleNamespace

from backend.access.accounts import Account, Accounts
from ui.who import who_markdown


def services_with(*accounts):
    return SimpleNamespace(access=SimpleNamespace(accounts=Accounts(list(accounts))))


def test_nothing_without_logins():
    assert who_markdown(services_with(), None) == ""
    assert who_markdown(services_with(), "anyone") == ""


def test_the_user_and_role_in_both_languages_with_a_logout_link():
    services = services_with(Account("alice", "a"), Account("tina", "t", "teacher"))
    english = who_markdown(services, "tina", "en")
    assert "**tina**" in english and "(teacher)" in english
    assert "[Log out](logout?all_session=false)" in english
    chinese = who_markdown(services, "alice", "zh")
    assert "**alice**" in chinese and "学生" in chinese and "[退出登录](" in chinese


def test_a_name_is_shown_as_text_not_markup():
    services = services_with(Account("[x](http://evil)", "a"))
    shown = who_markdown(services, "[x](http://evil)", "en")
    assert "](http://evil)" not in shown and r"\[x\]\(http://evil\)" in shown
