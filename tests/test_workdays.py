import datetime as dt

import pytest

from tongban.core import services, workdays

D = dt.date


@pytest.mark.django_db
class TestCalendar2026:
    def test_make_up_saturdays_and_holidays(self):
        assert workdays.is_workday(D(2026, 2, 14)).value is True  # Spring Festival make-up Saturday
        assert workdays.is_workday(D(2026, 10, 10)).value is True  # National Day make-up Saturday
        assert workdays.is_workday(D(2026, 10, 1)).value is False
        assert workdays.is_workday(D(2026, 10, 5)).value is False  # Monday inside the Golden Week
        assert workdays.is_workday(D(2026, 11, 21)).value is False  # ordinary Saturday
        assert workdays.is_workday(D(2026, 10, 1)).is_certain

    def test_add_across_national_day(self):
        # accepted Wed 30 Sep; 1–7 Oct off; Thu 8, Fri 9 and the make-up Sat 10 Oct are working days
        assert workdays.add_working_days(D(2026, 9, 30), 1).value == D(2026, 10, 8)
        r = workdays.add_working_days(D(2026, 9, 30), 3)
        assert r.value == D(2026, 10, 10) and r.is_certain
        assert workdays.add_working_days(D(2026, 9, 30), 4).value == D(2026, 10, 12)

    def test_add_across_spring_festival(self):
        # 2026 Spring Festival: 15–23 Feb off; Sat 14 Feb is a make-up working day
        assert workdays.add_working_days(D(2026, 2, 13), 1).value == D(2026, 2, 14)
        assert workdays.add_working_days(D(2026, 2, 14), 1).value == D(2026, 2, 24)

    def test_between(self):
        assert workdays.working_days_between(D(2026, 9, 30), D(2026, 10, 10)).value == 3
        assert workdays.working_days_between(D(2026, 10, 10), D(2026, 9, 30)).value == -3
        assert workdays.working_days_between(D(2026, 1, 5), D(2026, 1, 5)).value == 0

    def test_add_and_between_agree(self):
        start = D(2026, 1, 1)
        for n in range(0, 250, 7):
            end = workdays.add_working_days(start, n).value
            assert workdays.working_days_between(start, end).value == n


@pytest.mark.django_db
def test_missing_year_is_flagged_not_guessed_silently():
    r = workdays.add_working_days(D(2026, 12, 28), 10)
    assert not r.is_certain
    assert "2027年的节假日安排尚未录入" in r.warning
    assert r.value.year == 2027
    assert workdays.is_workday(D(2027, 1, 4)).warning


@pytest.mark.django_db
def test_admin_adds_a_year():
    services.set_year(None, 2027, {D(2027, 1, 1): "元旦"}, {D(2027, 1, 9): "调休"})
    with pytest.raises(ValueError, match="调休上班日应为周六或周日"):
        services.set_year(None, 2027, {}, {D(2027, 1, 4): "x"})
    workdays.invalidate()
    assert workdays.is_workday(D(2027, 1, 9)).value is True
    assert workdays.is_workday(D(2027, 1, 9)).is_certain
    with pytest.raises(ValueError, match="不属于2027年"):
        services.set_year(None, 2027, {D(2026, 1, 1): "x"}, {})


@pytest.mark.django_db
def test_calendar_api(client):
    r = client.get("/api/v1/calendar/add", {"start": "2026-09-30", "days": 3})
    assert r.status_code == 200 and r.json()["value"] == "2026-10-10" and r.json()["certain"]
    r = client.get("/api/v1/calendar/add", {"start": "2026-12-30", "days": 5})
    assert r.json()["certain"] is False and "2027" in r.json()["warning"]
    r = client.get("/api/v1/calendar/add", {"start": "2026-13-01", "days": 1})
    assert r.status_code == 422 and "日期" in r.json()["detail"]
    r = client.get("/api/v1/calendar/add", {"start": "2039-12-30", "days": 900})
    assert r.status_code == 422
