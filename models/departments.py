"""The city's departments: one code per department, with its Chinese and English names.

The task specs name a department on every recommended action; the warnings store seeds its
`departments` table from here, the authorisation policy compares users' and keys' department
codes, and dispatching accepts a code or either name. Codes are snake case and never change
(they are stored on users, keys and warnings); names may be corrected here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Department:
    """One department: its stable code and its names in both languages."""

    code: str
    name_en: str
    name_zh: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


DATA_OFFICE = "data_office"

DEPARTMENTS: tuple[Department, ...] = (
    Department("labour_inspection", "Labour inspection brigade", "劳动保障监察大队"),
    Department("township_labour", "Township labour and social security office", "乡镇劳动保障所"),
    Department("grid", "Grid worker", "网格员"),
    Department("housing", "Housing and urban-rural development bureau", "住房和城乡建设局"),
    Department("social_insurance", "Social insurance agency", "社会保险经办机构"),
    Department("tax", "Tax bureau", "税务局"),
    Department("market", "Market regulation bureau", "市场监督管理局"),
    Department("court", "Court enforcement liaison", "法院执行联络员"),
    Department("anti_fraud", "Anti-fraud centre", "反诈中心"),
    Department("community_police", "Community police", "社区民警"),
    Department("bank", "Resident's bank", "开户银行"),
    Department("residents_committee", "Residents' committee", "社区居委会"),
    Department("county_centre", "County conflict-resolution centre", "县级矛盾纠纷调处化解中心"),
    Department("township_centre", "Township comprehensive governance centre", "乡镇综治中心"),
    Department("mediation", "People's mediation committee", "人民调解委员会"),
    Department("police_station", "Police station", "派出所"),
    Department("petition", "Petition bureau", "信访局"),
    Department(DATA_OFFICE, "City big-data bureau", "市大数据局"),
)
# departments that handle every task: the county centre coordinates, the data office audits
ALL_TASK_DEPARTMENTS = frozenset({"county_centre", DATA_OFFICE})
# departments that see cases to audit them and work none: no case is dispatched to them
AUDIT_ONLY_DEPARTMENTS = frozenset({DATA_OFFICE})

#: Every outside body at once, where a filter takes a department (the console's queue, `riskloop
#: overdue --department`): a case dispatched over the API to a name no department has (kept as
#: sent), whose people have no account to work it.
OUTSIDE_BODIES = "outside"

_BY_CODE = {department.code: department for department in DEPARTMENTS}
_BY_NAME = {
    name.casefold(): department.code
    for department in DEPARTMENTS
    for name in (department.code, department.name_en, department.name_zh)
}


class UnknownDepartmentError(ValueError):
    """A department code or name that is not one of `DEPARTMENTS`."""


def get_department(code: str) -> Department:
    """The department with this code; raises `UnknownDepartmentError` naming the valid codes."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise UnknownDepartmentError(
            f"unknown department {code!r}; expected one of {', '.join(_BY_CODE)}"
        ) from None


def department_names(code: str) -> tuple[str, str]:
    """(English, Chinese) names of a department, as the task specs' actions show them."""
    department = get_department(code)
    return department.name_en, department.name_zh


def department_code(name_or_code: str) -> str | None:
    """The code for a code, English or Chinese name (any case); None when it names none."""
    return _BY_NAME.get(name_or_code.strip().casefold())


def known_spellings() -> list[str]:
    """Every spelling of a department riskloop knows, letter case folded, sorted (a stored
    department not among them, trimmed and folded, is an outside body's name)."""
    return sorted(_BY_NAME)


def department_in_words(name_or_code: str | None, lang: str) -> str:
    """A stored department (its code or either name) named in `lang`; a value that names no
    department as it is, and a dash for none."""
    if not name_or_code:
        return "–"
    code = department_code(name_or_code)
    return name_or_code if code is None else _BY_CODE[code].name(lang)


def department_spellings(name_or_code: str) -> frozenset[str]:
    """The values a stored department may hold for what `name_or_code` names: its code and both
    names (warnings dispatched before codes were enforced carry a name); a value that names no
    department stands for itself."""
    code = department_code(name_or_code)
    if code is None:
        return frozenset({name_or_code})
    department = _BY_CODE[code]
    return frozenset({department.code, department.name_en, department.name_zh})
